#![doc = include_str!("../README.md")]
//!
//! # In more detail
//!
//! Every payload byte a tunnel moves is summed twice (once when a super-packet is split, once
//! when segments are verified before coalescing), so this crate is on the hot path of everything
//! above it. It offers:
//!
//! - [`Accumulator`]: a streaming accumulator. Feed slices of any length in any split (an odd byte
//!   is carried across calls), add 16/32-bit words, [`combine`](Accumulator::combine) partial sums,
//!   then [`fold`](Accumulator::fold) or [`finish`](Accumulator::finish).
//! - [`ChecksumStatus`]: what is known about a packet's checksums (verify or trust), the
//!   value the crates above pass from a split to a coalescer.
//! - One-shot helpers: [`checksum`] (the value a header stores) and [`verify`].
//! - Pseudo-header sums: [`pseudo_header_v4`], [`pseudo_header_v6`].
//! - RFC 1624 incremental updates: [`update_u16`], [`update_u32`].
//! - Fused copy-and-checksum: [`copy_and_sum`] (one pass over the payload instead of two).
//! - A short path for 20- and 40-byte headers: [`header_checksum`], [`verify_header`].
//!
//! Three tiers, chosen by length (no allocation, no state beyond a cached CPU-feature byte):
//! below 64 bytes (headers) a loop-free 64-bit add-with-carry path with no dispatch; below 256
//! bytes scalar paths tuned for latency (loop-free add-with-carry again below 128); from 256
//! bytes the fastest bulk path the CPU offers ([`Impl::best`]): AVX-512 VNNI, AVX-512 or AVX2
//! on x86_64, else a portable loop with independent accumulators. The CPU is asked once at run
//! time (`CPUID` and `XGETBV`, which need only `core`): a `no_std` build, or a program that
//! reaches this crate through another `no_std` crate, runs the same kernel as any other.
//! (Never under Miri, which checks the portable path.) Every path is selectable through
//! [`Impl`] so each can be tested and measured on its own.
//!
//! ```
//! use inet_csum::Accumulator;
//! // RFC 1071 §3 example: the folded sum of 00 01 f2 03 f4 f5 f6 f7 is 0xddf2.
//! let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
//! assert_eq!(Accumulator::new().add(&data).fold(), 0xddf2);
//! // Split anywhere, including at odd offsets: same result.
//! assert_eq!(Accumulator::new().add(&data[..3]).add(&data[3..]).fold(), 0xddf2);
//! assert_eq!(inet_csum::checksum(&data), !0xddf2);
//! ```
#![no_std]
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(test)]
extern crate std;

mod accumulate;
mod ones;
mod portable;
mod status;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86;

pub use accumulate::{
    Accumulator, checksum, copy_and_sum, fold_u32, header_checksum, pseudo_header_v4,
    pseudo_header_v6, update_u16, update_u32, verify, verify_header,
};
pub use status::ChecksumStatus;

/// A bulk-summing implementation. Each is selectable so each can be tested and benchmarked on
/// its own; normal users never name one ([`Accumulator`] uses [`Impl::best`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Impl {
    /// Portable Rust: 32-bit loads into four 64-bit accumulators (auto-vectorised), and a
    /// loop-free 64-bit add-with-carry path for short input.
    Portable,
    /// x86_64 AVX2.
    Avx2,
    /// x86_64 AVX-512 (F + BW).
    Avx512,
    /// x86_64 AVX-512 (F + BW) with VNNI: one `vpdpwssd` per 64 bytes, line-aligned masked
    /// loads instead of a scalar head and tail. Fused copies use the [`Impl::Avx512`] kernel.
    Avx512Vnni,
}

impl Impl {
    /// Every implementation, whether or not this CPU supports it, slowest first.
    pub const ALL: [Impl; 4] = [Impl::Portable, Impl::Avx2, Impl::Avx512, Impl::Avx512Vnni];

