//! Batched reads and writes against the kernel's own TCP in a private namespace.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};

use common::tcp::Peer;
use common::{LOCAL, PEER, netns_with_tun, udp4};
use linux_tun::{ChecksumStatus, GroConfig, OffloadFlags, RecvBatch, SendBatch, Tun};
use testkit::require_root;

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A TCP receiver in the namespace on `port`: accepts one connection and returns all it read.
fn receive_one_stream(ns: &testkit::Netns, port: u16) -> std::thread::JoinHandle<Vec<u8>> {
    let listener = ns
        .run(move || TcpListener::bind((LOCAL, port)).unwrap())
        .unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut v = Vec::new();
        s.read_to_end(&mut v).unwrap();
        v
    })
}

#[test]
fn tcp_from_namespace_arrives_as_valid_segments() {
    if !require_root("tcp_from_namespace_arrives_as_valid_segments") {
        return;
    }
    let (ns, tun) = netns_with_tun("lt-tso", Tun::builder().offload(true).blocking(false));
    let ctl = tun.control();
    assert!(ctl.capabilities().offload.has_tso());
    let (rx, tx) = tun.into_halves();
    let data = pattern(3 << 20);
    let sent = data.clone();
    let client = ns
        .spawn(move || {
            let mut s = TcpStream::connect((PEER, 7000)).unwrap();
            s.write_all(&sent).unwrap();
        })
        .unwrap();
    let mut peer = Peer::new(rx, tx);
    let (got, obs) = peer.receive_stream(7000);
    client.join().unwrap().unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "stream bytes differ");
    let stats = ctl.stats();
    // The kernel handed over super-packets and every one was split into MSS segments with
    // correct IPv4 and TCP checksums.
    assert!(stats.super_packets_read > 0, "{stats:?}");
    assert!(obs.all_checksums_valid && obs.all_known_good, "{obs:?}");
    assert!(obs.largest_packet <= 20 + 20 + common::tcp::MSS, "{obs:?}");
    assert_eq!(stats.dropped_malformed, 0);
}

#[test]
fn gro_writes_reach_a_namespace_receiver_exactly() {
    if !require_root("gro_writes_reach_a_namespace_receiver_exactly") {
        return;
    }
    let (ns, tun) = netns_with_tun("lt-gro", Tun::builder().offload(true).blocking(false));
    let ctl = tun.control();
    let (rx, tx) = tun.into_halves();
    let server = receive_one_stream(&ns, 7001);
    let data = pattern(2 << 20);
    let mut peer = Peer::new(rx, tx);
    peer.send_stream(40001, 7001, &data, 40, |_, _| {});
    let got = server.join().unwrap();
    assert!(
        got == data,
        "receiver got {} bytes, want {}",
        got.len(),
        data.len()
    );
    let stats = ctl.stats();
    assert!(stats.gso_writes > 0, "{stats:?}");
    assert!(stats.writes < stats.packets_written / 4, "{stats:?}");
    assert_eq!((stats.gso_rejections, stats.gro_disabled), (0, false));
}

#[test]
fn gro_config_from_the_builder_bounds_every_merge() {
    if !require_root("gro_config_from_the_builder_bounds_every_merge") {
        return;
    }
    // At most two of the peer's 1400-byte segments per super-packet.
    let mut gro = GroConfig::default();
    gro.max_merged_len = 40 + 2 * common::tcp::MSS;
    let builder = Tun::builder().offload(true).blocking(false).gro_config(gro);
    let (ns, tun) = netns_with_tun("lt-grocfg", builder);
    let ctl = tun.control();
    let (rx, tx) = tun.into_halves();
    let server = receive_one_stream(&ns, 7006);
    let data = pattern(1 << 20);
    let mut peer = Peer::new(rx, tx);
    peer.send_stream(40006, 7006, &data, 40, |_, _| {});
    assert!(server.join().unwrap() == data);
    let s = ctl.stats();
    // Packets in super-packets: all written packets but those written alone.
    let merged = s.packets_written - (s.writes - s.gso_writes);
    assert!(s.gso_writes > 0 && merged <= 2 * s.gso_writes, "{s:?}");
}

