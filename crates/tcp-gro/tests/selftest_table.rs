//! The kernel's GRO conformance selftest (`tools/testing/selftests/net/lib/gro.c`) as table
//! tests: the same packets (addresses, ports, MSS-free 100-byte payloads, seq/ack 100, TTL 8,
//! window 65535, DF, ID 0) go through one batch, and the output packet count and payload sizes
//! must match the selftest's `correct_payload` — except where rule book §0 decides otherwise
//! (CWR, DF=0 fixed IDs), which is noted per case. Each batch ends with the selftest's
//! zero-length FIN packet, as the selftest sends it.

mod common;

use common::{payloads, run};
use inet_hdr::TcpFlags;
use testkit::packet::TcpPacket;

const PAYLOAD_LEN: usize = 100;
const START: u32 = 100;

fn base(v6: bool) -> TcpPacket {
    let s = if v6 {
        TcpPacket::v6()
            .addrs6(
                [0xfd, 0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                [0xfd, 0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            )
            .flow_label(0)
    } else {
        TcpPacket::v4().addrs4([192, 168, 1, 200], [192, 168, 1, 100])
    };
    s.ports(1500, 8000)
        .ttl(8)
        .window(65535)
        .ack(START)
        .ip_id(0)
        .df(true)
}

/// `create_packet(seq_offset, ack_offset=0, payload_len, fin=0)`.
fn seg(v6: bool, seq_off: usize, len: usize) -> TcpPacket {
    base(v6)
        .seq(START + seq_off as u32)
        .payload(&vec![b'a'; len])
}

fn pkt(v6: bool, seq_off: usize, len: usize) -> Vec<u8> {
    seg(v6, seq_off, len).build()
}

/// `fin_pkt`: zero payload, FIN, at seq offset 2 × PAYLOAD_LEN.
fn fin(v6: bool) -> Vec<u8> {
    base(v6)
        .seq(START + 2 * PAYLOAD_LEN as u32)
        .flags(TcpFlags::ACK | TcpFlags::FIN)
        .build()
}

fn both(f: impl Fn(bool)) {
    f(false);
    f(true);
}

#[test]
fn data_same() {
    both(|v6| {
        let out = run(&[pkt(v6, 0, 100), pkt(v6, 100, 100), fin(v6)]);
        assert_eq!(payloads(&out), [200, 0]);
        assert!(out[0].merged && !out[1].merged);
    });
}

#[test]
fn data_lrg_sml() {
    both(|v6| {
        let out = run(&[pkt(v6, 0, 100), pkt(v6, 100, 50), fin(v6)]);
        assert_eq!(payloads(&out), [150, 0]);
    });
}

#[test]
fn data_lrg_1byte() {
    both(|v6| {
        let out = run(&[pkt(v6, 0, 100), pkt(v6, 100, 1), fin(v6)]);
        assert_eq!(payloads(&out), [101, 0]);
    });
}

#[test]
fn data_sml_lrg() {
    both(|v6| {
        let out = run(&[pkt(v6, 0, 50), pkt(v6, 50, 100), fin(v6)]);
        assert_eq!(payloads(&out), [50, 100, 0]);
    });
}

#[test]
fn data_burst_two_batches() {
    // The selftest separates two bursts by 100 ms (two NAPI polls): two batches here.
    both(|v6| {
        let mut gro = tcp_gro::Coalescer::new(tcp_gro::Config::default());
        let a = [pkt(v6, 0, 100), pkt(v6, 100, 100)];
        let b = [pkt(v6, 200, 100), pkt(v6, 300, 100), fin(v6)];
        let first = common::run_with(&mut gro, &a, tcp_gro::ChecksumStatus::Unverified);
        let second = common::run_with(&mut gro, &b, tcp_gro::ChecksumStatus::Unverified);
        assert_eq!(payloads(&first), [200]);
        assert_eq!(payloads(&second), [200, 0]);
    });
}

#[test]
fn ack_pure_and_duplicate() {
    both(|v6| {
        let ack = pkt(v6, 0, 0);
        let ack2 = seg(v6, 0, 0).ack(START + 1).build();
        let out = run(&[ack.clone(), ack, ack2, fin(v6)]);
        assert_eq!(payloads(&out), [0, 0, 0, 0]);
        assert!(out.iter().all(|o| !o.merged));
    });
}

/// `send_flags`: packets 0..=4, the one at NUM_PACKETS/2 (and for CWR also the one before)
/// carries the flag; its payload is 100 for PSH/CWR, else 0 (at seq 0).
fn flags_case(v6: bool, flag: TcpFlags, with_payload: bool) -> Vec<Vec<u8>> {
    let plen = if with_payload { PAYLOAD_LEN } else { 0 };
    let cwr = flag == TcpFlags::CWR;
    let mut v = Vec::new();
    for i in 0..5 {
        if i == 2 || (i == 1 && cwr) {
            v.push(seg(v6, i * plen, plen).flags(TcpFlags::ACK | flag).build());
        } else {
            v.push(pkt(v6, i * PAYLOAD_LEN, PAYLOAD_LEN));
        }
    }
    v.push(fin(v6));
    v
}

#[test]
fn flags_psh() {
    both(|v6| {
        let out = run(&flags_case(v6, TcpFlags::PSH, true));
        assert_eq!(payloads(&out), [300, 200, 0]);
        // PSH is carried by the merged packet (OR-ed from its last segment).
        let tcp = &out[0].bytes[out[0].header_len - 20..];
        assert_eq!(tcp[13], (TcpFlags::ACK | TcpFlags::PSH).bits());
    });
}

#[test]
fn flags_syn_rst_urg() {
    for flag in [TcpFlags::SYN, TcpFlags::RST, TcpFlags::URG] {
        both(|v6| {
            let out = run(&flags_case(v6, flag, false));
            assert_eq!(payloads(&out), [200, 0, 200, 0], "{flag:?}");
        });
    }
}

#[test]
fn flags_cwr_stands_alone() {
    // gro.c expects 100, 200, 200 (old rule: CWR may start a run). Rule book §0: the 6.18
    // kernel here flushes on CWR, observed 100, 100, 100, 200 — a CWR segment never merges.
    both(|v6| {
        let out = run(&flags_case(v6, TcpFlags::CWR, true));
        assert_eq!(payloads(&out), [100, 100, 100, 200, 0]);
        assert!(!out[1].merged && !out[2].merged && out[3].merged);
        // So the ECN GSO bit is never set by us.
        assert!(out.iter().all(|o| !o.vnet.gso_type().has_ecn()));
    });
}

#[test]
fn tcp_csum() {
    both(|v6| {
        let out = run(&[pkt(v6, 0, 100), seg(v6, 100, 100).bad_checksum().build()]);
        assert_eq!(payloads(&out), [100, 100]);
    });
}

#[test]
fn tcp_seq() {
    both(|v6| {
        let out = run(&[pkt(v6, 0, 100), pkt(v6, 101, 100)]);
        assert_eq!(payloads(&out), [100, 100]);
    });
}

/// `add_standard_tcp_options`: a permutation of {NOP, NOP, TS}.
fn ts_opts(ts: u32, order: u8) -> Vec<u8> {
    let t = ts.to_ne_bytes(); // the selftest stores tsval without htonl
    let tsopt = [8, 10, t[0], t[1], t[2], t[3], 0, 0, 0, 0];
    let mut o = Vec::new();
    match order {
        0 => {
            o.extend_from_slice(&[1, 1]);
            o.extend_from_slice(&tsopt);
        }
        1 => {
            o.push(1);
            o.extend_from_slice(&tsopt);
            o.push(1);
        }
        _ => {
            o.extend_from_slice(&tsopt);
            o.extend_from_slice(&[1, 1]);
        }
    }
    o
}

#[test]
fn tcp_ts() {
    both(|v6| {
        let p = |i: usize, ts, order| {
            seg(v6, i * 100, 100)
                .tcp_options(&ts_opts(ts, order))
                .build()
        };
        let out = run(&[
            p(0, 0, 0),
            p(1, 0, 0),
            p(2, 100, 0),
            p(3, 100, 1),
            p(4, 100, 2),
        ]);
        assert_eq!(payloads(&out), [200, 100, 100, 100]);
    });
}

#[test]
fn tcp_opt() {
    both(|v6| {
        let a = seg(v6, 0, 100).tcp_options(&ts_opts(0, 0)).build();
        let b = seg(v6, 100, 100).tcp_options(&ts_opts(0, 0)).build();
        // NOP + window scale 0.
        let c = seg(v6, 200, 100).tcp_options(&[1, 3, 3, 0]).build();
        let out = run(&[a, b, c]);
        assert_eq!(payloads(&out), [200, 100]);
    });
}

#[test]
fn ip_ecn_and_tos() {
    both(|v6| {
        // ECN 10 on the second packet; then the TOS/priority change of send_changed_tos.
        // ECN 10: TOS 0x02; for IPv6 the selftest's `byte 1 ^= 0x20` is traffic class 0x02.
        let ecn = 0x02;
        let out = run(&[pkt(v6, 0, 100), seg(v6, 100, 100).tos(ecn).build()]);
        assert_eq!(payloads(&out), [100, 100]);
        let tos = if v6 { 0xf0 } else { 0x01 };
        let out = run(&[pkt(v6, 0, 100), seg(v6, 100, 100).tos(tos).build()]);
        assert_eq!(payloads(&out), [100, 100]);
    });
}

#[test]
fn ip_ttl_and_hop_limit() {
    // gro.c has no IPv6 hop-limit case; since 6.10 `ipv6_gro_flush` flushes on it (rule book
    // §2.3), and the veth oracle on 6.18 agrees (rule book §1.1).
    both(|v6| {
        let out = run(&[pkt(v6, 0, 100), seg(v6, 100, 100).ttl(7).build()]);
        assert_eq!(payloads(&out), [100, 100]);
    });
}

#[test]
fn ip_opt() {
    // IPv4 timestamp option (IPOPT_TS, len 8? the selftest uses struct ip_timestamp: 4 bytes
    // of header + one slot), on the middle packet only.
    let opt = seg(false, 100, 100)
        .ipv4_options(&[68, 8, 5, 0, 0, 0, 0, 0])
        .build();
    let out = run(&[pkt(false, 0, 100), opt, pkt(false, 200, 100)]);
    assert_eq!(payloads(&out), [100, 100, 100]);
}

#[test]
fn ip_frag4() {
    let frag = seg(false, 100, 100).frag_word(0x6000).build(); // DF + MF
    let out = run(&[pkt(false, 0, 100), frag]);
    assert_eq!(payloads(&out), [100, 100]);
}

fn id_case(ids: &[(u16, bool)]) -> Vec<usize> {
    let v: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, &(id, df))| seg(false, i * 100, 100).ip_id(id).df(df).build())
        .collect();
    payloads(&run(&v))
}

