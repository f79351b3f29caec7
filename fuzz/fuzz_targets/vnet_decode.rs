//! Every parsing entry point below the splitter and coalescer, on arbitrary bytes:
//! `VirtioNetHdr::decode` / `check_kernel` / `check_emit` and `inet_hdr::classify`.
//! Invariants: no panic; a decoded GSO description lies inside the packet; a header our writer
//! contract accepts is one the kernel accepts; a classified packet's L4 offset is in bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virtio_net_hdr::{Offload, VirtioNetHdr};

fuzz_target!(|data: &[u8]| {
    let Ok((hdr, packet)) = VirtioNetHdr::ref_from_packet(data) else {
        return;
    };
    match hdr.decode(packet) {
        Ok(Offload::Gso(g)) => {
            assert!(g.gso_size > 0);
            assert!(g.header_len <= packet.len());
            assert_eq!(g.l4_offset + g.l4_header_len, g.header_len);
        }
        Ok(Offload::Partial {
            csum_start,
            csum_offset,
        }) => {
            assert!(csum_start + csum_offset + 2 <= packet.len());
        }
        Ok(Offload::None | Offload::DataValid) | Err(_) => {}
    }
    let kernel = hdr.check_kernel(packet);
    if hdr.check_emit(packet).is_ok() {
        assert!(
            kernel.is_ok(),
            "emit-valid header rejected by the kernel rules: {kernel:?}"
        );
    }
    if let Ok(info) = inet_hdr::classify(packet) {
        assert!(info.l4_offset <= packet.len());
        assert_eq!(info.l3_len, info.l4_offset);
    }
});
