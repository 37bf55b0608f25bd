//! Shamir secret sharing over the prime fields of udf-13 §4.5 and Appendix A.
//!
//! A secret of n octets is shared over the smallest prime above 2^(8n); f(x) = Σ aᵢxⁱ mod p with
//! a₀ the secret, and the share for x is f(x) big-endian, padded to n octets. Coefficients that
//! would give a share value of 2^(8n) or more (it would not fit) are drawn again, as §4.5.1
//! requires. Recovery is Lagrange interpolation at x = 0 (Appendix B).

use mesh_udf::ShareUdf;
use num_bigint::{BigInt, BigUint, RandBigInt, Sign};
use num_integer::Integer;
use num_traits::{One, Zero};

use crate::CryptoError;

/// udf-13 Appendix A: the prime for an n-octet secret is 2^(8n) + OFFSETS[n − 1].
pub const PRIME_OFFSETS: [u32; 64] = [
    1, 1, 43, 15, 15, 21, 81, 13, 15, 13, 7, 61, 111, 25, 451, 51, 85, 175, 253, 7, 87, 427, 27,
    133, 235, 375, 423, 735, 357, 115, 81, 297, 175, 57, 45, 127, 61, 37, 91, 27, 15, 241, 231, 55,
    105, 127, 115, 231, 207, 181, 37, 235, 163, 1093, 187, 211, 21, 841, 445, 165, 777, 583, 133,
    75,
];

/// Longest secret that can be shared: 64 octets (512 bits).
pub const MAX_SECRET_LEN: usize = 64;

/// The modulus for secrets of `len` octets.
pub fn prime_for(len: usize) -> Result<BigUint, CryptoError> {
    if len == 0 || len > MAX_SECRET_LEN {
        return Err(CryptoError::Sharing(format!(
            "secrets of 1 to {MAX_SECRET_LEN} octets can be shared, not {len}"
        )));
    }
    Ok((BigUint::one() << (8 * len)) + PRIME_OFFSETS[len - 1])
}

fn eval(coefficients: &[BigUint], x: u32, p: &BigUint) -> BigUint {
    // Horner's rule from the highest coefficient.
    coefficients
        .iter()
        .rev()
        .fold(BigUint::zero(), |acc, a| (acc * x + a) % p)
}

fn to_fixed(value: &BigUint, len: usize) -> Vec<u8> {
    let be = value.to_bytes_be();
    let mut out = vec![0u8; len - be.len()];
    out.extend(be);
    out
}

fn check_quorum(threshold: usize, shares: usize) -> Result<(), CryptoError> {
    if !(1..=15).contains(&threshold) || !(1..=16).contains(&shares) || threshold > shares {
        return Err(CryptoError::Sharing(format!(
            "a quorum of {threshold} out of {shares} is not possible: need 1 ≤ quorum ≤ shares, quorum ≤ 15, shares ≤ 16"
        )));
    }
    Ok(())
}

/// Split `secret` into `shares` shares, any `threshold` of which recover it.
pub fn split(secret: &[u8], threshold: usize, shares: usize) -> Result<Vec<ShareUdf>, CryptoError> {
    check_quorum(threshold, shares)?;
    let p = prime_for(secret.len())?;
    let limit = BigUint::one() << (8 * secret.len());
    let mut rng = rand::rngs::OsRng;
    loop {
        let mut coefficients = vec![BigUint::from_bytes_be(secret)];
        for _ in 1..threshold {
            coefficients.push(rng.gen_biguint_below(&p));
        }
        if let Some(result) =
            shares_from(&coefficients, secret.len(), threshold, shares, &p, &limit)?
        {
            return Ok(result);
        }
    }
}

/// Make shares from given polynomial coefficients (a₀ is the secret). Returns `None` if a share
/// value does not fit in the secret's length.
pub fn split_with_coefficients(
    coefficients: &[BigUint],
    secret_len: usize,
    shares: usize,
) -> Result<Option<Vec<ShareUdf>>, CryptoError> {
    check_quorum(coefficients.len(), shares)?;
    let p = prime_for(secret_len)?;
    let limit = BigUint::one() << (8 * secret_len);
    shares_from(
        coefficients,
        secret_len,
        coefficients.len(),
        shares,
        &p,
        &limit,
    )
}

fn shares_from(
    coefficients: &[BigUint],
    len: usize,
    threshold: usize,
    shares: usize,
    p: &BigUint,
    limit: &BigUint,
) -> Result<Option<Vec<ShareUdf>>, CryptoError> {
    let mut out = Vec::with_capacity(shares);
    for x in 1..=shares as u32 {
        let y = eval(coefficients, x, p);
        if &y >= limit {
            return Ok(None);
        }
        out.push(ShareUdf::new(threshold as u8, x as u8, to_fixed(&y, len))?);
    }
    Ok(Some(out))
}

fn interpolate_at_zero(points: &[(u32, BigUint)], p: &BigUint) -> BigUint {
    let p_int = BigInt::from_biguint(Sign::Plus, p.clone());
    let mut sum = BigInt::zero();
    for (i, (xi, yi)) in points.iter().enumerate() {
        let (mut num, mut den) = (BigInt::one(), BigInt::one());
        for (j, (xj, _)) in points.iter().enumerate() {
            if i != j {
                num *= -BigInt::from(*xj);
                den *= BigInt::from(*xi) - BigInt::from(*xj);
            }
        }
        let den = den.mod_floor(&p_int);
        let den_inv = den.modpow(&(&p_int - 2), &p_int);
        sum += BigInt::from_biguint(Sign::Plus, yi.clone()) * num * den_inv;
    }
    sum.mod_floor(&p_int)
        .to_biguint()
        .expect("reduced modulo p is non-negative")
}

