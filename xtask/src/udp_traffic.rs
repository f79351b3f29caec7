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
//! Datagram: `MAGIC` (u32), sequence number (u64), both big-endian, then pattern bytes.
//! Lines on stdout: `LISTENING`, `PROGRESS <bytes>`, `SENT <datagrams> <bytes> <nanos> <sends>`,
//! `RESULT <datagrams> <bytes> <nanos> <duplicates> <reads>`, `MISMATCH …`.

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

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
    if let Some(i) = d[PREFIX..].iter().zip(expected).position(|(a, b)| a != b) {
        return Err(format!(
            "datagram seq={seq} offset={} got={:#04x} expected={:#04x}",
            PREFIX + i,
            d[PREFIX + i],
            expected[i]
        ));
    }
    Ok(seq)
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

/// `__udp-recv <bind-addr:port> <size> <seed> <max-seconds>`: receive with `UDP_GRO`, check
/// every datagram, stop `IDLE` after the last one (or at `max-seconds`), print `RESULT`.
pub(crate) fn recv(args: &[String]) -> Result<(), String> {
    let [addr, size, seed, max] = args else {
        return Err("usage: __udp-recv <addr:port> <size> <seed> <max-seconds>".into());
    };
    let addr: SocketAddr = parse(addr, "address")?;
    let size: usize = parse(size, "size")?;
    let seed: u64 = parse(seed, "seed")?;
    let max: f64 = parse(max, "max-seconds")?;
    let sock = UdpSocket::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    crate::sockopt::set_udp_gro(&sock).map_err(|e| e.to_string())?;
    // Room for a burst at full speed while this thread checks bytes.
    let _ = rustix::net::sockopt::set_socket_recv_buffer_size_force(&sock, 32 << 20)
        .or_else(|_| rustix::net::sockopt::set_socket_recv_buffer_size(&sock, 32 << 20));
    let pattern = Pattern::new(seed);
    println!("LISTENING");
    io::stdout().flush().ok();
    let r = receive(&sock, &pattern, size, Duration::from_secs_f64(max), true)?;
    println!(
        "RESULT {} {} {} {} {}",
        r.datagrams, r.bytes, r.nanos, r.duplicates, r.reads
    );
    io::stdout().flush().ok();
    Ok(())
}

fn receive(
    sock: &UdpSocket,
    pattern: &Pattern,
    size: usize,
    max: Duration,
    progress: bool,
) -> Result<Received, String> {
    let mut buf = vec![0u8; 1 << 16];
    let mut seen: Vec<u64> = Vec::new();
    let mut r = Received::default();
    let begin = Instant::now();
    let (mut first, mut last) = (None::<Instant>, begin);
    let mut next_progress = begin + Duration::from_millis(500);
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    loop {
        let now = Instant::now();
        if now - begin >= max || first.is_some() && now - last >= IDLE {
            break;
        }
        if progress && now >= next_progress {
            println!("PROGRESS {}", r.bytes);
            io::stdout().flush().ok();
            next_progress = now + Duration::from_millis(500);
        }
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("recv: {e}")),
        };
        last = Instant::now();
        first.get_or_insert(last);
        r.reads += 1;
        if !n.is_multiple_of(size) {
            let msg = format!("read of {n} bytes: not a whole number of {size}-byte datagrams");
            println!("MISMATCH {msg}");
            return Err(msg);
        }
        for d in buf[..n].chunks(size) {
            let seq = check(d, pattern).inspect_err(|e| println!("MISMATCH {e}"))?;
            let (word, bit) = ((seq / 64) as usize, seq % 64);
            if word >= seen.len() {
                // Sequence numbers come from our sender and grow by one per datagram; a
                // corrupt one was rejected by the pattern check above.
                seen.resize(word + 1, 0);
            }
            if seen[word] & 1 << bit != 0 {
                r.duplicates += 1;
            } else {
                seen[word] |= 1 << bit;
                r.datagrams += 1;
                r.bytes += size as u64;
            }
        }
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

    #[test]
    fn loopback_gso_transfer_counts_every_datagram() {
        let (tx, rx) = pair();
        crate::sockopt::set_udp_segment(&tx, 1200).unwrap();
        crate::sockopt::set_udp_gro(&rx).unwrap();
        let pattern = Pattern::new(5);
        // Paced low enough for the receiver's socket buffer: nothing may be lost on loopback.
        let ((sent, sends), _) = thread::scope(|s| {
            let h = s.spawn(|| {
                send_for(&tx, &pattern, 1200, 8, Duration::from_millis(200), 100.0).unwrap()
            });
            let got = receive(&rx, &pattern, 1200, Duration::from_secs(5), false).unwrap();
            let out = h.join().unwrap();
            assert_eq!((got.datagrams, got.duplicates), (out.0.0, 0));
            assert_eq!(got.bytes, out.0.0 * 1200);
            out
        });
        assert_eq!(sent, sends * 8);
        assert!(sends > 10, "{sends} sends");
    }

    #[test]
    fn duplicates_are_counted_and_corruption_reported() {
        let (tx, rx) = pair();
        let pattern = Pattern::new(3);
        let mut d = vec![0u8; 300];
        fill(&mut d, 41, &pattern);
        tx.send(&d).unwrap();
        tx.send(&d).unwrap();
        fill(&mut d, 42, &pattern);
        tx.send(&d).unwrap();
        let r = receive(&rx, &pattern, 300, Duration::from_secs(5), false).unwrap();
        assert_eq!((r.datagrams, r.duplicates, r.bytes), (2, 1, 600));

        d[200] ^= 1;
        tx.send(&d).unwrap();
        let e = receive(&rx, &pattern, 300, Duration::from_secs(5), false).unwrap_err();
        assert!(e.contains("seq=42 offset=200"), "{e}");
    }

    #[test]
    fn a_read_that_is_not_whole_datagrams_is_an_error() {
        let (tx, rx) = pair();
        tx.send(&[0u8; 100]).unwrap();
        let e = receive(&rx, &Pattern::new(1), 300, Duration::from_secs(5), false).unwrap_err();
        assert!(e.contains("100 bytes"), "{e}");
    }
}