#[test]
fn ip_id_cases() {
    assert_eq!(id_case(&[(8, true), (9, true)]), [200], "df1_inc");
    assert_eq!(id_case(&[(8, true), (8, true)]), [200], "df1_fixed");
    assert_eq!(id_case(&[(8, false), (9, false)]), [200], "df0_inc");
    // gro.c (≥ 6.18) coalesces DF=0 fixed IDs; rule book §0 decides against it.
    assert_eq!(id_case(&[(8, false), (8, false)]), [100, 100], "df0_fixed");
    assert_eq!(
        id_case(&[(8, true), (9, true), (9, true)]),
        [200, 100],
        "df1_inc_fixed"
    );
    assert_eq!(
        id_case(&[(8, true), (8, true), (9, true)]),
        [200, 100],
        "df1_fixed_inc"
    );
}

#[test]
fn ip_frag6() {
    let frag = seg(true, 200, 100).ipv6_fragment_header().build();
    let out = run(&[
        pkt(true, 0, 100),
        pkt(true, 100, 100),
        frag,
        pkt(true, 300, 100),
    ]);
    // (The fragment's TCP payload is behind the Fragment header; count outputs by index.)
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].payload(), 200);
    assert!(!out[1].merged && out[1].indices == [2]);
    assert_eq!(out[2].payload(), 100);
}

