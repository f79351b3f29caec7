//! Opening, negotiating and configuring real TUN devices in private namespaces, and raw I/O.

mod common;

use std::io::IoSlice;
use std::net::UdpSocket;

use common::{LOCAL, PEER, netns_with_tun, udp4};
use linux_tun::{ChecksumStatus, DeviceOp, Error, OffloadFlags, SendBatch, Tun};
use testkit::{Netns, require_root};
use virtio_net_hdr::{Flags, VirtioNetHdr};

#[test]
fn create_negotiate_configure() {
    if !require_root("create_negotiate_configure") {
        return;
    }
    let ns = Netns::new("lt-create").unwrap();
    let tun = ns
        .run(|| {
            Tun::builder()
                .name("lt0")
                .offload(true)
                .mtu(1400)
                .up()
                .open()
        })
        .unwrap()
        .unwrap();
    let ctl = tun.control();
    assert_eq!(ctl.name(), "lt0");
    let caps = ctl.capabilities();
    assert_eq!(caps.vnet_hdr_len, Some(10));
    // 6.18 grants everything we ask for.
    assert_eq!(caps.offload, OffloadFlags::ALL);
    assert!(caps.gro && !caps.multi_queue);
    assert_eq!(ctl.mtu().unwrap(), 1400);
    let link = ns.ip(&["-o", "link", "show", "lt0"]).unwrap();
    assert!(link.contains("mtu 1400") && link.contains(",UP"), "{link}");

    // Configuration works from a thread outside the namespace too (control socket).
    ctl.set_mtu(1300).unwrap();
    assert!(
        ns.ip(&["-o", "link", "show", "lt0"])
            .unwrap()
            .contains("mtu 1300")
    );
    ctl.set_up(false).unwrap();
    assert!(!ctl.is_up().unwrap());
    ctl.set_up(true).unwrap();

    ctl.set_offload(OffloadFlags::CSUM).unwrap();
    assert_eq!(ctl.capabilities().offload, OffloadFlags::CSUM);
    // The kernel's own rule (rule book §4): TSO without CSUM is refused.
    let e = ctl.set_offload(OffloadFlags::TSO4).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Device {
                op: DeviceOp::SetOffload,
                ..
            }
        ),
        "{e}"
    );
    // USO4 without USO6 is the kernel's to refuse (rule book §4); negotiating it steps down
    // to the mask without USO.
    let uso4 = OffloadFlags::CSUM | OffloadFlags::TSO4 | OffloadFlags::USO4;
    let e = ctl.set_offload(uso4).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Device {
                op: DeviceOp::SetOffload,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        ctl.negotiate_offload(uso4).unwrap(),
        OffloadFlags::CSUM | OffloadFlags::TSO4
    );
    assert!(!ctl.capabilities().offload.has_uso());
    // Bits we do not serve (UDP tunnel GSO, 0x80) are refused before the kernel sees them.
    let e = ctl.set_offload(OffloadFlags::from_bits(0x81)).unwrap_err();
    assert!(matches!(e, Error::UnsupportedOffload(0x81)), "{e}");
    assert_eq!(
        ctl.negotiate_offload(OffloadFlags::ALL).unwrap(),
        OffloadFlags::ALL
    );
    assert!(ctl.capabilities().offload.has_uso());
}

#[test]
fn kernel_chosen_name_header_size_and_plain_mode() {
    if !require_root("kernel_chosen_name_header_size_and_plain_mode") {
        return;
    }
    let ns = Netns::new("lt-names").unwrap();
    let (a, b) = ns
        .run(|| {
            (
                Tun::builder().vnet_hdr_len(12).open(),
                Tun::builder().offload(false).open(),
            )
        })
        .unwrap();
    let (a, b) = (a.unwrap().control(), b.unwrap().control());
    assert!(a.name().starts_with("tun") && b.name().starts_with("tun"));
    assert_ne!(a.name(), b.name());
    assert_eq!(a.capabilities().vnet_hdr_len, Some(12));
    let caps = b.capabilities();
    assert_eq!(
        (caps.vnet_hdr_len, caps.offload, caps.gro),
        (None, OffloadFlags::NONE, false)
    );
    // Offload needs the vnet header.
    assert!(matches!(
        b.set_offload(OffloadFlags::CSUM),
        Err(Error::UnsupportedOffload(_))
    ));
    let links = ns.links().unwrap();
    assert!(links.contains(&a.name().to_owned()) && links.contains(&b.name().to_owned()));
    drop((a, b));
    // The device goes with the last reference to its file, and a process that another test
    // thread is forking holds a copy until it execs (close-on-exec): give that a moment.
    assert_eq!(
        links_once_closed(&ns),
        vec!["lo".to_owned()],
        "non-persistent devices vanish"
    );
}

