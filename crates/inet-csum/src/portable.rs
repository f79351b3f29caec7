//! Portable sums: the bulk loop, the latency-tuned header path, and the fused copy.
//!
//! Summing native-endian words and byte-swapping the result equals summing big-endian words
//! (RFC 1071 §2(B), byte-order independence), so no per-word swap is needed. Partial sums are
//! kept as 64-bit one's complement values (end-around carry, i.e. modulo 2^64 − 1), which fold
//! to the same 16-bit sum because 2^16 − 1 divides 2^64 − 1.
//!
//! Bulk: 32-bit loads into four plain 64-bit accumulators. This was measured against four
//! 64-bit add-with-carry chains (`overflowing_add`) and kept because it is as fast or faster
//! (1500 B: 40–42 vs 39 GB/s; 64 KiB: 47 vs 41 GB/s on Zen 4): with no carries to propagate
//! the loop auto-vectorises. Headers (< 64 B) use 64-bit add-with-carry without a loop, and
//! so do 64–127 B ([`mid_le`]): there one `adc` chain over the first 64 bytes and a single
//! shifted load for the last odd bytes cost fewer instructions and branches than the vector
//! loop's setup, reduction and tail (64 B: 29–32 vs 21–22 GB/s, `compare checksum` on Zen 4).
//!
//! Everything here is safe Rust: fixed-size chunk loads compile to plain unaligned loads with
//! the bounds checks resolved at compile time.

use crate::ones::{adc, swap};

#[inline(always)]
fn le64(c: &[u8; 8]) -> u64 {
    u64::from_le_bytes(*c)
}

/// Sum of `data` read as little-endian words, as an unfolded one's complement u64
/// (folds with [`fold64`](crate::ones::fold64) to the byte-swapped RFC 1071 sum).
///
/// 32-bit loads into plain 64-bit accumulators ([`medium_le`]) in blocks of 1 GiB joined with
/// end-around carry. Measured faster than 64-bit add-with-carry chains: without carries the
/// loop auto-vectorises (SSE2 on baseline x86_64, NEON on aarch64).
#[inline]
pub(crate) fn sum_le(data: &[u8]) -> u64 {
    const BLOCK: usize = 1 << 30;
    if data.len() <= BLOCK {
        return medium_le(data);
    }
    data.chunks(BLOCK).fold(0, |acc, b| adc(acc, medium_le(b)))
}

/// 32-bit loads added into four plain 64-bit accumulators: no carries to propagate (one-cycle
/// dependency per add, and the loop vectorises). Exact for any length below 2^34 bytes (each
/// accumulator gains < 2^33 per 32-byte block); [`sum_le`] splits longer input.
#[inline]
pub(crate) fn medium_le(data: &[u8]) -> u64 {
    let (blocks, rest) = data.as_chunks::<32>();
    let mut a = [0u64; 4];
    for b in blocks {
        let (w, _) = b.as_chunks::<4>();
        for i in 0..4 {
            a[i] += u64::from(u32::from_le_bytes(w[i])) + u64::from(u32::from_le_bytes(w[i + 4]));
        }
    }
    adc((a[0] + a[1]) + (a[2] + a[3]), short_le(rest))
}

/// `a + b + carry` and the carry out. A chain of these, started from a plain add, compiles to
/// one `adc` per link (the carry stays in the flags); an end-around-carry add per word
/// ([`adc`]) costs two instructions instead.
#[inline(always)]
fn carrying(a: u64, b: u64, carry: bool) -> (u64, bool) {
    let (s, c1) = a.overflowing_add(b);
    let (s, c2) = s.overflowing_add(carry as u64);
    (s, c1 | c2)
}

/// Sum of a slice of 64 to 127 bytes as little-endian words (unfolded u64): the first 64 bytes
/// as one add-with-carry chain (one `adc` per word), the whole words after them by length bit,
/// and the last 1..=7 bytes from one 8-byte load ending at the last byte, shifted down past the
/// bytes already summed. No loop, no vector setup or reduction, and no branch per tail byte.
/// Shorter or longer slices are summed correctly by the other paths.
#[inline]
pub(crate) fn mid_le(data: &[u8]) -> u64 {
    let Some((head, mut d)) = data.split_first_chunk::<64>() else {
        return short_le(data);
    };
    let (w, _) = head.as_chunks::<8>();
    let (mut acc, mut c) = (le64(&w[0]), false);
    for x in &w[1..] {
        (acc, c) = carrying(acc, le64(x), c);
    }
    acc += c as u64;
    if d.len() >= 64 {
        return adc(acc, long_le(d));
    }
    if let Some((b, r)) = d.split_first_chunk::<32>() {
        acc = adc(acc, sum32(b));
        d = r;
    }
    if let Some((b, r)) = d.split_first_chunk::<16>() {
        let (w, _) = b.as_chunks::<8>();
        acc = adc(acc, adc(le64(&w[0]), le64(&w[1])));
        d = r;
    }
    if let Some((b, r)) = d.split_first_chunk::<8>() {
        acc = adc(acc, le64(b));
        d = r;
    }
    // `d` is the last `d.len()` (< 8) bytes of `data`, which holds at least 64: the 8 bytes
    // ending where `data` ends hold them in their top bytes. They start a whole number of
    // words after `data` starts, so shifted down to bit 0 they keep their byte lanes.
    let Some(last) = data.last_chunk::<8>() else {
        return adc(acc, tail_le(d));
    };
    let tail = le64(last).checked_shr(64 - 8 * d.len() as u32).unwrap_or(0);
    adc(acc, tail)
}

