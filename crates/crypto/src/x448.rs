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
    /// Computed when first asked for: a key share never needs it.
    public: std::sync::OnceLock<[u8; PUBLIC_LEN]>,
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
        Ok(X448Private {
            scalar,
            ladder_scalar: ladder_form(&k),
            public: std::sync::OnceLock::new(),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.scalar.to_vec()
    }

    pub fn public(&self) -> [u8; PUBLIC_LEN] {
        *self.public.get_or_init(|| {
            crate::counters::count(crate::counters::Operation::X448KeyGen);
            // x([k]B) and x([k+1]B) by the constant-time ladder; v by Okeya–Sakurai.
            MontPoint::base()
                .mul(&self.ladder_scalar)
                .expect("a scalar that is no multiple of the order")
                .to_mesh_bytes()
        })
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

/// Threshold decryption (threshold-06 §3.2, §6.2.3–6.2.4): the key split in two shares whose
/// scalars sum to its own modulo the group order, each share usable by itself only for a
/// contribution [share]E to a key agreement, never for the agreement.
impl X448Private {
    /// Split the key into a random share and the remainder (`Scalar_2 = Scalar_A − Scalar_1`).
    pub fn split(&self) -> Result<(X448Private, X448Private), CryptoError> {
        use rand::RngCore;
        let mut wide = [0u8; 72];
        rand::rngs::OsRng.fill_bytes(&mut wide);
        let first = BigUint::from_bytes_le(&wide) % order();
        let second = (BigUint::from_bytes_le(&self.scalar) + order() - &first) % order();
        Ok((
            Self::from_scalar(scalar_bytes(&first))?,
            Self::from_scalar(scalar_bytes(&second))?,
        ))
    }

    /// This share's contribution to a threshold key agreement with `peer_public` (an ephemeral
    /// key in the Mesh encoding): the full point [k]E, u then the parity of v, so that the
    /// contributions can be added by [`combine_contributions`].
    pub fn agree_partial(&self, peer_public: &[u8]) -> Result<[u8; PUBLIC_LEN], CryptoError> {
        let peer = decode(peer_public)?;
        // A result of u = 0 is the point of order two: only a peer outside the prime-order
        // subgroup gives it, and it is no contribution.
        peer.mul(&self.ladder_scalar)
            .filter(|p| !p.u.is_zero())
            .map(|p| p.to_mesh_bytes())
            .ok_or(CryptoError::LowOrderPoint)
    }
}

/// The key agreement value from the contributions of every share: the u coordinate of their
/// sum, as [`X448Private::agree`] gives it for the whole key.
pub fn combine_contributions(parts: &[&[u8]]) -> Result<[u8; 56], CryptoError> {
    let mut points = parts.iter().map(|p| decode(p));
    let mut sum = points.next().ok_or(CryptoError::BadPublicKey {
        algorithm: ALG,
        reason: "no contributions to combine".into(),
    })??;
    for point in points {
        sum = sum.add(&point?).ok_or(CryptoError::LowOrderPoint)?;
    }
    Ok(sum.u.to_bytes())
}

/// An integer below 2^448 as 56 little-endian octets.
fn scalar_bytes(k: &BigUint) -> [u8; 56] {
    let mut out = [0u8; 56];
    let le = k.to_bytes_le();
    out[..le.len()].copy_from_slice(&le);
    out
}

/// The even representative of k modulo the group order, as 56 octets for the ladder.
fn ladder_form(k: &BigUint) -> [u8; 56] {
    let k = k % order();
    let k = if k.bit(0) { k + order() } else { k };
    scalar_bytes(&k)
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
    use crate::p448::Fe;

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

    fn hex_bytes(spaced: &str) -> Vec<u8> {
        hex::decode(spaced.split_whitespace().collect::<String>()).unwrap()
    }

    fn decimal(digits: &str) -> BigUint {
        BigUint::parse_bytes(digits.as_bytes(), 10).unwrap()
    }

    fn field(n: &BigUint) -> Fe {
        Fe::from_canonical_bytes(&scalar_bytes(n)).unwrap()
    }

    // threshold-06 §6.2.3–6.2.4 (X448 key splitting and decryption). The data departs from the
    // text: the printed Scalar_2 is (Scalar_A + Scalar_1) mod L, not the "Scalar_A − Scalar_1"
    // the text states, and the printed sum of the two contributions is no combination of them.
    // The printed agreement value U, both printed contributions (u and v) and the printed
    // Scalar_2 (as a sum) are reproduced here from their printed inputs;
    // shares made as the text says (subtraction) are the ones that recombine to U, and that is
    // what `split` does (INTEROP-NOTES).
    #[test]
    fn threshold_06_x448_split_and_agreement() {
        let a = hex_bytes(
            "18 AB BD 69 F6 B7 16 23 72 4E B5 28 7E F8 F1 4E DB B5 6C EF 00 CD 51 4A AD F6 24 AF
             73 0B CC 37 E4 66 01 C0 B4 35 18 99 CA 31 D0 7E 5D C6 86 9F 4F 33 33 95 BB 90 B4 B4",
        );
        let one = hex_bytes(
            "DC CD 9E 38 94 A1 EA CA 7D 41 FA B5 FB D3 01 43 4A FB F9 1D AE 73 82 3B 4C 11 A8 F2
             2A 36 87 AB 3F EB EE E8 DC AB A7 30 5E 26 9C BC 4C FC D0 C8 48 F1 D3 78 A1 F0 F2 CD",
        );
        let printed_two = hex_bytes(
            "42 DB 4A 9E 1A CA 2C 19 F1 33 0E 8C CA 3D 67 C9 C4 69 61 F4 F4 1C FB EB 7E 30 10 B5
             A1 41 53 E3 23 52 F0 A8 91 E1 BF C9 28 58 6C 3B AA C2 57 68 98 24 07 0E 5D 81 A7 02",
        );
        let e = hex_bytes(
            "C4 3C 47 59 CD E7 17 95 B4 7B 93 AA 69 B8 B6 B7 ED FE 18 D7 F4 7F 60 65 F1 89 C7 35
             8D B5 43 37 1B 7F 29 3E C2 DE EF 30 B6 C6 B5 53 17 C5 53 34 E1 86 A9 88 60 7B 1C 84",
        );
        let key_a = X448Private::from_secret(&a).unwrap();
        let scalar_a = BigUint::from_bytes_le(&key_a.scalar);
        let scalar_1 = BigUint::from_bytes_le(&one);
        assert_eq!(
            (&scalar_a + &scalar_1) % order(),
            BigUint::from_bytes_le(&printed_two)
        );
        let ephemeral = X448Private::from_secret(&e).unwrap();
        let whole = ephemeral.agree(&key_a.public()).unwrap();
        assert_eq!(
            BigUint::from_bytes_le(&whole),
            decimal("467011616546325364170545331693527825162957894564752019329166269756954567903847269575078419988391203956276277502444715801151733990260662")
        );
        // The printed contributions and their printed sum, from the printed shares.
        let share_1 = X448Private::from_scalar(one.try_into().unwrap()).unwrap();
        let printed_share_2 = X448Private::from_scalar(printed_two.try_into().unwrap()).unwrap();
        let c1 = share_1.agree_partial(&ephemeral.public()).unwrap();
        let c2 = printed_share_2.agree_partial(&ephemeral.public()).unwrap();
        let printed = |u: &str, v: &str| {
            MontPoint {
                u: field(&decimal(u)),
                v: field(&decimal(v)),
            }
            .to_mesh_bytes()
        };
        assert_eq!(c1, printed(
            "612112921160648939091711280397522831608649375644855484627685573574796097573324948060246221854728690332168796528561330174015687677222868",
            "201043408411452768324992701951900381185869686931750056109757993947816262634088142979592355613308839469219652899581533430916970635983432",
        ));
        assert_eq!(c2, printed(
            "290543592387303668402000444540573819834556168336146133899156492196788195733788135568819938481333767701019721625502303783518942583538850",
            "545084635544186338165791882421333945771369831404654834318355031722653832417877619017774120725462178582001609731098147709911715676858744",
        ));
        // With the printed Scalar_2 the agreement value is the difference of the contributions
        // (−c1 negates v), not the sum the draft prints (654406…119 is neither).
        let minus_c1 = MontPoint::from_mesh_bytes(&c1).unwrap().neg();
        assert_eq!(
            combine_contributions(&[&minus_c1.to_mesh_bytes(), &c2]).unwrap(),
            whole
        );
        assert_ne!(
            BigUint::from_bytes_le(&combine_contributions(&[&c1, &c2]).unwrap()),
            decimal("654406645663157043297342343331709836245150043735702788665901049252553535973169012625989449576860527067131717971914114816832035824532119")
        );
        // The share the text describes recombines to the agreement value.
        let share_2 =
            X448Private::from_scalar(scalar_bytes(&((scalar_a + order() - scalar_1) % order())))
                .unwrap();
        let c2 = share_2.agree_partial(&ephemeral.public()).unwrap();
        assert_eq!(combine_contributions(&[&c1, &c2]).unwrap(), whole);
    }

    /// The edges of the ladder: a scalar of −1 modulo the order has a public key (−B), and a
    /// peer of low order gives no contribution (the order-4 point, u = p − 1, whose double is
    /// (0, 0)).
    #[test]
    fn ladder_edges() {
        let minus_one = X448Private::from_scalar(scalar_bytes(&(order() - 1u32))).unwrap();
        let base = MontPoint::base();
        assert_eq!(minus_one.public(), base.neg().to_mesh_bytes());
        let mut p_minus_one = [0xffu8; 57];
        p_minus_one[0] = 0xfe;
        p_minus_one[28] = 0xfe;
        p_minus_one[56] = 0;
        let key = X448Private::from_scalar(scalar_bytes(&BigUint::from(2u8))).unwrap();
        assert!(MontPoint::from_mesh_bytes(&p_minus_one).is_some());
        assert!(key.agree_partial(&p_minus_one).is_err());
        for low in [[0u8; 57], {
            let mut one = [0u8; 57];
            one[0] = 1;
            one
        }] {
            assert!(key.agree_partial(&low).is_err());
        }
    }

    #[test]
    fn split_shares_recombine() {
        let key = X448Private::from_secret(&[7u8; 56]).unwrap();
        let peer = X448Private::from_secret(&[8u8; 56]).unwrap();
        let (s1, s2) = key.split().unwrap();
        assert_ne!(s1.scalar, key.scalar);
        assert_eq!(s1.combine(&s2).unwrap().public(), key.public());
        let parts = [
            s1.agree_partial(&peer.public()).unwrap(),
            s2.agree_partial(&peer.public()).unwrap(),
        ];
        let combined = combine_contributions(&[&parts[0], &parts[1]]).unwrap();
        assert_eq!(combined, key.agree(&peer.public()).unwrap());
        // One share alone gives something else.
        assert_ne!(parts[0][..56], combined[..]);
        assert!(s1.agree_partial(&[0u8; 57]).is_err());
    }

    #[test]
    fn odd_scalars_agree_with_the_reference_ladder() {
        let peer = X448Private::from_secret(&[9u8; 56]).unwrap();
        let point = MontPoint::from_mesh_bytes(&peer.public()).unwrap();
        for odd in [1u32, 3, 12345677] {
            let mut scalar = [0u8; 56];
            scalar[..4].copy_from_slice(&odd.to_le_bytes());
            let key = X448Private::from_scalar(scalar).unwrap();
            let slow = point.mul(&scalar).unwrap().to_mesh_bytes();
            assert_eq!(key.agree(&peer.public()).unwrap()[..], slow[..56]);
        }
    }
}