/// The namespace's links once only `lo` is left, or after 2 s. A device goes when the last
/// copy of its descriptor closes, and a process another test thread is spawning holds a copy
/// until it `exec`s (close-on-exec): its close may come a moment after ours.
fn links_once_closed(ns: &Netns) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let links = ns.links().unwrap();
        if links == ["lo"] || std::time::Instant::now() > deadline {
            return links;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn builder_rejects_bad_configuration_without_syscalls() {
    assert!(matches!(
        Tun::builder().name("0123456789abcdef").open(),
        Err(Error::InvalidName(_))
    ));
    assert!(matches!(
        Tun::builder().vnet_hdr_len(11).open(),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        Tun::builder().multi_queue(0).open(),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        Tun::builder()
            .offload_mask(OffloadFlags::from_bits(0x10))
            .open(),
        Err(Error::UnsupportedOffload(0x10))
    ));
}

#[test]
fn raw_write_and_read_roundtrip() {
    if !require_root("raw_write_and_read_roundtrip") {
        return;
    }
    let (ns, tun) = netns_with_tun("lt-raw", Tun::builder().offload(true));
    let sock = ns.run(|| UdpSocket::bind((LOCAL, 9000)).unwrap()).unwrap();

    // Peer → namespace: a plain vnet header, then the packet; gathered with writev.
    let pkt = udp4((PEER, 1234), (LOCAL, 9000), b"hello through the tun");
    let hdr = VirtioNetHdr::plain().to_bytes();
    let n = tun
        .writev_raw(&[
            IoSlice::new(&hdr),
            IoSlice::new(&pkt[..20]),
            IoSlice::new(&pkt[20..]),
        ])
        .unwrap();
    assert_eq!(n, 10 + pkt.len());
    let mut got = [0u8; 64];
    let (n, from) = sock.recv_from(&mut got).unwrap();
    assert_eq!(&got[..n], b"hello through the tun");
    assert_eq!(from, (PEER, 1234).into());
    // write_raw takes the same frame in one piece.
    let mut frame = hdr.to_vec();
    frame.extend_from_slice(&udp4((PEER, 1235), (LOCAL, 9000), b"second"));
    tun.write_raw(&frame).unwrap();
    let (n, _) = sock.recv_from(&mut got).unwrap();
    assert_eq!(&got[..n], b"second");

    // Namespace → peer: read the frame back raw.
    sock.send_to(b"reply", (PEER, 5555)).unwrap();
    let mut buf = vec![0u8; 65536 + 10];
    let n = loop {
        let n = tun.read_raw(&mut buf).unwrap();
        let (_, p) = VirtioNetHdr::ref_from_packet(&buf[..n]).unwrap();
        // Skip anything that is not our datagram (e.g. IPv6 router solicitations).
        if p.len() >= 28 && p[0] >> 4 == 4 && p[9] == 17 && p[22..24] == 5555u16.to_be_bytes() {
            break n;
        }
    };
    let (h, p) = VirtioNetHdr::ref_from_packet(&buf[..n]).unwrap();
    assert_eq!(h.gso_type().0, 0);
    // With TUN_F_CSUM the kernel may hand over a partial UDP checksum.
    assert!(
        h.flags() == Flags::EMPTY || h.flags() == Flags::NEEDS_CSUM,
        "{h:?}"
    );
    assert_eq!(&p[16..20], &PEER.octets());
    assert_eq!(&p[28..], b"reply");
}

#[test]
fn nonblocking_read_would_block() {
    if !require_root("nonblocking_read_would_block") {
        return;
    }
    let (ns, tun) = netns_with_tun("lt-nb", Tun::builder().blocking(false));
    // Keep the link quiet: no IPv6 autoconfiguration traffic.
    ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1").unwrap();
    let mut buf = [0u8; 2048];
    let mut spins = 0;
    let err = loop {
        match tun.read_raw(&mut buf) {
            Ok(_) if spins < 100 => spins += 1, // drain anything sent while coming up
            Ok(n) => panic!("device keeps producing frames ({n} bytes)"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
}

#[test]
fn adopt_a_descriptor_from_a_parent() {
    if !require_root("adopt_a_descriptor_from_a_parent") {
        return;
    }
    let ns = Netns::new("lt-adopt").unwrap();
    let (with_hdr, plain) = ns
        .run(|| {
            (
                Tun::builder().name("lta0").open().unwrap(),
                Tun::builder().name("lta1").offload(false).open().unwrap(),
            )
        })
        .unwrap();
    // What a privileged parent hands over: an attached TUN descriptor.
    use std::os::fd::AsFd;
    let fd = with_hdr.as_fd().try_clone_to_owned().unwrap();
    let adopted = Tun::builder()
        .offload(true)
        .mtu(1280)
        .adopt(fd)
        .unwrap()
        .control();
    assert_eq!(adopted.name(), "lta0");
    let caps = adopted.capabilities();
    assert_eq!(
        (caps.vnet_hdr_len, caps.offload),
        (Some(10), OffloadFlags::ALL)
    );
    assert_eq!(adopted.mtu().unwrap(), 1280);

    // Without IFF_VNET_HDR on the descriptor, offload cannot be added afterwards.
    let fd = plain.as_fd().try_clone_to_owned().unwrap();
    let adopted = Tun::builder().offload(true).adopt(fd).unwrap().control();
    let caps = adopted.capabilities();
    assert_eq!(
        (caps.vnet_hdr_len, caps.offload, caps.gro),
        (None, OffloadFlags::NONE, false)
    );

    // A descriptor whose header length we could not read or write (the kernel allows any
    // from 10 up) gets the builder's length (10 by default) instead of overrunning our
    // header buffers.
    let fd = with_hdr.as_fd().try_clone_to_owned().unwrap();
    let odd: libc::c_int = 20;
    // SAFETY: TUNSETVNETHDRSZ reads one `int` through the pointer; `odd` outlives the call.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            libc::TUNSETVNETHDRSZ,
            &odd,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    let adopted = Tun::builder().offload(false).adopt(fd).unwrap();
    assert_eq!(adopted.control().capabilities().vnet_hdr_len, Some(10));
    let (_rx, mut tx) = adopted.into_halves();
    let mut batch = SendBatch::new(1);
    batch
        .push(
            &[
                0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
            ],
            ChecksumStatus::Unverified,
        )
        .unwrap();
    // The link is down (EIO): what matters is that the write path frames it without a panic.
    let _ = tx.send(&mut batch);

    // Something that is not a TUN is refused with the failing ioctl named.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let e = Tun::builder()
        .adopt(std::os::fd::OwnedFd::from(sock))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Device {
                op: DeviceOp::GetIff,
                ..
            }
        ),
        "{e}"
    );
}

/// The transmit queue length and the interface index, checked against what `ip` reports.
#[test]
fn transmit_queue_length_and_index() {
    if !require_root("transmit_queue_length_and_index") {
        return;
    }
    let ns = Netns::new("lt-qlen").unwrap();
    let (a, b) = ns
        .run(|| {
            (
                Tun::builder().name("ltq0").tx_queue_len(1234).open(),
                Tun::builder().name("ltq1").open(),
            )
        })
        .unwrap();
    let (a, b) = (a.unwrap().control(), b.unwrap().control());
    assert_eq!(a.tx_queue_len().unwrap(), 1234);
    let link = ns.ip(&["-o", "link", "show", "ltq0"]).unwrap();
    assert!(link.contains("qlen 1234"), "{link}");
    assert_eq!(b.tx_queue_len().unwrap(), 500, "a new TUN's default");
    a.set_tx_queue_len(77).unwrap();
    assert_eq!(a.tx_queue_len().unwrap(), 77);
    let link = ns.ip(&["-o", "link", "show", "ltq0"]).unwrap();
    assert!(link.contains("qlen 77"), "{link}");

    // `ip -o link` starts each line with the index: "7: ltq0: <…>".
    for ctl in [&a, &b] {
        let link = ns.ip(&["-o", "link", "show", ctl.name()]).unwrap();
        let index: u32 = link.split(':').next().unwrap().trim().parse().unwrap();
        assert_eq!(ctl.ifindex().unwrap(), index, "{link}");
    }
    assert_ne!(a.ifindex().unwrap(), b.ifindex().unwrap());
    // The kernel's own range check: a length that does not fit its `int` is refused before
    // the call, with the operation named.
    let e = a.set_tx_queue_len(u32::MAX).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Device {
                op: DeviceOp::SetTxQueueLen,
                ..
            }
        ),
        "{e}"
    );
}

