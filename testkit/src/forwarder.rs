//! The harness protocol of the TUN-to-TUN forwarders that `cargo xtask netns-test` drives —
//! ours (`linux-tun`'s `forwarder` example) and the tun-rs peer — defined once: their command
//! line, their modes, and the `STATS` exchange on stdin/stdout.
//!
//! A forwarder prints `READY` once both devices are up and have the addresses and routes its
//! command line asks for (`--addr-a 10.99.0.1/32 --route-a 10.99.0.2/32 …`). With
//! `--stats-on-stdin`, each `STATS` line on its stdin is answered with one [`Stats`] line, and
//! end of input makes it print a last one and exit.
//!
//! ```
//! use testkit::forwarder::{Args, Mode, Prefix, Stats};
//! let a = Args::parse(["--tun-a", "a0", "--tun-b", "b0", "--mode", "trust"]).unwrap();
//! assert_eq!((a.tun[0].as_str(), a.mode), ("a0", Mode::Trust));
//! let a = Args::parse(["--tun-a", "a0", "--tun-b", "b0", "--addr-b", "fd99::2/128"]).unwrap();
//! assert_eq!(a.addrs[1], ["fd99::2/128".parse::<Prefix>().unwrap()]);
//! let s = Stats { rx_segments: 3, tx_segments: 2, dropped: 1, ..Stats::default() };
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
}

/// The usage line of [`Args`].
pub const USAGE: &str = "usage: forwarder --tun-a NAME --tun-b NAME [--ns-a NS --ns-b NS] \
     [--addr-a IP/LEN]... [--addr-b IP/LEN]... [--route-a IP/LEN]... [--route-b IP/LEN]... \
     [--mode verify|trust|passthrough|plain] [--mtu N] [--drop P --duplicate P --reorder P \
     --seed N] [--copy-split] [--stats-on-stdin]";

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
        if self.copy_split {
            v.push("--copy-split".into());
        }
        if self.stats_on_stdin {
            v.push("--stats-on-stdin".into());
        }
        v
    }
}

/// A forwarder's counters, as one `STATS key=value …` line. A forwarder reports what it counts;
/// a key it does not print reads back as 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
        )
    }
}

impl Stats {
    /// Read a `STATS` line; `None` if it is not one or `rx_segments`/`tx_segments` is missing.
    pub fn parse(line: &str) -> Option<Stats> {
        let mut words = line.split_whitespace();
        if words.next() != Some("STATS") {
            return None;
        }
        let mut s = Stats::default();
        let (mut rx, mut tx) = (false, false);
        for kv in words {
            let (k, v) = kv.split_once('=')?;
            let v: u64 = v.parse().ok()?;
            match k {
                "rx_segments" => (s.rx_segments, rx) = (v, true),
                "tx_segments" => (s.tx_segments, tx) = (v, true),
                "dropped" => s.dropped = v,
                "duplicated" => s.duplicated = v,
                "reordered" => s.reordered = v,
                "errors" => s.errors = v,
                _ => {}
            }
        }
        (rx && tx).then_some(s)
    }
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
        };
        assert_eq!(Args::parse(a.to_args()), Ok(a));
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
        assert!(Args::parse(["--bogus"]).is_err());
    }

    #[test]
    fn stats_lines() {
        let s = Stats::parse("STATS rx_segments=10 tx_segments=9 dropped=1").unwrap();
        assert_eq!(
            (s.rx_segments, s.tx_segments, s.dropped, s.errors),
            (10, 9, 1, 0)
        );
        assert_eq!(Stats::parse("STATS rx_segments=x tx_segments=1"), None);
        assert_eq!(Stats::parse("STATS tx_segments=1"), None);
        assert_eq!(Stats::parse("READY"), None);
    }
}
