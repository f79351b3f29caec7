//! The built-in UDP sender and receiver that run inside the namespaces.
//!
//! A merged UDP packet is written to the TUN with NEEDS_CSUM, so the receiving kernel never
//! checks the checksum of what GRO merged: only an end-to-end check catches a wrong merge. Every
//! datagram therefore carries a sequence number and a slice of the seeded pattern chosen by that
//! number, and the receiver checks every byte of every datagram, counting loss and duplicates.
//!
//! The sender writes with `UDP_SEGMENT` (one `send` = up to 64 datagrams, which reach a TUN with
//! USO as one super-packet); the receiver reads with `UDP_GRO` and cuts what it reads at every
//! `size` bytes (all datagrams are `size` bytes long, so a boundary is never in doubt).
//!
//! The receiver must cost little, or the rows measure it instead of the forwarders: each check
//! is one `memcmp` against the pattern, and by default the reading thread checks each read while
//! it is still in cache. With `checkers` > 0 it instead appends reads into 1 MB batches that
//! checker threads take in turn, each recording the sequence numbers it saw in a bitmap of its
//! own; the bitmaps are merged at the end, so a duplicate is found whichever threads saw its
//! copies. On the two CPUs the sender, forwarder, receiver and kernel share here, handing reads
//! to another thread measured slower than checking them in place.
//!
//! Datagram: `MAGIC` (u32), sequence number (u64), both big-endian, then pattern bytes.
//! Lines on stdout: `LISTENING`, `PROGRESS <bytes>`, `SENT <datagrams> <bytes> <nanos> <sends>`,
//! `RESULT <datagrams> <bytes> <nanos> <duplicates> <reads>`, `MISMATCH …`.

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::net::RecvFlags;

use crate::traffic::Pattern;

/// Identifies our datagrams (ASCII "tofu").
const MAGIC: u32 = 0x746f_6675;
/// Magic and sequence number.
const PREFIX: usize = 12;
/// Datagrams per `send`: quinn-udp's and the kernel's GRO batch (`UDP_GRO_CNT_MAX`).
const MAX_PER_SEND: usize = 64;
/// Bytes per `send`: a UDP length field holds at most 65535, of which 8 are the header; leave
/// room for an IPv6 header too.
const MAX_SEND: usize = 65535 - 8 - 40;
/// The receiver stops this long after the last datagram.
const IDLE: Duration = Duration::from_millis(500);

/// Where datagram `seq`'s pattern bytes start.
fn pattern_pos(seq: u64) -> usize {
    (seq.wrapping_mul(7919) % crate::traffic::PERIOD as u64) as usize
}

/// Write datagram `seq` of `size` bytes into `out`.
fn fill(out: &mut [u8], seq: u64, pattern: &Pattern) {
    out[..4].copy_from_slice(&MAGIC.to_be_bytes());
    out[4..PREFIX].copy_from_slice(&seq.to_be_bytes());
    let body = out.len() - PREFIX;
    out[PREFIX..].copy_from_slice(pattern.at(pattern_pos(seq), body));
}

/// Check one received datagram: its sequence number, or what is wrong with it.
fn check(d: &[u8], pattern: &Pattern) -> Result<u64, String> {
    if d.len() < PREFIX || d[..4] != MAGIC.to_be_bytes() {
        return Err(format!(
            "datagram of {} bytes without our prefix: {:02x?}",
            d.len(),
            &d[..d.len().min(PREFIX)]
        ));
    }
    let seq = u64::from_be_bytes(d[4..PREFIX].try_into().expect("8 bytes"));
    let expected = pattern.at(pattern_pos(seq), d.len() - PREFIX);
    // One `memcmp` for the common case; the byte at fault only when there is one.
    if d[PREFIX..] == *expected {
        return Ok(seq);
    }
    // Equal lengths that compare unequal differ at some byte.
    let i = d[PREFIX..]
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(0);
    Err(format!(
        "datagram seq={seq} offset={} got={:#04x} expected={:#04x}",
        PREFIX + i,
        d[PREFIX + i],
        expected[i]
    ))
}

fn parse<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| format!("{what} {s}: {e}"))
}

