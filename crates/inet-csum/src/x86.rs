//! x86_64 SIMD bulk sums (AVX2, AVX-512 F+BW, AVX-512 VNNI), selected at run time.
//!
//! The AVX2 and AVX-512 kernels split each 64-bit lane of little-endian data into its low and
//! high 32-bit halves and add those into 64-bit lane accumulators, so no lane can carry out:
//! over a 1 GiB block a lane grows by less than 2^32 per load, far below 2^64 (blocks are
//! summed separately and joined with end-around carry). The folded result is byte-swapped as
//! in the portable path (RFC 1071 §2(B)).
//!
//! The VNNI kernel adds 16-bit words with one `vpdpwssd` (multiply by one and accumulate
//! pairs into 32-bit lanes) per vector instead of four instructions; see [`vnni_sum_le`].
//!
//! Detection (see [`detect`]): `CPUID` and `XGETBV` are read once, from `core` alone, and the
//! answer is cached in an atomic, with or without `std`. A build whose compile-time
//! `target_feature` set already guarantees a kernel skips the check. Under Miri nothing is
//! reported as supported, so Miri checks the portable path.
//!
//! `unsafe` here is limited to `XGETBV` after the `OSXSAVE` check, to calling the
//! `#[target_feature]` kernels after the feature check, to
//! the unaligned vector loads/stores from fixed-size array references, and to the VNNI
//! kernel's two masked loads (see [`load_line_masked`]). In the AVX2 and AVX-512 kernels,
//! tails shorter than a vector are summed by the scalar straight-line path (no masked or
//! out-of-bounds loads), and so are the heads that long input skips to reach 64-byte aligned
//! loads (sums) or stores (fused copies).

use core::arch::x86_64::{
    __m256i, __m512i, _mm_add_epi64, _mm_cvtsi128_si64, _mm_unpackhi_epi64, _mm256_add_epi64,
    _mm256_and_si256, _mm256_castsi256_si128, _mm256_extracti128_si256, _mm256_loadu_si256,
    _mm256_set1_epi64x, _mm256_setzero_si256, _mm256_srli_epi64, _mm256_storeu_si256,
    _mm512_add_epi32, _mm512_add_epi64, _mm512_and_si512, _mm512_dpwssd_epi32, _mm512_loadu_si512,
    _mm512_maskz_loadu_epi8, _mm512_reduce_add_epi32, _mm512_reduce_add_epi64, _mm512_set1_epi16,
    _mm512_set1_epi64, _mm512_setzero_si512, _mm512_srli_epi64, _mm512_storeu_si512,
    _mm512_xor_si512,
};

use crate::ones::{adc, swap};
use crate::portable::{short_copy, short_le};

/// Bytes summed per block before the lane accumulators are reduced (bounds lane growth).
const BLOCK: usize = 1 << 30;

/// Run-time CPU feature detection with `CPUID` and `XGETBV`, which need nothing but `core`:
/// a `no_std` build picks its kernel at run time like any other.
#[cfg_attr(miri, allow(dead_code))] // Miri runs no `CPUID`: only the tests call `decide`.
mod detect {
    /// Feature bits: which kernels may run.
    pub(super) const AVX2: u8 = 2;
    pub(super) const AVX512: u8 = 4;
    pub(super) const AVX512_VNNI: u8 = 8;
    /// Set once detection has run (so a CPU without any of the above is not re-probed).
    #[cfg(not(miri))]
    const KNOWN: u8 = 1;

    /// `CPUID.1:ECX` bits.
    const SSE3: u32 = 1 << 0;
    const SSSE3: u32 = 1 << 9;
    const FMA: u32 = 1 << 12;
    const SSE4_1: u32 = 1 << 19;
    const SSE4_2: u32 = 1 << 20;
    const OSXSAVE: u32 = 1 << 27;
    const AVX: u32 = 1 << 28;
    const F16C: u32 = 1 << 29;
    /// `CPUID.(7,0):EBX` bits.
    const AVX2_EBX: u32 = 1 << 5;
    const AVX512F_EBX: u32 = 1 << 16;
    const AVX512BW_EBX: u32 = 1 << 30;
    /// `CPUID.(7,0):ECX` bit.
    const AVX512VNNI_ECX: u32 = 1 << 11;
    /// `XCR0` state components the OS saves and restores: SSE and AVX (the YMM registers),
    /// then the opmask registers, ZMM0-15's upper halves and ZMM16-31 (Intel SDM vol. 1,
    /// 13.1). A CPU may support an instruction set whose registers the OS does not preserve;
    /// using it then corrupts other threads' state, so both must agree.
    const XCR0_YMM: u64 = 0b110;
    const XCR0_ZMM: u64 = 0b1110_0000;