/// Set in the re-executed test binary: the devices it is to attach, comma-separated, as the
/// unprivileged child of `persistent_device_opens_for_its_owner_without_privileges`.
const ATTACH_AS_CHILD: &str = "LINUX_TUN_TEST_ATTACH";

/// The unprivileged user of the ownership test (nobody) and another one.
const OWNER: u32 = 65534;
const STRANGER: u32 = 65533;

/// A persistent device owned by another uid (or group) is opened by a process with that uid
/// and no capabilities at all; a process with another uid is refused with `EPERM`.
#[test]
fn persistent_device_opens_for_its_owner_without_privileges() {
    if let Ok(names) = std::env::var(ATTACH_AS_CHILD) {
        attach_as_child(&names);
        return;
    }
    if !require_root("persistent_device_opens_for_its_owner_without_privileges") {
        return;
    }
    let ns = Netns::new("lt-owner").unwrap();
    ns.run(|| {
        // Created and left behind, as a boot-time setup step would.
        Tun::builder()
            .name("lto0")
            .persist(true)
            .owner(OWNER)
            .open()
            .unwrap();
        Tun::builder()
            .name("ltg0")
            .persist(true)
            .group(OWNER)
            .open()
            .unwrap();
    })
    .unwrap();
    let sysfs = |dev: &str, attr: &str| {
        let path = format!("/sys/class/net/{dev}/{attr}");
        ns.exec("cat", &[&path]).unwrap().trim().to_owned()
    };
    assert_eq!(sysfs("lto0", "owner"), OWNER.to_string());
    assert_eq!(sysfs("lto0", "group"), "-1");
    assert_eq!(sysfs("ltg0", "owner"), "-1");
    assert_eq!(sysfs("ltg0", "group"), OWNER.to_string());

    // The owner attaches; without CAP_NET_ADMIN it cannot change the MTU.
    let out = run_unprivileged(&ns, OWNER, OWNER, "lto0");
    assert!(out.contains("capeff=0000000000000000"), "{out}");
    let index = ns.ip(&["-o", "link", "show", "lto0"]).unwrap();
    let index = index.split(':').next().unwrap().trim();
    assert!(
        out.contains(&format!("lto0 attached ifindex={index} set_mtu=EPERM")),
        "{out}"
    );
    // Another uid is refused on both; in the device's group it attaches to the group one.
    let out = run_unprivileged(&ns, STRANGER, STRANGER, "lto0,ltg0");
    assert!(out.contains("lto0 refused TUNSETIFF EPERM"), "{out}");
    assert!(out.contains("ltg0 refused TUNSETIFF EPERM"), "{out}");
    let out = run_unprivileged(&ns, STRANGER, OWNER, "ltg0,lto0");
    assert!(out.contains("ltg0 attached"), "{out}");
    assert!(out.contains("lto0 refused TUNSETIFF EPERM"), "{out}");

    // Clean-up: persistence cleared by the privileged side, the device goes with its fd.
    ns.run(|| Tun::builder().name("lto0").persist(false).open())
        .unwrap()
        .unwrap();
    ns.ip(&["link", "del", "ltg0"]).unwrap();
    assert_eq!(links_once_closed(&ns), vec!["lo".to_owned()]);
}

