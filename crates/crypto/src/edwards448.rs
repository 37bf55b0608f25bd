//! Edwards448 (RFC 8032 §5.2) in projective coordinates over [`crate::p448`], for what handles
//! only public values: verifying a signature.
//!
//! Verification checks [S]B = R + [k]A. Here [S]B − [k]A is computed in one pass of 448
//! doublings by interleaving the width-w non-adjacent forms of S and k (odd multiples of B up
//! to 63B in a table made once per process, of −A up to 15A made per signature), and its
//! encoding compared with R's octets: no decoding of R, one of A. Time depends on S and k, which
//! are public; nothing secret passes through here (signing uses the constant-time table in
//! [`crate::ed448`]).

use std::sync::OnceLock;

use crate::p448::Fe;

/// d of Edwards448: x² + y² = 1 + d·x²·y², d = −39081.
fn d() -> Fe {
    Fe::from_u64(39081).neg()
}

/// A point (X : Y : Z), x = X/Z, y = Y/Z. The addition law is complete (d is not a square), so
/// no case needs handling apart.
#[derive(Clone, Copy, Debug)]
pub struct EdwardsPoint {
    x: Fe,
    y: Fe,
    z: Fe,
}

impl EdwardsPoint {
    pub const IDENTITY: EdwardsPoint = EdwardsPoint {
        x: Fe::ZERO,
        y: Fe::ONE,
        z: Fe::ONE,
    };

    /// Decode 57 octets (RFC 8032 §5.2.3): y below p in the first 56, the sign of x in the top
    /// bit of the last, whose other bits are zero.
    pub fn decompress(bytes: &[u8; 57]) -> Option<EdwardsPoint> {
        if bytes[56] & 0x7f != 0 {
            return None;
        }
        let y = Fe::from_canonical_bytes(bytes[..56].try_into().ok()?)?;
        let sign = bytes[56] >> 7 == 1;
        // x² = (y² − 1) / (d·y² − 1) = u / v, and x = u³·v·(u⁵·v³)^((p−3)/4).
        let y2 = y.square();
        let u = y2.sub(&Fe::ONE);
        let v = d().mul(&y2).sub(&Fe::ONE);
        let u3v = u.square().mul(&u).mul(&v);
        let u5v3 = u3v.mul(&u.square()).mul(&v.square());
        let mut x = u3v.mul(&u5v3.pow_p3_4());
        if v.mul(&x.square()) != u {
            return None;
        }
        if x.is_zero() && sign {
            return None;
        }
        if x.is_odd() != sign {
            x = x.neg();
        }
        Some(EdwardsPoint { x, y, z: Fe::ONE })
    }

    /// The 57-octet encoding.
    pub fn compress(&self) -> [u8; 57] {
        let zi = self.z.invert();
        let (x, y) = (self.x.mul(&zi), self.y.mul(&zi));
        let mut out = [0u8; 57];
        out[..56].copy_from_slice(&y.to_bytes());
        out[56] = u8::from(x.is_odd()) << 7;
        out
    }

    pub fn neg(&self) -> EdwardsPoint {
        EdwardsPoint {
            x: self.x.neg(),
            ..*self
        }
    }

    /// RFC 8032 §5.2.4, addition.
    pub fn add(&self, other: &EdwardsPoint) -> EdwardsPoint {
        let a = self.z.mul(&other.z);
        let b = a.square();
        let c = self.x.mul(&other.x);
        let dd = self.y.mul(&other.y);
        let e = d().mul(&c).mul(&dd);
        let f = b.sub(&e);
        let g = b.add(&e);
        let h = self.x.add(&self.y).mul(&other.x.add(&other.y));
        EdwardsPoint {
            x: a.mul(&f).mul(&h.sub(&c).sub(&dd)),
            y: a.mul(&g).mul(&dd.sub(&c)),
            z: f.mul(&g),
        }
    }

    /// RFC 8032 §5.2.4, doubling.
    pub fn double(&self) -> EdwardsPoint {
        let b = self.x.add(&self.y).square();
        let c = self.x.square();
        let dd = self.y.square();
        let e = c.add(&dd);
        let h = self.z.square();
        let j = e.sub(&h.add(&h));
        EdwardsPoint {
            x: b.sub(&e).mul(&j),
            y: e.mul(&c.sub(&dd)),
            z: e.mul(&j),
        }
    }

    /// Whether two points are the same (X₁Z₂ = X₂Z₁ and Y₁Z₂ = Y₂Z₁).
    #[cfg(test)]
    pub fn equals(&self, other: &EdwardsPoint) -> bool {
        self.x.mul(&other.z) == other.x.mul(&self.z) && self.y.mul(&other.z) == other.y.mul(&self.z)
    }

    /// P, 3P, 5P, … (2n − 1)P.
    fn odd_multiples<const N: usize>(&self) -> [EdwardsPoint; N] {
        let twice = self.double();
        let mut out = [*self; N];
        for i in 1..N {
            out[i] = out[i - 1].add(&twice);
        }
        out
    }
}

/// The base point B, from its encoding (RFC 8032 §5.2).
fn base_point() -> EdwardsPoint {
    use ed448_goldilocks::curve::edwards::ExtendedPoint;
    let encoded = ExtendedPoint::generator().compress().0;
    EdwardsPoint::decompress(&encoded).expect("the base point decodes")
}