    /// Whether this CPU can run this implementation.
    ///
    /// ```
    /// assert!(inet_csum::Impl::Portable.is_supported());
    /// ```
    #[inline]
    pub fn is_supported(self) -> bool {
        match self {
            Impl::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Impl::Avx2 => x86::has_avx2(),
            #[cfg(target_arch = "x86_64")]
            Impl::Avx512 => x86::has_avx512(),
            #[cfg(target_arch = "x86_64")]
            Impl::Avx512Vnni => x86::has_avx512_vnni(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest implementation this CPU supports (detected on first use, then cached):
    /// the one [`Accumulator`] and the one-shot helpers run from 256 bytes on.
    ///
    /// ```
    /// assert!(inet_csum::Impl::best().is_supported());
    /// ```
    #[inline]
    pub fn best() -> Impl {
        #[cfg(target_arch = "x86_64")]
        {
            if x86::has_avx512_vnni() {
                return Impl::Avx512Vnni;
            }
            if x86::has_avx512() {
                return Impl::Avx512;
            }
            if x86::has_avx2() {
                return Impl::Avx2;
            }
        }
        Impl::Portable
    }

    /// Sum `data` with this implementation: the 16-bit one's complement sum, folded but not
    /// inverted, of `data` read as big-endian 16-bit words (an odd last byte padded with zero).
    /// Returns `None` if this CPU does not support the implementation.
    ///
    /// ```
    /// use inet_csum::Impl;
    /// let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    /// for imp in Impl::ALL.into_iter().filter(|i| i.is_supported()) {
    ///     assert_eq!(imp.sum(&data), Some(0xddf2));
    /// }
    /// ```
    pub fn sum(self, data: &[u8]) -> Option<u16> {
        if !self.is_supported() {
            return None;
        }
        Some(ones::fold64(self.sum_raw(data)))
    }

    /// Copy `src` into `dst` and sum the copied bytes in the same pass, with this
    /// implementation. Returns the folded, non-inverted sum (as [`Impl::sum`]), or `None`
    /// (copying nothing) if this CPU does not support the implementation.
    ///
    /// # Panics
    /// If `dst.len() != src.len()` (like [`slice::copy_from_slice`]).
    ///
    /// ```
    /// use inet_csum::Impl;
    /// let src = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    /// for imp in Impl::ALL.into_iter().filter(|i| i.is_supported()) {
    ///     let mut dst = [0u8; 8];
    ///     assert_eq!(imp.copy_and_sum(&mut dst, &src), Some(0xddf2));
    ///     assert_eq!(dst, src);
    /// }
    /// ```
    pub fn copy_and_sum(self, dst: &mut [u8], src: &[u8]) -> Option<u16> {
        assert_eq!(dst.len(), src.len(), "copy_and_sum: length mismatch");
        if !self.is_supported() {
            return None;
        }
        Some(ones::fold64(self.copy_sum_raw(dst, src)))
    }

    /// Unfolded sum; the caller has checked support.
    #[inline]
    pub(crate) fn sum_raw(self, data: &[u8]) -> u64 {
        match self {
            Impl::Portable => portable::sum(data),
            #[cfg(target_arch = "x86_64")]
            Impl::Avx2 => x86::sum_avx2(data),
            #[cfg(target_arch = "x86_64")]
            Impl::Avx512 => x86::sum_avx512(data),
            #[cfg(target_arch = "x86_64")]
            Impl::Avx512Vnni => x86::sum_avx512_vnni(data),
            #[cfg(not(target_arch = "x86_64"))]
            _ => portable::sum(data),
        }
    }

    /// Unfolded big-endian sum of a fused copy; the caller has checked support and that the
    /// lengths are equal.
    #[inline]
    pub(crate) fn copy_sum_raw(self, dst: &mut [u8], src: &[u8]) -> u64 {
        let le = match self {
            Impl::Portable => portable::copy_sum_le(dst, src),
            #[cfg(target_arch = "x86_64")]
            Impl::Avx2 => x86::copy_sum_le_avx2(dst, src),
            #[cfg(target_arch = "x86_64")]
            Impl::Avx512 | Impl::Avx512Vnni => x86::copy_sum_le_avx512(dst, src),
            #[cfg(not(target_arch = "x86_64"))]
            _ => portable::copy_sum_le(dst, src),
        };
        ones::swap(le)
    }
}
