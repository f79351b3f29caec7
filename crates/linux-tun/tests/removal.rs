//! A device deleted under a running reader or writer (`ip link del` in its namespace): the
//! halves, blocking and async, report `DeviceRemoved` within a bound, keep reporting it at once
//! on every later call, and never spin while they wait.
//!
//! What the kernel answers (this is what the typed errors stand for): a read blocked at that
//! moment gets `EFAULT`, later reads and writes `EBADFD`, and a write while the link is being
//! taken down first `EIO`.

mod common;

use std::future::Future;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use common::{LOCAL, PEER, netns_with_tun, udp4};
use linux_tun::{ChecksumStatus, RecvBatch, RecvError, SendBatch, SendError, Tun};
use testkit::{Netns, require_root};

/// How long the halves may take to report a deletion.
const PROMPT: Duration = Duration::from_secs(2);
/// How long a reader is left waiting before the device is deleted.
const IDLE: Duration = Duration::from_millis(300);
/// CPU a waiting thread may use over [`IDLE`]: far below it, so a busy loop cannot pass.
const IDLE_CPU: Duration = Duration::from_millis(100);

/// CPU time the calling thread has used.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Delete `dev` in `ns`, as an operator would.
fn delete(ns: &Netns, dev: &str) {
    ns.ip(&["link", "del", "dev", dev]).unwrap();
}

/// What a reader thread saw: the error that ended its reads, the CPU it used up to then, and
/// the next calls.
struct ReaderEnd {
    err: RecvError,
    cpu: Duration,
    again: Vec<Result<usize, RecvError>>,
}

/// Read until an error on a thread of its own; the result comes through the channel.
fn spawn_reader(mut rx: linux_tun::Reader) -> mpsc::Receiver<ReaderEnd> {
    let (done, ended) = mpsc::channel();
    std::thread::spawn(move || {
        let mut batch = RecvBatch::new(128, 0);
        let start = thread_cpu();
        let err = loop {
            if let Err(e) = rx.recv(&mut batch) {
                break e;
            }
        };
        let cpu = thread_cpu() - start;
        let again = (0..3).map(|_| rx.recv(&mut batch)).collect();
        let _ = done.send(ReaderEnd { err, cpu, again });
    });
    ended
}

fn assert_removed_for_good(end: &ReaderEnd) {
    assert!(matches!(end.err, RecvError::DeviceRemoved), "{}", end.err);
    for r in &end.again {
        assert!(matches!(r, Err(RecvError::DeviceRemoved)), "{r:?}");
    }
}

/// A reader blocked on an idle device wakes with `DeviceRemoved` (the kernel's `EFAULT`), used
/// next to no CPU while it waited, and every later call answers the same at once. A second,
/// non-blocking queue of the device answers `DeviceRemoved` instead of `WouldBlock`.
#[test]
fn removing_the_device_wakes_a_blocked_reader() {
    if !require_root("removing_the_device_wakes_a_blocked_reader") {
        return;
    }
    let ns = Netns::new("lt-rm-idle").unwrap();
    // IPv6 off: no router solicitations, so the device stays idle.
    ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1").unwrap();
    let mut queues = ns
        .run(|| {
            Tun::builder()
                .name("ltr0")
                .multi_queue(2)
                .up()
                .open_queues()
        })
        .unwrap()
        .unwrap();
    let second = queues.pop().unwrap();
    second.set_blocking(false).unwrap();
    let (mut rx2, _tx2) = second.into_halves();
    let mut batch = RecvBatch::new(8, 0);
    assert!(matches!(rx2.recv(&mut batch), Err(RecvError::WouldBlock)));
    let (rx, _tx) = queues.pop().unwrap().into_halves();
    let ctl = rx.control();
    let ended = spawn_reader(rx);

    std::thread::sleep(IDLE);
    assert!(!ctl.is_removed());
    delete(&ns, "ltr0");
    let end = ended
        .recv_timeout(PROMPT)
        .expect("the blocked reader learns of the deletion");
    assert_removed_for_good(&end);
    assert!(
        end.cpu < IDLE_CPU,
        "a blocked reader waits in the kernel, yet used {:?} of CPU",
        end.cpu
    );
    assert!(matches!(
        rx2.recv(&mut batch),
        Err(RecvError::DeviceRemoved)
    ));
    assert!(ctl.is_removed());
}

