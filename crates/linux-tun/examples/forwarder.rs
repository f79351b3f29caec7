//! The reference "tunnel" on `linux-tun`: read a batch from one TUN, write it to another, in both
//! directions, one thread per direction. Replace [`Tunnel::seal`] / [`Tunnel::open`] with your
//! encryption and the hand-over with your transport, and this is a VPN data path.
//!
//! ```text
//! forwarder --tun-a NAME --tun-b NAME [--ns-a NETNS --ns-b NETNS] [--mtu 1500]
//!           [--mode verify|trust|passthrough|plain]
//!           [--drop P] [--duplicate P] [--reorder P] [--seed N] [--stats-on-stdin]
//! ```
//!
//! Modes (what `cargo xtask netns-test` compares):
//! - `verify` (default): offload on; every read is one super-packet split into segments plus
//!   whatever else was queued, every write coalesces segments back with GRO, checking each
//!   segment's TCP checksum first (a tunnel that cannot vouch for what it received).
//! - `trust`: the same, but segments are marked known-good (a tunnel whose cryptography
//!   already authenticated them), so GRO skips the checksum pass.
//! - `passthrough`: offload on, each super-packet is written out untouched with its vnet header.
//!   No userspace work at all: the ceiling the other offload modes are measured against.
//! - `plain`: no vnet header, one packet per read and per write: what a TUN without offload does.
//!
//! `--ns-a`/`--ns-b` create each device inside that network namespace (a thread joins the
//! namespace, opens the device and hands the fd back; the fd works from anywhere).
//!
//! Impairment (`verify`/`trust` only): drop, duplicate or reorder segments with the given
//! probabilities and a fixed seed, so GRO sees gaps, duplicates and out-of-order segments and TCP
//! has to recover; the data must still arrive intact.
//!
//! Prints `READY` when both devices are up. With `--stats-on-stdin`, a `STATS` line on stdin is
//! answered with `STATS rx_segments=… tx_segments=… dropped=… duplicated=… reordered=…`, and end
//! of input stops the forwarder.

use linux_tun::Tun;
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

/// Largest frame a read can return: vnet header + 64 KiB super-packet.
const MAX_FRAME: usize = 12 + 65535;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Plain,
    Passthrough,
    Verify,
    Trust,
}

/// Segment drop/duplicate/reorder probabilities and the seed that makes a run repeatable.
#[derive(Clone, Copy, Default)]
struct Impairment {
    drop: f64,
    duplicate: f64,
    reorder: f64,
    seed: u64,
}

impl Impairment {
    fn is_active(&self) -> bool {
        self.drop > 0.0 || self.duplicate > 0.0 || self.reorder > 0.0
    }
}

struct Args {
    tun: [String; 2],
    ns: [Option<String>; 2],
    mtu: u32,
    mode: Mode,
    impair: Impairment,
    stats_on_stdin: bool,
}

/// Counters shared by both directions, reported on request.
#[derive(Default)]
struct Counters {
    rx_segments: AtomicU64,
    tx_segments: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        tun: [String::new(), String::new()],
        ns: [None, None],
        mtu: 1500,
        mode: Mode::Verify,
        impair: Impairment {
            seed: 1,
            ..Impairment::default()
        },
        stats_on_stdin: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        let prob = |s: String| match s.parse::<f64>() {
            Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
            _ => Err(format!("{s} is not a probability in 0..=1")),
        };
        match arg.as_str() {
            "--tun-a" => a.tun[0] = value()?,
            "--tun-b" => a.tun[1] = value()?,
            "--ns-a" => a.ns[0] = Some(value()?),
            "--ns-b" => a.ns[1] = Some(value()?),
            "--mtu" => a.mtu = value()?.parse().map_err(|e| format!("--mtu: {e}"))?,
            "--mode" => {
                a.mode = match value()?.as_str() {
                    "plain" => Mode::Plain,
                    "passthrough" => Mode::Passthrough,
                    "verify" => Mode::Verify,
                    "trust" => Mode::Trust,
                    m => return Err(format!("unknown mode {m}")),
                }
            }
            "--drop" => a.impair.drop = prob(value()?)?,
            "--duplicate" => a.impair.duplicate = prob(value()?)?,
            "--reorder" => a.impair.reorder = prob(value()?)?,
            "--seed" => a.impair.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--stats-on-stdin" => a.stats_on_stdin = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.tun.iter().any(String::is_empty) {
        return Err("usage: forwarder --tun-a NAME --tun-b NAME [--ns-a NS --ns-b NS] [--mode verify|trust|passthrough|plain] [--mtu N] [--drop P --duplicate P --reorder P --seed N] [--stats-on-stdin]".into());
    }
    if a.impair.is_active() && matches!(a.mode, Mode::Plain | Mode::Passthrough) {
        return Err("impairment works on segments: use it with --mode verify or trust".into());
    }
    Ok(a)
}