#[test]
fn gro_off_keeps_reading_super_packets_and_writes_segments() {
    if !require_root("gro_off_keeps_reading_super_packets_and_writes_segments") {
        return;
    }
    let (ns, tun) = netns_with_tun(
        "lt-nogro",
        Tun::builder().offload(true).gro(false).blocking(false),
    );
    let ctl = tun.control();
    let caps = ctl.capabilities();
    assert!(!caps.gro && caps.offload.has_tso() && caps.vnet_hdr_len == Some(10));
    let (rx, tx) = tun.into_halves();
    let server = receive_one_stream(&ns, 7003);
    let data = pattern(256 << 10);
    let mut peer = Peer::new(rx, tx);
    peer.send_stream(40003, 7003, &data, 40, |_, _| {});
    assert!(server.join().unwrap() == data);
    let s = ctl.stats();
    assert_eq!(s.gso_writes, 0, "{s:?}");
    assert_eq!(s.writes, s.packets_written, "{s:?}");
    // Turned back on at run time, coalescing resumes.
    ctl.set_gro(true).unwrap();
    assert!(ctl.capabilities().gro);
}

#[test]
fn plain_packets_are_batched_and_written_per_packet_without_offload() {
    if !require_root("plain_packets_are_batched_and_written_per_packet_without_offload") {
        return;
    }
    let (ns, tun) = netns_with_tun("lt-plain", Tun::builder().offload(false));
    ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1").unwrap();
    let ctl = tun.control();
    let (mut rx, mut tx) = tun.into_halves();
    let sock = ns.run(|| UdpSocket::bind((LOCAL, 9300)).unwrap()).unwrap();
    for i in 0..20u8 {
        sock.send_to(&[i; 100], (PEER, 9400)).unwrap();
    }
    let mut batch = RecvBatch::new(64, 16);
    let mut got = Vec::new();
    while got.len() < 20 {
        rx.recv(&mut batch).unwrap();
        for p in batch.iter_mut() {
            let (head, ip) = p.split_headroom_mut();
            assert_eq!(head.len(), 16);
            head.fill(0xee); // the headroom is ours
            if ip.len() == 128 && ip[9] == 17 {
                got.push(ip[28]);
            }
        }
        for p in batch.iter() {
            assert_eq!(&p.with_headroom()[..16], &[0xee; 16]);
        }
    }
    assert_eq!(got, (0..20).collect::<Vec<u8>>());
    // More than one packet per call: the first read drains the rest.
    assert!(ctl.stats().frames_read >= 20);

    let mut out = SendBatch::new(32);
    for i in 0..10u8 {
        out.push(
            &udp4((PEER, 9400), (LOCAL, 9300), &[i; 50]),
            ChecksumStatus::Unverified,
        )
        .unwrap();
    }
    out.push(&[0x10, 0, 0, 0], ChecksumStatus::Unverified)
        .unwrap(); // not IP: the kernel refuses it
    let written = tx.send(&mut out);
    assert!(matches!(written, Ok(10)), "{written:?}");
    assert_eq!(tx.failures().len(), 1);
    assert_eq!(tx.failures()[0].0, 10);
    assert!(out.is_empty());
    let mut buf = [0u8; 64];
    for i in 0..10u8 {
        let (n, _) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[i; 50]);
    }
    let caps = ctl.capabilities();
    assert_eq!(
        (caps.vnet_hdr_len, caps.offload),
        (None, OffloadFlags::NONE)
    );
}

#[test]
fn twelve_byte_vnet_header_both_directions() {
    if !require_root("twelve_byte_vnet_header_both_directions") {
        return;
    }
    let (ns, tun) = netns_with_tun("lt-v12", Tun::builder().vnet_hdr_len(12).blocking(false));
    let ctl = tun.control();
    assert_eq!(ctl.capabilities().vnet_hdr_len, Some(12));
    let (rx, tx) = tun.into_halves();
    let mut peer = Peer::new(rx, tx);

    let data = pattern(1 << 20);
    let sent = data.clone();
    let client = ns
        .spawn(move || {
            let mut s = TcpStream::connect((PEER, 7004)).unwrap();
            s.write_all(&sent).unwrap();
        })
        .unwrap();
    let (got, obs) = peer.receive_stream(7004);
    client.join().unwrap().unwrap();
    assert!(got == data && obs.all_checksums_valid, "{obs:?}");

    let server = receive_one_stream(&ns, 7005);
    peer.send_stream(40005, 7005, &data, 40, |_, _| {});
    assert!(server.join().unwrap() == data);
    let s = ctl.stats();
    assert!(s.super_packets_read > 0 && s.gso_writes > 0, "{s:?}");
    assert_eq!(s.dropped_malformed, 0);
}

