//! Checksum candidates, ours and the peers', each as `fn(&[u8]) -> u16` returning the folded,
//! non-inverted RFC 1071 sum, and the `compare checksum` table.

use std::hint::black_box;

use inet_csum::Impl;

use crate::timing::Timer;

/// The sizes every checksum benchmark runs: IPv4 header, IPv6 header (or IPv4 + TCP), a
/// small segment, the minimum IPv4 MTU, Ethernet MTU, jumbo, and a maximal super-packet.
pub const SIZES: [usize; 7] = [20, 40, 64, 576, 1500, 9000, 65535];

/// Ours: the public one-shot API (short path ≤ 63 B, else the best SIMD path).
#[inline]
pub fn ours_auto(d: &[u8]) -> u16 {
    !inet_csum::checksum(d)
}

/// Ours: one specific implementation (the caller checks [`Impl::is_supported`]).
#[inline]
pub fn ours(imp: Impl, d: &[u8]) -> u16 {
    imp.sum(d).unwrap_or(0)
}

/// tun-rs 2.8.16: `tun_rs::checksum`, its public entry (runtime AVX2 / SSE4.1 / scalar).
#[inline]
pub fn tun_rs(d: &[u8]) -> u16 {
    tun_rs::checksum(d, 0)
}

/// internet-checksum 0.2.1: `checksum` returns the stored (inverted) value as bytes.
#[inline]
pub fn internet_checksum(d: &[u8]) -> u16 {
    !u16::from_be_bytes(internet_checksum::checksum(d))
}

/// etherparse 0.21: `checksum::Sum16BitWords` (sums in native byte order; its result's
/// native-order bytes are the wire bytes).
#[inline]
pub fn etherparse(d: &[u8]) -> u16 {
    let stored = etherparse::checksum::Sum16BitWords::new()
        .add_slice(d)
        .ones_complement();
    !u16::from_be_bytes(stored.to_ne_bytes())
}

/// smoltcp 0.14: `wire::checksum::data` (`wire::ip::checksum`).
#[inline]
pub fn smoltcp(d: &[u8]) -> u16 {
    smoltcp::wire::checksum::data(d)
}

/// Names of the peers, in table order.
pub const PEERS: [&str; 4] = ["tun-rs", "internet-checksum", "etherparse", "smoltcp"];

/// Every peer, in [`PEERS`] order.
pub fn peers() -> [fn(&[u8]) -> u16; 4] {
    [tun_rs, internet_checksum, etherparse, smoltcp]
}

/// Our implementations this CPU supports, with their table names.
pub fn our_impls() -> Vec<(&'static str, Impl)> {
    [
        ("portable", Impl::Portable),
        ("avx2", Impl::Avx2),
        ("avx512", Impl::Avx512),
        ("vnni", Impl::Avx512Vnni),
    ]
    .into_iter()
    .filter(|(_, i)| i.is_supported())
    .collect()
}

