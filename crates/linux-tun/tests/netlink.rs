//! Addresses, routes, MTU and link state set from code (feature `netlink`), checked three
//! ways: read back through the library, read back with `ip`, and by real kernel TCP between
//! two namespaces whose only configuration is this.
//!
//! Every device is configured from the test's own thread, in the root namespace, while the
//! devices live in private namespaces: the requests must reach the device's namespace (one
//! device is an adopted descriptor), never the caller's.

#![cfg(feature = "netlink")]

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use linux_tun::{Address, Control, DeviceOp, Error, Tun};
use testkit::{Netns, require_root};

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    Ipv4Addr::new(a, b, c, d).into()
}

fn v6(s: &str) -> IpAddr {
    s.parse::<Ipv6Addr>().unwrap().into()
}

/// One address as `ip -o addr show` prints it after `inet`/`inet6`: `IP/LEN` or
/// `IP peer PEER/LEN`.
fn ip_addresses(ns: &Netns, dev: &str) -> Vec<String> {
    let out = ns.ip(&["-o", "addr", "show", "dev", dev]).unwrap();
    out.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace().skip_while(|w| !w.starts_with("inet"));
            words.next()?;
            let ip = words.next()?;
            Some(match words.next() {
                Some("peer") => format!("{ip} peer {}", words.next()?),
                _ => ip.to_string(),
            })
        })
        .collect()
}

/// The destinations of the routes through `dev`, IPv4 and IPv6, as `ip -o route` prints them.
fn ip_routes(ns: &Netns, dev: &str) -> Vec<String> {
    let mut all = Vec::new();
    for family in ["-4", "-6"] {
        let out = ns.ip(&[family, "-o", "route", "show", "dev", dev]).unwrap();
        all.extend(
            out.lines()
                .filter_map(|l| Some(l.split_whitespace().next()?.to_string())),
        );
    }
    all
}

/// The routes through `dev` once it has one to each of `want`, waiting at most 5 s: the
/// kernel adds an IPv6 peer's route from a work item, a moment after the address (rule book
/// §1.4).
fn routes_once_present(ns: &Netns, dev: &str, want: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let routes = ip_routes(ns, dev);
        if want.iter().all(|w| routes.iter().any(|r| r == w)) || Instant::now() > deadline {
            return routes;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn errno(r: Result<(), Error>, op: DeviceOp) -> i32 {
    match r {
        Err(Error::Netlink {
            op: got, source, ..
        }) if got == op => source.raw_os_error().expect("the kernel's errno"),
        other => panic!("expected {op} to fail with an errno, got {other:?}"),
    }
}

/// The plan of one side: point-to-point addresses to the other side, a subnet of its own,
/// and a route to the other side's subnet.
struct Side {
    p2p4: (IpAddr, IpAddr),
    p2p6: (IpAddr, IpAddr),
    subnet4: IpAddr,
    subnet6: IpAddr,
    route4: IpAddr,
    route6: IpAddr,
}

fn configure(ctl: &Control, s: &Side) -> Result<(), Error> {
    ctl.set_mtu(1400)?;
    // Addresses without a peer work whether the link is up or not; IPv4 routes and IPv6
    // peers need it up (rule book §1.4).
    ctl.add_address(s.subnet4, 24)?;
    ctl.add_address(s.subnet6, 64)?;
    ctl.set_up(true)?;
    ctl.add_address_with_peer(s.p2p4.0, s.p2p4.1, 32)?;
    ctl.add_address_with_peer(s.p2p6.0, s.p2p6.1, 128)?;
    ctl.add_route(s.route4, 24)?;
    ctl.add_route(s.route6, 64)?;
    Ok(())
}

/// Raw frames from `from` to `to` until `from` is removed; the largest one seen goes to
/// `largest`.
fn pump(from: Arc<Tun>, to: Arc<Tun>, largest: Arc<AtomicUsize>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = from.read_raw(&mut buf) {
            largest.fetch_max(n, Ordering::Relaxed);
            // A frame the other side refuses (its link briefly down) is dropped, as a wire
            // would.
            let _ = to.write_raw(&buf[..n]);
        }
    })
}

/// Connect from namespace `a` to `dst` in namespace `b`, send 200 KB, and get it back.
fn echo(a: &Netns, b: &Netns, dst: SocketAddr) {
    let listener = b.run(move || TcpListener::bind(dst).unwrap()).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut v = Vec::new();
        s.read_to_end(&mut v).unwrap();
        s.write_all(&v).unwrap();
    });
    let data: Vec<u8> = (0..200_000).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    let back = a
        .run(move || -> io::Result<Vec<u8>> {
            let mut s = TcpStream::connect_timeout(&dst, std::time::Duration::from_secs(10))?;
            s.write_all(&sent)?;
            s.shutdown(std::net::Shutdown::Write)?;
            let mut v = Vec::new();
            s.read_to_end(&mut v)?;
            Ok(v)
        })
        .unwrap()
        .unwrap_or_else(|e| panic!("TCP to {dst}: {e}"));
    server.join().unwrap();
    assert!(back == data, "echo through {dst} came back altered");
}

