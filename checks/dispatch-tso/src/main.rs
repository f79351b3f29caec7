//! A program that depends on `tcp-tso` alone: which checksum kernel does it run? Exits with
//! an error unless it is the fastest one this CPU supports (run it alone,
//! `cargo run -p dispatch-check-tso`, so that no other crate's features are unified in).

#[path = "../../dispatch.rs"]
mod dispatch;

use tcp_tso as _;

fn main() {
    if let Err(e) = dispatch::check("tcp-tso alone") {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tcp_tso_alone_dispatches_to_the_fastest_kernel() {
        super::dispatch::check("tcp-tso alone").unwrap();
    }
}
