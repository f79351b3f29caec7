//! Multi-queue attach/detach and persistent devices, on real TUNs in private namespaces.

mod common;

use std::net::UdpSocket;

use common::tcp::{MSS, Peer};
use common::{LOCAL, PEER};
use linux_tun::{DeviceOp, OffloadFlags, Tun};
use testkit::{Netns, require_root};

/// Send one datagram from each of `n` fresh sockets (varied source ports spread the flow
/// hash over the queues).
fn burst(ns: &Netns, n: usize) {
    ns.run(|| {
        for i in 0..n {
            let s = UdpSocket::bind((LOCAL, 0)).unwrap();
            s.send_to(&[i as u8; 32], (PEER, 9500)).unwrap();
        }
    })
    .unwrap();
}

/// Datagrams to PEER:9500 waiting on `q`.
fn count(q: &Tun) -> usize {
    let mut buf = vec![0u8; 65536 + 10];
    let mut n = 0;
    loop {
        match q.read_raw(&mut buf) {
            Ok(len) => {
                let p = &buf[10..len];
                if p.len() >= 28 && p[9] == 17 && p[16..20] == PEER.octets() {
                    n += 1;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return n,
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn multiqueue_attach_detach_moves_traffic() {
    if !require_root("multiqueue_attach_detach_moves_traffic") {
        return;
    }
    let ns = Netns::new("lt-mq").unwrap();
    ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1").unwrap();
    let qs = ns
        .run(|| {
            Tun::builder()
                .name("ltmq0")
                .multi_queue(2)
                .blocking(false)
                .up()
                .open_queues()
        })
        .unwrap()
        .unwrap();
    assert_eq!(qs.len(), 2);
    assert!(qs[0].control().capabilities().multi_queue);
    ns.ip(&["addr", "add", "10.77.0.1/24", "dev", "ltmq0"])
        .unwrap();

    burst(&ns, 32);
    let (a, b) = (count(&qs[0]), count(&qs[1]));
    assert_eq!(a + b, 32, "both attached: {a} + {b}");

    qs[0].control().detach_queue().unwrap();
    burst(&ns, 32);
    assert_eq!((count(&qs[0]), count(&qs[1])), (0, 32));

    qs[0].control().attach_queue().unwrap();
    qs[1].control().detach_queue().unwrap();
    burst(&ns, 32);
    assert_eq!((count(&qs[0]), count(&qs[1])), (32, 0));

    // A third queue joins at run time (from inside the namespace) and gets traffic alone.
    let q2 = ns.run(|| qs[0].open_queue()).unwrap().unwrap();
    qs[0].control().detach_queue().unwrap();
    burst(&ns, 8);
    assert_eq!((count(&qs[0]), count(&qs[1]), count(&q2)), (0, 0, 8));

    // Single-queue devices refuse the multi-queue operations with a typed error.
    let single = ns.run(|| Tun::builder().open()).unwrap().unwrap();
    assert!(matches!(
        single.open_queue(),
        Err(linux_tun::Error::InvalidConfig(_))
    ));
    assert!(matches!(
        single.control().detach_queue(),
        Err(linux_tun::Error::Device {
            op: DeviceOp::SetQueue,
            ..
        })
    ));
}

#[test]
fn persistent_device_stale_offload_mask_is_reset() {
    if !require_root("persistent_device_stale_offload_mask_is_reset") {
        return;
    }
    let ns = Netns::new("lt-persist").unwrap();
    // First owner: persistent, full TSO, then gone.
    ns.run(|| {
        let t = Tun::builder().name("ltp0").persist(true).open().unwrap();
        assert_eq!(t.control().capabilities().offload, OffloadFlags::ALL);
    })
    .unwrap();
    assert!(ns.links().unwrap().contains(&"ltp0".to_owned()));

    // Second owner without offload: the device must stop producing super-packets, which it
    // would otherwise hand over whole, without a header to describe them.
    let tun = ns
        .run(|| {
            Tun::builder()
                .name("ltp0")
                .offload(false)
                .blocking(false)
                .up()
                .open()
        })
        .unwrap()
        .unwrap();
    ns.ip(&["addr", "add", "10.77.0.1/24", "dev", "ltp0"])
        .unwrap();
    let ctl = tun.control();
    let (rx, tx) = tun.into_halves();
    let data: Vec<u8> = (0..(512 << 10)).map(|i: usize| (i % 253) as u8).collect();
    let sent = data.clone();
    let client = ns
        .spawn(move || {
            use std::io::Write;
            let mut s = std::net::TcpStream::connect((PEER, 7100)).unwrap();
            s.write_all(&sent).unwrap();
        })
        .unwrap();
    let mut peer = Peer::new(rx, tx);
    let (got, obs) = peer.receive_stream(7100);
    client.join().unwrap().unwrap();
    assert!(got == data, "stream bytes differ");
    assert!(obs.largest_packet <= 40 + MSS, "{obs:?}");
    assert!(obs.all_checksums_valid, "{obs:?}");
    assert_eq!(ctl.stats().super_packets_read, 0);

    // Clear persistence; the namespace guard would delete the link anyway.
    drop((peer, ctl));
    let t = ns
        .run(|| {
            Tun::builder()
                .name("ltp0")
                .offload(false)
                .persist(false)
                .open()
        })
        .unwrap()
        .unwrap();
    drop(t);
    assert!(!ns.links().unwrap().contains(&"ltp0".to_owned()));
}
