//! Shared pieces of the criterion benchmarks and of the `compare` binary: the implementations
//! under test (ours and the peers, behind one signature) and a small best-of-N timer.
//!
//! Each measured area has a module here with its candidates and a `compare` function that
//! prints its table; `src/bin/compare.rs` lists those sections.

pub mod checksum;
pub mod coalesce;
pub mod forward;
pub mod split;
pub mod timing;
pub mod udp_coalesce;