/// Deterministic non-trivial bytes (xorshift), so no input is all zeros.
pub fn data(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Copy then sum in two passes: what the fused path replaces.
#[inline]
pub fn copy_then_sum(dst: &mut [u8], src: &[u8]) -> u16 {
    dst.copy_from_slice(src);
    inet_csum::Accumulator::new().add(dst).fold()
}

fn row(label: &str, cells: &[f64], width: usize) {
    let mut s = format!("{label:>7}");
    for c in cells {
        s += &format!(" {c:>width$.2}");
    }
    println!("{s}");
}

fn header(first: &str, names: &[&str]) -> usize {
    let width = names.iter().map(|n| n.len()).max().unwrap_or(8).max(8);
    let mut s = format!("{first:>7}");
    for n in names {
        s += &format!(" {n:>width$}");
    }
    println!("{s}");
    width
}

/// Print the checksum comparison: GB/s per size per implementation, ratios ours/peer, ns per
/// call for headers, and the fused copy+sum against copy-then-sum.
pub fn compare(timer: &Timer) {
    // All candidates must agree before anything is timed.
    for n in SIZES.into_iter().chain([1, 3, 1499]) {
        let d = data(n);
        let want = ours_auto(&d);
        for (name, f) in PEERS.iter().zip(peers()) {
            assert_eq!(f(&d), want, "{name} disagrees at {n} bytes");
        }
        for (name, imp) in our_impls() {
            assert_eq!(ours(imp, &d), want, "{name} disagrees at {n} bytes");
        }
    }

    let ours_list = our_impls();
    let mut names: Vec<&str> = vec!["ours"];
    names.extend(ours_list.iter().map(|(n, _)| *n));
    names.extend(PEERS);

    println!(
        "== checksum: GB/s, best of {} samples of ~{:?} ==",
        timer.samples, timer.batch
    );
    println!(
        "   (ours = inet_csum::checksum, dispatching to {:?})",
        Impl::best()
    );
    let width = header("bytes", &names);
    let mut table = Vec::new();
    for n in SIZES {
        let buf = data(n);
        let d = buf.as_slice();
        let mut cells = vec![timer.gbps(n, || ours_auto(black_box(d)))];
        for &(_, imp) in &ours_list {
            cells.push(timer.gbps(n, || ours(imp, black_box(d))));
        }
        cells.push(timer.gbps(n, || tun_rs(black_box(d))));
        cells.push(timer.gbps(n, || internet_checksum(black_box(d))));
        cells.push(timer.gbps(n, || etherparse(black_box(d))));
        cells.push(timer.gbps(n, || smoltcp(black_box(d))));
        row(&n.to_string(), &cells, width);
        table.push((n, cells));
    }

    println!();
    println!("== checksum: ratio ours / peer (higher is better for ours) ==");
    let width = header("bytes", &PEERS);
    let peer0 = 1 + ours_list.len();
    for (n, cells) in &table {
        let r: Vec<f64> = cells[peer0..].iter().map(|p| cells[0] / p).collect();
        row(&n.to_string(), &r, width);
    }

    println!();
    println!("== checksum: ns per call at header sizes ==");
    let width = header("bytes", &names);
    for (n, cells) in table.iter().filter(|(n, _)| *n <= 40) {
        let ns: Vec<f64> = cells.iter().map(|g| *n as f64 / g).collect();
        row(&n.to_string(), &ns, width);
    }

    println!();
    println!("== copy + checksum: GB/s of bytes copied and summed ==");
    let mut fnames: Vec<String> = vec!["fused".into(), "copy+sum".into()];
    fnames.extend(ours_list.iter().map(|(n, _)| format!("fused-{n}")));
    fnames.push("memcpy".into());
    let fnames: Vec<&str> = fnames.iter().map(String::as_str).collect();
    let width = header("bytes", &fnames);
    for n in SIZES {
        let src = data(n);
        let mut dst = vec![0u8; n];
        let mut cells = vec![
            timer.gbps(n, || {
                inet_csum::copy_and_sum(black_box(&mut dst), black_box(&src)).fold()
            }),
            timer.gbps(n, || copy_then_sum(black_box(&mut dst), black_box(&src))),
        ];
        for &(_, imp) in &ours_list {
            cells.push(timer.gbps(n, || imp.copy_and_sum(black_box(&mut dst), black_box(&src))));
        }
        cells.push(timer.gbps(n, || black_box(&mut dst).copy_from_slice(black_box(&src))));
        row(&n.to_string(), &cells, width);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The peers are only worth comparing against if they compute the same thing.
    #[test]
    fn every_candidate_agrees() {
        for n in (0..300).chain([1499, 1500, 9000, 65535]) {
            let d = data(n);
            let want = ours_auto(&d);
            for (name, f) in PEERS.iter().zip(peers()) {
                assert_eq!(f(&d), want, "{name} at {n}");
            }
            for (name, imp) in our_impls() {
                assert_eq!(ours(imp, &d), want, "{name} at {n}");
            }
        }
    }
}
