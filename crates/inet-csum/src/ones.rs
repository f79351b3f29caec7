//! One's complement arithmetic on unfolded 64-bit sums: the leaf every summing path uses.
//!
//! Partial sums are kept as 64-bit one's complement values (end-around carry, i.e. modulo
//! 2^64 − 1), which fold to the same 16-bit sum because 2^16 − 1 divides 2^64 − 1.

/// One's complement (end-around carry) 64-bit add.
#[inline(always)]
pub(crate) const fn adc(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    // If the add wrapped, `s <= 2^64 - 2`, so adding the carry back cannot wrap again.
    s + carry as u64
}

/// Fold a 64-bit one's complement accumulator to 16 bits (end-around carry).
///
/// `x + ror(x, 32)` leaves in its upper half the end-around sum of the two halves (the carry
/// out of the lower half lands in the upper half), the same trick as the kernel's
/// `csum_fold` (`include/asm-generic/checksum.h`); applied at 64→32 and 32→16 bits. Short
/// dependency chain: it sits on the critical path of every header checksum.
#[inline(always)]
pub(crate) const fn fold64(s: u64) -> u16 {
    let t = (s.wrapping_add(s.rotate_right(32)) >> 32) as u32;
    (t.wrapping_add(t.rotate_right(16)) >> 16) as u16
}

/// Byte-swap the 16-bit sum an unfolded 64-bit one's complement sum stands for, without
/// folding — e.g. to turn a sum of little-endian loads into the big-endian sum RFC 1071 asks
/// for: rotating left by 8 multiplies by 2^8 modulo 2^64 − 1 (hence modulo 2^16 − 1), and
/// `swap16(x) = 256·x mod (2^16 − 1)` (RFC 1071 §2(B): byte order only swaps the result).
#[inline(always)]
pub(crate) const fn swap(s: u64) -> u64 {
    s.rotate_left(8)
}
