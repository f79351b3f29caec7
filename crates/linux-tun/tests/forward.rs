//! A TUN-to-TUN forwarder on `Writer::send_received`: real kernel TCP between two private
//! namespaces, every packet read into a `RecvBatch` and written from there without a copy.
//!
//! Topology: namespace A holds TUN A (10.93.0.1/24), namespace B holds TUN B (10.93.0.2/24);
//! both have offload on and blocking reads. One thread per direction reads one device and
//! writes the other. A sender in A streams a pattern to a receiver in B, which must get every
//! byte in order.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use linux_tun::{ChecksumStatus, RecvBatch, SendError, Stats, Tun};
use testkit::{Netns, require_root, unique_ifname};

const A: Ipv4Addr = Ipv4Addr::new(10, 93, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 93, 0, 2);

fn pattern(n: usize) -> Vec<u8> {
    // 251 is prime: a lost, duplicated or shifted block shows up as a mismatch.
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// One direction's result: packets written and refused.
type Moved = Result<(usize, usize), String>;

/// Both namespaces and the forwarding threads. Dropping stops the threads (a datagram through
/// each device wakes a blocked read) before the namespaces go.
struct Forwarder {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Moved>>,
    stats: [linux_tun::Control; 2],
    ns: [Netns; 2],
}

impl Forwarder {
    fn start(test: &str, csum: ChecksumStatus, inject_einval: u32, zero_copy: bool) -> Forwarder {
        let ns = [
            Netns::new(&format!("{test}-a")).unwrap(),
            Netns::new(&format!("{test}-b")).unwrap(),
        ];
        let mut tuns = Vec::new();
        for (ns, addr) in ns.iter().zip(["10.93.0.1/24", "10.93.0.2/24"]) {
            let name = unique_ifname("fwd");
            let n = name.clone();
            let tun = ns
                .run(move || Tun::builder().name(&n).offload(true).up().open())
                .unwrap()
                .unwrap();
            ns.ip(&["addr", "add", addr, "dev", &name]).unwrap();
            tuns.push(tun);
        }
        let b = tuns.pop().unwrap();
        let a = tuns.pop().unwrap();
        #[cfg(feature = "test-seams")]
        b.control().inject_gso_einval(inject_einval);
        #[cfg(not(feature = "test-seams"))]
        assert_eq!(inject_einval, 0, "injecting needs the test-seams feature");
        let stats = [a.control(), b.control()];
        let stop = Arc::new(AtomicBool::new(false));
        let ((rx_a, tx_a), (rx_b, tx_b)) = (a.into_halves(), b.into_halves());
        let threads = [(rx_a, tx_b), (rx_b, tx_a)]
            .into_iter()
            .map(|(mut rx, mut tx)| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || -> Moved {
                    let mut batch = RecvBatch::new(128, 16).zero_copy_split(zero_copy);
                    let (mut written, mut refused) = (0, 0);
                    loop {
                        let n = rx.recv(&mut batch).map_err(|e| format!("read: {e}"))?;
                        if stop.load(Ordering::Relaxed) {
                            return Ok((written, refused));
                        }
                        match tx.send_received(&mut batch, csum) {
                            Ok(w) => {
                                written += w;
                                refused += n - w;
                                assert_eq!(tx.failures().len(), n - w);
                                assert!(batch.is_empty());
                            }
                            Err(SendError::Io { source, .. }) => {
                                return Err(format!("write: {source}"));
                            }
                            Err(e) => return Err(format!("write: {e}")),
                        }
                    }
                })
            })
            .collect();
        Forwarder {
            stop,
            threads,
            stats,
            ns,
        }
    }

    /// Stream `data` from A to B through the forwarder; what B received.
    fn transfer(&self, port: u16, data: &[u8]) -> Vec<u8> {
        let listener = self.ns[1]
            .run(move || TcpListener::bind((B, port)).unwrap())
            .unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut v = Vec::new();
            s.read_to_end(&mut v).unwrap();
            v
        });
        let sent = data.to_vec();
        let client = self.ns[0]
            .spawn(move || {
                let mut s = TcpStream::connect((B, port)).unwrap();
                s.write_all(&sent).unwrap();
            })
            .unwrap();
        client.join().unwrap().unwrap();
        server.join().unwrap()
    }

    fn stats(&self) -> [Stats; 2] {
        [self.stats[0].stats(), self.stats[1].stats()]
    }

    /// Stop both threads and return what each moved (A→B, then B→A).
    fn finish(mut self) -> Vec<Moved> {
        self.wake();
        std::mem::take(&mut self.threads)
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect()
    }

    fn wake(&self) {
        self.stop.store(true, Ordering::Relaxed);
        for (ns, to) in self.ns.iter().zip([B, A]) {
            let _ = ns.run(move || {
                UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
                    .and_then(|s| s.send_to(b"stop", (to, 9)))
            });
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.wake();
        }
    }
}