/// Recover the secret from at least `threshold` shares. When more are given, every share is
/// checked to lie on the recovered polynomial, so a mistyped share is reported, not ignored.
pub fn recover(shares: &[ShareUdf]) -> Result<Vec<u8>, CryptoError> {
    let first = shares
        .first()
        .ok_or_else(|| CryptoError::Sharing("no shares given".into()))?;
    let (threshold, len) = (first.threshold as usize, first.value.len());
    let mut seen = [false; 17];
    for s in shares {
        if s.threshold as usize != threshold || s.value.len() != len {
            return Err(CryptoError::Sharing(
                "shares come from different splits (quorum or length differ)".into(),
            ));
        }
        if std::mem::replace(&mut seen[s.x as usize], true) {
            return Err(CryptoError::Sharing(format!(
                "share {} is given twice",
                s.x
            )));
        }
    }
    if shares.len() < threshold {
        return Err(CryptoError::Sharing(format!(
            "{} share(s) given, the quorum is {threshold}",
            shares.len()
        )));
    }
    let p = prime_for(len)?;
    let points: Vec<(u32, BigUint)> = shares
        .iter()
        .map(|s| (s.x as u32, BigUint::from_bytes_be(&s.value)))
        .collect();
    let secret = interpolate_at_zero(&points[..threshold], &p);
    for extra in &points[threshold..] {
        let mut subset = points[1..threshold].to_vec();
        subset.push(extra.clone());
        if interpolate_at_zero(&subset, &p) != secret {
            return Err(CryptoError::Sharing(format!(
                "share {} does not agree with the others",
                extra.0
            )));
        }
    }
    if secret.bits() as usize > 8 * len {
        return Err(CryptoError::Sharing(
            "shares do not recover a secret of their length".into(),
        ));
    }
    Ok(to_fixed(&secret, len))
}

/// Whether n is (very probably) prime: Miller–Rabin with the given bases. Used by the tests that
/// check the Appendix A table.
pub fn is_probable_prime(n: &BigUint, rounds: u32) -> bool {
    let two = BigUint::from(2u32);
    if n < &two {
        return false;
    }
    if n.is_even() {
        return n == &two;
    }
    let n1 = n - 1u32;
    let s = n1.trailing_zeros().unwrap_or(0);
    let d = &n1 >> s;
    'witness: for a in 2..2 + rounds {
        let a = BigUint::from(a) % n;
        if a.is_zero() {
            continue;
        }
        let mut x = a.modpow(&d, n);
        if x.is_one() || x == n1 {
            continue;
        }
        for _ in 1..s {
            x = x.modpow(&two, n);
            if x == n1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(s: &str) -> BigUint {
        BigUint::parse_bytes(s.as_bytes(), 10).unwrap()
    }

    // udf-13 §4.5.2: Alice's 3-of-5 split.
    #[test]
    fn udf13_example() {
        let a0 = big("190071288928200631860159323512976374038");
        assert_eq!(
            hex::encode_upper(a0.to_bytes_be()),
            "8EFE6610A594817555E409BEEBA2F916"
        );
        let coefficients = [
            a0,
            big("14009151250881526762711026105093241258"),
            big("192504880386395685081784875462483055914"),
        ];
        let shares = split_with_coefficients(&coefficients, 16, 5)
            .unwrap()
            .unwrap();
        let text: Vec<String> = shares.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            text,
            [
                "SAYC-UW4N-56UI-VTTZ-62UN-J6FP-ETD3-O",
                "SAY6-OXXE-SUNL-KUMX-3ZG6-TRDW-UDAK-Y",
                "SAZM-MCDK-AD6B-ICWP-BTJU-QISC-C3RY-6",
                "SAZ4-MWA6-GNGK-N6Q7-QI4P-AEQR-Q4YJ-G",
                "SA2O-QTQB-FQGG-4H4J-HZ7O-DE7E-6GT3-Q",
            ]
        );
        let secret = hex::decode("8EFE6610A594817555E409BEEBA2F916").unwrap();
        for subset in [[0, 1, 2], [0, 2, 4], [1, 3, 4], [2, 3, 4]] {
            let chosen: Vec<ShareUdf> = subset.iter().map(|&i| shares[i].clone()).collect();
            assert_eq!(recover(&chosen).unwrap(), secret);
        }
        assert_eq!(recover(&shares).unwrap(), secret);
    }

    #[test]
    fn appendix_a_primes_are_the_smallest_above_the_power() {
        for len in 1..=64usize {
            let base = BigUint::one() << (8 * len);
            let p = prime_for(len).unwrap();
            assert!(
                is_probable_prime(&p, 12),
                "2^{} + {} is not prime",
                8 * len,
                PRIME_OFFSETS[len - 1]
            );
            // Every odd number between 2^(8n) and p is composite.
            let mut candidate = &base + 1u32;
            while candidate < p {
                assert!(!is_probable_prime(&candidate, 4));
                candidate += 2u32;
            }
        }
    }

    #[test]
    fn errors() {
        let shares = split(&[7u8; 16], 3, 5).unwrap();
        assert!(recover(&shares[..2]).is_err());
        assert!(recover(&[shares[0].clone(), shares[0].clone(), shares[1].clone()]).is_err());
        let mut bad = shares.clone();
        bad[4].value[3] ^= 1;
        assert!(recover(&bad).is_err());
        assert!(split(&[1u8; 16], 4, 3).is_err());
        assert!(split(&[], 2, 3).is_err());
        assert!(split(&[1u8; 65], 2, 3).is_err());
        assert!(split(&[1u8; 16], 2, 17).is_err());
    }
}
