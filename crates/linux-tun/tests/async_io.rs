//! The async device on async-io (smol's reactor): batches in and out, and the caller's own
//! buffers, the same as on tokio (`tests/tokio.rs`).
#![cfg(feature = "async-io")]

mod common;

use std::future::Future;
use std::net::UdpSocket;
use std::time::Duration;

use common::{LOCAL, PEER, netns_with_tun, udp4};
use linux_tun::async_io::AsyncTun;
use linux_tun::{ChecksumStatus, RecvBatch, RecvInfo, SendBatch, Tun};
use testkit::{Netns, require_root};

/// A namespace with an offloading TUN (IPv6 off, so no stray router solicitations) and a UDP
/// socket on the local address at `port` (10 s read timeout).
fn setup(test: &str, port: u16) -> (Netns, Tun, UdpSocket) {
    let (ns, tun) = netns_with_tun(test, Tun::builder().offload(true));
    ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1").unwrap();
    let sock = ns
        .run(move || UdpSocket::bind((LOCAL, port)).unwrap())
        .unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (ns, tun, sock)
}

/// `f`, or a panic naming `what` if it takes longer than 10 s.
async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    smol::future::or(f, async {
        smol::Timer::after(Duration::from_secs(10)).await;
        panic!("{what} did not finish in time")
    })
    .await
}

/// Swap addresses and ports of a UDP/IPv4 packet in place: a reply from the peer, and both
/// checksums stay valid (the sums do not depend on the order).
fn reply_in_place(ip: &mut [u8]) {
    let (src, dst) = ip[12..20].split_at_mut(4);
    src.swap_with_slice(dst);
    let (sp, dp) = ip[20..24].split_at_mut(2);
    sp.swap_with_slice(dp);
}

/// Our test datagrams: UDP/IPv4 with 8 bytes of payload.
fn is_ours(ip: &[u8]) -> bool {
    ip.len() == 28 + 8 && ip[9] == 17
}

#[test]
fn async_io_batches_round_trip() {
    if !require_root("async_io_batches_round_trip") {
        return;
    }
    let (_ns, tun, sock) = setup("lt-aio", 9620);
    let tun = AsyncTun::new(tun).unwrap();
    let (mut rx, mut tx) = tun.into_halves();
    // Nothing queued yet: the reader waits instead of failing with WouldBlock.
    let reader = smol::spawn(async move {
        let mut batch = RecvBatch::new(64, 16);
        let mut got = Vec::new();
        while got.len() < 10 {
            rx.recv(&mut batch).await.unwrap();
            got.extend(
                batch
                    .iter()
                    .filter(|p| is_ours(p.bytes()))
                    .map(|p| p.bytes()[28]),
            );
        }
        got
    });
    for i in 0..10u8 {
        sock.send_to(&[i; 8], (PEER, 9720)).unwrap();
    }
    smol::block_on(async {
        let got = within("the reader", reader).await;
        assert_eq!(got, (0..10).collect::<Vec<u8>>());
        let mut out = SendBatch::new(16);
        for i in 0..5u8 {
            out.push(
                &udp4((PEER, 9720), (LOCAL, 9620), &[i; 20]),
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
fn async_io_send_received_echoes_a_batch_from_its_slab() {
    if !require_root("async_io_send_received_echoes_a_batch_from_its_slab") {
        return;
    }
    let (_ns, tun, sock) = setup("lt-aioecho", 9630);
    let (mut rx, mut tx) = AsyncTun::new(tun).unwrap().into_halves();
    let echo = smol::spawn(async move {
        let mut batch = RecvBatch::new(64, 16);
        let mut echoed = 0;
        while echoed < 10 {
            rx.recv(&mut batch).await.unwrap();
            for p in batch.iter_mut() {
                let (_, ip) = p.split_headroom_mut();
                if is_ours(ip) {
                    reply_in_place(ip);
                    echoed += 1;
                }
            }
            let n = batch.len();
            let written = tx
                .send_received(&mut batch, ChecksumStatus::Unverified)
                .await;
            assert_eq!(written.unwrap(), n);
            assert!(batch.is_empty() && tx.get_ref().failures().is_empty());
        }
    });
    for i in 0..10u8 {
        sock.send_to(&[i; 8], (PEER, 9730)).unwrap();
    }
    smol::block_on(within("the echo", echo));
    let mut buf = [0u8; 64];
    for i in 0..10u8 {
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from.port()), (&[i; 8][..], 9730));
    }
}

/// The caller's own buffers both ways: datagrams received into a pool behind 16 bytes of
/// headroom (left as they were), answered in place and written straight from the pool.
#[test]
fn async_io_echoes_from_the_callers_own_buffers() {
    if !require_root("async_io_echoes_from_the_callers_own_buffers") {
        return;
    }
    let (_ns, tun, sock) = setup("lt-aiopool", 9640);
    let (mut rx, mut tx) = AsyncTun::new(tun).unwrap().into_halves();
    let echo = smol::spawn(async move {
        let mut pool = vec![[0xa5u8; 16 + 1500]; 32];
        let mut info = [RecvInfo::default(); 32];
        let mut echoed = 0;
        while echoed < 10 {
            let n = rx.recv_into(&mut pool, 16, &mut info).await.unwrap();
            let mut replies: Vec<&[u8]> = Vec::new();
            for (buf, info) in pool.iter_mut().zip(&info).take(n) {
                assert_eq!(buf[..16], [0xa5; 16], "headroom untouched");
                let ip = &mut buf[16..16 + info.len];
                if is_ours(ip) {
                    reply_in_place(ip);
                    replies.push(ip);
                }
            }
            echoed += replies.len();
            let written = tx.send_from(&replies, ChecksumStatus::Unverified).await;
            assert_eq!(written.unwrap(), replies.len());
            assert!(tx.get_ref().failures().is_empty());
        }
    });
    for i in 0..10u8 {
        sock.send_to(&[i; 8], (PEER, 9740)).unwrap();
    }
    smol::block_on(within("the echo", echo));
    let mut buf = [0u8; 64];
    for i in 0..10u8 {
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from.port()), (&[i; 8][..], 9740));
    }
}