/// Tests that drive what the kernel never does through the `test-seams` hooks.
#[cfg(feature = "test-seams")]
mod seams {
    use std::net::UdpSocket;
    use std::sync::{Arc, Mutex};

    use linux_tun::{DropReason, Event, RecvBatch, Tun};
    use testkit::packet::TcpPacket;
    use testkit::require_root;
    use virtio_net_hdr::{GsoType, VirtioNetHdr};

    use super::common::tcp::Peer;
    use super::common::{LOCAL, PEER, checksums_valid, netns_with_tun};
    use super::pattern;

    #[test]
    fn rejected_gso_writes_fall_back_and_disable_gro() {
        if !require_root("rejected_gso_writes_fall_back_and_disable_gro") {
            return;
        }
        let events = Arc::new(Mutex::new(Vec::new()));
        let ev = Arc::clone(&events);
        let builder = Tun::builder()
            .offload(true)
            .blocking(false)
            .on_event(move |e| ev.lock().unwrap().push(*e));
        let (ns, tun) = netns_with_tun("lt-einval", builder);
        // The seam fails the first super-packet write; GRO stays on after one rejection.
        let ctl = tun.control();
        ctl.inject_gso_einval(1);
        let (rx, tx) = tun.into_halves();
        let server = super::receive_one_stream(&ns, 7002);
        let data = pattern(1 << 20);
        let mut peer = Peer::new(rx, tx);
        let mut gso_before_disable = 0;
        peer.send_stream(40002, 7002, &data, 40, |round, p| {
            if round == 4 {
                let s = p.tx.control().stats();
                assert_eq!(s.gso_rejections, 1, "{s:?}");
                assert!(s.gso_writes > 0 && !s.gro_disabled, "{s:?}");
                gso_before_disable = s.gso_writes;
                // Two more rejections reach the threshold of three.
                p.tx.control().inject_gso_einval(2);
            }
        });
        let got = server.join().unwrap();
        assert!(
            got == data,
            "receiver got {} bytes, want {}",
            got.len(),
            data.len()
        );
        let s = ctl.stats();
        assert_eq!(s.gso_rejections, linux_tun::GRO_DISABLE_AFTER, "{s:?}");
        assert!(s.gro_disabled && !ctl.capabilities().gro, "{s:?}");
        assert_eq!(
            s.gso_writes, gso_before_disable,
            "no GSO write after GRO was turned off"
        );
        assert_eq!(s.packets_rejected, 0);
        let events = events.lock().unwrap();
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Event::GsoWriteRejected { .. }))
                .count(),
            3
        );
        assert!(
            events.contains(&Event::GroDisabled { rejections: 3 }),
            "{events:?}"
        );
    }

    #[test]
    fn hostile_frames_are_dropped_and_reading_goes_on() {
        if !require_root("hostile_frames_are_dropped_and_reading_goes_on") {
            return;
        }
        let events = Arc::new(Mutex::new(Vec::new()));
        let ev = Arc::clone(&events);
        let builder = Tun::builder()
            .offload(true)
            .on_event(move |e| ev.lock().unwrap().push(*e));
        let (ns, tun) = netns_with_tun("lt-hostile", builder);
        ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1").unwrap();
        let ctl = tun.control();
        let (mut rx, _tx) = tun.into_halves();
        let sock = ns.run(|| UdpSocket::bind((LOCAL, 9100)).unwrap()).unwrap();

        let good = TcpPacket::super_v4(300, 100).build_gso().1;
        let frame = |h: VirtioNetHdr, p: &[u8]| {
            let mut f = h.to_bytes().to_vec();
            f.extend_from_slice(p);
            f
        };
        let gso = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 100, false);
        let mut zero = gso;
        zero.set_gso_size(0);
        let mut past_end = gso;
        past_end.set_csum_start(5000);
        let mut unknown = gso;
        unknown.set_gso_type(GsoType(0x17));
        let mut short = good.clone();
        short.truncate(60); // IPv4 total length now disagrees with the buffer
        let hostile = [
            frame(zero, &good),
            frame(past_end, &good),
            frame(unknown, &good),
            frame(gso, &short),
            vec![1, 2, 3],
            frame(VirtioNetHdr::needs_csum(20, 16), &[0x45, 0, 0, 20]),
        ];
        for f in &hostile {
            rx.inject_frame(f);
        }
        // A valid injected super-packet still splits (3 segments), then the kernel's datagram.
        rx.inject_frame(&frame(gso, &good));
        sock.send_to(b"still alive", (PEER, 9200)).unwrap();

        let mut batch = RecvBatch::new(16, 0);
        let mut seen = Vec::new();
        while !seen.iter().any(|p: &Vec<u8>| p.len() == 28 + 11) {
            rx.recv(&mut batch).unwrap();
            seen.extend(batch.iter().map(|p| p.bytes().to_vec()));
        }
        let stats = ctl.stats();
        assert_eq!(stats.dropped_malformed, hostile.len() as u64, "{stats:?}");
        let tcp: Vec<_> = seen.iter().filter(|p| p[9] == 6).collect();
        assert_eq!(tcp.len(), 3);
        assert!(tcp.iter().all(|p| checksums_valid(p) && p.len() == 140));
        let events = events.lock().unwrap();
        assert!(events.contains(&Event::MalformedRead(DropReason::BadHeader(
            virtio_net_hdr::Error::ZeroGsoSize
        ))));
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Event::MalformedRead(_)))
                .count(),
            hostile.len()
        );
        // And the device keeps serving.
        sock.send_to(b"again", (PEER, 9200)).unwrap();
        loop {
            rx.recv(&mut batch).unwrap();
            if batch.iter().any(|p| p.bytes().ends_with(b"again")) {
                break;
            }
        }
    }
}