    /// What the CPUID leaves and `XCR0` report, before deciding.
    #[derive(Clone, Copy, Debug, Default)]
    pub(super) struct Cpu {
        /// Highest basic CPUID leaf (`CPUID.0:EAX`).
        pub(super) max_leaf: u32,
        /// `CPUID.1:ECX`.
        pub(super) ecx1: u32,
        /// `CPUID.(7,0):EBX`.
        pub(super) ebx7: u32,
        /// `CPUID.(7,0):ECX`.
        pub(super) ecx7: u32,
        /// `XCR0` (only read when `OSXSAVE` is set).
        pub(super) xcr0: u64,
    }

    /// The kernels `cpu` may run. Each needs every target feature its `#[target_feature]`
    /// enables or implies (`avx2` implies `avx` and SSE3 to SSE4.2; `avx512f` implies `avx2`,
    /// `fma` and `f16c`) and the OS saving the registers it uses.
    pub(super) fn decide(cpu: Cpu) -> u8 {
        let has = |reg: u32, bits: u32| reg & bits == bits;
        if cpu.max_leaf < 7 || !has(cpu.ecx1, OSXSAVE) || cpu.xcr0 & XCR0_YMM != XCR0_YMM {
            return 0;
        }
        let avx2 = has(cpu.ecx1, SSE3 | SSSE3 | SSE4_1 | SSE4_2 | AVX) && has(cpu.ebx7, AVX2_EBX);
        let avx512 = avx2
            && has(cpu.ecx1, FMA | F16C)
            && has(cpu.ebx7, AVX512F_EBX | AVX512BW_EBX)
            && cpu.xcr0 & XCR0_ZMM == XCR0_ZMM;
        let vnni = avx512 && has(cpu.ecx7, AVX512VNNI_ECX);
        [(avx2, AVX2), (avx512, AVX512), (vnni, AVX512_VNNI)]
            .into_iter()
            .fold(0, |f, (on, bit)| if on { f | bit } else { f })
    }

    /// Read the CPUID leaves and `XCR0`.
    #[cfg(not(miri))]
    fn read() -> Cpu {
        use core::arch::x86_64::{__cpuid, __cpuid_count};
        // `CPUID` is an unprivileged instruction every x86_64 CPU has; the intrinsics are safe
        // to call from Rust 1.94 on and `unsafe` before, hence the blocks (needed below 1.94,
        // redundant above).
        // SAFETY: CPUID leaf 0 exists on every x86_64 CPU and has no side effects.
        #[allow(unused_unsafe)]
        let max_leaf = unsafe { __cpuid(0) }.eax;
        // SAFETY: leaf 1 exists on every x86_64 CPU (max_leaf ≥ 1 there).
        #[allow(unused_unsafe)]
        let ecx1 = unsafe { __cpuid(1) }.ecx;
        let mut cpu = Cpu {
            max_leaf,
            ecx1,
            ..Cpu::default()
        };
        if max_leaf >= 7 {
            // SAFETY: leaf 7 exists, checked above; CPUID has no side effects.
            #[allow(unused_unsafe)]
            let l7 = unsafe { __cpuid_count(7, 0) };
            (cpu.ebx7, cpu.ecx7) = (l7.ebx, l7.ecx);
        }
        if ecx1 & OSXSAVE != 0 {
            // SAFETY: OSXSAVE set means the OS enabled XSAVE (CR4.OSXSAVE), so XGETBV exists
            // and may run at any privilege level.
            cpu.xcr0 = unsafe { xcr0() };
        }
        cpu
    }

    /// `XGETBV` with `ECX = 0`.
    ///
    /// # Safety
    /// `CPUID.1:ECX.OSXSAVE` is set (otherwise the instruction faults).
    #[cfg(not(miri))]
    #[target_feature(enable = "xsave")]
    unsafe fn xcr0() -> u64 {
        // SAFETY: per this function's contract.
        unsafe { core::arch::x86_64::_xgetbv(0) }
    }

    #[cfg(not(miri))]
    static FEATURES: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

    /// The kernels this CPU may run: read once, then cached (a relaxed load: any thread that
    /// races the first detection computes the same answer). Under Miri, which cannot run
    /// `CPUID`, none, so Miri checks the portable path.
    #[inline(always)]
    pub(super) fn features() -> u8 {
        #[cfg(miri)]
        {
            0
        }
        #[cfg(not(miri))]
        {
            use core::sync::atomic::Ordering;
            let f = FEATURES.load(Ordering::Relaxed);
            if f & KNOWN != 0 {
                return f;
            }
            #[cold]
            #[inline(never)]
            fn detect() -> u8 {
                let f = KNOWN | decide(read());
                FEATURES.store(f, Ordering::Relaxed);
                f
            }
            detect()
        }
    }