/// 32 bytes as two independent add-with-carry chains, then joined.
#[inline(always)]
fn sum32(c: &[u8; 32]) -> u64 {
    let (w, _) = c.as_chunks::<8>();
    adc(adc(le64(&w[0]), le64(&w[1])), adc(le64(&w[2]), le64(&w[3])))
}

/// Straight-line sum of a slice shorter than 64 bytes as little-endian words (unfolded u64):
/// one test per length bit, no loop. Callers pass chunk remainders (always < 64 bytes); a
/// longer slice is handed to the loop instead of being cut short.
#[inline(always)]
pub(crate) fn short_le(data: &[u8]) -> u64 {
    if data.len() >= 64 {
        return long_le(data);
    }
    let mut d = data;
    let mut acc = 0u64;
    if let Some((c, r)) = d.split_first_chunk::<32>() {
        acc = sum32(c);
        d = r;
    }
    if let Some((c, r)) = d.split_first_chunk::<16>() {
        let (w, _) = c.as_chunks::<8>();
        acc = adc(acc, adc(le64(&w[0]), le64(&w[1])));
        d = r;
    }
    if let Some((c, r)) = d.split_first_chunk::<8>() {
        acc = adc(acc, le64(c));
        d = r;
    }
    adc(acc, tail_le(d))
}

/// Out-of-line entry for the (never taken by internal callers) long case of [`short_le`],
/// which breaks the inlining cycle between [`sum_le`] and [`short_le`].
#[inline(never)]
#[cold]
fn long_le(data: &[u8]) -> u64 {
    sum_le(data)
}

/// The last 0..=7 bytes widened into one zero-padded little-endian word, in memory order, so
/// an odd last byte lands in the high byte of its big-endian word (RFC 1071).
#[inline(always)]
pub(crate) fn tail_le(mut d: &[u8]) -> u64 {
    let mut t = 0u64;
    let mut shift = 0;
    if let Some((c, r)) = d.split_first_chunk::<4>() {
        t = u64::from(u32::from_le_bytes(*c));
        d = r;
        shift = 32;
    }
    if let Some((c, r)) = d.split_first_chunk::<2>() {
        t |= u64::from(u16::from_le_bytes(*c)) << shift;
        d = r;
        shift += 16;
    }
    if let Some(&b) = d.first() {
        t |= u64::from(b) << shift;
    }
    t
}

/// Unfolded-safe sum of `data` as big-endian 16-bit words; the return value folds (with
/// [`fold64`](crate::ones::fold64)) to the RFC 1071 sum.
#[inline]
pub(crate) fn sum(data: &[u8]) -> u64 {
    swap(sum_le(data))
}

/// Copy `src` into `dst` (equal lengths, checked by the caller) while summing it, in one pass:
/// each word is loaded once, stored, and added. Returns the unfolded little-endian sum.
#[inline]
pub(crate) fn copy_sum_le(dst: &mut [u8], src: &[u8]) -> u64 {
    const BLOCK: usize = 1 << 30;
    if src.len() <= BLOCK {
        return copy_medium_le(dst, src);
    }
    dst.chunks_mut(BLOCK)
        .zip(src.chunks(BLOCK))
        .fold(0, |acc, (d, s)| adc(acc, copy_medium_le(d, s)))
}

