//! The fixtures themselves: namespaces are created, entered and always deleted.

use std::path::Path;

use testkit::{Netns, require_root};

fn netns_of_current_thread() -> String {
    std::fs::read_link("/proc/thread-self/ns/net")
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn create_and_delete() {
    if !require_root("create_and_delete") {
        return;
    }
    let ns = Netns::new("tk-create").unwrap();
    let path = ns.path();
    assert!(Path::new(&path).exists());
    assert!(ns.name().contains(&std::process::id().to_string()));
    assert_eq!(ns.links().unwrap(), vec!["lo".to_owned()]);
    drop(ns);
    assert!(!Path::new(&path).exists(), "{path} left behind");
}

#[test]
fn names_are_unique() {
    if !require_root("names_are_unique") {
        return;
    }
    let a = Netns::new("tk-uniq").unwrap();
    let b = Netns::new("tk-uniq").unwrap();
    assert_ne!(a.name(), b.name());
}

#[test]
fn run_enters_the_namespace_and_returns() {
    if !require_root("run_enters_the_namespace_and_returns") {
        return;
    }
    let ns = Netns::new("tk-run").unwrap();
    let outside = netns_of_current_thread();
    let inside = ns.run(netns_of_current_thread).unwrap();
    assert_ne!(inside, outside);
    // The caller's thread is unchanged.
    assert_eq!(netns_of_current_thread(), outside);
    // A socket made inside sees only the namespace's devices: a persistent TUN added there is visible.
    ns.ip(&["tuntap", "add", "mode", "tun", "name", "tkdummy0"])
        .unwrap();
    let devs = ns
        .run(|| std::fs::read_to_string("/proc/thread-self/net/dev").unwrap())
        .unwrap();
    assert!(devs.contains("tkdummy0"), "{devs}");
    let host = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap();
    assert!(!host.contains("tkdummy0"));
}

#[test]
fn exec_returns_output_and_reports_stderr() {
    if !require_root("exec_returns_output_and_reports_stderr") {
        return;
    }
    let ns = Netns::new("tk-exec").unwrap();
    let out = ns.exec("ip", &["-o", "link", "show", "lo"]).unwrap();
    assert!(out.contains("lo"));
    let err = ns.ip(&["link", "show", "does-not-exist0"]).unwrap_err();
    match err {
        testkit::Error::Command { stderr, .. } => assert!(!stderr.is_empty()),
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn sysctl_sets_a_value_inside_only() {
    if !require_root("sysctl_sets_a_value_inside_only") {
        return;
    }
    let ns = Netns::new("tk-sysctl").unwrap();
    ns.sysctl("net.ipv4.ip_forward", "1").unwrap();
    let v = ns.exec("cat", &["/proc/sys/net/ipv4/ip_forward"]).unwrap();
    assert_eq!(v.trim(), "1");
    ns.sysctl("net.ipv4.ip_forward", "0").unwrap();
    let v = ns.exec("cat", &["/proc/sys/net/ipv4/ip_forward"]).unwrap();
    assert_eq!(v.trim(), "0");
}

#[test]
fn cleanup_happens_on_panic() {
    if !require_root("cleanup_happens_on_panic") {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let r = std::thread::spawn(move || {
        let ns = Netns::new("tk-panic").unwrap();
        ns.ip(&["tuntap", "add", "mode", "tun", "name", "tkdummy1"])
            .unwrap();
        tx.send(ns.path()).unwrap();
        panic!("test failure inside a namespace");
    })
    .join();
    assert!(r.is_err());
    let path = rx.recv().unwrap();
    assert!(!Path::new(&path).exists(), "{path} left behind after panic");
}

#[test]
fn processes_started_inside_are_killed() {
    if !require_root("processes_started_inside_are_killed") {
        return;
    }
    let ns = Netns::new("tk-proc").unwrap();
    let p = ns.spawn_process("sleep", &["600"]).unwrap();
    let pid = p.id();
    std::mem::forget(p); // leave it to the namespace guard
    drop(ns);
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Gone, or a zombie waiting for its (our) reaping.
    assert!(state.is_empty() || state.contains(") Z"), "{state}");
}

#[test]
fn spawn_runs_in_the_namespace() {
    if !require_root("spawn_runs_in_the_namespace") {
        return;
    }
    let ns = Netns::new("tk-spawn").unwrap();
    let inside = ns
        .spawn(netns_of_current_thread)
        .unwrap()
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(inside, ns.run(netns_of_current_thread).unwrap());
    assert_ne!(inside, netns_of_current_thread());
}