    /// [`features`] as cached, without detecting: no kernel until something has called
    /// [`features`] (a caller that finds none takes a path that does). Lets a hot path test a
    /// feature with no call in it, so it saves no registers.
    #[inline(always)]
    pub(super) fn cached() -> u8 {
        #[cfg(miri)]
        {
            0
        }
        #[cfg(not(miri))]
        {
            FEATURES.load(core::sync::atomic::Ordering::Relaxed)
        }
    }
}

/// Whether AVX2 may be used.
#[inline]
pub(crate) fn has_avx2() -> bool {
    cfg!(all(target_feature = "avx2", not(miri))) || detect::features() & detect::AVX2 != 0
}

/// Whether AVX-512 (F + BW) may be used.
#[inline]
pub(crate) fn has_avx512() -> bool {
    cfg!(all(
        target_feature = "avx512f",
        target_feature = "avx512bw",
        not(miri)
    )) || detect::features() & detect::AVX512 != 0
}

/// Whether the build already requires AVX-512 (F + BW) with VNNI.
const BUILT_WITH_VNNI: bool = cfg!(all(
    target_feature = "avx512f",
    target_feature = "avx512bw",
    target_feature = "avx512vnni",
    not(miri)
));

/// Whether AVX-512 (F + BW) with VNNI may be used.
#[inline]
pub(crate) fn has_avx512_vnni() -> bool {
    BUILT_WITH_VNNI || detect::features() & detect::AVX512_VNNI != 0
}

/// AVX2 sum (unfolded, big-endian); falls back to portable if AVX2 is absent.
#[inline]
pub(crate) fn sum_avx2(data: &[u8]) -> u64 {
    if !has_avx2() {
        return crate::portable::sum(data);
    }
    // SAFETY: AVX2 support was checked above.
    swap(by_blocks(data, BLOCK, |b| unsafe { avx2_sum_le(b) }))
}

/// AVX-512 sum (unfolded, big-endian); falls back to portable if AVX-512 is absent.
#[inline]
pub(crate) fn sum_avx512(data: &[u8]) -> u64 {
    if !has_avx512() {
        return crate::portable::sum(data);
    }
    // SAFETY: AVX-512 F and BW support was checked above.
    swap(by_blocks(data, BLOCK, |b| unsafe { avx512_sum_le(b) }))
}

/// AVX-512 VNNI sum (unfolded, big-endian); falls back to portable if it is absent.
#[inline]
pub(crate) fn sum_avx512_vnni(data: &[u8]) -> u64 {
    if !has_avx512_vnni() {
        return crate::portable::sum(data);
    }
    // SAFETY: AVX-512 F, BW and VNNI support was checked above.
    swap(by_blocks(data, VNNI_BLOCK, |b| unsafe { vnni_sum_le(b) }))
}

/// [`sum_avx512_vnni`] for data of at most one block (any IP packet), if the CPU is known to
/// have VNNI: one test of the cached features, no detection call, no block loop. `None`
/// otherwise (also before the first detection: the caller's fallback detects).
#[inline(always)]
pub(crate) fn sum_packet_vnni(data: &[u8]) -> Option<u64> {
    let vnni = BUILT_WITH_VNNI || detect::cached() & detect::AVX512_VNNI != 0;
    if data.len() > VNNI_BLOCK || !vnni {
        return None;
    }
    // SAFETY: AVX-512 F, BW and VNNI support was checked above.
    Some(swap(unsafe { vnni_sum_le(data) }))
}

/// AVX2 fused copy and sum (unfolded little-endian sum); `dst.len() == src.len()`.
#[inline]
pub(crate) fn copy_sum_le_avx2(dst: &mut [u8], src: &[u8]) -> u64 {
    if !has_avx2() {
        return crate::portable::copy_sum_le(dst, src);
    }
    if src.len() >= COPY_ALIGN_MIN {
        return copy_sum_le_avx2_aligned(dst, src);
    }
    // SAFETY: AVX2 support was checked above.
    copy_by_blocks(dst, src, BLOCK, |d, s| unsafe { avx2_copy_sum_le(d, s) })
}

/// [`copy_sum_le_avx2`] for long copies (see [`copy_sum_le_avx512_aligned`]).
#[inline(never)]
fn copy_sum_le_avx2_aligned(dst: &mut [u8], src: &[u8]) -> u64 {
    let (head, dst, src, odd) = copy_head(dst, src);
    // SAFETY: only called by `copy_sum_le_avx2` after its AVX2 check.
    let bulk = copy_by_blocks(dst, src, BLOCK, |d, s| unsafe { avx2_copy_sum_le(d, s) });
    join_head(head, bulk, odd)
}

