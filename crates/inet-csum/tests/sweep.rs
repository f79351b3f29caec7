//! Every length 0..=9001 (jumbo MTU + 1), at several start offsets, on every supported path,
//! against the plain reference: covers every tail length and every vector-loop boundary.

mod common;
use common::{bytes, reference, supported};

#[cfg(not(miri))]
const MAX_LEN: usize = 9001;
#[cfg(miri)]
const MAX_LEN: usize = 300;

/// All-0xff input maximises carries in every lane and chain.
fn check(buf: &[u8], len: usize, off: usize, dst: &mut [u8]) {
    let src = &buf[off..off + len];
    let want = reference(src);
    for imp in supported() {
        assert_eq!(imp.sum(src), Some(want), "{imp:?} sum len {len} off {off}");
        // The destination's alignment rotates too (odd and even), apart from the source's:
        // long fused copies align their stores to the destination.
        let doff = (len / 2 + off * 5) % 64;
        let d = &mut dst[doff..doff + len];
        d.fill(0xa5);
        assert_eq!(
            imp.copy_and_sum(d, src),
            Some(want),
            "{imp:?} copy_and_sum len {len} off {off}"
        );
        assert_eq!(d, src, "{imp:?} copy len {len} off {off}");
    }
    assert_eq!(
        inet_csum::Accumulator::new().add(src).fold(),
        want,
        "auto len {len}"
    );
    assert_eq!(inet_csum::checksum(src), !want, "checksum len {len}");
}

#[test]
fn every_length_random_data() {
    let buf = bytes(0x5eed, MAX_LEN + 64);
    let mut dst = vec![0u8; MAX_LEN + 64];
    for len in 0..=MAX_LEN {
        // Offsets 0 and one of 1..64 rotating with the length: every misalignment is hit.
        for off in [0, 1 + len % 63] {
            check(&buf, len, off, &mut dst);
        }
    }
}

#[test]
fn short_lengths_every_offset() {
    let buf = bytes(7, 300 + 64);
    let mut dst = vec![0u8; 300 + 64];
    let max = if cfg!(miri) { 70 } else { 300 };
    for len in 0..=max {
        for off in 0..64 {
            check(&buf, len, off, &mut dst);
        }
    }
}

#[test]
fn every_length_all_ones() {
    let buf = vec![0xffu8; MAX_LEN + 64];
    let mut dst = vec![0u8; MAX_LEN + 64];
    let step = if cfg!(miri) { 7 } else { 1 };
    for len in (0..=MAX_LEN).step_by(step) {
        check(&buf, len, len % 64, &mut dst);
    }
}

/// The loop-free 64–127 byte path and its neighbours, on every start offset and on bytes that
/// carry out of every word, then again after an odd number of bytes in the stream (the slice is
/// summed as if aligned and its sum byte-swapped).
#[test]
fn mid_lengths_carries_and_odd_streams() {
    let random = bytes(0x64, 128 + 64);
    let mut ones_then_one = vec![0xffu8; 128 + 64];
    ones_then_one[127 + 63] = 0x01;
    let high_bits: Vec<u8> = (0..128 + 64)
        .map(|i| if i % 2 == 0 { 0x80 } else { 0 })
        .collect();
    let fills = [
        random,
        vec![0xff; 128 + 64],
        vec![0; 128 + 64],
        ones_then_one,
        high_bits,
    ];
    let mut dst = vec![0u8; 128 + 64];
    // Under Miri: each length class of the path and its bounds, one even and one odd start.
    let (lens, offsets): (Vec<usize>, Vec<usize>) = if cfg!(miri) {
        (
            vec![63, 64, 65, 71, 72, 88, 96, 103, 120, 127, 128],
            vec![0, 1],
        )
    } else {
        ((63..=128).collect(), (0..64).collect())
    };
    for buf in &fills {
        for &len in &lens {
            for &off in &offsets {
                check(buf, len, off, &mut dst);
                let src = &buf[off..off + len];
                for first in [0x01u8, 0xff] {
                    let mut whole = vec![first];
                    whole.extend_from_slice(src);
                    let streamed = inet_csum::Accumulator::new().add(&[first]).add(src);
                    assert_eq!(
                        streamed.fold(),
                        reference(&whole),
                        "odd start len {len} off {off}"
                    );
                }
            }
        }
    }
}