/// The halves' descriptor works in the caller's own event loop: it polls readable once a
/// packet is queued, and not before.
#[test]
fn halves_descriptor_polls_readable_when_a_packet_arrives() {
    if !require_root("halves_descriptor_polls_readable_when_a_packet_arrives") {
        return;
    }
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use std::os::fd::{AsFd, AsRawFd};
    let (ns, tun) = netns_with_tun("lt-asfd", Tun::builder().offload(false).blocking(false));
    ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1").unwrap();
    let (mut rx, tx) = tun.into_halves();
    assert_eq!(rx.as_fd().as_raw_fd(), tx.as_fd().as_raw_fd());
    let mut batch = RecvBatch::new(8, 0);
    let ready = |rx: &linux_tun::Reader, ms: i64| {
        let mut fds = [PollFd::new(rx, PollFlags::IN)];
        let t = Timespec {
            tv_sec: ms / 1000,
            tv_nsec: ms % 1000 * 1_000_000,
        };
        poll(&mut fds, Some(&t)).unwrap()
    };
    // Whatever the kernel sent when the link came up is drained first; then it goes quiet.
    let mut quiet = false;
    for _ in 0..20 {
        while rx.recv(&mut batch).is_ok_and(|n| n > 0) {}
        if ready(&rx, 50) == 0 {
            quiet = true;
            break;
        }
    }
    assert!(quiet, "the descriptor stays readable with nothing to read");
    let sock = ns.run(|| UdpSocket::bind((LOCAL, 9500)).unwrap()).unwrap();
    sock.send_to(&[7; 100], (PEER, 9600)).unwrap();
    assert_eq!(ready(&rx, 2000), 1);
    let n = rx.recv(&mut batch).unwrap();
    assert!(
        batch
            .iter()
            .take(n)
            .any(|p| p.len() == 128 && p.bytes()[28] == 7)
    );
}