/// A reader busy with a stream of datagrams when the device goes ends with `DeviceRemoved`.
#[test]
fn removing_the_device_ends_a_reader_mid_transfer() {
    if !require_root("removing_the_device_ends_a_reader_mid_transfer") {
        return;
    }
    let (ns, tun) = netns_with_tun("lt-rm-rx", Tun::builder().name("ltr1"));
    let ctl = tun.control();
    let (rx, _tx) = tun.into_halves();
    let ended = spawn_reader(rx);
    // The transfer: a sender in the namespace streams datagrams out through the device.
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let sender = ns
        .spawn(move || {
            let sock = UdpSocket::bind((LOCAL, 0)).unwrap();
            while !stopped.load(Ordering::Relaxed) {
                if sock.send_to(&[0x5a; 1200], (PEER, 9)).is_err() {
                    // Gone with the device (no route): wait to be stopped.
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
        .unwrap();
    // Mid-transfer: the device has carried a good part of the stream.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ctl.stats().packets_delivered < 1000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the stream never came"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    delete(&ns, "ltr1");
    let end = ended.recv_timeout(PROMPT);
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap().unwrap();
    let end = end.expect("the reader learns of the deletion");
    assert_removed_for_good(&end);
    assert!(ctl.is_removed());
}

/// A writer streaming batches when the device goes ends with `DeviceRemoved` (after, at most,
/// a few `LinkDown` while the kernel takes the link down first); the next call answers the
/// same at once and leaves its packets queued.
#[test]
fn removing_the_device_ends_a_writer_mid_transfer() {
    if !require_root("removing_the_device_ends_a_writer_mid_transfer") {
        return;
    }
    let (ns, tun) = netns_with_tun("lt-rm-tx", Tun::builder().name("ltw0"));
    let sink = ns.run(|| UdpSocket::bind((LOCAL, 9100)).unwrap()).unwrap();
    sink.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let ctl = tun.control();
    let (_rx, mut tx) = tun.into_halves();
    let (done, ended) = mpsc::channel();
    std::thread::spawn(move || {
        let pkt = udp4((PEER, 1234), (LOCAL, 9100), &[0xa5; 1000]);
        let mut batch = SendBatch::new(64);
        let mut written = 0;
        let end = loop {
            while batch.push(&pkt, ChecksumStatus::KnownGood).is_ok() {}
            match tx.send(&mut batch) {
                Ok(n) => written += n,
                Err(SendError::LinkDown { written: n }) => {
                    written += n;
                    batch.clear();
                }
                Err(e) => break e,
            }
        };
        let queued = batch.len();
        let again = tx.send(&mut batch);
        let _ = done.send((end, written, queued, again, batch.len()));
    });
    // Mid-transfer: the namespace is receiving the stream.
    let mut buf = [0u8; 2048];
    assert_eq!(sink.recv(&mut buf).unwrap(), 1000);
    delete(&ns, "ltw0");
    let (end, written, queued, again, left) = ended
        .recv_timeout(PROMPT)
        .expect("the writer learns of the deletion");
    assert!(matches!(end, SendError::DeviceRemoved { .. }), "{end}");
    assert!(written > 0);
    assert!(queued > 0, "a full batch was being written");
    assert!(
        matches!(again, Err(SendError::DeviceRemoved { written: 0 })),
        "{again:?}"
    );
    assert_eq!(left, queued, "what was not written stays queued");
    assert!(ctl.is_removed());
}

/// A link that is down (but not deleted) refuses writes with `LinkDown`, and writing works
/// again once it is up: the device is still there.
#[test]
fn a_down_link_refuses_writes_with_link_down() {
    if !require_root("a_down_link_refuses_writes_with_link_down") {
        return;
    }
    let (_ns, tun) = netns_with_tun("lt-down", Tun::builder().name("ltd0"));
    let ctl = tun.control();
    let (_rx, mut tx) = tun.into_halves();
    let pkt = udp4((PEER, 1234), (LOCAL, 9100), b"down");
    let mut batch = SendBatch::new(4);
    ctl.set_up(false).unwrap();
    for _ in 0..3 {
        batch.push(&pkt, ChecksumStatus::KnownGood).unwrap();
    }
    let e = tx.send(&mut batch).unwrap_err();
    assert!(matches!(e, SendError::LinkDown { written: 0 }), "{e}");
    assert_eq!(batch.len(), 3, "nothing written, all still queued");
    assert!(!ctl.is_removed());
    ctl.set_up(true).unwrap();
    assert_eq!(tx.send(&mut batch).unwrap(), 3);
}

#[cfg(feature = "tokio")]
mod async_halves {
    use super::*;
    use linux_tun::AsyncTun;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// An async reader waiting on an idle device wakes with `DeviceRemoved` (the device polls
    /// as an error only), the runtime's thread idle meanwhile; later calls answer at once.
    #[test]
    fn removing_the_device_wakes_an_async_reader() {
        if !require_root("removing_the_device_wakes_an_async_reader") {
            return;
        }
        let (ns, tun) = netns_with_tun("lt-rm-arx", Tun::builder().name("lta0"));
        ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1").unwrap();
        runtime().block_on(async {
            let tun = AsyncTun::new(tun).unwrap();
            let ctl = tun.control();
            let (mut rx, mut tx) = tun.into_halves();
            let reader = tokio::spawn(async move {
                let mut batch = RecvBatch::new(64, 0);
                let err = loop {
                    if let Err(e) = rx.recv(&mut batch).await {
                        break e;
                    }
                };
                let again = rx.recv(&mut batch).await;
                (err, again)
            });
            // One thread runs everything: its CPU covers the reader's waiting.
            let start = thread_cpu();
            tokio::time::sleep(IDLE).await;
            delete(&ns, "lta0");
            let (err, again) = tokio::time::timeout(PROMPT, reader)
                .await
                .expect("the async reader learns of the deletion")
                .unwrap();
            let cpu = thread_cpu() - start;
            assert!(matches!(err, RecvError::DeviceRemoved), "{err}");
            assert!(matches!(again, Err(RecvError::DeviceRemoved)), "{again:?}");
            assert!(cpu < IDLE_CPU, "the waiting reader used {cpu:?} of CPU");
            // The writer half of the same queue knows it too.
            let mut batch = SendBatch::new(1);
            let pkt = udp4((PEER, 1), (LOCAL, 9), b"x");
            batch.push(&pkt, ChecksumStatus::KnownGood).unwrap();
            let e = tx.send(&mut batch).await.unwrap_err();
            assert!(matches!(e, SendError::DeviceRemoved { written: 0 }), "{e}");
            assert!(ctl.is_removed());
        });
    }

    /// An async writer streaming batches when the device goes ends with `DeviceRemoved`.
    #[test]
    fn removing_the_device_ends_an_async_writer_mid_transfer() {
        if !require_root("removing_the_device_ends_an_async_writer_mid_transfer") {
            return;
        }
        let (ns, tun) = netns_with_tun("lt-rm-atx", Tun::builder().name("lta1"));
        let sink = ns.run(|| UdpSocket::bind((LOCAL, 9101)).unwrap()).unwrap();
        sink.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        runtime().block_on(async {
            let (_rx, mut tx) = AsyncTun::new(tun).unwrap().into_halves();
            let writer = tokio::spawn(async move {
                let pkt = udp4((PEER, 1234), (LOCAL, 9101), &[0xa5; 1000]);
                let mut batch = SendBatch::new(64);
                loop {
                    while batch.push(&pkt, ChecksumStatus::KnownGood).is_ok() {}
                    match tx.send(&mut batch).await {
                        Ok(_) => {}
                        Err(SendError::LinkDown { .. }) => batch.clear(),
                        Err(e) => break e,
                    }
                    tokio::task::yield_now().await;
                }
            });
            // Mid-transfer: the namespace is receiving the stream. (The wait blocks this
            // thread, so let the writer run first.)
            tokio::task::yield_now().await;
            let mut buf = [0u8; 2048];
            assert_eq!(sink.recv(&mut buf).unwrap(), 1000);
            delete(&ns, "lta1");
            let end = tokio::time::timeout(PROMPT, writer)
                .await
                .expect("the async writer learns of the deletion")
                .unwrap();
            assert!(matches!(end, SendError::DeviceRemoved { .. }), "{end}");
        });
    }
}

/// The same on async-io: a removal ends its reader and writer with the same typed errors.
#[cfg(feature = "async-io")]
mod async_io_halves {
    use super::*;
    use linux_tun::async_io::AsyncTun;

    /// `f`, or `None` if it takes longer than `limit`.
    async fn within<T>(limit: Duration, f: impl Future<Output = T>) -> Option<T> {
        smol::future::or(async { Some(f.await) }, async {
            smol::Timer::after(limit).await;
            None
        })
        .await
    }

    /// An async reader waiting on an idle device wakes with `DeviceRemoved` (the poller
    /// reports the device's `EPOLLERR` as readable), the thread idle meanwhile; later calls
    /// answer at once, and the writer half knows too.
    #[test]
    fn removing_the_device_wakes_an_async_io_reader() {
        if !require_root("removing_the_device_wakes_an_async_io_reader") {
            return;
        }
        let (ns, tun) = netns_with_tun("lt-rm-airx", Tun::builder().name("ltai0"));
        ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1").unwrap();
        let tun = AsyncTun::new(tun).unwrap();
        let ctl = tun.control();
        let (mut rx, mut tx) = tun.into_halves();
        // One thread runs the reader and the deletion: its CPU covers the reader's waiting.
        smol::block_on(async {
            let reader = async {
                let mut batch = RecvBatch::new(64, 0);
                let err = loop {
                    if let Err(e) = rx.recv(&mut batch).await {
                        break e;
                    }
                };
                let again = rx.recv(&mut batch).await;
                (err, again)
            };
            let start = thread_cpu();
            let deleter = async {
                smol::Timer::after(IDLE).await;
                delete(&ns, "ltai0");
            };
            let ((err, again), ()) = within(IDLE + PROMPT, smol::future::zip(reader, deleter))
                .await
                .expect("the async reader learns of the deletion");
            let cpu = thread_cpu() - start;
            assert!(matches!(err, RecvError::DeviceRemoved), "{err}");
            assert!(matches!(again, Err(RecvError::DeviceRemoved)), "{again:?}");
            assert!(cpu < IDLE_CPU, "the waiting reader used {cpu:?} of CPU");
            let mut batch = SendBatch::new(1);
            let pkt = udp4((PEER, 1), (LOCAL, 9), b"x");
            batch.push(&pkt, ChecksumStatus::KnownGood).unwrap();
            let e = tx.send(&mut batch).await.unwrap_err();
            assert!(matches!(e, SendError::DeviceRemoved { written: 0 }), "{e}");
        });
        assert!(ctl.is_removed());
    }

    /// An async writer streaming batches when the device goes ends with `DeviceRemoved`.
    #[test]
    fn removing_the_device_ends_an_async_io_writer_mid_transfer() {
        if !require_root("removing_the_device_ends_an_async_io_writer_mid_transfer") {
            return;
        }
        let (ns, tun) = netns_with_tun("lt-rm-aitx", Tun::builder().name("ltai1"));
        let sink = ns.run(|| UdpSocket::bind((LOCAL, 9102)).unwrap()).unwrap();
        sink.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (_rx, mut tx) = AsyncTun::new(tun).unwrap().into_halves();
        // On smol's executor threads, so that this one may wait for the stream.
        let writer = smol::spawn(async move {
            let pkt = udp4((PEER, 1234), (LOCAL, 9102), &[0xa5; 1000]);
            let mut batch = SendBatch::new(64);
            loop {
                while batch.push(&pkt, ChecksumStatus::KnownGood).is_ok() {}
                match tx.send(&mut batch).await {
                    Ok(_) => {}
                    Err(SendError::LinkDown { .. }) => batch.clear(),
                    Err(e) => break e,
                }
                smol::future::yield_now().await;
            }
        });
        // Mid-transfer: the namespace is receiving the stream.
        let mut buf = [0u8; 2048];
        assert_eq!(sink.recv(&mut buf).unwrap(), 1000);
        delete(&ns, "ltai1");
        let end = smol::block_on(within(PROMPT, writer))
            .expect("the async writer learns of the deletion");
        assert!(matches!(end, SendError::DeviceRemoved { .. }), "{end}");
    }
}
