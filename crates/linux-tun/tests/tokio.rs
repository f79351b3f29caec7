//! The async device: batches in and out through tokio's reactor.
#![cfg(feature = "tokio")]

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{LOCAL, PEER, netns_with_tun, udp4};
use linux_tun::{AsyncTun, Checksum, RecvBatch, SendBatch, Tun};
use testkit::require_root;

#[test]
fn async_batches_round_trip() {
    if !require_root("async_batches_round_trip") {
        return;
    }
    let (ns, tun) = netns_with_tun("lt-tokio", Tun::builder().offload(true));
    ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1").unwrap();
    let sock = ns.run(|| UdpSocket::bind((LOCAL, 9600)).unwrap()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tun = AsyncTun::new(tun).unwrap();
        let (mut rx, mut tx) = tun.split();
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
                Checksum::Verify,
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
