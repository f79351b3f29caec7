//! The built-in TCP sender and receiver that run inside the namespaces.
//!
//! GRO output is written with NEEDS_CSUM, so the receiving kernel never checks the TCP checksum of a
//! merged packet: a wrong merge would be delivered silently. Only an end-to-end comparison catches it,
//! so every stream carries a deterministic pattern and the receiver compares every byte.
//!
//! Wire format per connection: an 8-byte preamble (`MAGIC`, stream index, both big-endian u32), then
//! pattern bytes starting at the stream's own offset, until the sender shuts down its write side.
//!
//! Both ends print one machine-readable line per event on stdout (`LISTENING`, `PROGRESS <bytes>`,
//! `STREAM <k> <bytes>`, `RESULT <bytes> <nanos>`, `MISMATCH …`) for the harness to parse.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Pattern period: not a multiple of any MSS or power of two, so a segment shifted by a whole
/// number of segments (a duplicated or misplaced merge) never lines up with the expected bytes.
pub(crate) const PERIOD: usize = (1 << 20) + 7;
/// Largest slice handed to one `write`/`read`.
const CHUNK: usize = 256 * 1024;
/// Identifies our preamble (ASCII "tofx").
const MAGIC: u32 = 0x746f_6678;

/// The pattern, with the first `CHUNK` bytes repeated after the period so that every slice of up to
/// `CHUNK` bytes starting anywhere in the period is contiguous.
pub(crate) struct Pattern {
    bytes: Vec<u8>,
}

impl Pattern {
    pub(crate) fn new(seed: u64) -> Self {
        let mut bytes = vec![0u8; PERIOD + CHUNK];
        let mut state = seed;
        for chunk in bytes[..PERIOD].chunks_mut(8) {
            let word = splitmix64(&mut state).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        let (head, tail) = bytes.split_at_mut(PERIOD);
        tail.copy_from_slice(&head[..CHUNK]);
        Pattern { bytes }
    }

    /// The expected bytes at pattern position `pos` (< PERIOD), `len` ≤ CHUNK long.
    pub(crate) fn at(&self, pos: usize, len: usize) -> &[u8] {
        &self.bytes[pos..pos + len]
    }
}

/// splitmix64: a tiny, well-mixed deterministic generator (Steele, Lea, Flood 2014).
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where stream `k` starts in the pattern, so parallel streams carry different bytes.
fn start_of(stream: u32) -> usize {
    (stream as usize).wrapping_mul(104_729) % PERIOD
}

/// `__send <addr> <streams> <seconds> <seed> [congestion-control]`: connect `streams` times,
/// send for `seconds`, shut down the write side and wait for the receiver to close (so every
/// byte was delivered).
pub(crate) fn send(args: &[String]) -> Result<(), String> {
    let (addr, streams, secs, seed, cc) = match args {
        [a, n, s, d] => (a, n, s, d, None),
        [a, n, s, d, cc] => (a, n, s, d, Some(cc.clone())),
        _ => {
            return Err(
                "usage: __send <addr:port> <streams> <seconds> <seed> [congestion-control]".into(),
            );
        }
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("address {addr}: {e}"))?;
    let streams: u32 = streams.parse().map_err(|e| format!("streams: {e}"))?;
    let secs: f64 = secs.parse().map_err(|e| format!("seconds: {e}"))?;
    let seed: u64 = seed.parse().map_err(|e| format!("seed: {e}"))?;
    let pattern = Arc::new(Pattern::new(seed));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let handles: Vec<_> = (0..streams)
        .map(|k| {
            let pattern = Arc::clone(&pattern);
            let cc = cc.clone();
            thread::spawn(move || send_one(addr, k, &pattern, deadline, cc.as_deref()))
        })
        .collect();
    let mut failure = None;
    for (k, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(bytes)) => println!("STREAM {k} {bytes}"),
            Ok(Err(e)) => failure = Some(format!("stream {k}: {e}")),
            Err(_) => failure = Some(format!("stream {k}: sender thread panicked")),
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn send_one(
    addr: SocketAddr,
    k: u32,
    pattern: &Pattern,
    deadline: Instant,
    cc: Option<&str>,
) -> io::Result<u64> {
    let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    sock.set_nodelay(false)?;
    if let Some(cc) = cc {
        crate::sys::set_congestion_control(&sock, cc)?;
    }
    let mut preamble = [0u8; 8];
    preamble[..4].copy_from_slice(&MAGIC.to_be_bytes());
    preamble[4..].copy_from_slice(&k.to_be_bytes());
    sock.write_all(&preamble)?;
    let mut pos = start_of(k);
    let mut sent = 0u64;
    // Check the clock every few writes only; writes are large.
    let mut n_writes = 0u32;
    loop {
        if n_writes.is_multiple_of(16) && Instant::now() >= deadline {
            break;
        }
        n_writes = n_writes.wrapping_add(1);
        let n = sock.write(pattern.at(pos, CHUNK))?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "connection closed",
            ));
        }
        sent += n as u64;
        pos = (pos + n) % PERIOD;
    }
    sock.shutdown(Shutdown::Write)?;
    // Wait for the receiver's close: it closes only after reading our FIN.
    let mut sink = [0u8; 64];
    sock.set_read_timeout(Some(Duration::from_secs(60)))?;
    while sock.read(&mut sink)? != 0 {}
    Ok(sent)
}

