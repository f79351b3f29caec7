//! Coalescing a batch of UDP datagrams: `udp_gro` (verifying checksums, trusting them) against
//! tun-rs 2.8.16's GRO with its UDP table on the same input (`GROTable::apply_gro` with
//! `can_udp_gro`, the entry point the TCP rows use; see [`crate::coalesce`]). tun-rs merges in
//! place — it appends payloads to the first buffer and rewrites headers — so its input is
//! restored before every call, outside the timed region.
//!
//! Before timing, both outputs are compared byte for byte (virtio header and packet, in write
//! order). tun-rs does not say which buffers it wrote (its list is crate-private), so every
//! buffer's virtio header room is filled with a marker before the call: the buffers whose
//! room was written are its outputs.
//!
//! Cases: 48 datagrams of 1200 bytes (a QUIC-sized train) of one flow, IPv4 and IPv6; 128
//! datagrams over 8 interleaved flows; 128 datagrams of 128 flows (nothing merges). One more
//! batch is checked but not timed, where tun-rs departs from the kernel: 100 small datagrams of
//! one flow, which the kernel (and ours) cuts at 64 per packet (`UDP_GRO_CNT_MAX`, rule book
//! §2.5) and tun-rs merges into one.

use testkit::udp::UdpPacket;
use udp_gro::{ChecksumStatus, Coalescer, Config};

use crate::coalesce::{OFFSET, best_ns};
use crate::timing::Timer;

/// Byte the virtio header room is filled with before tun-rs runs: a flags byte no header has.
const UNWRITTEN: u8 = 0xee;

/// One input batch.
pub struct Case {
    /// "v4/1flow-x48" etc.
    pub name: &'static str,
    /// The IP packets.
    pub packets: Vec<Vec<u8>>,
    /// Outputs a correct GRO must produce.
    pub expect_outputs: usize,
}

/// `flows` flows of `per_flow` datagrams each, interleaved.
fn interleaved(flows: u16, per_flow: usize) -> Vec<Vec<u8>> {
    let trains: Vec<Vec<Vec<u8>>> = (0..flows)
        .map(|f| {
            UdpPacket::v4()
                .addrs4([10, 1, (f >> 8) as u8, f as u8], [10, 2, 0, 1])
                .ports(2000 + f, 443)
                .train(per_flow, 1200)
        })
        .collect();
    (0..per_flow)
        .flat_map(|k| trains.iter().map(move |t| t[k].clone()))
        .collect()
}

/// Every timed case.
pub fn cases() -> Vec<Case> {
    let lonely = (0..128u16)
        .map(|f| {
            UdpPacket::v4()
                .ports(3000 + f, 443)
                .payload_len(1200)
                .build()
        })
        .collect();
    vec![
        Case {
            name: "v4/1flow-x48",
            packets: UdpPacket::v4().train(48, 1200),
            expect_outputs: 1,
        },
        Case {
            name: "v6/1flow-x48",
            packets: UdpPacket::v6().train(48, 1200),
            expect_outputs: 1,
        },
        Case {
            name: "v4/8flows-x16",
            packets: interleaved(8, 16),
            expect_outputs: 8,
        },
        Case {
            name: "v4/128-unmergeable",
            packets: lonely,
            expect_outputs: 128,
        },
    ]
}

/// Ours: push the batch, drain, and walk every output's slices as a writer would. Returns a
/// value depending on every output so nothing is optimised away.
pub fn ours(gro: &mut Coalescer, packets: &[Vec<u8>], csum: ChecksumStatus) -> usize {
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, csum);
    }
    let mut n = 0;
    for out in gro.drain(packets) {
        n += out.headers().len() + out.vnet_bytes().len();
        for p in out.payloads() {
            n += p.len();
        }
    }
    n
}

/// Ours, every output as the bytes a writer sends: virtio header, then the packet.
pub fn ours_frames(packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut gro = Coalescer::new(Config::default());
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, ChecksumStatus::Unverified);
    }
    gro.drain(packets)
        .map(|o| {
            let mut f = o.vnet_bytes().to_vec();
            let at = f.len();
            f.resize(at + o.len(), 0);
            o.materialize(&mut f[at..]).expect("sized to fit");
            f
        })
        .collect()
}

