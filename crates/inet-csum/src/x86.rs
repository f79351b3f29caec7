//! x86_64 SIMD bulk sums (AVX2, AVX-512), selected at run time.
//!
//! Not yet vectorised: the detection functions report no support, so nothing selects these
//! paths until they are implemented and tested.

/// Whether AVX2 may be used.
#[inline]
pub(crate) fn has_avx2() -> bool {
    false
}

/// Whether AVX-512 (F + BW) may be used.
#[inline]
pub(crate) fn has_avx512() -> bool {
    false
}

pub(crate) fn sum_avx2(data: &[u8]) -> u64 {
    crate::portable::sum(data)
}

pub(crate) fn sum_avx512(data: &[u8]) -> u64 {
    crate::portable::sum(data)
}
