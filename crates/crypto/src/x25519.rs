//! X25519 key agreement (RFC 7748). Public keys are the 32-octet u coordinate.
//!
//! A u coordinate alone does not fix the sign of v, so X25519 public keys cannot be added:
//! combination of X25519 keys for activation is refused with a clear error. The Mesh's default
//! suite (Ed448 / X448) carries the parity of v and combines fully.

use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::clamp_integer;

use crate::CryptoError;

pub const PUBLIC_LEN: usize = 32;
const ALG: &str = "X25519";

#[derive(Clone)]
pub struct X25519Private {
    scalar: [u8; 32],
    public: [u8; PUBLIC_LEN],
}

impl X25519Private {
    /// Clamp 32 octets of key material into a private key.
    pub fn from_secret(secret: &[u8]) -> Result<Self, CryptoError> {
        let k: [u8; 32] = secret.try_into().map_err(|_| CryptoError::BadPrivateKey {
            algorithm: ALG,
            reason: format!("expected 32 octets, got {}", secret.len()),
        })?;
        let scalar = clamp_integer(k);
        Ok(X25519Private {
            scalar,
            public: MontgomeryPoint::mul_base_clamped(scalar).to_bytes(),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.scalar.to_vec()
    }

    pub fn public(&self) -> [u8; PUBLIC_LEN] {
        self.public
    }

    pub fn agree(&self, peer_public: &[u8]) -> Result<[u8; 32], CryptoError> {
        let u: [u8; 32] = peer_public
            .try_into()
            .map_err(|_| CryptoError::BadPublicKey {
                algorithm: ALG,
                reason: format!("expected 32 octets, got {}", peer_public.len()),
            })?;
        let shared = MontgomeryPoint(u).mul_clamped(self.scalar).to_bytes();
        if shared.iter().all(|b| *b == 0) {
            return Err(CryptoError::LowOrderPoint);
        }
        Ok(shared)
    }
}

pub fn check_public(public: &[u8]) -> Result<(), CryptoError> {
    if public.len() != PUBLIC_LEN {
        return Err(CryptoError::BadPublicKey {
            algorithm: ALG,
            reason: format!("expected 32 octets, got {}", public.len()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7748 §6.1.
    #[test]
    fn rfc7748_agreement() {
        let alice = X25519Private::from_secret(
            &hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .unwrap(),
        )
        .unwrap();
        let bob = X25519Private::from_secret(
            &hex::decode("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            hex::encode(alice.public()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
        assert_eq!(
            hex::encode(alice.agree(&bob.public()).unwrap()),
            "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
        );
    }
}