/// tun-rs's working state: the GRO table and buffers (`OFFSET` bytes of headroom each, 64 KB
/// of capacity).
pub struct TunRs {
    table: tun_rs::GROTable,
    /// The buffers tun-rs rewrites.
    pub bufs: Vec<Vec<u8>>,
}

impl TunRs {
    /// Buffers for `packets`, already holding them.
    pub fn new(packets: &[Vec<u8>]) -> Self {
        let bufs = packets
            .iter()
            .map(|_| Vec::with_capacity(2 * OFFSET + 65536))
            .collect();
        let mut t = TunRs {
            table: tun_rs::GROTable::new(),
            bufs,
        };
        t.restore(packets);
        t
    }

    /// Put the pristine packets back, behind an unwritten header room. No allocation.
    pub fn restore(&mut self, packets: &[Vec<u8>]) {
        for (b, p) in self.bufs.iter_mut().zip(packets) {
            b.clear();
            b.resize(OFFSET, UNWRITTEN);
            b.extend_from_slice(p);
        }
    }

    /// Run tun-rs's GRO, UDP included, over the buffers. Returns the first buffer's length.
    pub fn run(&mut self) -> usize {
        self.table
            .apply_gro(&mut self.bufs, OFFSET, true)
            .expect("tun-rs GRO");
        self.bufs[0].len()
    }

    /// After [`run`](Self::run): every buffer tun-rs wrote a header for (its outputs, in write
    /// order), as virtio header (the legacy 10 bytes) and packet.
    pub fn frames(&self) -> Vec<Vec<u8>> {
        let hdr = OFFSET - 10;
        self.bufs
            .iter()
            .filter(|b| b[hdr] != UNWRITTEN)
            .map(|b| b[hdr..].to_vec())
            .collect()
    }
}

/// tun-rs's outputs of `packets`.
fn tun_rs_frames(packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut t = TunRs::new(packets);
    t.run();
    t.frames()
}

/// Check both sides before timing: ours gives the expected outputs, and tun-rs gives the same
/// bytes.
pub fn check(case: &Case) {
    let ours = ours_frames(&case.packets);
    assert_eq!(ours.len(), case.expect_outputs, "{}", case.name);
    let theirs = tun_rs_frames(&case.packets);
    assert_eq!(theirs.len(), ours.len(), "{}: output count", case.name);
    for (k, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "{}: output {k} differs from tun-rs's", case.name);
    }
}

/// The batch where tun-rs departs from the kernel: 100 datagrams of one flow, which the kernel
/// cuts at 64 per packet. Returns (our outputs, tun-rs's outputs).
pub fn over_64() -> (usize, usize) {
    let packets = UdpPacket::v4().train(100, 100);
    (ours_frames(&packets).len(), tun_rs_frames(&packets).len())
}

/// Print the comparison table.
pub fn compare(timer: &Timer) {
    println!(
        "udp-coalesce: µs per batch (best of N), GB/s of input, ratio = tun-rs time / ours, \
         ns per datagram (ours verifying); outputs byte-equal to tun-rs's"
    );
    println!(
        "{:<20} {:>16} {:>16} {:>16}",
        "case", "ours verify", "ours trusted", "tun-rs"
    );
    for case in cases() {
        check(&case);
        let bytes = case.packets.iter().map(Vec::len).sum::<usize>() as f64;
        let mut gro = Coalescer::new(Config::default());
        let v = best_ns(
            timer,
            &mut gro,
            |_| {},
            |g| ours(g, &case.packets, ChecksumStatus::Unverified),
        );
        let t = best_ns(
            timer,
            &mut gro,
            |_| {},
            |g| ours(g, &case.packets, ChecksumStatus::KnownGood),
        );
        let mut tr = TunRs::new(&case.packets);
        let r = best_ns(timer, &mut tr, |s| s.restore(&case.packets), TunRs::run);
        let cell = |ns: f64| format!("{:>7.2} {:>5.1}", ns / 1000.0, bytes / ns);
        println!(
            "{:<20} {:>16} {:>16} {:>16}   ratio verify {:.1}x, trusted {:.1}x   {:.1} ns/datagram",
            case.name,
            cell(v),
            cell(t),
            cell(r),
            r / v,
            r / t,
            v / case.packets.len() as f64
        );
    }
    let (ours, theirs) = over_64();
    println!(
        "100 datagrams of one flow: ours {ours} packets (64 + 36, as the kernel), tun-rs {theirs} \
         (no 64-datagram limit)"
    );
}