/// Open one device, inside `netns` when given: a short-lived thread joins the namespace so the
/// interface is created there.
fn open(name: &str, netns: Option<&str>, args: &Args) -> Result<Tun, String> {
    let builder = Tun::builder()
        .name(name)
        .offload(args.mode != Mode::Plain)
        .mtu(args.mtu)
        .up();
    let path = netns.map(|n| format!("/run/netns/{n}"));
    thread::scope(|s| {
        s.spawn(|| {
            if let Some(path) = &path {
                let ns = File::open(path).map_err(|e| format!("{path}: {e}"))?;
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&ns),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .map_err(|e| format!("entering {path}: {e}"))?;
            }
            builder.open().map_err(|e| format!("opening {name}: {e}"))
        })
        .join()
        .map_err(|_| "device thread panicked".to_string())?
    })
}

/// `plain` and `passthrough`: one frame per read, written out as it came (with its vnet header
/// in pass-through). The kernel's super-packet goes out as a super-packet.
fn pump_raw(from: &Tun, to: &Tun, count_segments: bool, c: &Counters) -> io::Result<()> {
    let mut frame = vec![0u8; MAX_FRAME];
    loop {
        let n = from.read_raw(&mut frame)?;
        let segs = if count_segments {
            segments_in_frame(&frame[..n])
        } else {
            1
        };
        c.rx_segments.fetch_add(segs, Ordering::Relaxed);
        // A real tunnel would seal the frame here.
        match to.write_raw(&frame[..n]) {
            Ok(_) => {
                c.tx_segments.fetch_add(segs, Ordering::Relaxed);
            }
            // The receiving kernel refused this one frame: count it as lost, keep forwarding.
            Err(e) if e.raw_os_error() == Some(libc_einval()) => {
                c.dropped.fetch_add(segs, Ordering::Relaxed);
            }
            Err(e) => return Err(e),
        }
    }
}

fn libc_einval() -> i32 {
    rustix::io::Errno::INVAL.raw_os_error()
}

/// How many wire segments a frame read with a vnet header stands for (for the statistics only).
fn segments_in_frame(frame: &[u8]) -> u64 {
    use virtio_net_hdr::{Offload, VirtioNetHdr};
    let Ok((hdr, packet)) = VirtioNetHdr::split_prefix(frame) else {
        return 1;
    };
    match hdr.decode(packet) {
        Ok(Offload::Gso(g)) if g.gso_size > 0 => {
            let payload = packet.len().saturating_sub(g.header_len);
            payload.div_ceil(usize::from(g.gso_size)).max(1) as u64
        }
        _ => 1,
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("forwarder: {e}");
            std::process::exit(2);
        }
    };
    let devs = match (
        open(&args.tun[0], args.ns[0].as_deref(), &args),
        open(&args.tun[1], args.ns[1].as_deref(), &args),
    ) {
        (Ok(a), Ok(b)) => [Arc::new(a), Arc::new(b)],
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("forwarder: {e}");
            std::process::exit(1);
        }
    };
    let counters = Arc::new(Counters::default());
    for (from, to) in [(0, 1), (1, 0)] {
        let (from, to) = (Arc::clone(&devs[from]), Arc::clone(&devs[to]));
        let c = Arc::clone(&counters);
        let mode = args.mode;
        thread::spawn(move || {
            let r = match mode {
                Mode::Plain => pump_raw(&from, &to, false, &c),
                Mode::Passthrough => pump_raw(&from, &to, true, &c),
                Mode::Verify | Mode::Trust => unimplemented!(),
            };
            if let Err(e) = r {
                eprintln!("forwarder: {} -> {}: {e}", from.name(), to.name());
                std::process::exit(1);
            }
        });
    }
    println!("READY");
    io::stdout().flush().ok();
    if !args.stats_on_stdin {
        loop {
            thread::park();
        }
    }
    let report = || {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        println!(
            "STATS rx_segments={} tx_segments={} dropped={} duplicated={} reordered={}",
            g(&counters.rx_segments),
            g(&counters.tx_segments),
            g(&counters.dropped),
            g(&counters.duplicated),
            g(&counters.reordered),
        );
        io::stdout().flush().ok();
    };
    for line in io::stdin().lock().lines() {
        match line {
            Ok(l) if l.trim() == "STATS" => report(),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    report();
    std::process::exit(0);
}