const B_WIDTH: usize = 7;
const A_WIDTH: usize = 5;

fn base_odd_multiples() -> &'static [EdwardsPoint; 1 << (B_WIDTH - 2)] {
    static TABLE: OnceLock<[EdwardsPoint; 1 << (B_WIDTH - 2)]> = OnceLock::new();
    TABLE.get_or_init(|| base_point().odd_multiples())
}

/// The width-w non-adjacent form of a scalar below 2^448 (56 little-endian octets): digits
/// odd and below 2^(w−1) in magnitude, at least w − 1 zeros between any two.
fn non_adjacent_form(scalar: &[u8; 56], w: usize) -> [i8; 450] {
    let mut limbs = [0u64; 8];
    for (i, chunk) in scalar.chunks(8).enumerate() {
        limbs[i] = u64::from_le_bytes(chunk.try_into().expect("8 octets"));
    }
    let width = 1u64 << w;
    let mask = width - 1;
    let mut naf = [0i8; 450];
    let (mut pos, mut carry) = (0usize, 0u64);
    while pos < 449 {
        let (idx, bit) = (pos / 64, pos % 64);
        let buf = if bit < 64 - w || idx == 7 {
            limbs[idx] >> bit
        } else {
            (limbs[idx] >> bit) | (limbs[idx + 1] << (64 - bit))
        };
        let window = carry + (buf & mask);
        if window & 1 == 0 {
            pos += 1;
            continue;
        }
        if window < width / 2 {
            carry = 0;
            naf[pos] = window as i8;
        } else {
            carry = 1;
            naf[pos] = (window as i64 - width as i64) as i8;
        }
        pos += w;
    }
    naf
}

/// [s]B − [k]A, for s and k below 2^448 (56 little-endian octets each).
pub fn base_minus_point(s: &[u8; 56], k: &[u8; 56], a: &EdwardsPoint) -> EdwardsPoint {
    let naf_s = non_adjacent_form(s, B_WIDTH);
    let naf_k = non_adjacent_form(k, A_WIDTH);
    let table_b = base_odd_multiples();
    let table_a: [EdwardsPoint; 1 << (A_WIDTH - 2)] = a.neg().odd_multiples();
    let top = (0..450)
        .rev()
        .find(|&i| naf_s[i] != 0 || naf_k[i] != 0)
        .unwrap_or(0);
    let mut r = EdwardsPoint::IDENTITY;
    for i in (0..=top).rev() {
        r = r.double();
        for (digit, table) in [(naf_s[i], &table_b[..]), (naf_k[i], &table_a[..])] {
            match digit {
                0 => {}
                d if d > 0 => r = r.add(&table[(d / 2) as usize]),
                d => r = r.add(&table[(-d / 2) as usize].neg()),
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed448_goldilocks::curve::edwards::ExtendedPoint;
    use ed448_goldilocks::Scalar;
    use proptest::prelude::*;

    fn goldilocks(p: &EdwardsPoint) -> ExtendedPoint {
        ed448_goldilocks::curve::edwards::CompressedEdwardsY(p.compress())
            .decompress()
            .unwrap()
    }

    #[test]
    fn base_point_round_trips_and_doubles_as_goldilocks_does() {
        let b = base_point();
        assert_eq!(b.compress(), ExtendedPoint::generator().compress().0);
        assert_eq!(
            b.double().compress(),
            ExtendedPoint::generator().double().compress().0
        );
        assert!(b.add(&b.neg()).equals(&EdwardsPoint::IDENTITY));
        assert!(b.add(&EdwardsPoint::IDENTITY).equals(&b));
    }

    #[test]
    fn bad_encodings_are_refused() {
        let mut bytes = base_point().compress();
        bytes[56] |= 1;
        assert!(EdwardsPoint::decompress(&bytes).is_none());
        // y = p (not canonical).
        let mut p = [0xffu8; 57];
        p[28] = 0xfe;
        p[56] = 0;
        assert!(EdwardsPoint::decompress(&p).is_none());
        // y = 1 is the identity (x = 0): its sign bit cannot be set.
        let mut one = [0u8; 57];
        one[0] = 1;
        assert!(EdwardsPoint::decompress(&one).is_some());
        one[56] = 0x80;
        assert!(EdwardsPoint::decompress(&one).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        // [s]B − [k]A against goldilocks's own multiplication, for random s, k and A.
        #[test]
        fn double_multiplication_agrees_with_goldilocks(
            s in proptest::collection::vec(any::<u8>(), 114),
            k in proptest::collection::vec(any::<u8>(), 114),
            a in proptest::collection::vec(any::<u8>(), 114),
        ) {
            let wide = |v: &[u8]| Scalar::from_bytes_mod_order_wide(&v.try_into().unwrap());
            let (s, k, a) = (wide(&s), wide(&k), wide(&a));
            let big_a = ExtendedPoint::generator().scalar_mul(&a);
            let ours_a = EdwardsPoint::decompress(&big_a.compress().0).unwrap();
            let ours = base_minus_point(&s.to_bytes(), &k.to_bytes(), &ours_a);
            let theirs = ExtendedPoint::generator().scalar_mul(&s) - big_a.scalar_mul(&k);
            prop_assert!(goldilocks(&ours) == theirs);
        }
    }
}
