//! Base32 presentation of binary UDFs (udf-13 §3.1, §3.5).
//!
//! The RFC 4648 alphabet without padding, most significant bit first, grouped in fours and joined
//! by `-`. A presentation of `bits` bits has ceil(bits / 5) characters; a lower precision is a
//! prefix of a higher one. Parsing ignores dashes and case, decodes whole octets and discards any
//! leftover bits (REFERENCE-NOTES §1: PinId and EnvelopeId depend on this).

use crate::UdfError;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Present the first `bits` bits of `data` as dash-separated Base32 groups of four characters.
///
/// When `bits` is not a multiple of five the last character is completed with zero bits, as the
/// reference implementation does. `bits` is clamped to the bits available in `data`.
pub fn encode(data: &[u8], bits: usize) -> String {
    let bits = bits.min(data.len() * 8);
    let chars = bits.div_ceil(5);
    let mut out = String::with_capacity(chars + chars / 4);
    for i in 0..chars {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let mut v = 0u8;
        for b in 0..5 {
            let pos = i * 5 + b;
            let bit = if pos < data.len() * 8 {
                (data[pos / 8] >> (7 - pos % 8)) & 1
            } else {
                0
            };
            v = (v << 1) | bit;
        }
        out.push(ALPHABET[v as usize] as char);
    }
    out
}

/// Decode a Base32 presentation to whole octets, ignoring `-` separators and letter case.
///
/// Characters outside the alphabet are an error naming the character and its position.
pub fn decode(text: &str) -> Result<Vec<u8>, UdfError> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut acc: u32 = 0;
    let mut nbits = 0u32;
    for (position, c) in text.char_indices() {
        let value = match c {
            'A'..='Z' => c as u32 - 'A' as u32,
            'a'..='z' => c as u32 - 'a' as u32,
            '2'..='7' => c as u32 - '2' as u32 + 26,
            '-' => continue,
            _ => {
                return Err(UdfError::BadCharacter {
                    character: c,
                    position,
                })
            }
        };
        acc = (acc << 5) | value;
        nbits += 5;
        if nbits >= 8 {
            nbits -= 8;
            out.push((acc >> nbits) as u8);
            acc &= (1 << nbits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_of_four() {
        assert_eq!(encode(&[0u8; 10], 80), "AAAA-AAAA-AAAA-AAAA");
        assert_eq!(encode(&[0xff; 2], 16), "777Q");
    }

    #[test]
    fn decode_discards_trailing_bits() {
        // 28 characters = 140 bits: 17 whole octets and 4 bits discarded.
        let bytes = decode("ND5L-Y3E6-GDDZ-KICR-NPDL-5WWM-4QSA").unwrap();
        assert_eq!(bytes.len(), 17);
        assert_eq!(bytes[0], 104);
    }

    #[test]
    fn bad_character_is_reported() {
        assert_eq!(
            decode("MB5S-R4A1").unwrap_err(),
            UdfError::BadCharacter {
                character: '1',
                position: 8
            }
        );
    }
}