/// AVX-512 fused copy and sum (unfolded little-endian sum); `dst.len() == src.len()`.
#[inline]
pub(crate) fn copy_sum_le_avx512(dst: &mut [u8], src: &[u8]) -> u64 {
    if !has_avx512() {
        return crate::portable::copy_sum_le(dst, src);
    }
    if src.len() >= COPY_ALIGN_MIN {
        return copy_sum_le_avx512_aligned(dst, src);
    }
    // SAFETY: AVX-512 F and BW support was checked above.
    copy_by_blocks(dst, src, BLOCK, |d, s| unsafe { avx512_copy_sum_le(d, s) })
}

/// [`copy_sum_le_avx512`] for long copies, with 64-byte aligned stores (see [`copy_head`]).
/// Kept apart so that shorter copies pay one length compare for it.
#[inline(never)]
fn copy_sum_le_avx512_aligned(dst: &mut [u8], src: &[u8]) -> u64 {
    let (head, dst, src, odd) = copy_head(dst, src);
    // SAFETY: only called by `copy_sum_le_avx512` after its AVX-512 check.
    let bulk = copy_by_blocks(dst, src, BLOCK, |d, s| unsafe { avx512_copy_sum_le(d, s) });
    join_head(head, bulk, odd)
}

/// Sum `data` in blocks of `block` bytes (even), joining the block sums with end-around
/// carry. Blocks start at even offsets, so their little-endian sums need no byte swap.
#[inline(always)]
fn by_blocks(data: &[u8], block: usize, f: impl Fn(&[u8]) -> u64) -> u64 {
    debug_assert!(block.is_multiple_of(2));
    if data.len() <= block {
        return f(data);
    }
    data.chunks(block).fold(0, |acc, b| adc(acc, f(b)))
}

/// [`by_blocks`] for a fused copy.
#[inline(always)]
fn copy_by_blocks(
    dst: &mut [u8],
    src: &[u8],
    block: usize,
    f: impl Fn(&mut [u8], &[u8]) -> u64,
) -> u64 {
    debug_assert!(block.is_multiple_of(2));
    if src.len() <= block {
        return f(dst, src);
    }
    dst.chunks_mut(block)
        .zip(src.chunks(block))
        .fold(0, |acc, (d, s)| adc(acc, f(d, s)))
}

// ---- AVX2 ----------------------------------------------------------------------------------

#[inline]
#[target_feature(enable = "avx2")]
fn load256(c: &[u8; 32]) -> __m256i {
    // SAFETY: `c` is 32 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(c.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn store256(c: &mut [u8; 32], v: __m256i) {
    // SAFETY: `c` is 32 writable bytes; `storeu` has no alignment requirement.
    unsafe { _mm256_storeu_si256(c.as_mut_ptr().cast(), v) }
}

/// Add the two 32-bit halves of every 64-bit lane of `v` into `lo` / `hi`.
#[inline]
#[target_feature(enable = "avx2")]
fn acc256(lo: &mut __m256i, hi: &mut __m256i, v: __m256i) {
    *lo = _mm256_add_epi64(*lo, _mm256_and_si256(v, _mm256_set1_epi64x(0xffff_ffff)));
    *hi = _mm256_add_epi64(*hi, _mm256_srli_epi64::<32>(v));
}

/// Horizontal sum of the four u64 lanes (each below 2^62 here, so no carry out).
#[inline]
#[target_feature(enable = "avx2")]
fn hsum256(v: __m256i) -> u64 {
    let x = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let x = _mm_add_epi64(x, _mm_unpackhi_epi64(x, x));
    _mm_cvtsi128_si64(x) as u64
}

#[target_feature(enable = "avx2")]
fn avx2_sum_le(data: &[u8]) -> u64 {
    let (head, data, odd) = split_head(data);
    let (blocks, rest) = data.as_chunks::<128>();
    let z = _mm256_setzero_si256();
    let (mut l0, mut l1, mut l2, mut l3) = (z, z, z, z);
    let (mut h0, mut h1, mut h2, mut h3) = (z, z, z, z);
    for b in blocks {
        let (c, _) = b.as_chunks::<32>();
        acc256(&mut l0, &mut h0, load256(&c[0]));
        acc256(&mut l1, &mut h1, load256(&c[1]));
        acc256(&mut l2, &mut h2, load256(&c[2]));
        acc256(&mut l3, &mut h3, load256(&c[3]));
    }
    let (c, tail) = rest.as_chunks::<32>();
    for v in c {
        acc256(&mut l0, &mut h0, load256(v));
    }
    let l = _mm256_add_epi64(_mm256_add_epi64(l0, l1), _mm256_add_epi64(l2, l3));
    let h = _mm256_add_epi64(_mm256_add_epi64(h0, h1), _mm256_add_epi64(h2, h3));
    let bulk = adc(hsum256(_mm256_add_epi64(l, h)), short_le(tail));
    join_head(head, bulk, odd)
}

