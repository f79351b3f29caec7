//! Portable bulk sum: 32-bit little-endian loads into four independent 64-bit accumulators.
//!
//! Summing native-endian words and byte-swapping the folded result equals summing big-endian
//! words (RFC 1071 §2(B), byte-order independence), so no per-word swap is needed.

use crate::accumulate::fold64;

/// Unfolded-safe sum of `data` as big-endian 16-bit words; the return value folds (with
/// [`fold64`]) to the RFC 1071 sum.
#[inline]
pub(crate) fn sum(data: &[u8]) -> u64 {
    let mut acc = [0u64; 4];
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        // Each chunk adds < 2^32 to each accumulator: no overflow before 2^32 chunks (64 GiB).
        acc[0] += u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        acc[1] += u64::from(u32::from_le_bytes([c[4], c[5], c[6], c[7]]));
        acc[2] += u64::from(u32::from_le_bytes([c[8], c[9], c[10], c[11]]));
        acc[3] += u64::from(u32::from_le_bytes([c[12], c[13], c[14], c[15]]));
    }
    let mut total = acc[0] + acc[1] + acc[2] + acc[3];
    let mut rest = chunks.remainder().chunks_exact(4);
    for c in &mut rest {
        total += u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    }
    let tail = rest.remainder();
    if !tail.is_empty() {
        // Zero padding appended in memory order: an odd last byte becomes the high byte of a
        // big-endian word, as RFC 1071 requires.
        let mut buf = [0u8; 4];
        buf[..tail.len()].copy_from_slice(tail);
        total += u64::from(u32::from_le_bytes(buf));
    }
    native_to_be(fold64(total))
}

/// Convert a folded sum of little-endian loads into the big-endian sum.
#[inline(always)]
pub(crate) fn native_to_be(folded_le: u16) -> u64 {
    u64::from(folded_le.swap_bytes())
}
