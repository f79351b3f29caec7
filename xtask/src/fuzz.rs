//! `cargo xtask fuzz [--seconds N]`: every fuzz target in turn, N seconds each.
//!
//! The targets are the `[[bin]]` entries of fuzz/Cargo.toml, so a new target is picked up as soon
//! as it is declared there.

use std::path::Path;
use std::process::Command;

const USAGE: &str =
    "usage: cargo xtask fuzz [--seconds N] [target …]   (default 60 s per target, all targets)";

pub(crate) fn main(args: &[String]) -> i32 {
    let mut seconds = 60u64;
    let mut only = Vec::new();
    let mut p = lexopt::Parser::from_args(args);
    loop {
        let arg = match p.next() {
            Ok(Some(arg)) => arg,
            Ok(None) => break,
            Err(e) => {
                eprintln!("{e}\n{USAGE}");
                return 2;
            }
        };
        match arg {
            lexopt::Arg::Long("seconds") => {
                match p.value().ok().and_then(|v| v.to_str()?.parse::<u64>().ok()) {
                    Some(n) if n > 0 => seconds = n,
                    _ => {
                        eprintln!("--seconds needs a positive number\n{USAGE}");
                        return 2;
                    }
                }
            }
            lexopt::Arg::Long("help") | lexopt::Arg::Short('h') => {
                println!("{USAGE}");
                return 0;
            }
            lexopt::Arg::Value(t) => only.push(t.to_string_lossy().into_owned()),
            other => {
                eprintln!("{}\n{USAGE}", other.unexpected());
                return 2;
            }
        }
    }
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let manifest = match std::fs::read_to_string(fuzz_dir.join("Cargo.toml")) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("fuzz: cannot read fuzz/Cargo.toml: {e}");
            return 1;
        }
    };
    let mut targets = bin_names(&manifest);
    if !only.is_empty() {
        if let Some(missing) = only.iter().find(|t| !targets.contains(t)) {
            eprintln!(
                "fuzz: no target named {missing}; targets: {}",
                targets.join(", ")
            );
            return 2;
        }
        targets = only;
    }
    if targets.is_empty() {
        eprintln!("fuzz: fuzz/Cargo.toml declares no [[bin]] targets");
        return 1;
    }
    if let Err(e) = crate::signal::install() {
        eprintln!("fuzz: cannot install the Ctrl-C handler: {e}");
        return 1;
    }
    println!(
        "fuzz: {} targets, {seconds} s each: {}",
        targets.len(),
        targets.join(", ")
    );
    let mut failed = Vec::new();
    for t in &targets {
        if crate::signal::interrupted() {
            eprintln!("fuzz: interrupted");
            return 130;
        }
        println!("fuzz: cargo +nightly fuzz run {t} -- -max_total_time={seconds}");
        // `cargo` from PATH (the rustup proxy understands `+nightly`); drop the toolchain pin the
        // outer `cargo xtask` set, or the nightly request would be overridden.
        let status = Command::new("cargo")
            .args(["+nightly", "fuzz", "run", t, "--"])
            .arg(format!("-max_total_time={seconds}"))
            .current_dir(&fuzz_dir)
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("CARGO")
            .env_remove("RUSTC")
            .env_remove("RUSTDOC")
            .status();
        match status {
            Ok(s) if s.success() => println!("fuzz: {t}: ok"),
            Ok(s) => {
                eprintln!("fuzz: {t}: FAILED ({s}); see fuzz/artifacts/{t}/");
                failed.push(t.clone());
            }
            Err(e) => {
                eprintln!("fuzz: {t}: cannot run cargo: {e}");
                failed.push(t.clone());
            }
        }
    }
    if failed.is_empty() {
        println!(
            "fuzz: all {} targets ran {seconds} s without a finding",
            targets.len()
        );
        0
    } else {
        eprintln!("fuzz: failures in {}", failed.join(", "));
        1
    }
}

/// Names of the `[[bin]]` tables in a Cargo manifest.
fn bin_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
            continue;
        }
        if in_bin
            && let Some(v) = line.strip_prefix("name")
            && let Some(v) = v.trim_start().strip_prefix('=')
        {
            let v = v.trim().trim_matches('"').to_string();
            if !v.is_empty() && !names.contains(&v) {
                names.push(v);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::bin_names;

    #[test]
    fn bins_are_read_from_the_manifest() {
        let m = r#"
[package]
name = "tun-offload-fuzz"

[dependencies]
name-like = "1"

[[bin]]
name = "vnet_decode"
path = "fuzz_targets/vnet_decode.rs"

[[bin]]
path = "fuzz_targets/gso_split.rs"
name = "gso_split"

[workspace]
"#;
        assert_eq!(bin_names(m), vec!["vnet_decode", "gso_split"]);
    }
}