/// `__udp-send <addr:port> <seconds> <seed> <size> <Mbit/s, 0 = unpaced>`: send `size`-byte
/// datagrams with `UDP_SEGMENT` for `seconds`, at the given payload rate, and print `SENT`.
pub(crate) fn send(args: &[String]) -> Result<(), String> {
    let [addr, secs, seed, size, rate] = args else {
        return Err("usage: __udp-send <addr:port> <seconds> <seed> <size> <Mbit/s|0>".into());
    };
    let addr: SocketAddr = parse(addr, "address")?;
    let secs: f64 = parse(secs, "seconds")?;
    let seed: u64 = parse(seed, "seed")?;
    let size: usize = parse(size, "size")?;
    let rate: f64 = parse(rate, "rate")?;
    if !(PREFIX..=MAX_SEND).contains(&size) {
        return Err(format!("size {size}: not in {PREFIX}..={MAX_SEND}"));
    }
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().expect("address")
    } else {
        "[::]:0".parse().expect("address")
    };
    let sock = UdpSocket::bind(bind).map_err(|e| format!("bind: {e}"))?;
    sock.connect(addr)
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let per_send = (MAX_SEND / size).clamp(1, MAX_PER_SEND);
    if per_send > 1 {
        crate::sockopt::set_udp_segment(&sock, size as u16).map_err(|e| e.to_string())?;
    }
    let pattern = Pattern::new(seed);
    let (stats, nanos) = send_for(
        &sock,
        &pattern,
        size,
        per_send,
        Duration::from_secs_f64(secs),
        rate,
    )
    .map_err(|e| format!("send: {e}"))?;
    println!(
        "SENT {} {} {nanos} {}",
        stats.0,
        stats.0 * size as u64,
        stats.1
    );
    io::stdout().flush().ok();
    Ok(())
}

/// Send for `duration`; (datagrams, sends) and the nanoseconds it took.
fn send_for(
    sock: &UdpSocket,
    pattern: &Pattern,
    size: usize,
    per_send: usize,
    duration: Duration,
    mbit: f64,
) -> io::Result<((u64, u64), u128)> {
    let mut buf = vec![0u8; size * per_send];
    let start = Instant::now();
    let deadline = start + duration;
    // Seconds per `send` at the offered rate (payload bytes, as goodput counts them).
    let interval = (mbit > 0.0).then(|| (size * per_send * 8) as f64 / (mbit * 1e6));
    let (mut seq, mut sends) = (0u64, 0u64);
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if let Some(interval) = interval {
            let due = start + Duration::from_secs_f64(interval * sends as f64);
            if due > now {
                thread::sleep(due - now);
            }
        }
        for (i, d) in buf.chunks_mut(size).enumerate() {
            fill(d, seq + i as u64, pattern);
        }
        match sock.send(&buf) {
            Ok(_) => {}
            // A full socket buffer or a momentarily refused route is loss, which the receiver
            // counts; anything else ends the run.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionRefused
                ) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {}
            Err(e) => return Err(e),
        }
        seq += per_send as u64;
        sends += 1;
    }
    Ok(((seq, sends), start.elapsed().as_nanos()))
}

/// What the receiver saw.
#[derive(Debug, Default, PartialEq, Eq)]
struct Received {
    datagrams: u64,
    bytes: u64,
    duplicates: u64,
    reads: u64,
    nanos: u128,
}

/// Largest single read: a `UDP_GRO` read is one GRO super-packet, at most 64 KB of payload.
const READ_MAX: usize = 1 << 16;
/// Bytes the reader hands to a checker at once: many reads end to end. Every read is whole
/// datagrams of one size, so their concatenation is too, and one hand-over (one wake-up of a
/// checker) covers about sixteen reads.
const BATCH: usize = 1 << 20;
/// Batches in flight between the reader and the checkers (with the socket buffer, the room for
/// a burst while the checkers catch up).
const BATCHES: usize = 8;
/// The receive socket buffer: the room for a burst while the reader is off the CPU.
const RCVBUF: usize = 32 << 20;

