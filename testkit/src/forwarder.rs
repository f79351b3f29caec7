//! The harness protocol of the TUN-to-TUN forwarders that `cargo xtask netns-test` drives —
//! ours (`linux-tun`'s `forwarder` example) and the tun-rs peer — defined once: their command
//! line, their modes, and the `STATS` exchange on stdin/stdout.
//!
//! A forwarder prints `READY` once both devices are up and have the addresses and routes its
//! command line asks for (`--addr-a 10.99.0.1/32 --route-a 10.99.0.2/32 …`). With
//! `--stats-on-stdin`, each `STATS` line on its stdin is answered with one [`Stats`] line, and
//! end of input makes it print a last one and exit.
//!
//! With `--queues N` a forwarder opens each device with N queues and runs, for each queue `q`,
//! one thread reading A's queue `q` and writing B's queue `q` and one the other way: a queue
//! pair shares nothing with another. Its threads are named by [`thread_name`] so that the
//! harness can read each queue's CPU time from `/proc` ([`queue_of_thread`]); with `--pin`,
//! queue `q`'s two threads run on one CPU ([`pin`]). The `STATS` line sums every queue and
//! also gives each queue's figures ([`QueueStats`]).
//!
//! ```
//! use testkit::forwarder::{Args, Mode, Prefix, QueueStats, Stats};
//! let a = Args::parse(["--tun-a", "a0", "--tun-b", "b0", "--mode", "trust", "--queues", "2"]);
//! let a = a.unwrap();
//! assert_eq!((a.tun[0].as_str(), a.mode, a.queues), ("a0", Mode::Trust, 2));
//! let a = Args::parse(["--tun-a", "a0", "--tun-b", "b0", "--addr-b", "fd99::2/128"]).unwrap();
//! assert_eq!(a.addrs[1], ["fd99::2/128".parse::<Prefix>().unwrap()]);
//! let q = QueueStats { rx_segments: 3, tx_segments: 2, rx_bytes: 4500 };
//! let s = Stats { rx_segments: 3, tx_segments: 2, dropped: 1, queues: vec![q], ..Stats::default() };
//! assert_eq!(Stats::parse(&s.to_string()), Some(s));
//! ```

use std::ffi::OsString;
use std::fmt;
use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::str::FromStr;

/// How a forwarder moves packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No vnet header: one packet per read and per write.
    Plain,
    /// vnet header; super-packets forwarded untouched (no userspace work: the ceiling).
    Passthrough,
    /// Split on read, coalesce on write, verifying every segment's checksum.
    Verify,
    /// The same, trusting checksums (as after a tunnel's authentication).
    Trust,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Mode; 4] = [Mode::Plain, Mode::Passthrough, Mode::Verify, Mode::Trust];

    /// The `--mode` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Passthrough => "passthrough",
            Mode::Verify => "verify",
            Mode::Trust => "trust",
        }
    }

    /// The mode a `--mode` value names.
    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Segment drop/duplicate/reorder probabilities and the seed that makes a run repeatable.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Impairment {
    /// Probability that a segment is dropped.
    pub drop: f64,
    /// Probability that a segment is sent twice.
    pub duplicate: f64,
    /// Probability that a segment is held back to the end of its batch.
    pub reorder: f64,
    /// Seed of the forwarder's random choices.
    pub seed: u64,
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment {
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            seed: 1,
        }
    }
}

impl Impairment {
    /// Whether any impairment is asked for.
    pub fn is_active(&self) -> bool {
        self.drop > 0.0 || self.duplicate > 0.0 || self.reorder > 0.0
    }
}

