//! Quick side-by-side table of ours against the peers, all measured in one process.
//!
//! `cargo run --release -p benches --bin compare [section…]`; with no argument every section
//! runs. Sections: see [`SECTIONS`].

use benches::timing::Timer;

/// A section's name on the command line and the function printing its table.
type Section = (&'static str, fn(&Timer));

/// Every comparison section. Add one by adding a line here (its code lives in a module of the
/// `benches` library).
const SECTIONS: &[Section] = &[
    ("checksum", benches::checksum::compare),
    ("split", benches::split::compare),
    ("coalesce", benches::coalesce::compare),
    ("udp-coalesce", benches::udp_coalesce::compare),
    ("forward", benches::forward::compare),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let timer = Timer::default();
    if args.is_empty() {
        for (_, run) in SECTIONS {
            run(&timer);
            println!();
        }
        return;
    }
    for a in &args {
        match SECTIONS.iter().find(|(name, _)| name == a) {
            Some((_, run)) => {
                run(&timer);
                println!();
            }
            None => {
                let names: Vec<&str> = SECTIONS.iter().map(|(n, _)| *n).collect();
                eprintln!("unknown section {a:?}; sections: {}", names.join(", "));
                std::process::exit(2);
            }
        }
    }
}
