//! Shared by the dispatch checks: the kernel `inet-csum` should pick on this CPU, from the
//! standard library's own detection, and the check itself.
//!
//! Each check is a binary crate with one dependency besides `inet-csum` (named only to ask
//! which kernel it chose, with no features of its own). Built alone (`cargo run -p
//! dispatch-check-tso`), cargo resolves `inet-csum`'s features for that crate's graph only: the
//! features a program that depends on that one crate gets.

use inet_csum::Impl;

/// The fastest kernel the CPU and OS support, by `std::is_x86_feature_detected!` (every target
/// feature the kernel's `#[target_feature]` implies).
pub(crate) fn expected() -> Impl {
    #[cfg(target_arch = "x86_64")]
    {
        use std::is_x86_feature_detected as has;
        let avx2 = has!("avx2")
            && has!("avx")
            && has!("sse4.2")
            && has!("sse4.1")
            && has!("ssse3")
            && has!("sse3");
        let avx512 = avx2 && has!("avx512f") && has!("avx512bw") && has!("fma") && has!("f16c");
        if avx512 && has!("avx512vnni") {
            return Impl::Avx512Vnni;
        }
        if avx512 {
            return Impl::Avx512;
        }
        if avx2 {
            return Impl::Avx2;
        }
    }
    Impl::Portable
}

/// Print what `inet-csum` dispatches to in a program built as `what`; `Err` if it is not the
/// fastest kernel this CPU supports.
pub(crate) fn check(what: &str) -> Result<Impl, String> {
    let (got, want) = (Impl::best(), expected());
    println!("{what}: inet-csum dispatches to {got:?}; this CPU's best is {want:?}");
    if got == want {
        Ok(got)
    } else {
        Err(format!("{what}: dispatched to {got:?}, want {want:?}"))
    }
}
