//! Affine arithmetic on Curve448 (RFC 7748 §4.2) with both coordinates, over [`crate::p448`].
//!
//! The Mesh carries an X448 public key as u followed by one octet holding the parity of v
//! (INTEROP-NOTES), so key generation must know v, reading a key must find v (a square root),
//! and activation and threshold decryption must add Montgomery points. Key agreement itself uses
//! the constant-time ladder of `ed448-goldilocks`, giving x([k]P) and x([k+1]P), from which v is
//! recovered by the Okeya–Sakurai formula; point addition uses the affine chord rule.

use std::sync::OnceLock;

use crate::p448::Fe;

/// A of Curve448 (v² = u³ + A·u² + u).
const A: u64 = 156326;

/// The base point (5, V) of RFC 7748 §4.2.
fn base_point() -> &'static MontPoint {
    static BASE: OnceLock<MontPoint> = OnceLock::new();
    BASE.get_or_init(|| {
        let v = num_bigint::BigUint::parse_bytes(
            b"355293926785568175264127502063783334808976399387714271831880898435169088786967410002932673765864550910142774147268105838985595290606362",
            10,
        )
        .expect("decimal constant")
        .to_bytes_le();
        let mut bytes = [0u8; 56];
        bytes[..v.len()].copy_from_slice(&v);
        MontPoint {
            u: Fe::from_u64(5),
            v: Fe::from_canonical_bytes(&bytes).expect("V is below p"),
        }
    })
}

/// u³ + A·u² + u, which is v² for a point of the curve.
fn curve_rhs(u: &Fe) -> Fe {
    let u2 = u.square();
    u2.mul(u).add(&Fe::from_u64(A).mul(&u2)).add(u)
}

/// x([k]P) and x([k+1]P) for the u coordinate of P and a 448-bit little-endian k, as
/// projective (X : Z) pairs, by the RFC 7748 §5 ladder: the same operations and swaps, by mask,
/// whatever the bits of k.
pub fn ladder(u: &Fe, k: &[u8; 56]) -> ((Fe, Fe), (Fe, Fe)) {
    let a24 = Fe::from_u64(39081);
    let (mut x2, mut z2) = (Fe::ONE, Fe::ZERO);
    let (mut x3, mut z3) = (*u, Fe::ONE);
    let mut swap = subtle::Choice::from(0);
    for t in (0..448).rev() {
        let bit = subtle::Choice::from((k[t / 8] >> (t % 8)) & 1);
        swap ^= bit;
        Fe::conditional_swap(&mut x2, &mut x3, swap);
        Fe::conditional_swap(&mut z2, &mut z3, swap);
        swap = bit;
        let a = x2.add(&z2);
        let aa = a.square();
        let b = x2.sub(&z2);
        let bb = b.square();
        let e = aa.sub(&bb);
        let c = x3.add(&z3);
        let d = x3.sub(&z3);
        let da = d.mul(&a);
        let cb = c.mul(&b);
        x3 = da.add(&cb).square();
        z3 = u.mul(&da.sub(&cb).square());
        x2 = aa.mul(&bb);
        z2 = e.mul(&aa.add(&a24.mul(&e)));
    }
    Fe::conditional_swap(&mut x2, &mut x3, swap);
    Fe::conditional_swap(&mut z2, &mut z3, swap);
    ((x2, z2), (x3, z3))
}

/// An affine point (u, v) on Curve448.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MontPoint {
    pub u: Fe,
    pub v: Fe,
}

impl MontPoint {
    /// The base point (5, V).
    pub fn base() -> Self {
        base_point().clone()
    }

    /// Whether the point satisfies v² = u³ + A·u² + u.
    pub fn is_on_curve(&self) -> bool {
        self.v.square() == curve_rhs(&self.u)
    }

    /// Recover the point from u and the parity of v; `None` if u is not on the curve.
    pub fn from_u_and_parity(u: &Fe, odd: bool) -> Option<Self> {
        let v = curve_rhs(u).sqrt()?;
        let v = if v.is_odd() != odd && !v.is_zero() {
            v.neg()
        } else {
            v
        };
        Some(MontPoint { u: *u, v })
    }

