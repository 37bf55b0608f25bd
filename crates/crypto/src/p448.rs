//! The field of p = 2^448 − 2^224 − 1 (RFC 7748 §4.2) in eight 56-bit limbs, on the formally
//! verified arithmetic of `fiat-crypto` (its unsaturated Solinas p448 code, the same the
//! `ed448-goldilocks` crate builds on but does not export).
//!
//! What [`crate::curve448`] needs for the Mesh's point encoding (u and the parity of v) and for
//! adding points: products, an inverse and a square root, each a fixed chain of squarings and
//! products over every limb whatever the value — no branch or table lookup on a secret.

use fiat_crypto::p448_solinas_64::{
    fiat_p448_add, fiat_p448_carry, fiat_p448_carry_mul, fiat_p448_carry_square,
    fiat_p448_from_bytes, fiat_p448_loose_field_element, fiat_p448_opp, fiat_p448_relax,
    fiat_p448_sub, fiat_p448_tight_field_element, fiat_p448_to_bytes,
};

/// An element of GF(p), reduced enough for every operation here.
#[derive(Clone, Copy)]
pub struct Fe(fiat_p448_tight_field_element);

fn loose(a: &Fe) -> fiat_p448_loose_field_element {
    let mut out = fiat_p448_loose_field_element([0; 8]);
    fiat_p448_relax(&mut out, &a.0);
    out
}

fn tight(a: &fiat_p448_loose_field_element) -> Fe {
    let mut out = fiat_p448_tight_field_element([0; 8]);
    fiat_p448_carry(&mut out, a);
    Fe(out)
}

impl Fe {
    pub const ZERO: Fe = Fe(fiat_p448_tight_field_element([0; 8]));
    pub const ONE: Fe = Fe(fiat_p448_tight_field_element([1, 0, 0, 0, 0, 0, 0, 0]));

    pub fn from_u64(n: u64) -> Fe {
        let mut bytes = [0u8; 56];
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        Self::from_bytes_reduced(&bytes)
    }

    /// 56 little-endian octets taken modulo p.
    pub fn from_bytes_reduced(bytes: &[u8; 56]) -> Fe {
        let mut out = fiat_p448_tight_field_element([0; 8]);
        fiat_p448_from_bytes(&mut out, bytes);
        Fe(out)
    }

    /// 56 little-endian octets holding an integer below p; `None` for p or more (a
    /// non-canonical encoding).
    pub fn from_canonical_bytes(bytes: &[u8; 56]) -> Option<Fe> {
        let fe = Self::from_bytes_reduced(bytes);
        (fe.to_bytes() == *bytes).then_some(fe)
    }

    /// The canonical 56 little-endian octets.
    pub fn to_bytes(&self) -> [u8; 56] {
        let mut out = [0u8; 56];
        fiat_p448_to_bytes(&mut out, &self.0);
        out
    }

    pub fn is_zero(&self) -> bool {
        self.ct_eq(&Fe::ZERO)
    }

    /// Whether the canonical value is odd.
    pub fn is_odd(&self) -> bool {
        self.to_bytes()[0] & 1 == 1
    }

    pub fn add(&self, other: &Fe) -> Fe {
        let mut out = fiat_p448_loose_field_element([0; 8]);
        fiat_p448_add(&mut out, &self.0, &other.0);
        tight(&out)
    }

    pub fn sub(&self, other: &Fe) -> Fe {
        let mut out = fiat_p448_loose_field_element([0; 8]);
        fiat_p448_sub(&mut out, &self.0, &other.0);
        tight(&out)
    }

    pub fn neg(&self) -> Fe {
        let mut out = fiat_p448_loose_field_element([0; 8]);
        fiat_p448_opp(&mut out, &self.0);
        tight(&out)
    }

    pub fn mul(&self, other: &Fe) -> Fe {
        let mut out = fiat_p448_tight_field_element([0; 8]);
        fiat_p448_carry_mul(&mut out, &loose(self), &loose(other));
        Fe(out)
    }

    pub fn square(&self) -> Fe {
        let mut out = fiat_p448_tight_field_element([0; 8]);
        fiat_p448_carry_square(&mut out, &loose(self));
        Fe(out)
    }

    /// self^(2^n).
    fn square_times(&self, n: u32) -> Fe {
        let mut x = *self;
        for _ in 0..n {
            x = x.square();
        }
        x
    }

    /// self^(2^222 − 1) and self^(2^223 − 1), from which both exponents below are made:
    /// x_k = self^(2^k − 1), with x_{2k} = x_k^(2^k)·x_k and x_{k+1} = x_k²·self.
    fn powers_222_223(&self) -> (Fe, Fe) {
        let x1 = *self;
        let x2 = x1.square().mul(self);
        let x3 = x2.square().mul(self);
        let x6 = x3.square_times(3).mul(&x3);
        let x12 = x6.square_times(6).mul(&x6);
        let x24 = x12.square_times(12).mul(&x12);
        let x30 = x24.square_times(6).mul(&x6);
        let x48 = x24.square_times(24).mul(&x24);
        let x96 = x48.square_times(48).mul(&x48);
        let x192 = x96.square_times(96).mul(&x96);
        let x222 = x192.square_times(30).mul(&x30);
        let x223 = x222.square().mul(self);
        (x222, x223)
    }

