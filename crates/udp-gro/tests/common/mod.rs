//! Shared helpers for the integration tests: run a batch, own its outputs, and cut a merged
//! output back into datagrams the way the kernel's `__udp_gso_segment` would.
#![allow(dead_code, unreachable_pub)]

use udp_gro::{ChecksumStatus, Coalescer, Config, PacketSource};
use virtio_net_hdr::{GsoType, VirtioNetHdr};

/// One output packet, owned.
#[derive(Debug, Clone)]
pub struct Out {
    pub merged: bool,
    pub indices: Vec<usize>,
    pub vnet: VirtioNetHdr,
    pub bytes: Vec<u8>,
}

/// Push every packet with `csum` into `gro`, drain, and return owned outputs, checking the
/// invariants every output keeps: a merged packet has 2..=64 members, at most 65535 bytes, a
/// header `check_emit` accepts and members in arrival order; anything else is one packet,
/// unchanged, behind a zeroed header.
pub fn run_with<S: PacketSource + ?Sized>(
    gro: &mut Coalescer,
    packets: &[Vec<u8>],
    source: &S,
    csum: &dyn Fn(usize) -> ChecksumStatus,
) -> Vec<Out> {
    for (i, p) in packets.iter().enumerate() {
        match source.parts(i) {
            Some((h, pl)) => gro.push_parts(i, h, pl, csum(i)),
            None => gro.push(i, p, csum(i)),
        }
    }
    let mut outs = Vec::new();
    for o in gro.drain(source) {
        let mut bytes = vec![0u8; o.len()];
        assert_eq!(o.materialize(&mut bytes), Ok(o.len()));
        let vnet = o.vnet_hdr();
        assert_eq!(o.vnet_bytes(), vnet.to_bytes());
        if o.is_merged() {
            assert!(
                (2..=64).contains(&o.indices().len()),
                "{} members",
                o.indices().len()
            );
            assert!(bytes.len() <= 65535);
            assert_eq!(vnet.gso_type(), GsoType::UDP_L4);
            assert_eq!(vnet.check_emit(&bytes), Ok(()));
            assert!(o.indices().windows(2).all(|w| w[0] < w[1]), "arrival order");
        } else {
            assert_eq!(o.indices().len(), 1);
            assert_eq!(vnet, VirtioNetHdr::plain());
            assert_eq!(
                bytes,
                packets[o.indices()[0]],
                "a pass-through is unchanged"
            );
        }
        outs.push(Out {
            merged: o.is_merged(),
            indices: o.indices().to_vec(),
            vnet,
            bytes,
        });
    }
    outs
}

/// [`run_with`] on a fresh coalescer, every packet in one piece with the same `csum`.
pub fn run(packets: &[Vec<u8>], csum: ChecksumStatus) -> Vec<Out> {
    let mut gro = Coalescer::new(Config::default());
    run_with(&mut gro, packets, packets, &|_| csum)
}

/// The output's index groups, in write order.
pub fn groups(outs: &[Out]) -> Vec<Vec<usize>> {
    outs.iter().map(|o| o.indices.clone()).collect()
}

/// One's complement sum of `b` (big-endian words, an odd byte padded), unfolded into a u32.
fn sum(b: &[u8], mut s: u32) -> u32 {
    for c in b.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        s += u32::from(w);
    }
    s
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// `csum16_add(csum16_sub(a, b), c)`: one's complement 16-bit arithmetic.
fn swap_len(check: u16, old: u16, new: u16) -> u16 {
    fold(u32::from(check) + u32::from(!old) + u32::from(new))
}

/// Cut an output back into datagrams as the kernel does when it has to (rule book §5.3,
/// `__udp_gso_segment` + `inet_gso_segment` / `ipv6_gso_segment`), written here from those
/// functions: every segment gets the headers, `gso_size` bytes of payload (the last the
/// rest), UDP length 8 + its payload, the partial sum in the checksum field adjusted from the
/// merged UDP length (read from the length field) to the segment's and then finished over the
/// segment (0 becomes 0xffff), IPv4 ID first + i, total length and header checksum, or IPv6
/// payload length. A pass-through is returned as it is.
pub fn resegment(o: &Out) -> Vec<Vec<u8>> {
    if !o.merged {
        return vec![o.bytes.clone()];
    }
    let l4 = usize::from(o.vnet.csum_start());
    assert_eq!(usize::from(o.vnet.csum_offset()), 6);
    assert_eq!(usize::from(o.vnet.hdr_len()), l4 + 8);
    let hdr = &o.bytes[..l4 + 8];
    let merged_ulen = u16::from_be_bytes([hdr[l4 + 4], hdr[l4 + 5]]);
    assert_eq!(
        usize::from(merged_ulen),
        o.bytes.len() - l4,
        "UDP length: the merged one"
    );
    let partial = u16::from_be_bytes([hdr[l4 + 6], hdr[l4 + 7]]);
    let gso = usize::from(o.vnet.gso_size());
    let v4 = hdr[0] >> 4 == 4;
    let first_id = u16::from_be_bytes([hdr[4], hdr[5]]);
    o.bytes[l4 + 8..]
        .chunks(gso)
        .enumerate()
        .map(|(i, chunk)| {
            let mut s = hdr.to_vec();
            s.extend_from_slice(chunk);
            let ulen = (8 + chunk.len()) as u16;
            s[l4 + 4..l4 + 6].copy_from_slice(&ulen.to_be_bytes());
            let check = swap_len(partial, merged_ulen, ulen);
            s[l4 + 6..l4 + 8].copy_from_slice(&check.to_be_bytes());
            let c = match !fold(sum(&s[l4..], 0)) {
                0 => 0xffff,
                c => c,
            };
            s[l4 + 6..l4 + 8].copy_from_slice(&c.to_be_bytes());
            if v4 {
                let tot = s.len() as u16;
                s[2..4].copy_from_slice(&tot.to_be_bytes());
                s[4..6].copy_from_slice(&first_id.wrapping_add(i as u16).to_be_bytes());
                s[10..12].fill(0);
                let c = !fold(sum(&s[..20], 0));
                s[10..12].copy_from_slice(&c.to_be_bytes());
            } else {
                let plen = (s.len() - 40) as u16;
                s[4..6].copy_from_slice(&plen.to_be_bytes());
            }
            s
        })
        .collect()
}

/// Whether `p`'s UDP checksum (over the pseudo header of its IP header's addresses) and, for
/// IPv4, its header checksum verify.
pub fn checksums_valid(p: &[u8]) -> bool {
    let Ok(info) = inet_hdr::classify(p) else {
        return false;
    };
    let l4 = &p[info.l4_offset..];
    let pseudo = match info.version {
        inet_hdr::IpVersion::V4 => {
            if fold(sum(&p[..20], 0)) != 0xffff {
                return false;
            }
            sum(&p[12..20], 17 + l4.len() as u32)
        }
        inet_hdr::IpVersion::V6 => sum(&p[8..40], 17 + l4.len() as u32),
    };
    fold(sum(l4, pseudo)) == 0xffff
}