/// `__recv <bind-addr> <streams> <seed>`: accept `streams` connections, verify every byte against
/// the pattern, print progress twice a second and the result at the end. Exits non-zero on the
/// first mismatching byte.
pub(crate) fn recv(args: &[String]) -> Result<(), String> {
    let [addr, streams, seed] = args else {
        return Err("usage: __recv <addr:port> <streams> <seed>".into());
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("address {addr}: {e}"))?;
    let streams: u32 = streams.parse().map_err(|e| format!("streams: {e}"))?;
    let seed: u64 = seed.parse().map_err(|e| format!("seed: {e}"))?;
    let listener = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    let pattern = Arc::new(Pattern::new(seed));
    println!("LISTENING");
    io::stdout().flush().ok();

    let total = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reporter = {
        let total = Arc::clone(&total);
        let done = Arc::clone(&done);
        thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(500));
                println!("PROGRESS {}", total.load(Ordering::Relaxed));
                io::stdout().flush().ok();
            }
        })
    };

    let mut handles = Vec::new();
    let mut start = None;
    for _ in 0..streams {
        let (sock, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
        start.get_or_insert_with(Instant::now);
        let pattern = Arc::clone(&pattern);
        let total = Arc::clone(&total);
        handles.push(thread::spawn(move || recv_one(sock, &pattern, &total)));
    }
    let mut result = Ok(());
    for h in handles {
        match h.join() {
            Ok(Ok((k, bytes))) => println!("STREAM {k} {bytes}"),
            Ok(Err(e)) => {
                println!("MISMATCH {e}");
                result = Err(e);
            }
            Err(_) => result = Err("receiver thread panicked".into()),
        }
    }
    let elapsed = start.map_or(Duration::ZERO, |s| s.elapsed());
    done.store(true, Ordering::Relaxed);
    let _ = reporter.join();
    println!(
        "RESULT {} {}",
        total.load(Ordering::Relaxed),
        elapsed.as_nanos()
    );
    io::stdout().flush().ok();
    result
}

fn recv_one(
    mut sock: TcpStream,
    pattern: &Pattern,
    total: &AtomicU64,
) -> Result<(u32, u64), String> {
    let mut preamble = [0u8; 8];
    sock.read_exact(&mut preamble)
        .map_err(|e| format!("reading preamble: {e}"))?;
    let magic = u32::from_be_bytes([preamble[0], preamble[1], preamble[2], preamble[3]]);
    let k = u32::from_be_bytes([preamble[4], preamble[5], preamble[6], preamble[7]]);
    if magic != MAGIC {
        return Err(format!("bad preamble {preamble:02x?}"));
    }
    let mut pos = start_of(k);
    let mut offset = 0u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("stream {k}: read at byte {offset}: {e}")),
        };
        let expected = pattern.at(pos, n);
        if buf[..n] != *expected {
            let i = buf[..n]
                .iter()
                .zip(expected)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(format!(
                "stream={k} offset={} got={:#04x} expected={:#04x}",
                offset + i as u64,
                buf[i],
                expected[i]
            ));
        }
        offset += n as u64;
        pos = (pos + n) % PERIOD;
        total.fetch_add(n as u64, Ordering::Relaxed);
    }
    // Closing tells the sender that everything arrived.
    drop(sock);
    Ok((k, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_wraps_contiguously() {
        let p = Pattern::new(7);
        // A slice crossing the period boundary equals the period's start continued.
        let tail = p.at(PERIOD - 3, 10);
        assert_eq!(&tail[3..], p.at(0, 7));
        assert_eq!(&tail[..3], &p.bytes[PERIOD - 3..PERIOD]);
    }

    #[test]
    fn seeds_and_streams_differ() {
        let a = Pattern::new(1);
        let b = Pattern::new(2);
        assert_ne!(a.at(0, 64), b.at(0, 64));
        assert_ne!(start_of(0), start_of(1));
    }

    #[test]
    fn loopback_transfer_verifies_and_counts() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let pattern = Pattern::new(42);
        let total = AtomicU64::new(0);
        let deadline = Instant::now() + Duration::from_millis(200);
        let (sent, got) = thread::scope(|s| {
            let tx = s.spawn(|| send_one(addr, 3, &pattern, deadline, None).unwrap());
            let (sock, _) = listener.accept().unwrap();
            let got = recv_one(sock, &pattern, &total).unwrap();
            (tx.join().unwrap(), got)
        });
        assert_eq!(got, (3, sent));
        assert_eq!(total.load(Ordering::Relaxed), sent);
        assert!(sent > 0);
    }

    #[test]
    fn corrupted_byte_is_reported_with_its_offset() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let pattern = Pattern::new(9);
        let total = AtomicU64::new(0);
        let err = thread::scope(|s| {
            s.spawn(|| {
                let mut sock = TcpStream::connect(addr).unwrap();
                let mut data = Vec::from(MAGIC.to_be_bytes());
                data.extend_from_slice(&0u32.to_be_bytes());
                let mut body = pattern.at(start_of(0), 5000).to_vec();
                body[4321] ^= 0x10;
                data.extend_from_slice(&body);
                sock.write_all(&data).unwrap();
            });
            let (sock, _) = listener.accept().unwrap();
            recv_one(sock, &pattern, &total).unwrap_err()
        });
        assert!(err.contains("offset=4321"), "{err}");
    }
}