    /// 1/self (self^(p−2)); 0 for 0. p − 2 in binary is 223 ones, a zero, 222 ones, a zero and
    /// a one.
    pub fn invert(&self) -> Fe {
        let (x222, x223) = self.powers_222_223();
        x223.square_times(1 + 222)
            .mul(&x222)
            .square_times(2)
            .mul(self)
    }

    /// self^((p−3)/4): in binary 223 ones, a zero, 222 ones (RFC 8032 §5.2.3 decoding).
    pub fn pow_p3_4(&self) -> Fe {
        let (x222, x223) = self.powers_222_223();
        x223.square_times(1 + 222).mul(&x222)
    }

    /// A square root of self if there is one (p ≡ 3 mod 4, so it is self^((p+1)/4), and
    /// (p+1)/4 = (2^224 − 1)·2^222): which of the two roots is not specified.
    pub fn sqrt(&self) -> Option<Fe> {
        let (_, x223) = self.powers_222_223();
        let x224 = x223.square().mul(self);
        let root = x224.square_times(222);
        root.square().ct_eq(self).then_some(root)
    }

    /// Swap a and b if `choice` is set, by mask.
    pub fn conditional_swap(a: &mut Fe, b: &mut Fe, choice: subtle::Choice) {
        use subtle::ConditionallySelectable;
        for (x, y) in a.0 .0.iter_mut().zip(b.0 .0.iter_mut()) {
            u64::conditional_swap(x, y, choice);
        }
    }

    /// Equality of the values (compared in canonical form).
    pub fn ct_eq(&self, other: &Fe) -> bool {
        use subtle::ConstantTimeEq;
        self.to_bytes().ct_eq(&other.to_bytes()).into()
    }
}

impl PartialEq for Fe {
    fn eq(&self, other: &Fe) -> bool {
        self.ct_eq(other)
    }
}

impl Eq for Fe {}

impl std::fmt::Debug for Fe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fe(")?;
        for b in self.to_bytes().iter().rev() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigUint;
    use proptest::prelude::*;

    fn p() -> BigUint {
        (BigUint::from(1u8) << 448) - (BigUint::from(1u8) << 224) - 1u32
    }

    fn big(fe: &Fe) -> BigUint {
        BigUint::from_bytes_le(&fe.to_bytes())
    }

    fn fe(n: &BigUint) -> Fe {
        let mut bytes = [0u8; 56];
        let le = (n % p()).to_bytes_le();
        bytes[..le.len()].copy_from_slice(&le);
        Fe::from_canonical_bytes(&bytes).unwrap()
    }

    #[test]
    fn canonical_encodings_only() {
        let mut p_bytes = [0u8; 56];
        p_bytes.copy_from_slice(&p().to_bytes_le());
        assert!(Fe::from_canonical_bytes(&p_bytes).is_none());
        assert!(Fe::from_canonical_bytes(&[0xff; 56]).is_none());
        p_bytes[0] -= 1;
        assert!(Fe::from_canonical_bytes(&p_bytes).is_some());
        assert!(Fe::ZERO.invert().is_zero());
        assert_eq!(Fe::ONE.invert(), Fe::ONE);
    }

    proptest! {
        // Every operation against big-integer arithmetic modulo p.
        #[test]
        fn agrees_with_big_integers(a in proptest::collection::vec(any::<u8>(), 56),
                                    b in proptest::collection::vec(any::<u8>(), 56)) {
            let (x, y) = (BigUint::from_bytes_le(&a) % p(), BigUint::from_bytes_le(&b) % p());
            let (fx, fy) = (fe(&x), fe(&y));
            prop_assert_eq!(big(&fx.add(&fy)), (&x + &y) % p());
            prop_assert_eq!(big(&fx.sub(&fy)), (&x + p() - &y) % p());
            prop_assert_eq!(big(&fx.neg()), (p() - &x) % p());
            prop_assert_eq!(big(&fx.mul(&fy)), (&x * &y) % p());
            prop_assert_eq!(big(&fx.square()), (&x * &x) % p());
            prop_assert_eq!(big(&fx.invert()), x.modpow(&(p() - 2u32), &p()));
            prop_assert_eq!(big(&fx.pow_p3_4()), x.modpow(&((p() - 3u32) >> 2), &p()));
            let square = fx.square();
            let root = square.sqrt().expect("a square has a root");
            prop_assert_eq!(root.square(), square);
            let legendre = x.modpow(&((p() - 1u32) >> 1), &p());
            prop_assert_eq!(fx.sqrt().is_some(), legendre <= BigUint::from(1u8));
        }
    }
}
