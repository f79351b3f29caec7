//! Workspace automation: `cargo xtask netns-test`, `cargo xtask fuzz`.
fn main() {}