/// Run this test binary as `uid`/`gid` with no groups and no capabilities inside `ns`, in the
/// child role for `names`; returns its report lines.
///
/// `ip netns exec` gives the child a mount namespace of its own: a tmpfs over `/dev/net`
/// holding a world-usable TUN node and a copy of this binary makes the test independent of
/// the host's `/dev/net/tun` mode and of whether the build directory is reachable for
/// `uid`. Nothing outside the child changes.
fn run_unprivileged(ns: &Netns, uid: u32, gid: u32, names: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    let rdev = std::fs::metadata("/dev/net/tun").unwrap().rdev();
    let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
    let script = r#"mount -t tmpfs -o mode=755 lt-owner /dev/net \
        && mknod -m 666 /dev/net/tun c "$3" "$4" && cp "$0" /dev/net/child \
        && exec setpriv --reuid="$1" --regid="$2" --clear-groups --inh-caps=-all \
           --bounding-set=-all /dev/net/child --exact \
           persistent_device_opens_for_its_owner_without_privileges --nocapture \
           --test-threads=1"#;
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns.name(), "sh", "-c", script])
        .arg(std::env::current_exe().unwrap())
        .args([uid, gid, major, minor].map(|n| n.to_string()))
        .env(ATTACH_AS_CHILD, names)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The test harness prints "test <name> ... " in front of the first line.
    let report: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once("CHILD ").map(|(_, r)| r))
        .collect();
    assert!(
        report.iter().any(|l| l.starts_with(&format!("uid={uid} "))),
        "{stdout}"
    );
    report.join("\n")
}

/// The child role: report who we are and what attaching to each device gave.
fn attach_as_child(names: &str) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim();
    let uid = rustix::process::geteuid().as_raw();
    println!("CHILD uid={uid} capeff={cap_eff}");
    let errno = |e: &std::io::Error| match e.raw_os_error() {
        Some(libc::EPERM) => "EPERM".to_owned(),
        _ => e.to_string(),
    };
    for name in names.split(',') {
        match Tun::builder().name(name).open() {
            Ok(tun) => {
                let ctl = tun.control();
                let mtu = match ctl.set_mtu(1400) {
                    Ok(()) => "ok".to_owned(),
                    Err(Error::Device { source, .. }) => errno(&source),
                    Err(e) => e.to_string(),
                };
                println!(
                    "CHILD {name} attached ifindex={} set_mtu={mtu}",
                    ctl.ifindex().unwrap()
                );
            }
            Err(Error::Device { op, source, .. }) => {
                println!("CHILD {name} refused {op} {}", errno(&source));
            }
            Err(e) => println!("CHILD {name} failed: {e}"),
        }
    }
}