#[test]
fn ip_v6ext_same_and_diff() {
    let p = |i: usize, body: &[u8]| seg(true, i * 100, 100).ext_header(60, body).build();
    let same = run(&[p(0, &[0; 6]), p(1, &[0; 6])]);
    assert_eq!(payloads(&same), [200]);
    let diff = run(&[p(0, &[0; 6]), p(1, &[0x11; 6])]);
    assert_eq!(payloads(&diff), [100, 100]);
}

/// `send_large(remainder)`: as many MSS-sized packets as fit in 64 KB, a `remainder` packet,
/// and one more `remainder` packet at a non-adjacent sequence number.
fn large(v6: bool, extra: usize) -> Vec<usize> {
    let hdr = if v6 { 60 } else { 40 };
    let max_payload = 65535 - hdr;
    let mss = 4096 - hdr;
    let n = max_payload / mss;
    let rem = max_payload % mss + extra;
    let mut v: Vec<_> = (0..n).map(|i| pkt(v6, i * mss, mss)).collect();
    v.push(pkt(v6, n * mss, rem));
    v.push(pkt(v6, (n + 1) * mss, rem));
    v.push(fin(v6));
    let out = run(&v);
    assert!(out[0].bytes.len() <= 65535);
    payloads(&out)
}

#[test]
fn large_max_and_rem() {
    // IPv4: 16 × 4056 + 599 = 65495 payload = exactly 65535 bytes; IPv6: 16 × 4036 + 899.
    assert_eq!(large(false, 0), [65495, 599, 0]);
    assert_eq!(large(true, 0), [65475, 899, 0]);
    // One byte more and the last segment no longer fits: sent on its own.
    assert_eq!(large(false, 1), [65495 - 599, 600, 600, 0]);
    assert_eq!(large(true, 1), [65475 - 899, 900, 900, 0]);
}

