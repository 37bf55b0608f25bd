//! Ed25519 (RFC 8032) with the private key held as a scalar and nonce prefix, so that activation
//! can add private scalars and public points.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::{clamp_integer, Scalar};
use sha2::{Digest, Sha512};

use crate::CryptoError;

pub const PUBLIC_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;
const ALG: &str = "Ed25519";

fn sha512(parts: &[&[u8]]) -> [u8; 64] {
    let mut h = Sha512::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// An Ed25519 private key: scalar and nonce prefix.
#[derive(Clone)]
pub struct Ed25519Private {
    scalar: Scalar,
    prefix: [u8; 32],
    public: [u8; PUBLIC_LEN],
}

impl Ed25519Private {
    /// Expand a 32-octet secret as RFC 8032 §5.1.5 does.
    pub fn from_secret(secret: &[u8]) -> Self {
        let h = sha512(&[secret]);
        let s = clamp_integer(h[..32].try_into().expect("32 octets"));
        let prefix = h[32..].try_into().expect("32 octets");
        Self::from_scalar(Scalar::from_bytes_mod_order(s), prefix)
    }

    pub fn from_scalar(scalar: Scalar, prefix: [u8; 32]) -> Self {
        let public = EdwardsPoint::mul_base(&scalar).compress().to_bytes();
        Ed25519Private {
            scalar,
            prefix,
            public,
        }
    }

    /// Restore from the 32-octet scalar and 32-octet prefix of [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != 64 {
            return Err(CryptoError::BadPrivateKey {
                algorithm: ALG,
                reason: format!("expected 64 octets, got {}", bytes.len()),
            });
        }
        let s: [u8; 32] = bytes[..32].try_into().expect("32 octets");
        let scalar = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)).ok_or(
            CryptoError::BadPrivateKey {
                algorithm: ALG,
                reason: "scalar is not reduced".into(),
            },
        )?;
        Ok(Self::from_scalar(
            scalar,
            bytes[32..].try_into().expect("32 octets"),
        ))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.scalar.to_bytes().to_vec();
        out.extend_from_slice(&self.prefix);
        out
    }

    pub fn public(&self) -> [u8; PUBLIC_LEN] {
        self.public
    }

    /// Plain Ed25519 (RFC 8032 §5.1.6).
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.sign_with(&[], message)
    }

    /// Ed25519ctx (RFC 8032 §5.1, dom2 with phflag 0) under `context`, which may be empty:
    /// the form the reference signs DARE envelopes with (an empty context; its
    /// `ExamplesDAREMessage.md`).
    pub fn sign_ctx(
        &self,
        context: &[u8],
        message: &[u8],
    ) -> Result<[u8; SIGNATURE_LEN], CryptoError> {
        Ok(self.sign_with(&dom2(context)?, message))
    }

    fn sign_with(&self, dom: &[u8], message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let r = Scalar::from_bytes_mod_order_wide(&sha512(&[dom, &self.prefix, message]));
        let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
        let k = Scalar::from_bytes_mod_order_wide(&sha512(&[dom, &big_r, &self.public, message]));
        let s = r + k * self.scalar;
        let mut sig = [0u8; SIGNATURE_LEN];
        sig[..32].copy_from_slice(&big_r);
        sig[32..].copy_from_slice(&s.to_bytes());
        sig
    }

    /// Diffie-Hellman on the Edwards curve: this key's scalar times the peer's point, in the
    /// compressed Edwards encoding. The reference's examples encrypt to keys labelled Ed25519
    /// this way (`ExamplesDAREMessage.md`); mesh-rs never encrypts to a signature key, and only
    /// `mesh conformance` calls this, to read those examples. The peer's point must be in the
    /// prime-order subgroup (and not the identity), so that the result reveals nothing of the
    /// scalar beyond what the agreement is for.
    pub fn agree_edwards(&self, peer: &[u8]) -> Result<[u8; PUBLIC_LEN], CryptoError> {
        let point = decode_point(peer, "peer key")?;
        if !point.is_torsion_free() || point.compress() == EdwardsPoint::default().compress() {
            return Err(CryptoError::BadPublicKey {
                algorithm: ALG,
                reason: "the peer key is not a point of the prime-order subgroup".into(),
            });
        }
        Ok((self.scalar * point).compress().to_bytes())
    }

    pub fn combine(&self, other: &Ed25519Private) -> Ed25519Private {
        let h = sha512(&[b"MeshEd25519Combine", &self.prefix, &other.prefix]);
        Self::from_scalar(
            self.scalar + other.scalar,
            h[..32].try_into().expect("32 octets"),
        )
    }
}

