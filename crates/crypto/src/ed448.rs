//! Ed448 (RFC 8032, pure, empty context) with the private key held as a scalar and nonce prefix.
//!
//! Mesh keys are derived from 56-octet secrets (RFC 8032 expects 57): the secret is expanded with
//! SHAKE256 to 114 octets exactly as RFC 8032 does, whatever its length (REFERENCE-NOTES §5).
//! Holding the scalar rather than the seed lets activation add private scalars
//! ([`Ed448Private::combine`]).

use ed448_goldilocks::curve::edwards::{CompressedEdwardsY, ExtendedPoint};
use ed448_goldilocks::Scalar;
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::Shake256;

use crate::edwards448::EdwardsPoint;
use crate::CryptoError;

pub const PUBLIC_LEN: usize = 57;
pub const SIGNATURE_LEN: usize = 114;
const ALG: &str = "Ed448";

/// dom4(0, "") of RFC 8032 §5.2: pure Ed448 with an empty context.
const DOM4: &[u8] = b"SigEd448\x00\x00";

fn shake256_114(parts: &[&[u8]]) -> [u8; 114] {
    let mut h = Shake256::default();
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; 114];
    h.finalize_xof().read(&mut out);
    out
}

/// Reduce a little-endian integer of up to 114 octets modulo the group order.
fn scalar_from_le(bytes: &[u8]) -> Scalar {
    let mut wide = [0u8; 114];
    wide[..bytes.len()].copy_from_slice(bytes);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// `s`·B with a table of the multiples of B: for every radix-16 position i, the points
/// j·16ⁱ·B for j = 1…8, made once per process. The scalar is recoded in signed radix-16 digits
/// (−8 ≤ d < 8), and each digit's point is taken from its row by a constant-time scan of all
/// eight and conditionally negated, so that neither the table reads nor the additions depend on
/// the scalar: 113 additions, against the 452 doublings and 113 additions of a variable-base
/// multiplication (what RFC 8032 signing and the first half of verification spend their time
/// on).
fn base_mul(s: &Scalar) -> ExtendedPoint {
    use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
    let table = base_table();
    let digits = radix_16(s);
    let mut acc = ExtendedPoint::identity();
    for (row, &digit) in table.iter().zip(digits.iter()) {
        // |digit| and its sign, without a branch on either.
        let sign = ((digit as u8) >> 7) & 1;
        let magnitude = ((digit as i16) ^ -(sign as i16)) + sign as i16;
        let mut point = ExtendedPoint::identity();
        for (j, multiple) in row.iter().enumerate() {
            point.conditional_assign(multiple, (magnitude as u8).ct_eq(&(j as u8 + 1)));
        }
        let negated = point.negate();
        point.conditional_assign(&negated, Choice::from(sign));
        acc = acc.add(&point);
    }
    acc
}

/// Signed radix-16 digits of a scalar (below 2⁴⁴⁸): 113 digits in −8…7, the last 0 or 1.
fn radix_16(s: &Scalar) -> [i8; 113] {
    let bytes = s.to_bytes();
    let mut d = [0i8; 113];
    for (i, b) in bytes.iter().enumerate() {
        d[2 * i] = (b & 15) as i8;
        d[2 * i + 1] = (b >> 4) as i8;
    }
    for i in 0..112 {
        let carry = (d[i] + 8) >> 4;
        d[i] -= carry << 4;
        d[i + 1] += carry;
    }
    d
}

type BaseTable = Vec<[ExtendedPoint; 8]>;

fn base_table() -> &'static BaseTable {
    static TABLE: std::sync::OnceLock<BaseTable> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut rows = Vec::with_capacity(113);
        let mut base = ExtendedPoint::generator();
        for _ in 0..113 {
            let mut row = [base; 8];
            for j in 1..8 {
                row[j] = row[j - 1].add(&base);
            }
            rows.push(row);
            // 16·base for the next position.
            for _ in 0..4 {
                base = base.double();
            }
        }
        rows
    })
}

/// An Ed448 private key: the secret scalar and the 57-octet nonce prefix.
#[derive(Clone)]
pub struct Ed448Private {
    scalar: Scalar,
    prefix: [u8; 57],
    /// Computed when first asked for (or signed with): a command derives many keys it never
    /// signs with, and a fixed-base multiplication is most of a key's cost.
    public: std::sync::OnceLock<[u8; PUBLIC_LEN]>,
}

impl Ed448Private {
    /// Expand a secret as RFC 8032 §5.2.5 does (SHAKE256 to 114 octets, clamp the first 57).
    pub fn from_secret(secret: &[u8]) -> Self {
        let h = shake256_114(&[secret]);
        let mut s = [0u8; 57];
        s.copy_from_slice(&h[..57]);
        s[0] &= 0xfc;
        s[55] |= 0x80;
        s[56] = 0;
        let mut prefix = [0u8; 57];
        prefix.copy_from_slice(&h[57..]);
        Self::from_scalar(scalar_from_le(&s), prefix)
    }

