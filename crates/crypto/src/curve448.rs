//! Affine arithmetic on Curve448 (RFC 7748 §4.2) with both coordinates, in big integers.
//!
//! The Mesh carries an X448 public key as u followed by one octet holding the parity of v
//! (INTEROP-NOTES), so key generation must know v, and activation must add Montgomery points.
//! Neither is on any hot path: key agreement itself uses the constant-time ladder of
//! `ed448-goldilocks`. Here a Montgomery ladder tracks x([k]P) and x([k+1]P) and recovers v by
//! the Okeya–Sakurai formula; point addition uses the affine chord rule.

use num_bigint::BigUint;
use num_traits::{One, Zero};
use std::sync::OnceLock;

struct Params {
    p: BigUint,
    a: BigUint,
    a24: BigUint,
    base_u: BigUint,
    base_v: BigUint,
    sqrt_exp: BigUint,
}

fn params() -> &'static Params {
    static P: OnceLock<Params> = OnceLock::new();
    P.get_or_init(|| {
        let one = BigUint::one();
        let p = (&one << 448) - (&one << 224) - &one;
        // RFC 7748 §4.2: V of the Curve448 base point.
        let base_v = BigUint::parse_bytes(
            b"355293926785568175264127502063783334808976399387714271831880898435169088786967410002932673765864550910142774147268105838985595290606362",
            10,
        )
        .expect("decimal constant");
        let sqrt_exp = (&p + &one) >> 2;
        Params {
            p,
            a: BigUint::from(156326u32),
            a24: BigUint::from(39081u32),
            base_u: BigUint::from(5u32),
            base_v,
            sqrt_exp,
        }
    })
}

/// An affine point (u, v) on Curve448.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MontPoint {
    pub u: BigUint,
    pub v: BigUint,
}

fn sub(a: &BigUint, b: &BigUint) -> BigUint {
    let p = &params().p;
    ((a % p) + p - (b % p)) % p
}

fn mul(a: &BigUint, b: &BigUint) -> BigUint {
    (a * b) % &params().p
}

fn add(a: &BigUint, b: &BigUint) -> BigUint {
    (a + b) % &params().p
}

/// 1/a mod p by the extended Euclidean algorithm (several times faster than a^(p−2) with
/// big integers); 0 for a ≡ 0, as a^(p−2) gives.
fn inv(a: &BigUint) -> BigUint {
    use num_bigint::BigInt;
    use num_integer::Integer;
    let p = BigInt::from(params().p.clone());
    let a = BigInt::from(a % &params().p);
    if a.is_zero() {
        return BigUint::zero();
    }
    let egcd = a.extended_gcd(&p);
    egcd.x
        .mod_floor(&p)
        .to_biguint()
        .expect("mod_floor of a positive modulus is not negative")
}

impl MontPoint {
    /// The base point (5, V).
    pub fn base() -> Self {
        MontPoint {
            u: params().base_u.clone(),
            v: params().base_v.clone(),
        }
    }

    /// Whether the point satisfies v² = u³ + A·u² + u.
    pub fn is_on_curve(&self) -> bool {
        let u2 = mul(&self.u, &self.u);
        let rhs = add(&add(&mul(&u2, &self.u), &mul(&params().a, &u2)), &self.u);
        mul(&self.v, &self.v) == rhs
    }

    /// Recover the point from u and the parity of v; `None` if u is not on the curve.
    pub fn from_u_and_parity(u: &BigUint, odd: bool) -> Option<Self> {
        let pr = params();
        if u >= &pr.p {
            return None;
        }
        let u2 = mul(u, u);
        let rhs = add(&add(&mul(&u2, u), &mul(&pr.a, &u2)), u);
        let mut v = rhs.modpow(&pr.sqrt_exp, &pr.p);
        if mul(&v, &v) != rhs {
            return None;
        }
        if v.bit(0) != odd && !v.is_zero() {
            v = &pr.p - v;
        }
        Some(MontPoint { u: u.clone(), v })
    }