/// An address or route destination with its prefix length, written `IP/LEN`.
///
/// ```
/// use testkit::forwarder::Prefix;
/// let p: Prefix = "10.99.0.1/32".parse().unwrap();
/// assert_eq!((p.ip, p.len), ("10.99.0.1".parse().unwrap(), 32));
/// assert_eq!(p.to_string(), "10.99.0.1/32");
/// assert!("10.99.0.1/33".parse::<Prefix>().is_err() && "fd99::1".parse::<Prefix>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    /// The address.
    pub ip: IpAddr,
    /// The prefix length (at most 32 for IPv4, 128 for IPv6).
    pub len: u8,
}

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Prefix, String> {
        let (ip, len) = s.split_once('/').ok_or("not IP/LEN")?;
        let ip: IpAddr = ip.parse().map_err(|e| format!("{e}"))?;
        let len: u8 = len.parse().map_err(|e| format!("prefix length: {e}"))?;
        if len > if ip.is_ipv4() { 32 } else { 128 } {
            return Err("prefix longer than the address".into());
        }
        Ok(Prefix { ip, len })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ip, self.len)
    }
}

/// A forwarder's command line.
#[derive(Clone, Debug, PartialEq)]
pub struct Args {
    /// The two devices' names (`--tun-a`, `--tun-b`).
    pub tun: [String; 2],
    /// The namespaces to create them in (`--ns-a`, `--ns-b`), if any.
    pub ns: [Option<String>; 2],
    /// Addresses to give each device before `READY` (`--addr-a`, `--addr-b`, repeatable).
    pub addrs: [Vec<Prefix>; 2],
    /// Routes through each device to add before `READY` (`--route-a`, `--route-b`,
    /// repeatable).
    pub routes: [Vec<Prefix>; 2],
    /// `--mtu` (1500 by default).
    pub mtu: u16,
    /// `--mode` (`verify` by default).
    pub mode: Mode,
    /// `--drop`, `--duplicate`, `--reorder` and `--seed`.
    pub impair: Impairment,
    /// `--copy-split`: split into contiguous, copied segments.
    pub copy_split: bool,
    /// `--stats-on-stdin`: answer `STATS` lines (see the module docs).
    pub stats_on_stdin: bool,
    /// `--queues`: queues per device, each with its own reader and writer threads (1 by
    /// default: a single-queue device).
    pub queues: usize,
    /// `--pin`: run each queue's threads on one CPU ([`pin`]).
    pub pin: bool,
}

/// The most queues a TUN device can have (`MAX_TAP_QUEUES` in the kernel's
/// `drivers/net/tun.c`; `TUNSETIFF` refuses one more with `E2BIG`).
pub const MAX_QUEUES: usize = 256;

/// The usage line of [`Args`].
pub const USAGE: &str = "usage: forwarder --tun-a NAME --tun-b NAME [--ns-a NS --ns-b NS] \
     [--addr-a IP/LEN]... [--addr-b IP/LEN]... [--route-a IP/LEN]... [--route-b IP/LEN]... \
     [--mode verify|trust|passthrough|plain] [--mtu N] [--drop P --duplicate P --reorder P \
     --seed N] [--copy-split] [--queues N] [--pin] [--stats-on-stdin]";