    /// Build from a scalar and nonce prefix (as stored, or as produced by combination).
    pub fn from_scalar(scalar: Scalar, prefix: [u8; 57]) -> Self {
        Ed448Private {
            scalar,
            prefix,
            public: std::sync::OnceLock::new(),
        }
    }

    /// Restore from the 57-octet scalar and 57-octet prefix of [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != 114 {
            return Err(CryptoError::BadPrivateKey {
                algorithm: ALG,
                reason: format!("expected 114 octets, got {}", bytes.len()),
            });
        }
        let mut s = [0u8; 57];
        s.copy_from_slice(&bytes[..57]);
        let scalar = Scalar::from_canonical_bytes(s).ok_or(CryptoError::BadPrivateKey {
            algorithm: ALG,
            reason: "scalar is not reduced".into(),
        })?;
        let mut prefix = [0u8; 57];
        prefix.copy_from_slice(&bytes[57..]);
        Ok(Self::from_scalar(scalar, prefix))
    }

    /// The scalar (57 octets, little-endian, reduced) followed by the nonce prefix.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.scalar.to_bytes_rfc_8032().to_vec();
        out.extend_from_slice(&self.prefix);
        out
    }

    pub fn public(&self) -> [u8; PUBLIC_LEN] {
        *self
            .public
            .get_or_init(|| base_mul(&self.scalar).compress().0)
    }

    /// Sign `message` (RFC 8032 §5.2.6).
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let r = scalar_from_le(&shake256_114(&[DOM4, &self.prefix, message]));
        let big_r = base_mul(&r).compress().0;
        let k = scalar_from_le(&shake256_114(&[DOM4, &big_r, &self.public(), message]));
        let s = r + k * self.scalar;
        let mut sig = [0u8; SIGNATURE_LEN];
        sig[..57].copy_from_slice(&big_r);
        sig[57..].copy_from_slice(&s.to_bytes_rfc_8032());
        sig
    }

    /// The activation combination: the private scalars add, and so the public points add. The
    /// nonce prefix of the combined key is derived from both prefixes.
    pub fn combine(&self, other: &Ed448Private) -> Ed448Private {
        let h = shake256_114(&[b"MeshEd448Combine", &self.prefix, &other.prefix]);
        let mut prefix = [0u8; 57];
        prefix.copy_from_slice(&h[..57]);
        Self::from_scalar(self.scalar + other.scalar, prefix)
    }
}

fn decode_point(bytes: &[u8], what: &str) -> Result<ExtendedPoint, CryptoError> {
    let arr: [u8; 57] = bytes.try_into().map_err(|_| CryptoError::BadPublicKey {
        algorithm: ALG,
        reason: format!("{what} must be 57 octets, got {}", bytes.len()),
    })?;
    CompressedEdwardsY(arr)
        .decompress()
        .ok_or(CryptoError::BadPublicKey {
            algorithm: ALG,
            reason: format!("{what} is not a point on the curve"),
        })
}

/// A public key as [`verify`] reads it: the canonical encoding of a curve point (RFC 8032
/// §5.2.3).
fn decode_public(public: &[u8]) -> Result<EdwardsPoint, CryptoError> {
    let encoded: [u8; 57] = public.try_into().map_err(|_| CryptoError::BadPublicKey {
        algorithm: ALG,
        reason: format!("public key must be 57 octets, got {}", public.len()),
    })?;
    EdwardsPoint::decompress(&encoded).ok_or(CryptoError::BadPublicKey {
        algorithm: ALG,
        reason: "public key is not the encoding of a point on the curve".into(),
    })
}

/// Check that a public key is one [`verify`] reads: a key accepted here is one signatures can
/// be checked under.
pub fn check_public(public: &[u8]) -> Result<(), CryptoError> {
    decode_public(public).map(|_| ())
}

/// Verify an Ed448 signature (RFC 8032 §5.2.7).
pub fn verify(public: &[u8], message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
    if signature.len() != SIGNATURE_LEN {
        return Err(CryptoError::SignatureLength {
            expected: SIGNATURE_LEN,
            got: signature.len(),
        });
    }
    let a = decode_public(public)?;
    let mut s = [0u8; 57];
    s.copy_from_slice(&signature[57..]);
    let s = Scalar::from_canonical_bytes(s).ok_or(CryptoError::BadSignature)?;
    let k = scalar_from_le(&shake256_114(&[DOM4, &signature[..57], public, message]));
    // [S]B − [k]A must be R: compared as encodings (ours is canonical, so an R that is not a
    // canonical encoding of a point never matches).
    let r = crate::edwards448::base_minus_point(&s.to_bytes(), &k.to_bytes(), &a);
    if r.compress()[..] == signature[..57] {
        Ok(())
    } else {
        Err(CryptoError::BadSignature)
    }
}