/// `__udp-recv <bind-addr:port> <size> <seed> <max-seconds> [checkers]`: receive with
/// `UDP_GRO`, check every datagram (on `checkers` threads beside the reading one; 0, the
/// default: in the reading thread), stop `IDLE` after the last one (or at `max-seconds`), print
/// `RESULT`.
pub(crate) fn recv(args: &[String]) -> Result<(), String> {
    let (addr, size, seed, max, checkers) = match args {
        [a, s, d, m] => (a, s, d, m, "0"),
        [a, s, d, m, c] => (a, s, d, m, c.as_str()),
        _ => {
            return Err(
                "usage: __udp-recv <addr:port> <size> <seed> <max-seconds> [checkers]".into(),
            );
        }
    };
    let addr: SocketAddr = parse(addr, "address")?;
    let size: usize = parse(size, "size")?;
    let seed: u64 = parse(seed, "seed")?;
    let max: f64 = parse(max, "max-seconds")?;
    let checkers: usize = parse(checkers, "checkers")?;
    if !(PREFIX..=READ_MAX).contains(&size) {
        return Err(format!("size {size}: not in {PREFIX}..={READ_MAX}"));
    }
    let sock = UdpSocket::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    crate::sockopt::set_udp_gro(&sock).map_err(|e| e.to_string())?;
    // As root, past `net.core.rmem_max`.
    let _ = rustix::net::sockopt::set_socket_recv_buffer_size_force(&sock, RCVBUF)
        .or_else(|_| rustix::net::sockopt::set_socket_recv_buffer_size(&sock, RCVBUF));
    let pattern = Pattern::new(seed);
    println!("LISTENING");
    io::stdout().flush().ok();
    let r = receive(
        &sock,
        &pattern,
        size,
        Duration::from_secs_f64(max),
        checkers,
        true,
    )?;
    println!(
        "RESULT {} {} {} {} {}",
        r.datagrams, r.bytes, r.nanos, r.duplicates, r.reads
    );
    io::stdout().flush().ok();
    Ok(())
}

/// One checker's record: the sequence numbers it saw (a bit each) and how many datagrams it
/// checked, repeats included.
#[derive(Debug, Default)]
struct Tally {
    seen: Vec<u64>,
    checked: u64,
}

impl Tally {
    /// Check every `size`-byte datagram of `batch` and record it.
    fn add(&mut self, batch: &[u8], size: usize, pattern: &Pattern) -> Result<(), String> {
        for d in batch.chunks(size) {
            let seq = check(d, pattern)?;
            let (word, bit) = ((seq / 64) as usize, seq % 64);
            if word >= self.seen.len() {
                // Sequence numbers come from our sender and grow by one per datagram; a
                // corrupt one was rejected by the pattern check above. Growth doubles, so
                // it is rare.
                self.seen.resize(word + 1, 0);
            }
            self.seen[word] |= 1 << bit;
            self.checked += 1;
        }
        Ok(())
    }
}

/// Several checkers' tallies as one: (distinct datagrams, duplicates). A datagram that arrived
/// twice is a duplicate whether one checker saw both copies or two checkers one each.
fn merge(tallies: &[Tally]) -> (u64, u64) {
    let words = tallies.iter().map(|t| t.seen.len()).max().unwrap_or(0);
    let distinct: u64 = (0..words)
        .map(|w| {
            let any = tallies
                .iter()
                .fold(0u64, |acc, t| acc | t.seen.get(w).copied().unwrap_or(0));
            u64::from(any.count_ones())
        })
        .sum();
    let checked: u64 = tallies.iter().map(|t| t.checked).sum();
    (distinct, checked - distinct)
}

/// Where the reader gets empty batch buffers and puts full ones.
trait Sink {
    /// An empty buffer of at least `READ_MAX` bytes (`None`: the checkers are gone).
    fn take(&mut self) -> Option<Vec<u8>>;
    /// The first `len` bytes of `buf` are datagrams to check.
    fn give(&mut self, buf: Vec<u8>, len: usize) -> Result<(), String>;
}

/// No checker threads: the reader checks each read itself.
struct Inline<'a> {
    buf: Option<Vec<u8>>,
    tally: Tally,
    size: usize,
    pattern: &'a Pattern,
}

