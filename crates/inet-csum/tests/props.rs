//! Differential property tests: every path, the streaming API, combine, the fused copy,
//! pseudo-headers and RFC 1624 updates, each against the plain reference.

mod common;
use common::{reference, supported};
use inet_csum::{
    Accumulator, checksum, copy_and_sum, pseudo_header_v4, pseudo_header_v6, update_u16, update_u32,
};
use proptest::prelude::*;

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 128 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn data(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let max = if cfg!(miri) { max.min(200) } else { max };
    prop::collection::vec(any::<u8>(), 0..max)
}

/// Data plus a sorted list of cut points inside it.
fn data_and_cuts() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    data(3000).prop_flat_map(|d| {
        let n = d.len();
        (Just(d), prop::collection::vec(0..=n, 0..8)).prop_map(|(d, mut c)| {
            c.sort_unstable();
            (d, c)
        })
    })
}

fn pieces<'a>(d: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for &c in cuts {
        out.push(&d[start..c]);
        start = c;
    }
    out.push(&d[start..]);
    out
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn every_path_matches_reference(d in data(10_000), off in 0usize..64) {
        let off = off.min(d.len());
        let s = &d[off..];
        for imp in supported() {
            prop_assert_eq!(imp.sum(s), Some(reference(s)), "{:?}", imp);
        }
        prop_assert_eq!(checksum(s), !reference(s));
        prop_assert_eq!(inet_csum::header_checksum(s), !reference(s));
        prop_assert_eq!(inet_csum::verify(s), reference(s) == 0xffff);
    }

    #[test]
    fn fold_u32_equals_streaming(words in proptest::collection::vec(any::<u16>(), 0..300)) {
        let plain: u32 = words.iter().map(|&w| u32::from(w)).sum();
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        let want = Accumulator::new().add(&bytes).fold();
        prop_assert_eq!(inet_csum::fold_u32(plain), want);
    }

    #[test]
    fn streaming_any_split((d, cuts) in data_and_cuts()) {
        let want = reference(&d);
        let mut c = Accumulator::new();
        for p in pieces(&d, &cuts) {
            c.update(p);
        }
        prop_assert_eq!(c.fold(), want);
        prop_assert_eq!(c.is_odd(), d.len() % 2 == 1);
        for imp in supported() {
            let mut c = Accumulator::new();
            for p in pieces(&d, &cuts) {
                prop_assert!(c.update_with(imp, p).is_some());
            }
            prop_assert_eq!(c.fold(), want, "{:?}", imp);
        }
    }

    #[test]
    fn combine_equals_whole((d, cuts) in data_and_cuts()) {
        let joined = pieces(&d, &cuts)
            .into_iter()
            .map(|p| Accumulator::new().add(p))
            .fold(Accumulator::new(), Accumulator::combine);
        prop_assert_eq!(joined.fold(), reference(&d));
        prop_assert_eq!(joined.is_odd(), d.len() % 2 == 1);
    }

    #[test]
    fn words_equal_bytes(prefix in data(7), a in any::<u16>(), b in any::<u32>()) {
        let mut bytes = prefix.clone();
        bytes.extend_from_slice(&a.to_be_bytes());
        bytes.extend_from_slice(&b.to_be_bytes());
        let c = Accumulator::new().add(&prefix).add_u16(a).add_u32(b);
        prop_assert_eq!(c.fold(), reference(&bytes));
        let ab = [a.to_be_bytes().as_slice(), &b.to_be_bytes()].concat();
        prop_assert_eq!(Accumulator::from_sum(a).add(&b.to_be_bytes()).fold(), reference(&ab));
    }

    #[test]
    fn copy_and_sum_every_path((d, cuts) in data_and_cuts()) {
        let want = reference(&d);
        let mut dst = vec![0u8; d.len()];
        let c = copy_and_sum(&mut dst, &d);
        prop_assert_eq!(&dst, &d);
        prop_assert_eq!(c.fold(), want);
        prop_assert_eq!(c.is_odd(), d.len() % 2 == 1);
        for imp in supported() {
            let mut dst = vec![0u8; d.len()];
            prop_assert_eq!(imp.copy_and_sum(&mut dst, &d), Some(want), "{:?}", imp);
            prop_assert_eq!(&dst, &d);
        }
        // Fused copies of the pieces, streamed together, equal the whole.
        let mut dst = vec![0u8; d.len()];
        let mut acc = Accumulator::new();
        let mut start = 0;
        for p in pieces(&d, &cuts) {
            let end = start + p.len();
            acc = acc.combine(copy_and_sum(&mut dst[start..end], p));
            start = end;
        }
        prop_assert_eq!(acc.fold(), want);
        prop_assert_eq!(&dst, &d);
    }

    #[test]
    fn pseudo_header_v4_matches_bytes(src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
                                      proto in any::<u8>(), len in any::<u16>(), l4 in data(100)) {
        let mut b = Vec::new();
        b.extend_from_slice(&src);
        b.extend_from_slice(&dst);
        b.extend_from_slice(&[0, proto]);
        b.extend_from_slice(&len.to_be_bytes());
        let p = pseudo_header_v4(src, dst, proto, len);
        prop_assert_eq!(p.fold(), reference(&b));
        b.extend_from_slice(&l4);
        prop_assert_eq!(p.add(&l4).fold(), reference(&b));
    }

    #[test]
    fn pseudo_header_v6_matches_bytes(src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(),
                                      next in any::<u8>(), len in any::<u32>(), l4 in data(100)) {
        let mut b = Vec::new();
        b.extend_from_slice(&src);
        b.extend_from_slice(&dst);
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, next]);
        let p = pseudo_header_v6(&src, &dst, next, len);
        prop_assert_eq!(p.fold(), reference(&b));
        b.extend_from_slice(&l4);
        prop_assert_eq!(p.add(&l4).fold(), reference(&b));
    }

    #[test]
    fn update_u16_matches_recompute(mut d in data(200), pos in any::<prop::sample::Index>(),
                                    new in any::<u16>()) {
        prop_assume!(d.len() >= 2);
        let at = pos.index(d.len() / 2) * 2;
        let old = u16::from_be_bytes([d[at], d[at + 1]]);
        let before = checksum(&d);
        d[at..at + 2].copy_from_slice(&new.to_be_bytes());
        assert_same_ones_complement(update_u16(before, old, new), checksum(&d), &d)?;
    }

    #[test]
    fn update_u32_matches_recompute(mut d in data(200), pos in any::<prop::sample::Index>(),
                                    new in any::<u32>()) {
        prop_assume!(d.len() >= 4);
        let at = pos.index(d.len() / 2 - 1) * 2;
        let old = u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]]);
        let before = checksum(&d);
        d[at..at + 4].copy_from_slice(&new.to_be_bytes());
        assert_same_ones_complement(update_u32(before, old, new), checksum(&d), &d)?;
    }
}

