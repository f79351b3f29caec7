//! Workspace automation: `cargo xtask netns-test`, `cargo xtask fuzz`.
//!
//! `netns-test` is the end-to-end proof: real namespaces, real TUN devices, real kernel TCP, every
//! byte verified, every forwarder mode measured in one run. `fuzz` runs each fuzz target in turn.

mod fuzz;
mod netns_test;
mod signal;
mod sockopt;
mod sys;
mod traffic;
mod udp_traffic;

const USAGE: &str = "\
usage: cargo xtask <command>
  netns-test [--quick] …   end-to-end forwarding test and benchmark (needs root; --help for options)
  fuzz [--seconds N]       run every fuzz target for N seconds each (needs nightly + cargo-fuzz)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let code = match cmd.as_str() {
        "netns-test" => netns_test::main(rest),
        "fuzz" => fuzz::main(rest),
        // Hidden: the traffic endpoints, re-executed inside the namespaces by netns-test.
        "__send" => endpoint(traffic::send(rest)),
        "__recv" => endpoint(traffic::recv(rest)),
        "__udp-send" => endpoint(udp_traffic::send(rest)),
        "__udp-recv" => endpoint(udp_traffic::recv(rest)),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            0
        }
        other => {
            eprintln!("unknown command {other}\n{USAGE}");
            2
        }
    };
    std::process::exit(code);
}

fn endpoint(r: Result<(), String>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