    /// −P.
    pub fn neg(&self) -> MontPoint {
        MontPoint {
            u: self.u,
            v: self.v.neg(),
        }
    }

    /// [k]P for an integer k below 2^448; `None` when it is the identity.
    pub fn mul(&self, k: &[u8; 56]) -> Option<MontPoint> {
        let ((x2, z2), (x3, z3)) = ladder(&self.u, k);
        if z2.is_zero() {
            return None;
        }
        if z3.is_zero() {
            // [k+1]P is the identity, so [k]P = −P (k ≡ −1 modulo P's order).
            return Some(self.neg());
        }
        self.recover(&x2.mul(&z2.invert()), &x3.mul(&z3.invert()))
    }

    /// Given x_Q = x([k]P) and x_R = x([k+1]P), the full point [k]P, by Okeya–Sakurai:
    /// y_Q = ((x_P x_Q + 1)(x_P + x_Q + 2A) − 2A − (x_P − x_Q)² x_R) / (2 y_P).
    pub fn recover(&self, xq: &Fe, xr: &Fe) -> Option<MontPoint> {
        if self.v.is_zero() {
            return None;
        }
        let xp = &self.u;
        let two_a = Fe::from_u64(2 * A);
        let diff = xp.sub(xq);
        let num = xp
            .mul(xq)
            .add(&Fe::ONE)
            .mul(&xp.add(xq).add(&two_a))
            .sub(&two_a)
            .sub(&diff.square().mul(xr));
        let yq = num.mul(&self.v.add(&self.v).invert());
        Some(MontPoint { u: *xq, v: yq })
    }

    /// P + Q by the chord (or tangent) rule; `None` when the sum is the identity.
    pub fn add(&self, other: &MontPoint) -> Option<MontPoint> {
        let a = Fe::from_u64(A);
        let lambda = if self.u == other.u {
            if self.v != other.v || self.v.is_zero() {
                return None;
            }
            // Tangent: (3u² + 2Au + 1) / 2v.
            let num = Fe::from_u64(3)
                .mul(&self.u.square())
                .add(&a.add(&a).mul(&self.u))
                .add(&Fe::ONE);
            num.mul(&self.v.add(&self.v).invert())
        } else {
            other.v.sub(&self.v).mul(&other.u.sub(&self.u).invert())
        };
        let u3 = lambda.square().sub(&a).sub(&self.u).sub(&other.u);
        let v3 = lambda.mul(&self.u.sub(&u3)).sub(&self.v);
        Some(MontPoint { u: u3, v: v3 })
    }

    /// The Mesh's 57-octet encoding: u little-endian in 56 octets, then 0x80 if v is odd.
    pub fn to_mesh_bytes(&self) -> [u8; 57] {
        let mut out = [0u8; 57];
        out[..56].copy_from_slice(&self.u.to_bytes());
        out[56] = if self.v.is_odd() { 0x80 } else { 0x00 };
        out
    }

    /// Decode the 57-octet form; u must be below p and the last octet 0x00 or 0x80.
    pub fn from_mesh_bytes(bytes: &[u8]) -> Option<MontPoint> {
        if bytes.len() != 57 || (bytes[56] != 0 && bytes[56] != 0x80) {
            return None;
        }
        let u = Fe::from_canonical_bytes(bytes[..56].try_into().ok()?)?;
        Self::from_u_and_parity(&u, bytes[56] == 0x80)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(n: u8) -> [u8; 56] {
        let mut k = [0u8; 56];
        k[0] = n;
        k
    }

    #[test]
    fn base_point_is_on_curve() {
        assert!(MontPoint::base().is_on_curve());
    }

    #[test]
    fn ladder_agrees_with_addition() {
        let b = MontPoint::base();
        let p5 = b.mul(&small(5)).unwrap();
        let p2 = b.mul(&small(2)).unwrap();
        let p3 = b.mul(&small(3)).unwrap();
        assert!(p5.is_on_curve() && p2.is_on_curve() && p3.is_on_curve());
        assert_eq!(p2.add(&p3).unwrap(), p5);
        assert_eq!(b.add(&b).unwrap(), p2);
        let back = MontPoint::from_mesh_bytes(&p5.to_mesh_bytes()).unwrap();
        assert_eq!(back, p5);
    }
}