impl Args {
    /// Parse a command line (without the program name).
    ///
    /// # Errors
    /// A message naming the argument that is unknown, lacks its value or has a bad one;
    /// [`USAGE`] when a device name is missing; impairment with a mode that has no segments.
    pub fn parse<I>(args: I) -> std::result::Result<Args, String>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        use lexopt::Arg::Long;
        fn value<T: std::str::FromStr>(p: &mut lexopt::Parser, flag: &str) -> Result<T, String>
        where
            T::Err: fmt::Display,
        {
            let v = p.value().map_err(|e| e.to_string())?;
            let v = v.to_str().ok_or_else(|| format!("--{flag}: not UTF-8"))?;
            v.parse().map_err(|e| format!("--{flag} {v}: {e}"))
        }
        fn prob(p: &mut lexopt::Parser, flag: &str) -> Result<f64, String> {
            let v: f64 = value(p, flag)?;
            if (0.0..=1.0).contains(&v) {
                Ok(v)
            } else {
                Err(format!("--{flag} {v} is not a probability in 0..=1"))
            }
        }
        let mut a = Args {
            tun: [String::new(), String::new()],
            ns: [None, None],
            addrs: [Vec::new(), Vec::new()],
            routes: [Vec::new(), Vec::new()],
            mtu: 1500,
            mode: Mode::Verify,
            impair: Impairment::default(),
            copy_split: false,
            stats_on_stdin: false,
            queues: 1,
            pin: false,
        };
        let mut p = lexopt::Parser::from_args(args);
        while let Some(arg) = p.next().map_err(|e| e.to_string())? {
            match arg {
                Long("tun-a") => a.tun[0] = value(&mut p, "tun-a")?,
                Long("tun-b") => a.tun[1] = value(&mut p, "tun-b")?,
                Long("ns-a") => a.ns[0] = Some(value(&mut p, "ns-a")?),
                Long("ns-b") => a.ns[1] = Some(value(&mut p, "ns-b")?),
                Long("addr-a") => a.addrs[0].push(value(&mut p, "addr-a")?),
                Long("addr-b") => a.addrs[1].push(value(&mut p, "addr-b")?),
                Long("route-a") => a.routes[0].push(value(&mut p, "route-a")?),
                Long("route-b") => a.routes[1].push(value(&mut p, "route-b")?),
                Long("mtu") => a.mtu = value(&mut p, "mtu")?,
                Long("mode") => {
                    let m: String = value(&mut p, "mode")?;
                    a.mode = Mode::parse(&m).ok_or_else(|| format!("unknown mode {m}"))?;
                }
                Long("drop") => a.impair.drop = prob(&mut p, "drop")?,
                Long("duplicate") => a.impair.duplicate = prob(&mut p, "duplicate")?,
                Long("reorder") => a.impair.reorder = prob(&mut p, "reorder")?,
                Long("seed") => a.impair.seed = value(&mut p, "seed")?,
                Long("copy-split") => a.copy_split = true,
                Long("stats-on-stdin") => a.stats_on_stdin = true,
                Long("queues") => {
                    a.queues = value(&mut p, "queues")?;
                    if !(1..=MAX_QUEUES).contains(&a.queues) {
                        return Err(format!(
                            "--queues {} is not in 1..={MAX_QUEUES} (the kernel's limit)",
                            a.queues
                        ));
                    }
                }
                Long("pin") => a.pin = true,
                other => return Err(other.unexpected().to_string()),
            }
        }
        if a.tun.iter().any(String::is_empty) {
            return Err(USAGE.into());
        }
        if a.impair.is_active() && matches!(a.mode, Mode::Plain | Mode::Passthrough) {
            return Err("impairment works on segments: use it with --mode verify or trust".into());
        }
        Ok(a)
    }

    /// The arguments that [`parse`](Self::parse) reads back as `self`.
    pub fn to_args(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        let mut push = |k: &str, val: String| {
            v.push(format!("--{k}"));
            v.push(val);
        };
        push("tun-a", self.tun[0].clone());
        push("tun-b", self.tun[1].clone());
        if let Some(ns) = &self.ns[0] {
            push("ns-a", ns.clone());
        }
        if let Some(ns) = &self.ns[1] {
            push("ns-b", ns.clone());
        }
        for (flag, list) in [
            ("addr-a", &self.addrs[0]),
            ("addr-b", &self.addrs[1]),
            ("route-a", &self.routes[0]),
            ("route-b", &self.routes[1]),
        ] {
            for p in list {
                push(flag, p.to_string());
            }
        }
        push("mtu", self.mtu.to_string());
        push("mode", self.mode.as_str().into());
        if self.impair.is_active() {
            push("drop", self.impair.drop.to_string());
            push("duplicate", self.impair.duplicate.to_string());
            push("reorder", self.impair.reorder.to_string());
            push("seed", self.impair.seed.to_string());
        }
        if self.queues != 1 {
            push("queues", self.queues.to_string());
        }
        if self.copy_split {
            v.push("--copy-split".into());
        }
        if self.pin {
            v.push("--pin".into());
        }
        if self.stats_on_stdin {
            v.push("--stats-on-stdin".into());
        }
        v
    }
}

