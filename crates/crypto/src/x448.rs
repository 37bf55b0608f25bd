//! X448 key agreement (RFC 7748) with Mesh public keys of 57 octets (u, then the parity of v).
//!
//! The private key is the clamped 56-octet scalar. Combination for activation adds scalars modulo
//! the group order and adds public points on the curve ([`crate::curve448`]); a combined scalar is
//! used as it is, never clamped again.

use ed448_goldilocks::curve::MontgomeryPoint;
use ed448_goldilocks::Scalar;
use num_bigint::BigUint;
use num_traits::Zero;

use crate::curve448::MontPoint;
use crate::CryptoError;

pub const PUBLIC_LEN: usize = 57;
const ALG: &str = "X448";

/// Order of the prime subgroup: 2^446 − 13818066809895115352007386748515426880336692474882178609894547503885.
fn order() -> BigUint {
    let c = BigUint::parse_bytes(
        b"13818066809895115352007386748515426880336692474882178609894547503885",
        10,
    )
    .expect("decimal constant");
    (BigUint::from(1u8) << 446) - c
}

/// An X448 private key.
#[derive(Clone)]
pub struct X448Private {
    scalar: [u8; 56],
    /// The scalar handed to the ladder of `ed448-goldilocks` 0.9, which omits the final
    /// conditional swap and so is only right for even scalars. Clamped scalars are even; an odd
    /// (combined) scalar k is replaced by k + ℓ, which is even and gives the same multiple of any
    /// point of the prime-order subgroup, where every honest public key lies.
    ladder_scalar: [u8; 56],
    public: [u8; PUBLIC_LEN],
}

impl X448Private {
    /// Clamp 56 octets of key material into a private key (RFC 7748 §5).
    pub fn from_secret(secret: &[u8]) -> Result<Self, CryptoError> {
        let mut k: [u8; 56] = secret.try_into().map_err(|_| CryptoError::BadPrivateKey {
            algorithm: ALG,
            reason: format!("expected 56 octets, got {}", secret.len()),
        })?;
        k[0] &= 0xfc;
        k[55] |= 0x80;
        Self::from_scalar(k)
    }

