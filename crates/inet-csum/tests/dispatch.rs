//! Run-time kernel selection against the standard library's own CPU detection. The library
//! has no features: this is the selection every build gets, `no_std` users' included.

use inet_csum::Impl;

/// Whether the CPU and OS support every target feature `imp`'s kernel enables or implies.
#[cfg(all(target_arch = "x86_64", not(miri)))]
fn std_detects(imp: Impl) -> bool {
    use std::is_x86_feature_detected as has;
    let avx2 = has!("avx2")
        && has!("avx")
        && has!("sse4.2")
        && has!("sse4.1")
        && has!("ssse3")
        && has!("sse3");
    let avx512 = avx2 && has!("avx512f") && has!("avx512bw") && has!("fma") && has!("f16c");
    match imp {
        Impl::Portable => true,
        Impl::Avx2 => avx2,
        Impl::Avx512 => avx512,
        Impl::Avx512Vnni => avx512 && has!("avx512vnni"),
        _ => false,
    }
}

/// Off x86_64, and under Miri (which cannot run `CPUID`), only the portable path.
#[cfg(not(all(target_arch = "x86_64", not(miri))))]
fn std_detects(imp: Impl) -> bool {
    imp == Impl::Portable
}

#[test]
fn every_kernel_is_supported_exactly_when_std_detects_its_features() {
    for imp in Impl::ALL {
        assert_eq!(imp.is_supported(), std_detects(imp), "{imp:?}");
    }
}

#[test]
fn best_is_the_last_supported_kernel() {
    // `Impl::ALL` lists the kernels slowest first.
    let want = Impl::ALL.into_iter().rfind(|&i| std_detects(i));
    println!("inet-csum dispatches to {:?}", Impl::best());
    assert_eq!(Some(Impl::best()), want);
}