/// A forwarder's counters, as one `STATS key=value …` line: the sums over every queue, then
/// each queue's own figures as `q<N>.<key>=value`. A forwarder reports what it counts; a key
/// it does not print reads back as 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Segments (or packets) read.
    pub rx_segments: u64,
    /// Segments (or packets) written.
    pub tx_segments: u64,
    /// Segments dropped (by impairment, or refused by the kernel).
    pub dropped: u64,
    /// Segments sent twice by impairment.
    pub duplicated: u64,
    /// Segments held back by impairment.
    pub reordered: u64,
    /// Write errors the forwarder survived.
    pub errors: u64,
    /// Each queue pair's figures, both directions together, by queue index.
    pub queues: Vec<QueueStats>,
}

/// One queue pair's counters (`q<N>.rx_segments`, `q<N>.tx_segments`, `q<N>.rx_bytes` in the
/// `STATS` line): what its two threads read and wrote, both directions together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Segments (or packets) read from this queue of either device.
    pub rx_segments: u64,
    /// Segments (or packets) written to this queue of either device.
    pub tx_segments: u64,
    /// IP bytes read from this queue of either device (a split super-packet counts its
    /// segments, headers included).
    pub rx_bytes: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "STATS rx_segments={} tx_segments={} dropped={} duplicated={} reordered={} errors={}",
            self.rx_segments,
            self.tx_segments,
            self.dropped,
            self.duplicated,
            self.reordered,
            self.errors
        )?;
        for (i, q) in self.queues.iter().enumerate() {
            write!(
                f,
                " q{i}.rx_segments={} q{i}.tx_segments={} q{i}.rx_bytes={}",
                q.rx_segments, q.tx_segments, q.rx_bytes
            )?;
        }
        Ok(())
    }
}

impl Stats {
    /// Read a `STATS` line; `None` if it is not one, `rx_segments`/`tx_segments` is missing, a
    /// known key has a value that is not a number, or a queue index is not below
    /// [`MAX_QUEUES`]. Unknown keys are skipped.
    pub fn parse(line: &str) -> Option<Stats> {
        let mut words = line.split_whitespace();
        if words.next() != Some("STATS") {
            return None;
        }
        let mut s = Stats::default();
        let (mut rx, mut tx) = (false, false);
        for kv in words {
            let (k, v) = kv.split_once('=')?;
            let num = || v.parse::<u64>().ok();
            let queue = k.strip_prefix('q').and_then(|r| r.split_once('.'));
            if let Some((q, key)) = queue.and_then(|(q, key)| Some((q.parse::<usize>().ok()?, key)))
            {
                if q >= MAX_QUEUES {
                    return None;
                }
                if s.queues.len() <= q {
                    s.queues.resize(q + 1, QueueStats::default());
                }
                let qs = &mut s.queues[q];
                match key {
                    "rx_segments" => qs.rx_segments = num()?,
                    "tx_segments" => qs.tx_segments = num()?,
                    "rx_bytes" => qs.rx_bytes = num()?,
                    _ => {}
                }
                continue;
            }
            match k {
                "rx_segments" => (s.rx_segments, rx) = (num()?, true),
                "tx_segments" => (s.tx_segments, tx) = (num()?, true),
                "dropped" => s.dropped = num()?,
                "duplicated" => s.duplicated = num()?,
                "reordered" => s.reordered = num()?,
                "errors" => s.errors = num()?,
                _ => {}
            }
        }
        (rx && tx).then_some(s)
    }
}

/// The name of the thread that forwards queue `queue` from device `from` (0: A, 1: B) to the
/// other: `q<queue> a>b` or `q<queue> b>a` (within the kernel's 15-byte thread names, so
/// `/proc/<pid>/task/<tid>/comm` shows it whole).
///
/// ```
/// use testkit::forwarder::{queue_of_thread, thread_name};
/// assert_eq!(thread_name(3, 1), "q3 b>a");
/// assert_eq!(queue_of_thread(&thread_name(3, 1)), Some(3));
/// assert_eq!(queue_of_thread("main"), None);
/// ```
pub fn thread_name(queue: usize, from: usize) -> String {
    format!("q{queue} {}", if from == 0 { "a>b" } else { "b>a" })
}