/// Two namespaces, a TUN in each, configured only through `Control` from the root namespace
/// (one of them an adopted descriptor); a forwarder between them. The configuration reads
/// back through the library and through `ip`, and TCP flows over IPv4 and IPv6 through the
/// point-to-point addresses and through the added routes, in packets no larger than the MTU.
#[test]
fn addresses_routes_mtu_and_link_set_from_code_carry_tcp() {
    if !require_root("addresses_routes_mtu_and_link_set_from_code_carry_tcp") {
        return;
    }
    let (na, nb) = (
        Netns::new("lt-nl-a").unwrap(),
        Netns::new("lt-nl-b").unwrap(),
    );
    let a = na
        .run(|| Tun::builder().name("ltnla").offload(false).open())
        .unwrap()
        .unwrap();
    // B as a privileged parent would hand it over: a descriptor, adopted here.
    let b_orig = nb
        .run(|| Tun::builder().name("ltnlb").offload(false).open())
        .unwrap()
        .unwrap();
    let fd = b_orig.as_fd().try_clone_to_owned().unwrap();
    drop(b_orig);
    let b = Tun::builder().offload(false).adopt(fd).unwrap();

    let side_a = Side {
        p2p4: (v4(10, 61, 0, 1), v4(10, 61, 0, 2)),
        p2p6: (v6("fd61::1"), v6("fd61::2")),
        subnet4: v4(10, 62, 0, 1),
        subnet6: v6("fd62::1"),
        route4: v4(10, 63, 0, 0),
        route6: v6("fd63::"),
    };
    let side_b = Side {
        p2p4: (v4(10, 61, 0, 2), v4(10, 61, 0, 1)),
        p2p6: (v6("fd61::2"), v6("fd61::1")),
        subnet4: v4(10, 63, 0, 1),
        subnet6: v6("fd63::1"),
        route4: v4(10, 62, 0, 0),
        route6: v6("fd62::"),
    };
    let (ca, cb) = (a.control(), b.control());
    configure(&ca, &side_a).unwrap();
    configure(&cb, &side_b).unwrap();

    // Read back through the library: exactly what was added, and the kernel's link-local
    // IPv6 address.
    let mut got = ca.addresses().unwrap();
    got.retain(|x| !matches!(x.ip, IpAddr::V6(ip) if ip.is_unicast_link_local()));
    let want = |ip, prefix_len, peer| (ip, prefix_len, peer);
    let mut got: Vec<_> = got
        .iter()
        .map(|x: &Address| want(x.ip, x.prefix_len, x.peer))
        .collect();
    got.sort();
    let mut expected = vec![
        want(side_a.p2p4.0, 32, Some(side_a.p2p4.1)),
        want(side_a.subnet4, 24, None),
        want(side_a.p2p6.0, 128, Some(side_a.p2p6.1)),
        want(side_a.subnet6, 64, None),
    ];
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(ca.mtu().unwrap(), 1400);
    assert!(ca.is_up().unwrap() && cb.is_up().unwrap());

    // Read back with `ip`, in each device's namespace.
    let mut got = ip_addresses(&nb, "ltnlb");
    got.retain(|a| !a.starts_with("fe80:"));
    got.sort();
    let mut expected = [
        "10.61.0.2 peer 10.61.0.1/32",
        "10.63.0.1/24",
        "fd61::2 peer fd61::1/128",
        "fd63::1/64",
    ];
    expected.sort();
    assert_eq!(got, expected);
    let want = [
        "10.61.0.1",
        "10.62.0.0/24",
        "10.63.0.0/24",
        "fd61::1",
        "fd62::/64",
        "fd63::/64",
    ];
    let routes = routes_once_present(&nb, "ltnlb", &want);
    for want in want {
        assert!(
            routes.iter().any(|r| r == want),
            "no route {want} in {routes:?}"
        );
    }
    let routes = routes_once_present(&na, "ltnla", &["fd61::2"]);
    assert!(routes.iter().any(|r| r == "fd61::2"), "{routes:?}");
    let link = nb.ip(&["-o", "link", "show", "dev", "ltnlb"]).unwrap();
    assert!(link.contains("mtu 1400") && link.contains(",UP"), "{link}");

    // Traffic: the forwarder copies frames between the two devices.
    let (a, b) = (Arc::new(a), Arc::new(b));
    let largest = Arc::new(AtomicUsize::new(0));
    let pumps = [
        pump(Arc::clone(&a), Arc::clone(&b), Arc::clone(&largest)),
        pump(Arc::clone(&b), Arc::clone(&a), Arc::clone(&largest)),
    ];
    // Point-to-point addresses, the peer routes the kernel derives from them, and the routes
    // added to each other's subnets (the source is a point-to-point address or the subnet
    // address; both route back).
    echo(&na, &nb, SocketAddr::new(side_b.p2p4.0, 7001));
    echo(&na, &nb, SocketAddr::new(side_b.p2p6.0, 7002));
    echo(&na, &nb, SocketAddr::new(side_b.subnet4, 7003));
    echo(&na, &nb, SocketAddr::new(side_b.subnet6, 7004));
    echo(&nb, &na, SocketAddr::new(side_a.subnet4, 7005));
    // Full-sized segments fill the MTU exactly, never more.
    assert_eq!(largest.load(Ordering::Relaxed), 1400);

    // Deleting the namespaces removes the devices, which ends the pumps.
    drop((na, nb));
    for p in pumps {
        p.join().unwrap();
    }
}

