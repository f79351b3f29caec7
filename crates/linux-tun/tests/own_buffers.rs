//! The caller's own buffers against the kernel: `Reader::recv_into` reads what
//! `Reader::recv` reads, byte for byte, and `Writer::send_from` gets exactly its packets to
//! the kernel, coalesced, with refusals and the `EINVAL` fallback as `send` has them.
//!
//! Topology: one private namespace with IPv4 forwarding on and rp_filter off, TUN W (with
//! offloads) and TUN R. What is written into W as if a peer had sent it is forwarded out of R
//! (rule book §1.1): unchanged but for the hop (TTL − 1 and the IPv4 header checksum), and a
//! super-packet stays one when R has offloads, or is segmented by the kernel when it has none.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::udp4;
use linux_tun::{ChecksumStatus, RecvBatch, RecvError, RecvInfo, Tun};
use testkit::packet::TcpPacket;
use testkit::{Netns, require_root};
use virtio_net_hdr::VirtioNetHdr;

/// The sender behind W and the receiver behind R.
const SENDER: [u8; 4] = [10, 89, 1, 2];
const RECEIVER: [u8; 4] = [10, 89, 2, 2];

/// The namespace with W (`obw`) and R (`obr`, offloads as `r_offload`), both non-blocking;
/// dropping the namespace removes them.
fn topology(prefix: &str, r_offload: bool) -> (Netns, Tun, Tun) {
    let ns = Netns::new(prefix).unwrap();
    for (k, v) in [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.default.rp_filter", "0"),
        ("net.ipv6.conf.all.disable_ipv6", "1"),
    ] {
        ns.sysctl(k, v).unwrap();
    }
    let (w, r) = ns
        .run(move || {
            let b = Tun::builder().blocking(false).up();
            (
                b.clone().name("obw").offload(true).open(),
                b.name("obr").offload(r_offload).open(),
            )
        })
        .unwrap();
    for args in [
        &["addr", "add", "10.89.1.1/24", "dev", "obw"][..],
        &["addr", "add", "10.89.2.1/24", "dev", "obr"],
        // Room for every packet of a test at once (the default queue is 500 packets).
        &["link", "set", "obr", "txqueuelen", "10000"],
    ] {
        ns.ip(args).unwrap();
    }
    (ns, w.unwrap(), r.unwrap())
}