/// The queue a forwarder thread named by [`thread_name`] serves; `None` for any other name.
pub fn queue_of_thread(name: &str) -> Option<usize> {
    let (q, dir) = name.trim_end().strip_prefix('q')?.split_once(' ')?;
    matches!(dir, "a>b" | "b>a")
        .then(|| q.parse().ok())
        .flatten()
}

/// Pin the calling thread to one CPU: the `queue`-th (wrapping around) of those it may run on
/// (`sched_getaffinity`), so queue `q`'s two threads share CPU `q` and no other queue's.
/// Returns that CPU.
///
/// # Errors
/// A message naming the failed `sched_getaffinity`/`sched_setaffinity`.
pub fn pin(queue: usize) -> Result<usize, String> {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
    let allowed = sched_getaffinity(None).map_err(|e| format!("sched_getaffinity: {e}"))?;
    let cpus: Vec<usize> = (0..CpuSet::MAX_CPU)
        .filter(|&c| allowed.is_set(c))
        .collect();
    let cpu = *cpus
        .get(queue % cpus.len().max(1))
        .ok_or("sched_getaffinity: no CPU allowed")?;
    let mut one = CpuSet::new();
    one.set(cpu);
    sched_setaffinity(None, &one)
        .map_err(|e| format!("pinning queue {queue} to CPU {cpu}: {e}"))?;
    Ok(cpu)
}