#[target_feature(enable = "avx2")]
fn avx2_copy_sum_le(dst: &mut [u8], src: &[u8]) -> u64 {
    let (sb, sr) = src.as_chunks::<128>();
    let (db, dr) = dst.as_chunks_mut::<128>();
    let z = _mm256_setzero_si256();
    let (mut l0, mut l1, mut l2, mut l3) = (z, z, z, z);
    let (mut h0, mut h1, mut h2, mut h3) = (z, z, z, z);
    for (s, d) in sb.iter().zip(db.iter_mut()) {
        let (s, _) = s.as_chunks::<32>();
        let (d, _) = d.as_chunks_mut::<32>();
        let (v0, v1, v2, v3) = (
            load256(&s[0]),
            load256(&s[1]),
            load256(&s[2]),
            load256(&s[3]),
        );
        store256(&mut d[0], v0);
        store256(&mut d[1], v1);
        store256(&mut d[2], v2);
        store256(&mut d[3], v3);
        acc256(&mut l0, &mut h0, v0);
        acc256(&mut l1, &mut h1, v1);
        acc256(&mut l2, &mut h2, v2);
        acc256(&mut l3, &mut h3, v3);
    }
    // Up to three more vectors, straight-line: as a loop, LLVM splits it into a `memcpy` call
    // plus a second pass (spilling the accumulators around the call).
    let (sc, st) = sr.as_chunks::<32>();
    let (dc, dt) = dr.as_chunks_mut::<32>();
    for i in [0, 1, 2] {
        if let (Some(s), Some(d)) = (sc.get(i), dc.get_mut(i)) {
            let v = load256(s);
            store256(d, v);
            acc256(&mut l0, &mut h0, v);
        }
    }
    let l = _mm256_add_epi64(_mm256_add_epi64(l0, l1), _mm256_add_epi64(l2, l3));
    let h = _mm256_add_epi64(_mm256_add_epi64(h0, h1), _mm256_add_epi64(h2, h3));
    let v = hsum256(_mm256_add_epi64(l, h));
    // Tail copied with fixed-size moves: a `memcpy` call here would make the compiler spill
    // the accumulators around it.
    short_copy(dt, st);
    adc(v, short_le(st))
}

// ---- AVX-512 -------------------------------------------------------------------------------

#[inline]
#[target_feature(enable = "avx512f")]
fn load512(c: &[u8; 64]) -> __m512i {
    // SAFETY: `c` is 64 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_si512(c.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn store512(c: &mut [u8; 64], v: __m512i) {
    // SAFETY: `c` is 64 writable bytes; `storeu` has no alignment requirement.
    unsafe { _mm512_storeu_si512(c.as_mut_ptr().cast(), v) }
}

/// Add the two 32-bit halves of every 64-bit lane of `v` into `lo` / `hi`.
#[inline]
#[target_feature(enable = "avx512f")]
fn acc512(lo: &mut __m512i, hi: &mut __m512i, v: __m512i) {
    *lo = _mm512_add_epi64(*lo, _mm512_and_si512(v, _mm512_set1_epi64(0xffff_ffff)));
    *hi = _mm512_add_epi64(*hi, _mm512_srli_epi64::<32>(v));
}

/// Below this length an unaligned start is summed as it is: the scalar head would cost
/// more than the split loads it saves.
const ALIGN_MIN: usize = 512;

/// [`ALIGN_MIN`] for a fused copy (see [`copy_head`]).
const COPY_ALIGN_MIN: usize = 2048;

/// Where a long sum starts its 64-byte aligned loads: `data` minus a head up to the first
/// 64-byte boundary, which the scalar path sums. A 64-byte load that straddles two cache lines
/// costs about twice an aligned one (measured: 1468 bytes at offset 20 of a line, 18.8 ns
/// against 15.6 ns aligned). Returns the head's little-endian sum, the aligned rest, and
/// whether the rest starts at an odd offset (its own sum is then the byte-swap of its share,
/// RFC 1071 §2(B); see [`join_head`]).
#[inline(always)]
fn split_head(data: &[u8]) -> (u64, &[u8], bool) {
    let head = data.as_ptr().align_offset(64);
    if head == 0 || data.len() < ALIGN_MIN || head >= data.len() {
        return (0, data, false);
    }
    let (h, rest) = data.split_at(head);
    (short_le(h), rest, head & 1 == 1)
}