#[test]
fn tcp_through_a_zero_copy_forwarder_arrives_intact() {
    if !require_root("tcp_through_a_zero_copy_forwarder_arrives_intact") {
        return;
    }
    let fwd = Forwarder::start("lt-fwd", ChecksumStatus::Unverified, 0, false);
    sixteen_mib_arrive_coalesced(fwd, 7100, 0);
}

/// 16 MiB through `fwd` arrive intact; A read super-packets and split them, B wrote them
/// coalesced again (`rejections` of them refused with EINVAL first), nothing dropped.
fn sixteen_mib_arrive_coalesced(fwd: Forwarder, port: u16, rejections: u64) {
    let data = pattern(16 << 20);
    let got = fwd.transfer(port, &data);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "stream bytes differ");
    let [a, b] = fwd.stats();
    assert!(a.super_packets_read > 0, "{a:?}");
    assert!(b.gso_writes > 0, "{b:?}");
    assert!(b.writes < b.packets_written / 4, "{b:?}");
    assert_eq!(
        (b.gso_rejections, b.packets_rejected),
        (rejections, 0),
        "{b:?}"
    );
    assert_eq!((a.dropped_malformed, b.dropped_malformed), (0, 0));
    for moved in fwd.finish() {
        let (written, refused) = moved.unwrap();
        assert!(written > 0);
        assert_eq!(refused, 0);
    }
}

#[cfg(feature = "test-seams")]
#[test]
fn zero_copy_forwarder_falls_back_on_rejected_super_packets() {
    if !require_root("zero_copy_forwarder_falls_back_on_rejected_super_packets") {
        return;
    }
    // The first two super-packet writes into B fail with EINVAL: their segments must be
    // written one by one from the receive slab, and GRO stays on (threshold: three).
    let fwd = Forwarder::start("lt-fwdeinval", ChecksumStatus::KnownGood, 2, false);
    let data = pattern(4 << 20);
    let got = fwd.transfer(7101, &data);
    assert!(
        got == data,
        "receiver got {} bytes, want {}",
        got.len(),
        data.len()
    );
    let [_, b] = fwd.stats();
    assert_eq!(b.gso_rejections, 2, "{b:?}");
    assert!(!b.gro_disabled && b.gso_writes > 0, "{b:?}");
    assert_eq!(b.packets_rejected, 0, "{b:?}");
    for moved in fwd.finish() {
        assert_eq!(moved.unwrap().1, 0);
    }
}

/// The same forwarder with super-packets split into headers + payload in place
/// (`RecvBatch::zero_copy_split`): GRO takes the two-part segments, `writev` gets the
/// consecutive payloads as one piece, and the stream still arrives byte for byte — also when
/// the first super-packet writes are refused and the two-part segments go out one by one.
#[cfg(feature = "test-seams")]
#[test]
fn tcp_through_a_forwarder_with_payloads_in_place_arrives_intact() {
    if !require_root("tcp_through_a_forwarder_with_payloads_in_place_arrives_intact") {
        return;
    }
    let fwd = Forwarder::start("lt-fwdzc", ChecksumStatus::Unverified, 2, true);
    sixteen_mib_arrive_coalesced(fwd, 7102, 2);
}