/// RFC 1624 eqn. 3 and recomputation agree exactly, except that for all-zero data
/// recomputation gives 0xffff and eqn. 3 may give 0x0000 (both are one's complement zero;
/// RFC 1624 §3 discusses this ±0 case).
fn assert_same_ones_complement(
    updated: u16,
    recomputed: u16,
    d: &[u8],
) -> Result<(), TestCaseError> {
    if d.iter().all(|&b| b == 0) {
        prop_assert!(matches!(updated, 0 | 0xffff) && recomputed == 0xffff);
    } else {
        prop_assert_eq!(updated, recomputed);
    }
    Ok(())
}

#[test]
fn update_all_zero_case_is_negative_zero() {
    // Accumulator of 4 zero bytes is 0xffff; changing a zero word to zero with eqn. 3 yields -0.
    let d = [0u8; 4];
    assert_eq!(checksum(&d), 0xffff);
    assert_eq!(update_u16(0xffff, 0, 0), 0x0000);
}

#[test]
#[should_panic(expected = "length mismatch")]
fn copy_and_sum_rejects_unequal_lengths() {
    let _ = copy_and_sum(&mut [0u8; 300], &[1u8; 301]);
}

#[test]
#[should_panic(expected = "length mismatch")]
fn impl_copy_and_sum_rejects_unequal_lengths() {
    let _ = inet_csum::Impl::Portable.copy_and_sum(&mut [0u8; 3], &[1u8; 2]);
}