/// [`split_head`] for a fused copy, by the destination: long copies store aligned to 64
/// bytes (the loads then straddle lines unless both sides share an alignment). Measured on
/// 9000 bytes: 83 -> 93 GB/s. The head costs a copy as well, so it starts at
/// [`COPY_ALIGN_MIN`]; it is taken outside the SIMD kernel, whose code for shorter copies
/// got slower with it inside (1500 bytes 73 -> 63 GB/s). Returns the head's sum, the rest
/// of both slices, and the odd flag.
#[inline(always)]
fn copy_head<'d, 's>(dst: &'d mut [u8], src: &'s [u8]) -> (u64, &'d mut [u8], &'s [u8], bool) {
    let head = dst.as_ptr().align_offset(64);
    if head == 0 || head >= src.len() || dst.len() != src.len() {
        return (0, dst, src, false);
    }
    let (dh, dst) = dst.split_at_mut(head);
    let (sh, src) = src.split_at(head);
    short_copy(dh, sh);
    (short_le(sh), dst, src, head & 1 == 1)
}

/// Join the head's sum and the rest's sum from [`split_head`].
#[inline(always)]
fn join_head(head: u64, rest: u64, odd: bool) -> u64 {
    adc(head, if odd { swap(rest) } else { rest })
}

#[target_feature(enable = "avx512f,avx512bw")]
fn avx512_sum_le(data: &[u8]) -> u64 {
    let (head, data, odd) = split_head(data);
    let (blocks, rest) = data.as_chunks::<256>();
    let z = _mm512_setzero_si512();
    // Two accumulator pairs: enough independent adds to keep the vector units busy, and a
    // short reduction (it dominates at a few hundred bytes).
    let (mut l0, mut l1, mut h0, mut h1) = (z, z, z, z);
    for b in blocks {
        let (c, _) = b.as_chunks::<64>();
        acc512(&mut l0, &mut h0, load512(&c[0]));
        acc512(&mut l1, &mut h1, load512(&c[1]));
        acc512(&mut l0, &mut h0, load512(&c[2]));
        acc512(&mut l1, &mut h1, load512(&c[3]));
    }
    let (c, tail) = rest.as_chunks::<64>();
    for v in c {
        acc512(&mut l0, &mut h0, load512(v));
    }
    // The last < 64 bytes go through the scalar path, which overlaps with the reduction. (A
    // masked load would be shorter code, but masked-off lanes that cross into an unmapped
    // page take a fault-suppression assist costing tens of nanoseconds: buffers often end
    // near a page end.)
    let s = _mm512_add_epi64(_mm512_add_epi64(l0, l1), _mm512_add_epi64(h0, h1));
    let bulk = adc(_mm512_reduce_add_epi64(s) as u64, short_le(tail));
    join_head(head, bulk, odd)
}

// ---- AVX-512 VNNI --------------------------------------------------------------------------

/// Bytes per call of the VNNI kernel, so that its 32-bit lanes cannot overflow: a line adds
/// at most 2^16 in magnitude to a lane, and 2^16 bytes span at most 2^10 + 1 lines, so every
/// lane stays below 2^27 summed over all four accumulators, and the 16 lanes below 2^31 —
/// the reduction stays in 32 bits. Every IP packet fits in one block. A multiple of 64, so every
/// block starts at the same offset within a cache line as the data.
const VNNI_BLOCK: usize = 1 << 16;

/// The 64-byte line at `line`, with the bytes whose bit is clear in `mask` read as zero.
///
/// # Safety
/// The CPU supports AVX-512 BW; `line` is 64-byte aligned; every byte selected by `mask` is
/// readable (in the caller's slice). Masked-off bytes are not accessed — the masked load
/// suppresses their faults and LLVM's masked load does not touch them — and, the line being
/// aligned, they lie in the same page as the selected ones, so no fault-suppression assist
/// is taken either (that assist, for a masked line crossing into an unmapped page, is what
/// makes unaligned masked tails slow).
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn load_line_masked(line: *const u8, mask: u64) -> __m512i {
    debug_assert!(line.addr().is_multiple_of(64));
    // SAFETY: per this function's contract.
    unsafe { _mm512_maskz_loadu_epi8(mask, line.cast()) }
}

/// The low `n` bits set (`n` in 0..=64).
#[inline(always)]
fn low_bits(n: usize) -> u64 {
    if n >= 64 { !0 } else { (1u64 << n) - 1 }
}