    /// [k]P for an integer k ≥ 1 whose multiple is not the identity.
    pub fn mul(&self, k: &BigUint) -> Option<MontPoint> {
        let pr = params();
        let (xp, one) = (&self.u, BigUint::one());
        // (x2:z2) = [k]P and (x3:z3) = [k+1]P, by the RFC 7748 ladder.
        let (mut x2, mut z2) = (one.clone(), BigUint::zero());
        let (mut x3, mut z3) = (xp.clone(), one.clone());
        for i in (0..k.bits()).rev() {
            let bit = k.bit(i);
            if bit {
                std::mem::swap(&mut x2, &mut x3);
                std::mem::swap(&mut z2, &mut z3);
            }
            let a = add(&x2, &z2);
            let aa = mul(&a, &a);
            let b = sub(&x2, &z2);
            let bb = mul(&b, &b);
            let e = sub(&aa, &bb);
            let c = add(&x3, &z3);
            let d = sub(&x3, &z3);
            let da = mul(&d, &a);
            let cb = mul(&c, &b);
            let t = add(&da, &cb);
            x3 = mul(&t, &t);
            let t = sub(&da, &cb);
            z3 = mul(xp, &mul(&t, &t));
            x2 = mul(&aa, &bb);
            z2 = mul(&e, &add(&aa, &mul(&pr.a24, &e)));
            if bit {
                std::mem::swap(&mut x2, &mut x3);
                std::mem::swap(&mut z2, &mut z3);
            }
        }
        if z2.is_zero() || z3.is_zero() {
            return None;
        }
        self.recover(&mul(&x2, &inv(&z2)), &mul(&x3, &inv(&z3)))
    }

    /// Given x_Q = x([k]P) and x_R = x([k+1]P), the full point [k]P, by Okeya–Sakurai:
    /// y_Q = ((x_P x_Q + 1)(x_P + x_Q + 2A) − 2A − (x_P − x_Q)² x_R) / (2 y_P).
    pub fn recover(&self, xq: &BigUint, xr: &BigUint) -> Option<MontPoint> {
        let pr = params();
        if self.v.is_zero() {
            return None;
        }
        let (xp, one) = (&self.u, BigUint::one());
        let two_a = add(&pr.a, &pr.a);
        let diff = sub(xp, xq);
        let num = sub(
            &sub(
                &mul(&add(&mul(xp, xq), &one), &add(&add(xp, xq), &two_a)),
                &two_a,
            ),
            &mul(&mul(&diff, &diff), xr),
        );
        let yq = mul(&num, &inv(&add(&self.v, &self.v)));
        Some(MontPoint {
            u: xq % &pr.p,
            v: yq,
        })
    }

    /// P + Q by the chord (or tangent) rule; `None` when the sum is the identity.
    pub fn add(&self, other: &MontPoint) -> Option<MontPoint> {
        let pr = params();
        let lambda = if self.u == other.u {
            if self.v != other.v || self.v.is_zero() {
                return None;
            }
            // Tangent: (3u² + 2Au + 1) / 2v.
            let u2 = mul(&self.u, &self.u);
            let num = add(
                &add(
                    &mul(&BigUint::from(3u32), &u2),
                    &mul(&add(&pr.a, &pr.a), &self.u),
                ),
                &BigUint::one(),
            );
            mul(&num, &inv(&add(&self.v, &self.v)))
        } else {
            mul(&sub(&other.v, &self.v), &inv(&sub(&other.u, &self.u)))
        };
        let u3 = sub(&sub(&sub(&mul(&lambda, &lambda), &pr.a), &self.u), &other.u);
        let v3 = sub(&mul(&lambda, &sub(&self.u, &u3)), &self.v);
        Some(MontPoint { u: u3, v: v3 })
    }

    /// The Mesh's 57-octet encoding: u little-endian in 56 octets, then 0x80 if v is odd.
    pub fn to_mesh_bytes(&self) -> [u8; 57] {
        let mut out = [0u8; 57];
        let le = self.u.to_bytes_le();
        out[..le.len()].copy_from_slice(&le);
        out[56] = if self.v.bit(0) { 0x80 } else { 0x00 };
        out
    }

    /// Decode the 57-octet form; the last octet must be 0x00 or 0x80.
    pub fn from_mesh_bytes(bytes: &[u8]) -> Option<MontPoint> {
        if bytes.len() != 57 || (bytes[56] != 0 && bytes[56] != 0x80) {
            return None;
        }
        Self::from_u_and_parity(&BigUint::from_bytes_le(&bytes[..56]), bytes[56] == 0x80)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_point_is_on_curve() {
        assert!(MontPoint::base().is_on_curve());
    }

    #[test]
    fn ladder_agrees_with_addition() {
        let b = MontPoint::base();
        let p5 = b.mul(&BigUint::from(5u32)).unwrap();
        let p2 = b.mul(&BigUint::from(2u32)).unwrap();
        let p3 = b.mul(&BigUint::from(3u32)).unwrap();
        assert!(p5.is_on_curve() && p2.is_on_curve() && p3.is_on_curve());
        assert_eq!(p2.add(&p3).unwrap(), p5);
        assert_eq!(b.add(&b).unwrap(), p2);
        let back = MontPoint::from_mesh_bytes(&p5.to_mesh_bytes()).unwrap();
        assert_eq!(back, p5);
    }
}