impl Sink for Inline<'_> {
    fn take(&mut self) -> Option<Vec<u8>> {
        self.buf.take()
    }

    fn give(&mut self, buf: Vec<u8>, len: usize) -> Result<(), String> {
        let r = self.tally.add(&buf[..len], self.size, self.pattern);
        self.buf = Some(buf);
        r.inspect_err(|e| println!("MISMATCH {e}"))
    }
}

/// Checker threads: full buffers go to whichever checker is free, and come back empty.
struct Pool {
    free: Receiver<Vec<u8>>,
    full: SyncSender<(Vec<u8>, usize)>,
}

impl Sink for Pool {
    fn take(&mut self) -> Option<Vec<u8>> {
        self.free.recv().ok()
    }

    fn give(&mut self, buf: Vec<u8>, len: usize) -> Result<(), String> {
        self.full
            .send((buf, len))
            .map_err(|_| "the checkers are gone".to_string())
    }
}

/// Receive until `IDLE` after the last datagram (or `max`), checking every datagram on
/// `checkers` threads (0: on this one).
fn receive(
    sock: &UdpSocket,
    pattern: &Pattern,
    size: usize,
    max: Duration,
    checkers: usize,
    progress: bool,
) -> Result<Received, String> {
    // A blocking read wakes at least this often to notice the end.
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    if checkers == 0 {
        // One read per batch: each read is checked while it is still in this CPU's cache.
        let mut sink = Inline {
            buf: Some(vec![0u8; READ_MAX]),
            tally: Tally::default(),
            size,
            pattern,
        };
        let mut r = read(
            sock,
            size,
            max,
            progress,
            &AtomicBool::new(false),
            &mut sink,
        )?;
        (r.datagrams, r.duplicates) = merge(&[sink.tally]);
        r.bytes = r.datagrams * size as u64;
        return Ok(r);
    }
    // Set by a checker that found a bad datagram: the reader stops.
    let failed = AtomicBool::new(false);
    let (free_tx, free_rx) = sync_channel::<Vec<u8>>(BATCHES);
    let (full_tx, full_rx) = sync_channel::<(Vec<u8>, usize)>(BATCHES);
    for _ in 0..BATCHES {
        free_tx
            .send(vec![0u8; BATCH])
            .expect("room for every buffer");
    }
    let full_rx = Mutex::new(full_rx);
    thread::scope(|s| {
        let threads: Vec<_> = (0..checkers)
            .map(|_| {
                let (free_tx, full_rx, failed) = (free_tx.clone(), &full_rx, &failed);
                s.spawn(move || {
                    let mut tally = Tally::default();
                    let mut error = None;
                    loop {
                        // Taken alone so the lock is not held while checking.
                        let next = full_rx.lock().expect("no checker panics").recv();
                        let Ok((buf, len)) = next else { break };
                        // After a failure keep taking buffers (unchecked) so the reader never
                        // waits on a checker that is gone.
                        if error.is_none()
                            && let Err(e) = tally.add(&buf[..len], size, pattern)
                        {
                            println!("MISMATCH {e}");
                            failed.store(true, Ordering::Relaxed);
                            error = Some(e);
                        }
                        // The reader may have stopped taking buffers: then they are dropped.
                        let _ = free_tx.send(buf);
                    }
                    error.map_or(Ok(tally), Err)
                })
            })
            .collect();
        drop(free_tx);
        let mut pool = Pool {
            free: free_rx,
            full: full_tx,
        };
        let read = read(sock, size, max, progress, &failed, &mut pool);
        // Closing the full side ends the checkers once they have emptied it.
        drop(pool);
        let mut tallies = Vec::with_capacity(checkers);
        let mut error = None;
        for t in threads {
            match t.join().map_err(|_| "a checker panicked".to_string()) {
                Ok(Ok(t)) => tallies.push(t),
                Ok(Err(e)) | Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = error {
            return Err(e);
        }
        let mut r = read?;
        (r.datagrams, r.duplicates) = merge(&tallies);
        r.bytes = r.datagrams * size as u64;
        Ok(r)
    })
}

/// The reading side: read with `UDP_GRO` into batch buffers from `sink`, each read placed after
/// the last, and hand a buffer on when it has no room for another read (at once, with the
/// inline sink's one-read buffer) or when nothing more is waiting. Reports the reads and the time from the first datagram to the last.
fn read(
    sock: &UdpSocket,
    size: usize,
    max: Duration,
    progress: bool,
    failed: &AtomicBool,
    sink: &mut dyn Sink,
) -> Result<Received, String> {
    let mut r = Received::default();
    let begin = Instant::now();
    let (mut first, mut last) = (None::<Instant>, begin);
    let mut next_progress = begin + Duration::from_millis(500);
    let mut read_bytes = 0u64;
    let mut buf = sink.take().ok_or("no buffer")?;
    let mut filled = 0;
    loop {
        let now = Instant::now();
        if failed.load(Ordering::Relaxed)
            || now - begin >= max
            || first.is_some() && now - last >= IDLE
        {
            break;
        }
        if progress && now >= next_progress {
            println!("PROGRESS {read_bytes}");
            io::stdout().flush().ok();
            next_progress = now + Duration::from_millis(500);
        }
        // With a part-filled buffer, only what is already queued: when nothing is, the
        // checkers get what there is before this thread waits.
        let flags = if filled > 0 {
            RecvFlags::DONTWAIT | RecvFlags::TRUNC
        } else {
            RecvFlags::TRUNC
        };
        let n = match rustix::net::recv(sock, &mut buf[filled..filled + READ_MAX], flags) {
            Ok((_, n)) => n,
            Err(Errno::AGAIN | Errno::INTR) => {
                if filled > 0 {
                    sink.give(buf, filled)?;
                    buf = sink.take().ok_or("the checkers are gone")?;
                    filled = 0;
                }
                continue;
            }
            Err(e) => return Err(format!("recv: {e}")),
        };
        last = Instant::now();
        first.get_or_insert(last);
        r.reads += 1;
        // (With TRUNC the kernel reports a datagram's whole length, past what fitted.)
        if !n.is_multiple_of(size) || n > READ_MAX {
            let msg = format!("read of {n} bytes: not a whole number of {size}-byte datagrams");
            println!("MISMATCH {msg}");
            return Err(msg);
        }
        filled += n;
        read_bytes += n as u64;
        if buf.len() - filled < READ_MAX {
            sink.give(buf, filled)?;
            buf = sink.take().ok_or("the checkers are gone")?;
            filled = 0;
        }
    }
    if filled > 0 {
        sink.give(buf, filled)?;
    }
    r.nanos = first.map_or(0, |f| (last - f).as_nanos());
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (UdpSocket, UdpSocket) {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        (tx, rx)
    }

    /// The receiver with its checks inline, on one thread and on two.
    const CHECKERS: [usize; 3] = [0, 1, 2];

    #[test]
    fn loopback_gso_transfer_counts_every_datagram() {
        for checkers in CHECKERS {
            let (tx, rx) = pair();
            crate::sockopt::set_udp_segment(&tx, 1200).unwrap();
            crate::sockopt::set_udp_gro(&rx).unwrap();
            let pattern = Pattern::new(5);
            // Paced low enough for the receiver's socket buffer: nothing may be lost on
            // loopback.
            let ((sent, sends), _) = thread::scope(|s| {
                let h = s.spawn(|| {
                    send_for(&tx, &pattern, 1200, 8, Duration::from_millis(200), 100.0).unwrap()
                });
                let got =
                    receive(&rx, &pattern, 1200, Duration::from_secs(5), checkers, false).unwrap();
                let out = h.join().unwrap();
                assert_eq!((got.datagrams, got.duplicates), (out.0.0, 0), "{checkers}");
                assert_eq!(got.bytes, out.0.0 * 1200);
                out
            });
            assert_eq!(sent, sends * 8);
            assert!(sends > 10, "{sends} sends");
        }
    }

    #[test]
    fn duplicates_are_counted_and_corruption_reported() {
        for checkers in CHECKERS {
            let (tx, rx) = pair();
            let pattern = Pattern::new(3);
            let mut d = vec![0u8; 300];
            fill(&mut d, 41, &pattern);
            tx.send(&d).unwrap();
            tx.send(&d).unwrap();
            fill(&mut d, 42, &pattern);
            tx.send(&d).unwrap();
            let r = receive(&rx, &pattern, 300, Duration::from_secs(5), checkers, false).unwrap();
            assert_eq!(
                (r.datagrams, r.duplicates, r.bytes),
                (2, 1, 600),
                "{checkers}"
            );

            d[200] ^= 1;
            tx.send(&d).unwrap();
            let e =
                receive(&rx, &pattern, 300, Duration::from_secs(5), checkers, false).unwrap_err();
            assert!(e.contains("seq=42 offset=200"), "{checkers}: {e}");
        }
    }

    #[test]
    fn corruption_among_many_datagrams_ends_the_receiver() {
        for checkers in CHECKERS {
            let (tx, rx) = pair();
            rustix::net::sockopt::set_socket_recv_buffer_size(&rx, 1 << 20).unwrap();
            let pattern = Pattern::new(9);
            let mut d = vec![0u8; 300];
            for seq in 0..100 {
                fill(&mut d, seq, &pattern);
                if seq == 57 {
                    d[299] ^= 0x80;
                }
                tx.send(&d).unwrap();
            }
            let begin = Instant::now();
            let e =
                receive(&rx, &pattern, 300, Duration::from_secs(5), checkers, false).unwrap_err();
            assert!(e.contains("seq=57 offset=299"), "{checkers}: {e}");
            // It stops at the bad datagram, not at the time limit.
            assert!(begin.elapsed() < Duration::from_secs(4), "{checkers}");
        }
    }

    #[test]
    fn a_read_that_is_not_whole_datagrams_is_an_error() {
        for checkers in CHECKERS {
            let (tx, rx) = pair();
            tx.send(&[0u8; 100]).unwrap();
            let e = receive(
                &rx,
                &Pattern::new(1),
                300,
                Duration::from_secs(5),
                checkers,
                false,
            )
            .unwrap_err();
            assert!(e.contains("100 bytes"), "{checkers}: {e}");
        }
    }

    /// Checked datagrams of `seqs`, each `size` bytes, end to end as one batch.
    fn batch(seqs: &[u64], size: usize, pattern: &Pattern) -> Vec<u8> {
        let mut b = vec![0u8; seqs.len() * size];
        for (d, &seq) in b.chunks_mut(size).zip(seqs) {
            fill(d, seq, pattern);
        }
        b
    }

    #[test]
    fn duplicates_seen_by_different_checkers_are_counted_once_each() {
        let pattern = Pattern::new(4);
        let (mut a, mut b) = (Tally::default(), Tally::default());
        // 3 twice within one checker, 2 and 200 once in each checker, 64 (a word boundary)
        // once: six distinct, three duplicates.
        a.add(&batch(&[1, 2, 3, 3, 200], 100, &pattern), 100, &pattern)
            .unwrap();
        b.add(&batch(&[2, 64, 200, 5], 100, &pattern), 100, &pattern)
            .unwrap();
        assert_eq!((a.checked, b.checked), (5, 4));
        assert_eq!(merge(&[a, b]), (6, 3));
        assert_eq!(merge(&[]), (0, 0));
        assert_eq!(merge(&[Tally::default()]), (0, 0));
    }

    #[test]
    fn checkers_on_threads_merge_to_the_same_counts() {
        let pattern = Pattern::new(6);
        // Every sequence number 0..5000 once, 0..5000 step 7 a second time, spread over two
        // threads in interleaved batches.
        let all: Vec<u64> = (0..5000).chain((0..5000).step_by(7)).collect();
        let tallies: Vec<Tally> = thread::scope(|s| {
            let hs: Vec<_> = (0..2)
                .map(|k| {
                    let (all, pattern) = (&all, &pattern);
                    s.spawn(move || {
                        let mut t = Tally::default();
                        for chunk in all.chunks(50).skip(k).step_by(2) {
                            t.add(&batch(chunk, 64, pattern), 64, pattern).unwrap();
                        }
                        t
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(merge(&tallies), (5000, 5000u64.div_ceil(7)));
    }
}
