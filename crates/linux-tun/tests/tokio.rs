//! The async device on tokio: batches in and out through its reactor, and the caller's own
//! buffers (the same on async-io: `tests/async_io.rs`).
#![cfg(feature = "tokio")]

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{LOCAL, PEER, netns_with_tun, udp4};
use linux_tun::{AsyncTun, ChecksumStatus, RecvBatch, RecvInfo, SendBatch, Tun};
use testkit::{Netns, require_root};

/// A namespace with an offloading TUN (IPv6 off, so no stray router solicitations), a UDP
/// socket on the local address at `port` (10 s read timeout), and a current-thread runtime.
fn setup(test: &str, port: u16) -> (Netns, Tun, UdpSocket, tokio::runtime::Runtime) {
    let (ns, tun) = netns_with_tun(test, Tun::builder().offload(true));
    ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1").unwrap();
    let sock = ns
        .run(move || UdpSocket::bind((LOCAL, port)).unwrap())
        .unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    (ns, tun, sock, rt)
}

#[test]
fn async_batches_round_trip() {
    if !require_root("async_batches_round_trip") {
        return;
    }
    let (_ns, tun, sock, rt) = setup("lt-tokio", 9600);
    rt.block_on(async {
        let tun = AsyncTun::new(tun).unwrap();
        let (mut rx, mut tx) = tun.into_halves();
        // Nothing queued yet: the reader waits instead of failing with WouldBlock.
        let reader = tokio::spawn(async move {
            let mut batch = RecvBatch::new(64, 16);
            let mut got = Vec::new();
            while got.len() < 10 {
                rx.recv(&mut batch).await.unwrap();
                got.extend(
                    batch
                        .iter()
                        .filter(|p| p.len() == 28 + 8 && p.bytes()[9] == 17)
                        .map(|p| p.bytes()[28]),
                );
            }
            got
        });
        tokio::task::yield_now().await;
        for i in 0..10u8 {
            sock.send_to(&[i; 8], (PEER, 9700)).unwrap();
        }
        let got = tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .expect("reader finished")
            .unwrap();
        assert_eq!(got, (0..10).collect::<Vec<u8>>());

        let mut out = SendBatch::new(16);
        for i in 0..5u8 {
            out.push(
                &udp4((PEER, 9700), (LOCAL, 9600), &[i; 20]),
                ChecksumStatus::Unverified,
            )
            .unwrap();
        }
        assert_eq!(tx.send(&mut out).await.unwrap(), 5);
    });
    let mut buf = [0u8; 64];
    for i in 0..5u8 {
        let (n, _) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[i; 20]);
    }
}

#[test]
fn async_send_received_echoes_a_batch_from_its_slab() {
    if !require_root("async_send_received_echoes_a_batch_from_its_slab") {
        return;
    }
    let (_ns, tun, sock, rt) = setup("lt-tokecho", 9610);
    rt.block_on(async {
        let (mut rx, mut tx) = AsyncTun::new(tun).unwrap().into_halves();
        let echo = tokio::spawn(async move {
            let mut batch = RecvBatch::new(64, 16);
            let mut echoed = 0;
            while echoed < 10 {
                rx.recv(&mut batch).await.unwrap();
                for p in batch.iter_mut() {
                    let (_, ip) = p.split_headroom_mut();
                    if ip.len() == 28 + 8 && ip[9] == 17 {
                        // Swap addresses and ports in place: a reply from the peer, and both
                        // checksums stay valid (the sums do not depend on the order).
                        let (src, dst) = ip[12..20].split_at_mut(4);
                        src.swap_with_slice(dst);
                        let (sp, dp) = ip[20..24].split_at_mut(2);
                        sp.swap_with_slice(dp);
                        echoed += 1;
                    }
                }
                let n = batch.len();
                let written = tx
                    .send_received(&mut batch, ChecksumStatus::Unverified)
                    .await;
                assert_eq!(written.unwrap(), n);
                assert!(batch.is_empty() && tx.get_mut().failures().is_empty());
            }
        });
        tokio::task::yield_now().await;
        for i in 0..10u8 {
            sock.send_to(&[i; 8], (PEER, 9710)).unwrap();
        }
        tokio::time::timeout(Duration::from_secs(10), echo)
            .await
            .expect("echo finished")
            .unwrap();
    });
    let mut buf = [0u8; 64];
    for i in 0..10u8 {
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from.port()), (&[i; 8][..], 9710));
    }
}

/// The caller's own buffers both ways: datagrams received into a pool behind 16 bytes of
/// headroom (left as they were), answered in place and written straight from the pool.
#[test]
fn async_echoes_from_the_callers_own_buffers() {
    if !require_root("async_echoes_from_the_callers_own_buffers") {
        return;
    }
    let (_ns, tun, sock, rt) = setup("lt-tokpool", 9650);
    rt.block_on(async {
        let (mut rx, mut tx) = AsyncTun::new(tun).unwrap().into_halves();
        let echo = tokio::spawn(async move {
            let mut pool = vec![[0xa5u8; 16 + 1500]; 32];
            let mut info = [RecvInfo::default(); 32];
            let mut echoed = 0;
            while echoed < 10 {
                let n = rx.recv_into(&mut pool, 16, &mut info).await.unwrap();
                let mut replies: Vec<&[u8]> = Vec::new();
                for (buf, info) in pool.iter_mut().zip(&info).take(n) {
                    assert_eq!(buf[..16], [0xa5; 16], "headroom untouched");
                    let ip = &mut buf[16..16 + info.len];
                    if ip.len() == 28 + 8 && ip[9] == 17 {
                        let (src, dst) = ip[12..20].split_at_mut(4);
                        src.swap_with_slice(dst);
                        let (sp, dp) = ip[20..24].split_at_mut(2);
                        sp.swap_with_slice(dp);
                        replies.push(ip);
                    }
                }
                echoed += replies.len();
                let written = tx.send_from(&replies, ChecksumStatus::Unverified).await;
                assert_eq!(written.unwrap(), replies.len());
                assert!(tx.get_ref().failures().is_empty());
            }
        });
        tokio::task::yield_now().await;
        for i in 0..10u8 {
            sock.send_to(&[i; 8], (PEER, 9750)).unwrap();
        }
        tokio::time::timeout(Duration::from_secs(10), echo)
            .await
            .expect("echo finished")
            .unwrap();
    });
    let mut buf = [0u8; 64];
    for i in 0..10u8 {
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from.port()), (&[i; 8][..], 9750));
    }
}
