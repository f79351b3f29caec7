//! Packet builders for tests and examples across the workspace.

use alloc::vec::Vec;

/// An IPv4 TCP super-packet as a TUN with TSO hands it out: 10.0.0.1:40000 → 10.0.0.2:5201,
/// IPv4 ID 0x1000, DF, TTL 64, 20-byte TCP header with ACK, `segments × mss` payload bytes
/// (byte `i` is `i as u8`), valid IPv4 header checksum, and the TCP checksum field holding the
/// folded pseudo-header sum over the full L4 length (`CHECKSUM_PARTIAL`).
///
/// # Panics
/// If the packet would exceed 65535 bytes.
///
/// ```
/// let p = virtio_net_hdr::testdata::ipv4_tcp_super_packet(2, 1000);
/// assert_eq!(p.len(), 20 + 20 + 2000);
/// ```
pub fn ipv4_tcp_super_packet(segments: usize, mss: usize) -> Vec<u8> {
    let payload = segments * mss;
    let total = 40 + payload;
    let total16 = u16::try_from(total).expect("super-packet larger than 65535 bytes");
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0x00]);
    p.extend_from_slice(&total16.to_be_bytes());
    p.extend_from_slice(&[
        0x10, 0x00, 0x40, 0x00, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    let ipc = inet_csum::header_checksum(&p[..20]);
    p[10..12].copy_from_slice(&ipc.to_be_bytes());
    p.extend_from_slice(&40000u16.to_be_bytes());
    p.extend_from_slice(&5201u16.to_be_bytes());
    p.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    p.extend_from_slice(&0x0a0b_0c0du32.to_be_bytes());
    p.extend_from_slice(&[0x50, 0x10, 0x01, 0xf5, 0, 0, 0, 0]);
    let pseudo = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, (total - 20) as u16);
    p[36..38].copy_from_slice(&pseudo.fold().to_be_bytes());
    p.extend((0..payload).map(|i| i as u8));
    p
}