/// Sum over whole 64-byte lines from the one holding `data`'s first byte: the first and last
/// lines are read with masked loads (only `data`'s bytes), the rest with plain loads at
/// line-aligned addresses. No scalar head or tail, and no load splits a cache line: the fixed
/// cost per call is the reduction, which matters for ~1500-byte segments.
///
/// Each 16-bit word `w` is XORed with 0x8000, which reads it as the signed `w - 32768`, and
/// `vpdpwssd` against a vector of ones adds each lane's two words into its 32-bit
/// accumulator; the bias, 32768 per word of every line read (masked-off words are zero and
/// come out as `-32768` too), is added back after the 64-bit reduction. Words are summed at
/// even addresses, so the sum is `data`'s little-endian sum when `data` starts at an even
/// address and its byte swap otherwise (RFC 1071 §2(B)). At most [`VNNI_BLOCK`] bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn vnni_sum_le(data: &[u8]) -> u64 {
    debug_assert!(data.len() <= VNNI_BLOCK);
    if data.is_empty() {
        return 0;
    }
    let off = data.as_ptr().addr() & 63;
    let span = off + data.len();
    let lines = span.div_ceil(64);
    let bias = _mm512_set1_epi16(i16::MIN);
    let ones = _mm512_set1_epi16(1);
    let dp = |acc: __m512i, v: __m512i| _mm512_dpwssd_epi32(acc, _mm512_xor_si512(v, bias), ones);
    let z = _mm512_setzero_si512();
    let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
    // First line: `data`'s first `64 - off` bytes (or all of it).
    let first = data.as_ptr().wrapping_sub(off);
    // SAFETY: `first` is the 64-byte aligned address `off` bytes before `data`, and the mask
    // selects bits `off..min(span, 64)`: exactly `data`'s bytes in that line.
    a0 = dp(a0, unsafe {
        load_line_masked(first, low_bits(span.min(64)) & !low_bits(off))
    });
    if lines > 1 {
        let (_, rest) = data.split_at(64 - off);
        // Whole lines, then the last (partial or whole) line.
        let whole = (rest.len() - 1) / 64;
        let (body, last) = rest.split_at(whole * 64);
        let (blocks, more) = body.as_chunks::<256>();
        for b in blocks {
            let (c, _) = b.as_chunks::<64>();
            a0 = dp(a0, load512(&c[0]));
            a1 = dp(a1, load512(&c[1]));
            a2 = dp(a2, load512(&c[2]));
            a3 = dp(a3, load512(&c[3]));
        }
        let (c, _) = more.as_chunks::<64>();
        for v in c {
            a1 = dp(a1, load512(v));
        }
        // SAFETY: `last` starts on a line boundary (`data` + `64 - off` + whole lines) and
        // holds 1..=64 bytes; the mask selects exactly them.
        a2 = dp(a2, unsafe {
            load_line_masked(last.as_ptr(), low_bits(last.len()))
        });
    }
    // Within 2^30 in magnitude (see `VNNI_BLOCK`): the i32 adds cannot overflow.
    let s = _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
    let words = (lines * 32) as i64;
    // The exact sum of the (non-negative) words.
    let sum = (i64::from(_mm512_reduce_add_epi32(s)) + 32768 * words) as u64;
    if off & 1 == 1 { swap(sum) } else { sum }
}

#[target_feature(enable = "avx512f,avx512bw")]
fn avx512_copy_sum_le(dst: &mut [u8], src: &[u8]) -> u64 {
    let (sb, sr) = src.as_chunks::<256>();
    let (db, dr) = dst.as_chunks_mut::<256>();
    let z = _mm512_setzero_si512();
    let (mut l0, mut l1, mut h0, mut h1) = (z, z, z, z);
    for (s, d) in sb.iter().zip(db.iter_mut()) {
        let (s, _) = s.as_chunks::<64>();
        let (d, _) = d.as_chunks_mut::<64>();
        let (v0, v1, v2, v3) = (
            load512(&s[0]),
            load512(&s[1]),
            load512(&s[2]),
            load512(&s[3]),
        );
        store512(&mut d[0], v0);
        store512(&mut d[1], v1);
        store512(&mut d[2], v2);
        store512(&mut d[3], v3);
        acc512(&mut l0, &mut h0, v0);
        acc512(&mut l1, &mut h1, v1);
        acc512(&mut l0, &mut h0, v2);
        acc512(&mut l1, &mut h1, v3);
    }
    // Up to three more vectors, straight-line (see `avx2_copy_sum_le`).
    let (sc, st) = sr.as_chunks::<64>();
    let (dc, dt) = dr.as_chunks_mut::<64>();
    for i in [0, 1, 2] {
        if let (Some(s), Some(d)) = (sc.get(i), dc.get_mut(i)) {
            let v = load512(s);
            store512(d, v);
            acc512(&mut l0, &mut h0, v);
        }
    }
    let s = _mm512_add_epi64(_mm512_add_epi64(l0, l1), _mm512_add_epi64(h0, h1));
    let v = _mm512_reduce_add_epi64(s) as u64;
    // Scalar tail (see `avx512_sum_le` for why not masked loads/stores), copied with
    // fixed-size moves (see `avx2_copy_sum_le`).
    short_copy(dt, st);
    adc(v, short_le(st))
}

#[cfg(test)]
mod tests {
    use super::detect::{AVX2, AVX512, AVX512_VNNI, Cpu, decide};
    use super::*;

