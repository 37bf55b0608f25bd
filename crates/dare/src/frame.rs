//! The container frame layout (dare-12 §1.3.1 and the byte dumps of Appendix B).
//!
//! A frame is a forward marker, the frame body, and a backward marker so a reader can walk the
//! file in either direction:
//!
//! ```text
//! F4..F7  length (1, 2, 4 or 8 octets, big-endian)   -- forward marker
//!   F0..F3 length item-octets                          -- header, payload, [trailer]
//! length octets reversed, then the same F4..F7 tag     -- backward marker
//! ```
//!
//! The tag's low two bits give the width of the length (`F4 91` is a 145-octet frame with a
//! one-octet length, `F5 01 73` a 371-octet frame with a two-octet length; the backward markers
//! in the example are `91 F4` and `73 01 F5`). Items use the tags F0..F3 the same way.

use crate::{DareError, Result};

const ITEM_TAG: u8 = 0xF0;
const FRAME_TAG: u8 = 0xF4;

fn width_code(len: u64) -> (u8, usize) {
    if len <= 0xFF {
        (0, 1)
    } else if len <= 0xFFFF {
        (1, 2)
    } else if len <= 0xFFFF_FFFF {
        (2, 4)
    } else {
        (3, 8)
    }
}

fn push_len(out: &mut Vec<u8>, len: u64, width: usize) {
    out.extend_from_slice(&len.to_be_bytes()[8 - width..]);
}

/// Encode one frame holding `items` (header, payload and optionally trailer).
pub fn encode(items: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::with_capacity(items.iter().map(|i| i.len() + 9).sum());
    for item in items {
        let (code, width) = width_code(item.len() as u64);
        body.push(ITEM_TAG | code);
        push_len(&mut body, item.len() as u64, width);
        body.extend_from_slice(item);
    }
    let (code, width) = width_code(body.len() as u64);
    let mut out = Vec::with_capacity(body.len() + 2 * (width + 1));
    out.push(FRAME_TAG | code);
    push_len(&mut out, body.len() as u64, width);
    out.extend_from_slice(&body);
    let mut len = Vec::with_capacity(width);
    push_len(&mut len, body.len() as u64, width);
    len.reverse();
    out.extend_from_slice(&len);
    out.push(FRAME_TAG | code);
    out
}

/// The forward marker of a frame: the body length and the marker's own size.
/// `Ok(None)` means the buffer is too short to hold the marker.
pub fn read_marker(buf: &[u8]) -> Result<Option<(u64, usize)>> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    if tag & 0xFC != FRAME_TAG {
        return Err(DareError::Malformed(format!(
            "0x{tag:02x} is not a frame marker"
        )));
    }
    let width = 1usize << (tag & 3);
    if buf.len() < 1 + width {
        return Ok(None);
    }
    let mut len = 0u64;
    for b in &buf[1..1 + width] {
        len = (len << 8) | u64::from(*b);
    }
    Ok(Some((len, 1 + width)))
}

/// The total size of a frame whose body is `body_len` octets and whose marker is `marker` octets
/// (`None` when a corrupt length overflows).
pub fn frame_size(body_len: u64, marker: usize) -> Option<u64> {
    body_len.checked_add(2 * marker as u64)
}

/// Check the backward marker that ends a frame (`tail` is the last `marker` octets of it).
pub fn check_tail(tail: &[u8], body_len: u64, marker: usize) -> Result<()> {
    let width = marker - 1;
    let mut expect = Vec::with_capacity(marker);
    push_len(&mut expect, body_len, width);
    expect.reverse();
    expect.push(FRAME_TAG | width.trailing_zeros() as u8);
    if tail != expect.as_slice() {
        return Err(DareError::Malformed(
            "the frame's closing marker does not match".into(),
        ));
    }
    Ok(())
}