/// RFC 8032's verification as it was written before [`verify`] (goldilocks's points): what the
/// new one is checked against.
#[cfg(test)]
fn verify_reference(public: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(a), Ok(r)) = (
        decode_point(public, "public key"),
        decode_point(&signature[..57], "signature R"),
    ) else {
        return false;
    };
    let mut s = [0u8; 57];
    s.copy_from_slice(&signature[57..]);
    let Some(s) = Scalar::from_canonical_bytes(s) else {
        return false;
    };
    let k = scalar_from_le(&shake256_114(&[DOM4, &signature[..57], public, message]));
    base_mul(&s) == r.add(&a.scalar_mul(&k))
}

/// Add two public keys (the public side of [`Ed448Private::combine`]).
pub fn combine_public(a: &[u8], b: &[u8]) -> Result<[u8; PUBLIC_LEN], CryptoError> {
    Ok(decode_point(a, "public key")?
        .add(&decode_point(b, "public key")?)
        .compress()
        .0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Encodings goldilocks decodes but RFC 8032 does not: refused as keys, so no key is taken
    /// that no signature could be checked under.
    #[test]
    fn non_canonical_public_keys_are_refused() {
        let public = Ed448Private::from_secret(&[5u8; 56]).public();
        assert!(check_public(&public).is_ok());
        let mut low_bits = public;
        low_bits[56] |= 1;
        assert!(check_public(&low_bits).is_err());
        let mut identity_negative = [0u8; 57];
        identity_negative[0] = 1;
        assert!(check_public(&identity_negative).is_ok());
        identity_negative[56] = 0x80;
        assert!(check_public(&identity_negative).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        // The verification of one pass over [S]B − [k]A says what the former one (goldilocks's
        // points, R decoded) says: for good signatures, and for each one with a bit changed
        // anywhere in R, S, the message or the key.
        #[test]
        fn verification_agrees_with_the_former_one(
            secret in proptest::collection::vec(any::<u8>(), 56),
            message in proptest::collection::vec(any::<u8>(), 0..64),
            flip in 0usize..(114 + 64 + 57) * 8,
        ) {
            let key = Ed448Private::from_secret(&secret);
            let public = key.public();
            let signature = key.sign(&message);
            prop_assert!(verify(&public, &message, &signature).is_ok());
            prop_assert!(verify_reference(&public, &message, &signature));
            let (mut sig, mut msg, mut pk) = (signature, message.clone(), public);
            let (byte, bit) = (flip / 8, 1u8 << (flip % 8));
            if byte < 114 {
                sig[byte] ^= bit;
            } else if byte < 114 + msg.len() {
                msg[byte - 114] ^= bit;
            } else {
                pk[(byte - 114 - msg.len()) % 57] ^= bit;
            }
            prop_assert_eq!(
                verify(&pk, &msg, &sig).is_ok(),
                verify_reference(&pk, &msg, &sig)
            );
        }
    }

    #[test]
    fn the_base_table_multiplies_as_the_generic_multiplication_does() {
        let mut seed = [7u8; 114];
        for round in 0..64u8 {
            seed[0] = round;
            seed[113] = round.wrapping_mul(37);
            let s = Scalar::from_bytes_mod_order_wide(&seed);
            assert!(
                base_mul(&s) == ExtendedPoint::generator().scalar_mul(&s),
                "round {round}"
            );
            seed = shake256_114(&[&seed]);
        }
        let minus_one = Scalar::zero() - Scalar::one();
        for s in [Scalar::zero(), Scalar::one(), minus_one] {
            assert!(base_mul(&s) == ExtendedPoint::generator().scalar_mul(&s));
        }
    }

    // RFC 8032 §7.4, test 1 ("blank").
    #[test]
    fn rfc8032_blank() {
        let secret = hex::decode(
            "6c82a562cb808d10d632be89c8513ebf6c929f34ddfa8c9f63c9960ef6e348a3\
             528c8a3fcc2f044e39a3fc5b94492f8f032e7549a20098f95b",
        )
        .unwrap();
        let key = Ed448Private::from_secret(&secret);
        assert_eq!(
            hex::encode(key.public()),
            "5fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778\
             edf124769b46c7061bd6783df1e50f6cd1fa1abeafe8256180"
        );
        let sig = key.sign(b"");
        assert_eq!(
            hex::encode(sig),
            "533a37f6bbe457251f023c0d88f976ae2dfb504a843e34d2074fd823d41a591f\
             2b233f034f628281f2fd7a22ddd47d7828c59bd0a21bfd3980ff0d2028d4b18a\
             9df63e006c5d1c2d345b925d8dc00b4104852db99ac5c7cdda8530a113a0f4db\
             b61149f05a7363268c71d95808ff2e652600"
        );
        verify(&key.public(), b"", &sig).unwrap();
        assert_eq!(
            verify(&key.public(), b"x", &sig),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn stored_form_round_trips() {
        let key = Ed448Private::from_secret(&[7u8; 56]);
        let back = Ed448Private::from_bytes(&key.to_bytes()).unwrap();
        assert_eq!(back.public(), key.public());
        assert_eq!(back.sign(b"m"), key.sign(b"m"));
    }
}