    /// Use a 56-octet little-endian scalar as it is (stored keys, combined keys).
    pub fn from_scalar(scalar: [u8; 56]) -> Result<Self, CryptoError> {
        let k = BigUint::from_bytes_le(&scalar);
        let bad = || CryptoError::BadPrivateKey {
            algorithm: ALG,
            reason: "scalar is a multiple of the group order".into(),
        };
        if (&k % order()).is_zero() {
            return Err(bad());
        }
        // x([k]B) and x([k+1]B) by the constant-time ladder; v from those by Okeya–Sakurai.
        let ladder_scalar = ladder_form(&k);
        let base_u = MontgomeryPoint::generator();
        let xq = BigUint::from_bytes_le(&(&base_u * &Scalar::from_bytes(ladder_scalar)).0);
        let next = ladder_form(&(k + 1u32));
        let xr = BigUint::from_bytes_le(&(&base_u * &Scalar::from_bytes(next)).0);
        let point = MontPoint::base().recover(&xq, &xr).ok_or_else(bad)?;
        Ok(X448Private {
            scalar,
            ladder_scalar,
            public: point.to_mesh_bytes(),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.scalar.to_vec()
    }

    pub fn public(&self) -> [u8; PUBLIC_LEN] {
        self.public
    }

    /// The shared secret with a peer's public key (56 octets; u only matters).
    pub fn agree(&self, peer_public: &[u8]) -> Result<[u8; 56], CryptoError> {
        let u: [u8; 56] = match peer_public.len() {
            56 | 57 => peer_public[..56].try_into().expect("length checked"),
            n => {
                return Err(CryptoError::BadPublicKey {
                    algorithm: ALG,
                    reason: format!("expected 57 octets, got {n}"),
                })
            }
        };
        let shared = &MontgomeryPoint(u) * &Scalar::from_bytes(self.ladder_scalar);
        if shared.0.iter().all(|b| *b == 0) {
            return Err(CryptoError::LowOrderPoint);
        }
        Ok(shared.0)
    }

    /// Activation: the scalar sum modulo the group order.
    pub fn combine(&self, other: &X448Private) -> Result<X448Private, CryptoError> {
        let sum = (BigUint::from_bytes_le(&self.scalar) + BigUint::from_bytes_le(&other.scalar))
            % order();
        if sum.is_zero() {
            return Err(CryptoError::BadPrivateKey {
                algorithm: ALG,
                reason: "combined scalar is zero".into(),
            });
        }
        let mut scalar = [0u8; 56];
        let le = sum.to_bytes_le();
        scalar[..le.len()].copy_from_slice(&le);
        Self::from_scalar(scalar)
    }
}

/// The even representative of k modulo the group order, as 56 octets for the ladder.
fn ladder_form(k: &BigUint) -> [u8; 56] {
    let k = k % order();
    let k = if k.bit(0) { k + order() } else { k };
    let mut out = [0u8; 56];
    let le = k.to_bytes_le();
    out[..le.len()].copy_from_slice(&le);
    out
}

fn decode(public: &[u8]) -> Result<MontPoint, CryptoError> {
    MontPoint::from_mesh_bytes(public).ok_or(CryptoError::BadPublicKey {
        algorithm: ALG,
        reason: "not a 57-octet point (u, parity of v) on Curve448".into(),
    })
}

/// Check that a public key is a point on the curve in the Mesh encoding.
pub fn check_public(public: &[u8]) -> Result<(), CryptoError> {
    decode(public).map(|_| ())
}

/// Add two public keys (the public side of [`X448Private::combine`]).
pub fn combine_public(a: &[u8], b: &[u8]) -> Result<[u8; PUBLIC_LEN], CryptoError> {
    decode(a)?
        .add(&decode(b)?)
        .map(|p| p.to_mesh_bytes())
        .ok_or(CryptoError::LowOrderPoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7748 §6.2.
    #[test]
    fn rfc7748_agreement() {
        let alice = X448Private::from_secret(&hex::decode(
            "9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b",
        ).unwrap()).unwrap();
        let bob = X448Private::from_secret(&hex::decode(
            "1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d6927c120bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d",
        ).unwrap()).unwrap();
        assert_eq!(
            hex::encode(&alice.public()[..56]),
            "9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0"
        );
        let shared = alice.agree(&bob.public()).unwrap();
        assert_eq!(shared, bob.agree(&alice.public()).unwrap());
        assert_eq!(
            hex::encode(shared),
            "07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56fd2464c335543936521c24403085d59a449a5037514a879d"
        );
    }

    #[test]
    fn combination_agrees() {
        let a = X448Private::from_secret(&[1u8; 56]).unwrap();
        let b = X448Private::from_secret(&[2u8; 56]).unwrap();
        let peer = X448Private::from_secret(&[3u8; 56]).unwrap();
        let c = a.combine(&b).unwrap();
        assert_eq!(
            c.public(),
            combine_public(&a.public(), &b.public()).unwrap()
        );
        assert_eq!(
            c.agree(&peer.public()).unwrap(),
            peer.agree(&c.public()).unwrap()
        );
    }

    #[test]
    fn odd_scalars_agree_with_the_reference_ladder() {
        let peer = X448Private::from_secret(&[9u8; 56]).unwrap();
        let point = MontPoint::from_mesh_bytes(&peer.public()).unwrap();
        for odd in [1u32, 3, 12345677] {
            let mut scalar = [0u8; 56];
            scalar[..4].copy_from_slice(&odd.to_le_bytes());
            let key = X448Private::from_scalar(scalar).unwrap();
            let slow = point.mul(&BigUint::from(odd)).unwrap().to_mesh_bytes();
            assert_eq!(key.agree(&peer.public()).unwrap()[..], slow[..56]);
        }
    }
}