/// [`copy_sum_le`] for one block below 2^34 bytes: 64-bit loads and stores, their 32-bit
/// halves added into plain 64-bit accumulators (as in [`medium_le`]).
#[inline]
fn copy_medium_le(dst: &mut [u8], src: &[u8]) -> u64 {
    let (sb, sr) = src.as_chunks::<32>();
    let (db, dr) = dst.as_chunks_mut::<32>();
    let mut a = [0u64; 4];
    for (s, d) in sb.iter().zip(db.iter_mut()) {
        let (sw, _) = s.as_chunks::<8>();
        let (dw, _) = d.as_chunks_mut::<8>();
        for i in 0..4 {
            let v = le64(&sw[i]);
            dw[i] = v.to_le_bytes();
            a[i] += (v & 0xffff_ffff) + (v >> 32);
        }
    }
    short_copy(dr, sr);
    adc((a[0] + a[1]) + (a[2] + a[3]), short_le(sr))
}

/// Copy a slice shorter than 64 bytes without a `memcpy` call: two possibly overlapping
/// fixed-size copies (each compiles to plain moves), chosen by length class. Lengths must be
/// equal; 64 bytes or more fall back to `copy_from_slice`.
#[inline(always)]
pub(crate) fn short_copy(dst: &mut [u8], src: &[u8]) {
    #[inline(always)]
    fn two<const K: usize>(dst: &mut [u8], src: &[u8]) {
        let n = src.len();
        dst[..K].copy_from_slice(&src[..K]);
        dst[n - K..].copy_from_slice(&src[n - K..]);
    }
    let n = src.len();
    if dst.len() != n {
        dst.copy_from_slice(src); // panics with the standard message
        return;
    }
    match n {
        0 => {}
        1 => dst[0] = src[0],
        2..4 => two::<2>(dst, src),
        4..8 => two::<4>(dst, src),
        8..16 => two::<8>(dst, src),
        16..32 => two::<16>(dst, src),
        32..64 => two::<32>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ones::fold64;

    #[test]
    fn adc_wraps_end_around() {
        assert_eq!(adc(u64::MAX, 1), 1);
        assert_eq!(adc(u64::MAX, u64::MAX), u64::MAX);
        assert_eq!(adc(0x8000_0000_0000_0000, 0x8000_0000_0000_0000), 1);
    }

    #[test]
    fn tail_pads_in_memory_order() {
        // 01 02 03 as little-endian words: 0x0201 + 0x0003.
        assert_eq!(fold64(short_le(&[1, 2, 3])), 0x0204);
        assert_eq!(fold64(short_le(&[0xff])), 0x00ff);
        assert_eq!(fold64(short_le(&[])), 0);
        assert_eq!(tail_le(&[1, 2, 3, 4, 5, 6, 7]), 0x0007_0605_0403_0201);
    }

    /// The textbook sum of little-endian words (an odd last byte is the low byte of its word).
    fn reference_le(d: &[u8]) -> u16 {
        let mut s: u64 = d
            .chunks(2)
            .map(|w| u64::from(w[0]) | u64::from(w.get(1).copied().unwrap_or(0)) << 8)
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    /// [`mid_le`] at every length it serves (and the lengths around it, which it hands on), at
    /// even and odd starts, on bytes that carry out of every word (all 0xff, 0xff words ending
    /// in a small one, 0x8000 words) and on ones that never do.
    #[test]
    fn mid_le_matches_reference() {
        let mut random = [0u8; 300];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for b in &mut random {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let mut ones_then_one = [0xffu8; 300];
        ones_then_one[299] = 0x01;
        let alternating: [u8; 300] = core::array::from_fn(|i| if i % 2 == 0 { 0x80 } else { 0 });
        let fills: [&[u8]; 5] = [
            &random,
            &[0xff; 300],
            &[0; 300],
            &ones_then_one,
            &alternating,
        ];
        // Under Miri: the lengths around the path's bounds, one even and one odd start.
        let (lens, offs): (_, &[usize]) = if cfg!(miri) {
            (56..=136, &[0, 1])
        } else {
            (0..=200, &[0, 1, 2, 7, 8, 63])
        };
        for (f, fill) in fills.iter().enumerate() {
            for len in lens.clone() {
                for &off in offs {
                    let d = &fill[fill.len() - off - len..fill.len() - off];
                    assert_eq!(
                        fold64(mid_le(d)),
                        reference_le(d),
                        "fill {f} len {len} off {off}"
                    );
                    let d = &fill[off..off + len];
                    assert_eq!(
                        fold64(mid_le(d)),
                        reference_le(d),
                        "fill {f} len {len} off {off}"
                    );
                }
            }
        }
    }

    #[test]
    fn short_copy_every_length() {
        let src: [u8; 70] = core::array::from_fn(|i| i as u8 + 1);
        for n in 0..=70 {
            let mut dst = [0u8; 70];
            short_copy(&mut dst[..n], &src[..n]);
            assert_eq!(dst[..n], src[..n]);
            assert!(dst[n..].iter().all(|&b| b == 0));
        }
    }
}