fn decode_point(bytes: &[u8], what: &str) -> Result<EdwardsPoint, CryptoError> {
    let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadPublicKey {
        algorithm: ALG,
        reason: format!("{what} must be 32 octets, got {}", bytes.len()),
    })?;
    CompressedEdwardsY(arr)
        .decompress()
        .ok_or(CryptoError::BadPublicKey {
            algorithm: ALG,
            reason: format!("{what} is not a point on the curve"),
        })
}

pub fn check_public(public: &[u8]) -> Result<(), CryptoError> {
    decode_point(public, "public key").map(|_| ())
}

/// dom2(0, context) of RFC 8032 §2: the prefix that makes Ed25519ctx.
fn dom2(context: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if context.len() > 255 {
        return Err(CryptoError::Unsupported(
            "an Ed25519ctx context longer than 255 octets".into(),
        ));
    }
    let mut dom = b"SigEd25519 no Ed25519 collisions".to_vec();
    dom.push(0);
    dom.push(context.len() as u8);
    dom.extend_from_slice(context);
    Ok(dom)
}

/// Verify plain Ed25519 (RFC 8032 §5.1.7).
pub fn verify(public: &[u8], message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
    verify_with(&[], public, message, signature)
}

/// Verify Ed25519ctx under `context` (see [`Ed25519Private::sign_ctx`]).
pub fn verify_ctx(
    context: &[u8],
    public: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    verify_with(&dom2(context)?, public, message, signature)
}

fn verify_with(
    dom: &[u8],
    public: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    if signature.len() != SIGNATURE_LEN {
        return Err(CryptoError::SignatureLength {
            expected: SIGNATURE_LEN,
            got: signature.len(),
        });
    }
    let a = decode_point(public, "public key")?;
    let s: [u8; 32] = signature[32..].try_into().expect("32 octets");
    let s =
        Option::<Scalar>::from(Scalar::from_canonical_bytes(s)).ok_or(CryptoError::BadSignature)?;
    let k = Scalar::from_bytes_mod_order_wide(&sha512(&[dom, &signature[..32], public, message]));
    let r = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &(-a), &s);
    if r.compress().as_bytes() == &signature[..32] {
        Ok(())
    } else {
        Err(CryptoError::BadSignature)
    }
}

pub fn combine_public(a: &[u8], b: &[u8]) -> Result<[u8; PUBLIC_LEN], CryptoError> {
    Ok(
        (decode_point(a, "public key")? + decode_point(b, "public key")?)
            .compress()
            .to_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8032 §7.1, test 2.
    #[test]
    fn rfc8032_test2() {
        let key = Ed25519Private::from_secret(
            &hex::decode("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
                .unwrap(),
        );
        assert_eq!(
            hex::encode(key.public()),
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
        );
        let sig = key.sign(&[0x72]);
        assert_eq!(
            hex::encode(sig),
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
             085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        );
        verify(&key.public(), &[0x72], &sig).unwrap();
        assert!(verify(&key.public(), &[0x73], &sig).is_err());
    }

    // RFC 8032 §7.2, Ed25519ctx, the first test (context "foo"), and that the two forms do
    // not verify each other's signatures.
    #[test]
    fn rfc8032_ed25519ctx() {
        let key = Ed25519Private::from_secret(
            &hex::decode("0305334e381af78f141cb666f6199f57bc3495335a256a95bd2a55bf546663f6")
                .unwrap(),
        );
        assert_eq!(
            hex::encode(key.public()),
            "dfc9425e4f968f7f0c29f0259cf5f9aed6851c2bb4ad8bfb860cfee0ab248292"
        );
        let message = hex::decode("f726936d19c800494e3fdaff20b276a8").unwrap();
        let sig = key.sign_ctx(b"foo", &message).unwrap();
        assert_eq!(
            hex::encode(sig),
            "55a4cc2f70a54e04288c5f4cd1e45a7bb520b36292911876cada7323198dd87a\
             8b36950b95130022907a7fb7c4e9b2d5f6cca685a587b4b21f4b888e4e7edb0d"
        );
        verify_ctx(b"foo", &key.public(), &message, &sig).unwrap();
        assert!(verify_ctx(b"bar", &key.public(), &message, &sig).is_err());
        assert!(verify(&key.public(), &message, &sig).is_err());
        let empty = key.sign_ctx(b"", &message).unwrap();
        verify_ctx(b"", &key.public(), &message, &empty).unwrap();
        assert!(verify(&key.public(), &message, &empty).is_err());
    }
}