    /// What a Zen 4 virtual machine (AVX2, AVX-512 F/BW and VNNI) reports under Linux, which
    /// saves every register.
    const ZEN4: Cpu = Cpu {
        max_leaf: 0x1c,
        ecx1: 0xfffa_3203,
        ebx7: 0xf1bf_07ab,
        ecx7: 0x0040_5fc6,
        xcr0: 0xe7,
    };

    #[test]
    fn decide_needs_the_cpu_and_the_os() {
        assert_eq!(decide(ZEN4), AVX2 | AVX512 | AVX512_VNNI);
        // The OS does not save ZMM state (e.g. AVX-512 disabled in XCR0): AVX2 only.
        for missing in [0x20, 0x40, 0x80] {
            let cpu = Cpu {
                xcr0: ZEN4.xcr0 & !missing,
                ..ZEN4
            };
            assert_eq!(decide(cpu), AVX2, "xcr0 {:#x}", cpu.xcr0);
        }
        // No YMM state, no OSXSAVE (XCR0 unreadable), or no leaf 7: nothing.
        for cpu in [
            Cpu { xcr0: 0x3, ..ZEN4 },
            Cpu {
                ecx1: ZEN4.ecx1 & !(1 << 27),
                ..ZEN4
            },
            Cpu {
                max_leaf: 6,
                ..ZEN4
            },
        ] {
            assert_eq!(decide(cpu), 0, "{cpu:?}");
        }
        // Each feature a kernel enables or implies, taken away alone.
        let without = |ecx1: u32, ebx7: u32, ecx7: u32| Cpu {
            ecx1: ZEN4.ecx1 & !ecx1,
            ebx7: ZEN4.ebx7 & !ebx7,
            ecx7: ZEN4.ecx7 & !ecx7,
            ..ZEN4
        };
        for sse_avx in [1 << 0, 1 << 9, 1 << 19, 1 << 20, 1 << 28] {
            assert_eq!(decide(without(sse_avx, 0, 0)), 0, "ecx1 bit {sse_avx:#x}");
        }
        assert_eq!(decide(without(0, 1 << 5, 0)), 0, "avx2");
        for fma_f16c in [1 << 12, 1 << 29] {
            assert_eq!(decide(without(fma_f16c, 0, 0)), AVX2, "{fma_f16c:#x}");
        }
        for f_bw in [1 << 16, 1 << 30] {
            assert_eq!(decide(without(0, f_bw, 0)), AVX2, "ebx7 bit {f_bw:#x}");
        }
        assert_eq!(decide(without(0, 0, 1 << 11)), AVX2 | AVX512, "vnni");
    }

    /// The block-joining path (only reached above 1 GiB in production) with small blocks.
    #[test]
    fn blocks_join_like_one_pass() {
        let data: [u8; 1001] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        let whole = crate::portable::sum_le(&data);
        let fold = crate::ones::fold64;
        for block in [2, 64, 130, 256, 1000] {
            let joined = by_blocks(&data, block, crate::portable::sum_le);
            assert_eq!(fold(joined), fold(whole), "block {block}");
            let mut dst = [0u8; 1001];
            let copied = copy_by_blocks(&mut dst, &data, block, crate::portable::copy_sum_le);
            assert_eq!(fold(copied), fold(whole), "copy block {block}");
            assert_eq!(dst, data);
            if has_avx2() {
                // SAFETY: AVX2 support was just checked.
                let v = by_blocks(&data, block, |b| unsafe { avx2_sum_le(b) });
                assert_eq!(fold(v), fold(whole), "avx2 block {block}");
            }
            if has_avx512() {
                // SAFETY: AVX-512 support was just checked.
                let v = by_blocks(&data, block, |b| unsafe { avx512_sum_le(b) });
                assert_eq!(fold(v), fold(whole), "avx512 block {block}");
            }
        }
    }

    /// The VNNI kernel's lane bounds: whole blocks of the words that move a lane furthest
    /// (0x0000 reads as -32768, 0xffff as +32767), joined across block boundaries, at every
    /// parity and at line-aligned and unaligned starts.
    #[test]
    fn vnni_extreme_words_over_blocks() {
        if !has_avx512_vnni() {
            return;
        }
        let n = 3 * VNNI_BLOCK + 77;
        let random: std::vec::Vec<u8> = (0..n + 64).map(|i| (i * 131 + 7) as u8).collect();
        for fill in [0x00u8, 0xff, 0x80, 0x7f] {
            let buf = std::vec![fill; n + 64];
            for data in [&buf[..], &random[..]] {
                for off in [0, 1, 2, 63] {
                    for len in [VNNI_BLOCK, VNNI_BLOCK + 1, n] {
                        let d = &data[off..off + len];
                        let want = crate::ones::fold64(crate::portable::sum(d));
                        let got = crate::ones::fold64(sum_avx512_vnni(d));
                        assert_eq!(got, want, "fill {fill:#x} off {off} len {len}");
                    }
                }
            }
        }
    }
}