/// Read `count` packets with `read` (which appends what one call delivered, `false` when
/// nothing was there), or fail after 10 s.
fn read_n<T>(count: usize, mut read: impl FnMut(&mut Vec<T>) -> bool) -> Vec<T> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < count {
        if !read(&mut got) {
            assert!(
                Instant::now() < deadline,
                "{} of {count} packets arrived",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(got.len(), count);
    got
}

/// A flow: IP protocol and the four port bytes.
type Flow = (u8, [u8; 4]);

/// Packets grouped by flow, each flow in arrival order: the order the kernel keeps (a qdisc
/// may interleave flows differently from one run to the next).
fn by_flow<T: Clone>(packets: &[(Vec<u8>, T)]) -> BTreeMap<Flow, Vec<(Vec<u8>, T)>> {
    let mut flows: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for (p, x) in packets {
        let key = (p[9], p[20..24].try_into().unwrap());
        flows.entry(key).or_default().push((p.clone(), x.clone()));
    }
    flows
}

/// A frame for W: the virtio header and the packet.
fn frame(hdr: VirtioNetHdr, pkt: &[u8]) -> Vec<u8> {
    [&hdr.to_bytes()[..], pkt].concat()
}

/// `recv_into` (20 buffers at offset 48, so a super-packet spans calls) and `recv` read the
/// same kernel traffic — super-packets small and large, a `NEEDS_CSUM` segment, plain
/// datagrams — into the same bytes with the same checksum states, and the headroom stays as
/// the caller left it.
#[test]
fn recv_into_reads_what_recv_reads_from_the_kernel() {
    if !require_root("recv_into_reads_what_recv_reads_from_the_kernel") {
        return;
    }
    let (_ns, w, r) = topology("lt-own-rx", true);
    let tcp = |payload: usize, gso: u16, port: u16| {
        TcpPacket::super_v4(payload, gso)
            .addrs4(SENDER, RECEIVER)
            .ports(port, 5000)
    };
    let mut frames = Vec::new();
    let mut count = 0;
    for (payload, gso, port) in [
        (64000, 1448, 40001),
        (20000, 1400, 40002),
        (3000, 1000, 40003),
    ] {
        let (hdr, pkt) = tcp(payload, gso, port).build_gso();
        frames.push(frame(hdr, &pkt));
        count += payload.div_ceil(usize::from(gso));
    }
    // One segment whose checksum the reader finishes (CHECKSUM_PARTIAL through the hop).
    let (_, pkt) = tcp(500, 1448, 40004).build_gso();
    frames.push(frame(VirtioNetHdr::needs_csum(20, 16), &pkt));
    for port in 40005..40008 {
        let dgram = udp4(
            (SENDER.into(), port),
            (RECEIVER.into(), 5000),
            &[port as u8; 700],
        );
        frames.push(frame(VirtioNetHdr::plain(), &dgram));
    }
    count += 4;

    let (mut rx, _tx) = r.into_halves();
    const OFFSET: usize = 48;
    let mut rounds = Vec::new();
    for into in [true, false] {
        for f in &frames {
            assert_eq!(w.write_raw(f).unwrap(), f.len());
        }
        let mut pool = vec![vec![0x5au8; OFFSET + 4096]; 20];
        let mut info = [RecvInfo::default(); 20];
        let mut batch = RecvBatch::new(64, OFFSET);
        let got = read_n(count, |got| {
            let n = if into {
                match rx.recv_into(&mut pool, OFFSET, &mut info) {
                    Ok(n) => n,
                    Err(RecvError::WouldBlock) => return false,
                    Err(e) => panic!("{e}"),
                }
            } else {
                match rx.recv(&mut batch) {
                    Ok(n) => n,
                    Err(RecvError::WouldBlock) => return false,
                    Err(e) => panic!("{e}"),
                }
            };
            for k in 0..n {
                got.push(if into {
                    assert_eq!(pool[k][..OFFSET], [0x5a; OFFSET], "headroom written");
                    (
                        pool[k][OFFSET..OFFSET + info[k].len].to_vec(),
                        info[k].checksum,
                    )
                } else {
                    let p = batch.get(k).unwrap();
                    (p.bytes().to_vec(), p.checksum())
                });
            }
            true
        });
        rounds.push(by_flow(&got));
    }
    assert_eq!(rounds[0].len(), 7, "seven flows");
    assert_eq!(rounds[0], rounds[1]);
    let flows = &rounds[0];
    let segments = |port: u16| &flows[&(6, [(port >> 8) as u8, port as u8, 0x13, 0x88])];
    assert_eq!(segments(40001).len(), 45);
    // Split here: every segment's checksums computed, the finished one too.
    for port in 40001..40005 {
        for (p, checksum) in segments(port) {
            assert_eq!(*checksum, ChecksumStatus::KnownGood);
            assert!(common::checksums_valid(p));
        }
    }
    let s = rx.control().stats();
    // The kernel kept the super-packets whole through the hop: the reader split them.
    assert_eq!((s.super_packets_read, s.dropped_malformed), (6, 0), "{s:?}");
}

/// What R (no offloads) reads of what `send_from` wrote into W, compared with the packets
/// handed over: equal but for the hop (TTL − 1, the IPv4 header checksum then still valid).
fn assert_arrived_as_sent(sent: &[&[u8]], arrived: &[(Vec<u8>, ())]) {
    let want: Vec<(Vec<u8>, ())> = sent.iter().map(|p| (p.to_vec(), ())).collect();
    let (want, got) = (by_flow(&want), by_flow(arrived));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (flow, packets) in &want {
        assert_eq!(packets.len(), got[flow].len(), "flow {flow:?}");
        for ((w, ()), (g, ())) in packets.iter().zip(&got[flow]) {
            assert_eq!(g.len(), w.len());
            assert_eq!(g[8], w[8] - 1, "TTL after one hop");
            assert!(inet_csum::verify(&g[..20]), "IPv4 header checksum");
            assert_eq!(
                (&g[..8], &g[9..10], &g[12..]),
                (&w[..8], &w[9..10], &w[12..])
            );
        }
    }
}

/// Interleaved TCP flows, datagrams and one packet the kernel refuses, written with
/// `send_from` from a `Vec` of buffers: four super-packets (one per flow), every other packet
/// as it was, the refused one listed by its index.
#[test]
fn send_from_gets_exactly_its_packets_to_the_kernel() {
    if !require_root("send_from_gets_exactly_its_packets_to_the_kernel") {
        return;
    }
    let (_ns, w, r) = topology("lt-own-tx", false);
    let (packets, bad) = traffic();
    let ctl = w.control();
    let (_rx, mut tx) = w.into_halves();
    let written = tx.send_from(&packets, ChecksumStatus::Unverified).unwrap();
    assert_eq!(written, packets.len() - 1);
    let failures: Vec<usize> = tx.failures().iter().map(|(i, _)| *i).collect();
    assert_eq!(failures, [bad]);
    assert!(matches!(
        tx.failures()[0].1,
        linux_tun::PacketError::Rejected(_)
    ));
    assert_eq!(tx.unsent().count(), 0);
    let s = ctl.stats();
    assert_eq!((s.gso_writes, s.writes), (4, 4 + 3), "{s:?}");
    assert_eq!((s.packets_written, s.packets_rejected), (43, 1), "{s:?}");

    let arrived = read_raw_n(&r, packets.len() - 1);
    let sent: Vec<&[u8]> = (0..packets.len())
        .filter(|&i| i != bad)
        .map(|i| &packets[i][..])
        .collect();
    assert_arrived_as_sent(&sent, &arrived);
}

/// 4 TCP flows × 10 segments of 1000 bytes, interleaved, 3 UDP datagrams among them and a
/// packet that is not IP; the index of that one.
fn traffic() -> (Vec<Vec<u8>>, usize) {
    let trains: Vec<Vec<Vec<u8>>> = (0..4)
        .map(|f| {
            TcpPacket::v4()
                .addrs4(SENDER, RECEIVER)
                .ports(41000 + f, 6000)
                .train(1000 * u32::from(f), 10, 1000)
        })
        .collect();
    let mut packets = Vec::new();
    for i in 0..10 {
        for t in &trains {
            packets.push(t[i].clone());
        }
        if i % 3 == 1 {
            let port = 42000 + i as u16;
            packets.push(udp4(
                (SENDER.into(), port),
                (RECEIVER.into(), 6000),
                &[i as u8; 300],
            ));
        }
    }
    let bad = 17;
    packets.insert(bad, vec![0x10, 0, 0, 0]);
    (packets, bad)
}

/// Read `count` packets from `tun` (non-blocking, no vnet header) one raw read each.
fn read_raw_n(tun: &Tun, count: usize) -> Vec<(Vec<u8>, ())> {
    let mut buf = vec![0u8; 65536];
    read_n(count, |got| match tun.read_raw(&mut buf) {
        Ok(n) => {
            got.push((buf[..n].to_vec(), ()));
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("{e}"),
    })
}

/// `send_from` with the kernel refusing super-packets (the test seam's `EINVAL`): each is
/// written again as its segments, counted, and still exactly the packets arrive.
#[cfg(feature = "test-seams")]
#[test]
fn send_from_falls_back_to_segments_when_the_kernel_refuses_a_super_packet() {
    if !require_root("send_from_falls_back_to_segments_when_the_kernel_refuses_a_super_packet") {
        return;
    }
    let (_ns, w, r) = topology("lt-own-einval", false);
    let (packets, bad) = traffic();
    let ctl = w.control();
    ctl.inject_gso_einval(2);
    let (_rx, mut tx) = w.into_halves();
    assert_eq!(
        tx.send_from(&packets, ChecksumStatus::Unverified).unwrap(),
        packets.len() - 1
    );
    assert_eq!(tx.failures().len(), 1);
    let s = ctl.stats();
    assert_eq!(s.gso_rejections, 2, "{s:?}");
    assert_eq!(s.gso_writes, 2, "{s:?}");
    assert!(!s.gro_disabled);
    assert_eq!(s.writes, 2 + 2 * 10 + 3, "{s:?}");
    let arrived = read_raw_n(&r, packets.len() - 1);
    let sent: Vec<&[u8]> = (0..packets.len())
        .filter(|&i| i != bad)
        .map(|i| &packets[i][..])
        .collect();
    assert_arrived_as_sent(&sent, &arrived);
}
