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
    // USO and unknown bits are refused before the kernel sees them (we split TCP only).
    let e = ctl.set_offload(OffloadFlags::from_bits(0x60)).unwrap_err();
    assert!(matches!(e, Error::UnsupportedOffload(0x60)), "{e}");
    assert_eq!(
        ctl.negotiate_offload(OffloadFlags::ALL).unwrap(),
        OffloadFlags::ALL
    );
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
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut links = ns.links().unwrap();
    while links != ["lo"] && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        links = ns.links().unwrap();
    }
    assert_eq!(
        links,
        vec!["lo".to_owned()],
        "non-persistent devices vanish"
    );
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