/// What the kernel answers to requests that cannot be carried out, as typed errors a caller
/// can act on: `EEXIST` for an address or route that is already there (so configuration can be
/// repeated), `ENETDOWN` for an IPv4 route on a link that is down, `EINVAL` for a route prefix
/// with host bits, `EADDRNOTAVAIL` and `ESRCH` for deleting what is not there. Deletions take
/// away what was added and nothing else.
#[test]
fn refusals_are_typed_and_deletions_undo_additions() {
    if !require_root("refusals_are_typed_and_deletions_undo_additions") {
        return;
    }
    let ns = Netns::new("lt-nl-err").unwrap();
    let tun = ns
        .run(|| Tun::builder().name("ltnle").offload(false).open())
        .unwrap()
        .unwrap();
    let ctl = tun.control();

    ctl.add_address(v4(10, 64, 0, 1), 24).unwrap();
    let again = ctl.add_address(v4(10, 64, 0, 1), 24);
    match &again {
        Err(Error::Netlink { source, name, .. }) => {
            assert_eq!(source.kind(), io::ErrorKind::AlreadyExists);
            assert_eq!(name, "ltnle");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(errno(again, DeviceOp::AddAddress), libc::EEXIST);
    ctl.add_address(v6("fd64::1"), 64).unwrap();
    assert_eq!(
        errno(ctl.add_address(v6("fd64::1"), 64), DeviceOp::AddAddress),
        libc::EEXIST
    );
    // The same address with another prefix length is another address.
    ctl.add_address(v4(10, 64, 0, 1), 16).unwrap();

    assert_eq!(
        errno(ctl.add_route(v4(10, 65, 0, 0), 24), DeviceOp::AddRoute),
        libc::ENETDOWN
    );
    ctl.set_up(true).unwrap();
    ctl.add_route(v4(10, 65, 0, 0), 24).unwrap();
    assert_eq!(
        errno(ctl.add_route(v4(10, 65, 0, 0), 24), DeviceOp::AddRoute),
        libc::EEXIST
    );
    ctl.add_route(v6("fd65::"), 64).unwrap();
    assert_eq!(
        errno(ctl.add_route(v6("fd65::"), 64), DeviceOp::AddRoute),
        libc::EEXIST
    );
    assert_eq!(
        errno(ctl.add_route(v4(10, 66, 0, 1), 24), DeviceOp::AddRoute),
        libc::EINVAL
    );

    // Caught before asking the kernel.
    assert!(matches!(
        ctl.add_address(v4(10, 64, 0, 1), 33),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        ctl.add_address_with_peer(v4(10, 64, 0, 1), v6("fd64::2"), 32),
        Err(Error::InvalidConfig(_))
    ));

    // Deleting: exactly the one asked for.
    ctl.delete_address(v4(10, 64, 0, 1), 16).unwrap();
    let left: Vec<_> = ctl
        .addresses()
        .unwrap()
        .into_iter()
        .filter(|a| a.ip == v4(10, 64, 0, 1))
        .map(|a| a.prefix_len)
        .collect();
    assert_eq!(left, [24]);
    assert_eq!(
        errno(
            ctl.delete_address(v4(10, 64, 0, 1), 16),
            DeviceOp::DeleteAddress
        ),
        libc::EADDRNOTAVAIL
    );
    ctl.delete_address(v6("fd64::1"), 64).unwrap();
    assert!(
        !ip_addresses(&ns, "ltnle")
            .iter()
            .any(|a| a.starts_with("fd64::1"))
    );
    ctl.delete_route(v4(10, 65, 0, 0), 24).unwrap();
    ctl.delete_route(v6("fd65::"), 64).unwrap();
    let routes = ip_routes(&ns, "ltnle");
    assert!(
        !routes
            .iter()
            .any(|r| r.starts_with("10.65.") || r.starts_with("fd65:")),
        "{routes:?}"
    );
    assert!(routes.iter().any(|r| r == "10.64.0.0/24"), "{routes:?}");
    assert_eq!(
        errno(
            ctl.delete_route(v4(10, 65, 0, 0), 24),
            DeviceOp::DeleteRoute
        ),
        libc::ESRCH
    );
    // A peer address is deleted with its peer.
    ctl.add_address_with_peer(v4(10, 67, 0, 1), v4(10, 67, 0, 2), 32)
        .unwrap();
    ctl.delete_address(v4(10, 67, 0, 1), 32).unwrap();
    assert!(
        !ip_addresses(&ns, "ltnle")
            .iter()
            .any(|a| a.starts_with("10.67."))
    );
}
