//! A bare-metal program with no global allocator that splits a TCP super-packet with `tcp-tso`
//! and a UDP one with `udp-gso`, decodes a header with `virtio-net-hdr`, classifies a packet
//! with `inet-hdr` and sums it with `inet-csum`: each crate is used, so each is linked, and the
//! build fails if any of them needs an allocator or `std`.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

use tcp_tso::{IpVersion, Plan, Slab, Span, VirtioNetHdr};

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    loop {}
}

/// The entry point the linker looks for (the program never runs; it has to link).
// The symbol name is the contract with the linker, hence `no_mangle`.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    // A 3 × 100-byte IPv4 super-packet: IPv4 header (total length 340), TCP header (ACK).
    let mut packet = [0xabu8; 340];
    packet[..40].copy_from_slice(&[
        0x45, 0, 0x01, 0x54, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, //
        0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0,
    ]);
    let packet = black_box(packet);
    let hdr = VirtioNetHdr::tcp_gso(IpVersion::V4, 20, 20, 100, false);
    let mut slab = [0u8; 512];
    let mut spans = [Span::default(); 4];
    let split = Plan::new(&hdr, &packet)
        .and_then(|plan| plan.split(&packet, 0, Slab::new(&mut slab, 0), &mut spans));
    // A 3 × 100-byte IPv4 USO super-packet: IPv4 header (total length 328), UDP header.
    let mut datagram = [0xcdu8; 328];
    datagram[..28].copy_from_slice(&[
        0x45, 0, 0x01, 0x48, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, //
        0x9c, 0x40, 0x11, 0x51, 0x01, 0x34, 0, 0,
    ]);
    let datagram = black_box(datagram);
    let uso = udp_gso::VirtioNetHdr::udp_gso(20, 100);
    let mut uso_spans = [udp_gso::Span::default(); 4];
    let uso_split = udp_gso::Plan::new(&uso, &datagram).and_then(|plan| {
        plan.split(&datagram, 0, udp_gso::Slab::new(&mut slab, 0), &mut uso_spans)
    });
    black_box((
        split.is_ok(),
        uso_split.is_ok(),
        hdr.decode(&packet).is_ok(),
        inet_hdr::classify(&packet).is_ok(),
        inet_csum::checksum(&slab),
    ));
    loop {}
}