/// Split a frame body into its items.
pub fn items(body: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::with_capacity(3);
    let mut at = 0usize;
    while at < body.len() {
        let tag = body[at];
        if tag & 0xFC != ITEM_TAG {
            return Err(DareError::Malformed(format!(
                "0x{tag:02x} at body offset {at} is not an item marker"
            )));
        }
        let width = 1usize << (tag & 3);
        let start = at + 1 + width;
        if start > body.len() {
            return Err(DareError::Truncated(
                "item length runs past the frame".into(),
            ));
        }
        let mut len = 0u64;
        for b in &body[at + 1..start] {
            len = (len << 8) | u64::from(*b);
        }
        let end = (start as u64)
            .checked_add(len)
            .filter(|e| *e <= body.len() as u64)
            .ok_or_else(|| DareError::Truncated("item runs past the frame".into()))?
            as usize;
        out.push(&body[start..end]);
        at = end;
    }
    if out.len() < 2 || out.len() > 3 {
        return Err(DareError::Malformed(format!(
            "a frame holds a header, a payload and an optional trailer, found {} items",
            out.len()
        )));
    }
    Ok(out)
}

/// Decode a whole frame from `buf` (which may hold more after it): the items and the frame size.
pub fn decode(buf: &[u8]) -> Result<(Vec<&[u8]>, u64)> {
    let (body_len, marker) =
        read_marker(buf)?.ok_or_else(|| DareError::Truncated("frame marker cut short".into()))?;
    let size = frame_size(body_len, marker)
        .ok_or_else(|| DareError::Malformed("frame length out of range".into()))?;
    if (buf.len() as u64) < size {
        return Err(DareError::Truncated(format!(
            "frame of {size} octets, {} available",
            buf.len()
        )));
    }
    let size_us = size as usize;
    check_tail(&buf[size_us - marker..size_us], body_len, marker)?;
    Ok((items(&buf[marker..size_us - marker])?, size))
}

/// Appendix C: the frame at the apex of the binary tree immediately preceding `frame`, which
/// a frame's `TreePosition` points at.
pub fn previous_frame(frame: u64) -> u64 {
    let mut x2 = frame + 1;
    let mut d = 1u64;
    while x2 > 0 {
        if x2 & 1 == 1 {
            return if x2 == 1 {
                (d / 2).saturating_sub(1)
            } else {
                frame - d
            };
        }
        d *= 2;
        x2 /= 2;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dare-12 §14.1: the markers of the simple sequence.
    #[test]
    fn appendix_b_markers() {
        let header0 = vec![b' '; 0x8b];
        let f0 = encode(&[&header0, b"", b""]);
        assert_eq!(&f0[..4], &[0xf4, 0x91, 0xf0, 0x8b]);
        assert_eq!(&f0[f0.len() - 6..], &[0xf0, 0x00, 0xf0, 0x00, 0x91, 0xf4]);
        let header1 = vec![b' '; 0x42];
        let payload: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let f1 = encode(&[&header1, &payload]);
        assert_eq!(&f1[..5], &[0xf5, 0x01, 0x73, 0xf0, 0x42]);
        assert_eq!(&f1[5 + 0x42..5 + 0x42 + 3], &[0xf1, 0x01, 0x2c]);
        assert_eq!(&f1[f1.len() - 3..], &[0x73, 0x01, 0xf5]);
        let (items, size) = decode(&f1).unwrap();
        assert_eq!(size as usize, f1.len());
        assert_eq!(items[1], payload.as_slice());
    }

    /// dare-12 §4.1.1 and Appendix C: 6 → 5, 5 → 3, 3 → 1, 1 → 0.
    #[test]
    fn previous_frames() {
        assert_eq!(previous_frame(6), 5);
        assert_eq!(previous_frame(5), 3);
        assert_eq!(previous_frame(3), 1);
        assert_eq!(previous_frame(1), 0);
        assert_eq!(previous_frame(2), 1);
        assert_eq!(previous_frame(4), 3);
    }

    /// Found by fuzzing: a length near 2^64 must not overflow.
    #[test]
    fn huge_lengths_are_errors() {
        assert!(decode(&[0xF7, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        assert!(decode(&[0xF7, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0, 0, 0]).is_err());
        assert!(items(&[0xF3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    }

    #[test]
    fn every_cut_is_truncated() {
        let f = encode(&[b"{}", b"payload", b"{}"]);
        for cut in 0..f.len() {
            assert!(decode(&f[..cut]).is_err());
        }
    }
}