#[test]
fn single() {
    both(|v6| {
        let out = run(&[pkt(v6, 0, 100), fin(v6)]);
        assert_eq!(payloads(&out), [100, 0]);
        assert!(!out[0].merged);
    });
}

#[test]
fn capacity_interleaved_flows() {
    // send_capacity: first packet of each of 4 flows, then each flow's second with PSH.
    both(|v6| {
        let p = |flow: u16, i: usize, psh: bool| {
            let f = if psh {
                TcpFlags::ACK | TcpFlags::PSH
            } else {
                TcpFlags::ACK
            };
            seg(v6, i * 200, 200)
                .ports(1500 + flow, 8000)
                .payload(&[b'a' + flow as u8; 200])
                .flags(f)
                .build()
        };
        let mut v: Vec<_> = (0..4).map(|f| p(f, 0, false)).collect();
        v.extend((0..4).map(|f| p(f, 1, true)));
        let out = run(&v);
        assert_eq!(payloads(&out), [400, 400, 400, 400]);
        for (f, o) in out.iter().enumerate() {
            assert_eq!(o.indices, [f, f + 4]);
            assert!(o.bytes[o.header_len..].iter().all(|&b| b == b'a' + f as u8));
        }
    });
}

/// Exact bytes of the merged `data_same` packet, IPv4: every header byte written out, the
/// checksums computed by hand (IPv4 header checksum; TCP field = folded pseudo-header sum
/// over the 220-byte merged L4 length).
#[test]
fn exact_bytes_v4() {
    let out = run(&[pkt(false, 0, 100), pkt(false, 100, 100)]);
    assert_eq!(out.len(), 1);
    let o = &out[0];
    #[rustfmt::skip]
    let expect_hdr: [u8; 40] = [
        0x45, 0x00, 0x00, 0xf0, 0x00, 0x00, 0x40, 0x00, 0x08, 0x06, 0xed, 0x8b,
        192, 168, 1, 200, 192, 168, 1, 100,
        0x05, 0xdc, 0x1f, 0x40, 0, 0, 0, 100, 0, 0, 0, 100,
        0x50, 0x10, 0xff, 0xff, 0x85, 0x5f, 0x00, 0x00,
    ];
    assert_eq!(&o.bytes[..40], &expect_hdr);
    assert!(o.bytes[40..].iter().all(|&b| b == b'a') && o.bytes.len() == 240);
    // virtio header: NEEDS_CSUM, TCPV4, hdr_len 40, gso_size 100, csum_start 20, offset 16.
    let v = o.vnet.to_bytes();
    let ne = |x: u16| x.to_ne_bytes();
    let expect_vnet = [
        1,
        1,
        ne(40)[0],
        ne(40)[1],
        ne(100)[0],
        ne(100)[1],
        ne(20)[0],
        ne(20)[1],
        ne(16)[0],
        ne(16)[1],
    ];
    assert_eq!(v, expect_vnet);
}

/// Exact bytes of the merged `data_same` packet, IPv6.
#[test]
fn exact_bytes_v6() {
    let out = run(&[pkt(true, 0, 100), pkt(true, 100, 100)]);
    assert_eq!(out.len(), 1);
    let o = &out[0];
    #[rustfmt::skip]
    let expect_hdr: [u8; 60] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0xdc, 0x06, 0x08,
        0xfd, 0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
        0xfd, 0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        0x05, 0xdc, 0x1f, 0x40, 0, 0, 0, 100, 0, 0, 0, 100,
        0x50, 0x10, 0xff, 0xff, 0xfc, 0x3a, 0x00, 0x00,
    ];
    assert_eq!(&o.bytes[..60], &expect_hdr);
    assert_eq!(o.bytes.len(), 260);
    let v = o.vnet;
    assert_eq!(v.gso_type(), virtio_net_hdr::GsoType::TCPV6);
    assert_eq!(v.flags(), virtio_net_hdr::Flags::NEEDS_CSUM);
    assert_eq!(
        (v.hdr_len(), v.gso_size(), v.csum_start(), v.csum_offset()),
        (60, 100, 40, 16)
    );
}
