//! A program that depends on `tcp-gro` alone with its default features off: which checksum
//! kernel does it run? Exits with an error unless it is the fastest one this CPU supports (run
//! it alone, `cargo run -p dispatch-check-gro`, so that no other crate's features are unified
//! in).

#[path = "../../dispatch.rs"]
mod dispatch;

use tcp_gro as _;

fn main() {
    if let Err(e) = dispatch::check("tcp-gro alone, no default features") {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tcp_gro_without_std_dispatches_to_the_fastest_kernel() {
        super::dispatch::check("tcp-gro alone, no default features").unwrap();
    }
}