/// Print `READY`, then — with `stats_on_stdin` — answer each `STATS` line on stdin with
/// `report()` and, at end of input, print it once more and return; without it, never return.
pub fn serve(stats_on_stdin: bool, report: impl Fn() -> Stats) {
    let out = |s: &str| {
        let mut o = std::io::stdout().lock();
        writeln!(o, "{s}").ok();
        o.flush().ok();
    };
    out("READY");
    if !stats_on_stdin {
        loop {
            std::thread::park();
        }
    }
    for line in std::io::stdin().lock().lines() {
        match line {
            Ok(l) if l.trim() == "STATS" => out(&report().to_string()),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    out(&report().to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_round_trip() {
        let a = Args {
            tun: ["a".into(), "b".into()],
            ns: [Some("na".into()), None],
            addrs: [
                vec![
                    "10.0.0.1/32".parse().unwrap(),
                    "fd00::1/128".parse().unwrap(),
                ],
                vec![],
            ],
            routes: [vec![], vec!["10.0.0.0/24".parse().unwrap()]],
            mtu: 9000,
            mode: Mode::Verify,
            impair: Impairment {
                drop: 0.002,
                duplicate: 0.0,
                reorder: 0.02,
                seed: 7,
            },
            copy_split: true,
            stats_on_stdin: true,
            queues: 4,
            pin: true,
        };
        assert_eq!(Args::parse(a.to_args()), Ok(a.clone()));
        let one = Args {
            queues: 1,
            pin: false,
            ..a
        };
        assert!(
            !one.to_args()
                .iter()
                .any(|s| s == "--queues" || s == "--pin")
        );
        assert_eq!(Args::parse(one.to_args()), Ok(one));
    }

    #[test]
    fn bad_command_lines_say_why() {
        let e = Args::parse(["--tun-a", "a"]).unwrap_err();
        assert!(e.starts_with("usage:"), "{e}");
        let e = Args::parse(["--tun-a", "a", "--tun-b", "b", "--mode", "fast"]).unwrap_err();
        assert!(e.contains("unknown mode fast"), "{e}");
        let e = Args::parse(["--tun-a", "a", "--tun-b", "b", "--drop", "2"]).unwrap_err();
        assert!(e.contains("not a probability"), "{e}");
        let e = Args::parse([
            "--tun-a", "a", "--tun-b", "b", "--mode", "plain", "--drop", "0.1",
        ])
        .unwrap_err();
        assert!(e.contains("impairment"), "{e}");
        let e = Args::parse(["--tun-a", "a", "--tun-b", "b", "--addr-a", "10.0.0.1"]).unwrap_err();
        assert!(e.contains("--addr-a") && e.contains("not IP/LEN"), "{e}");
        let e = Args::parse(["--tun-a", "a", "--tun-b", "b", "--route-b", "fd::/129"]).unwrap_err();
        assert!(e.contains("prefix longer"), "{e}");
        for n in ["0", "257"] {
            let e = Args::parse(["--tun-a", "a", "--tun-b", "b", "--queues", n]).unwrap_err();
            assert!(
                e.contains(&format!("--queues {n} is not in 1..=256")),
                "{e}"
            );
        }
        assert_eq!(
            Args::parse(["--tun-a", "a", "--tun-b", "b", "--queues", "256"]).map(|a| a.queues),
            Ok(256)
        );
        assert!(Args::parse(["--bogus"]).is_err());
    }

    #[test]
    fn stats_lines() {
        let s = Stats::parse("STATS rx_segments=10 tx_segments=9 dropped=1").unwrap();
        assert_eq!(
            (s.rx_segments, s.tx_segments, s.dropped, s.errors),
            (10, 9, 1, 0)
        );
        assert_eq!(s.queues, []);
        assert_eq!(Stats::parse("STATS rx_segments=x tx_segments=1"), None);
        assert_eq!(Stats::parse("STATS tx_segments=1"), None);
        assert_eq!(Stats::parse("READY"), None);
    }

    #[test]
    fn stats_lines_carry_each_queue() {
        let line = "STATS rx_segments=30 tx_segments=29 dropped=1 duplicated=0 reordered=0 \
                    errors=0 q0.rx_segments=10 q0.tx_segments=10 q0.rx_bytes=15000 \
                    q1.rx_segments=20 q1.tx_segments=19 q1.rx_bytes=29000";
        let s = Stats::parse(line).unwrap();
        let q = |rx_segments, tx_segments, rx_bytes| QueueStats {
            rx_segments,
            tx_segments,
            rx_bytes,
        };
        assert_eq!(s.queues, [q(10, 10, 15000), q(20, 19, 29000)]);
        assert_eq!(
            s.to_string(),
            line.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        // A queue that reports nothing reads as zeros; unknown keys are skipped, whatever
        // their value; a known key's bad value or an impossible index spoils the line.
        let s =
            Stats::parse("STATS rx_segments=1 tx_segments=1 q2.rx_bytes=7 q0.later=x,y future=a")
                .unwrap();
        assert_eq!(s.queues, [q(0, 0, 0), q(0, 0, 0), q(0, 0, 7)]);
        assert_eq!(
            Stats::parse("STATS rx_segments=1 tx_segments=1 q0.rx_bytes=-1"),
            None
        );
        assert_eq!(
            Stats::parse("STATS rx_segments=1 tx_segments=1 q256.rx_bytes=1"),
            None
        );
        let s = Stats::parse("STATS rx_segments=1 tx_segments=1 qx.rx_bytes=1 quiet=1").unwrap();
        assert_eq!(s.queues, []);
    }

    #[test]
    fn thread_names_name_their_queue() {
        for q in [0, 9, 255] {
            for from in [0, 1] {
                let name = thread_name(q, from);
                assert!(name.len() <= 15, "{name}");
                assert_eq!(queue_of_thread(&name), Some(q));
                // As /proc/<pid>/task/<tid>/comm shows it.
                assert_eq!(queue_of_thread(&format!("{name}\n")), Some(q));
            }
        }
        for other in ["main", "q1", "q1 x>y", "qx a>b", "tokio-runtime-w"] {
            assert_eq!(queue_of_thread(other), None, "{other}");
        }
    }

    #[test]
    fn pinning_picks_an_allowed_cpu_and_wraps() {
        let allowed = rustix::thread::sched_getaffinity(None).unwrap();
        let n = allowed.count() as usize;
        std::thread::spawn(move || {
            let first = pin(0).unwrap();
            assert!(allowed.is_set(first));
            // The thread now runs on that CPU alone, and queue n wraps around to it.
            let now = rustix::thread::sched_getaffinity(None).unwrap();
            assert_eq!((now.count(), now.is_set(first)), (1, true));
        })
        .join()
        .unwrap();
        let a = std::thread::spawn(|| pin(0).unwrap()).join().unwrap();
        let b = std::thread::spawn(move || pin(n).unwrap()).join().unwrap();
        assert_eq!(a, b);
    }
}
