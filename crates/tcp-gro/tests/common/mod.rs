//! Shared helpers for the integration tests: run a batch and summarise the outputs.
#![allow(dead_code, unreachable_pub)]

use tcp_gro::{ChecksumStatus, Coalescer, Config};
use virtio_net_hdr::VirtioNetHdr;

/// One output packet, owned.
#[derive(Debug, Clone)]
pub struct Out {
    pub merged: bool,
    pub indices: Vec<usize>,
    pub vnet: VirtioNetHdr,
    pub bytes: Vec<u8>,
    pub header_len: usize,
}

impl Out {
    /// TCP payload bytes in this packet (0 for non-TCP pass-through is not meaningful).
    pub fn payload(&self) -> usize {
        if self.merged {
            self.bytes.len() - self.header_len
        } else {
            tcp_payload_len(&self.bytes)
        }
    }
}

/// TCP payload length of a well-formed packet (0 if it is not TCP).
pub fn tcp_payload_len(p: &[u8]) -> usize {
    let Ok(info) = inet_hdr::classify(p) else {
        return 0;
    };
    if info.protocol != inet_hdr::Protocol::TCP || p.len() < info.l4_offset + 20 {
        return 0;
    }
    let doff = usize::from(p[info.l4_offset + 12] >> 4) * 4;
    p.len().saturating_sub(info.l4_offset + doff)
}

/// Push every packet with `csum` into `gro`, drain, and return owned outputs, checking the
/// invariants every output must keep.
pub fn run_with(gro: &mut Coalescer, packets: &[Vec<u8>], csum: ChecksumStatus) -> Vec<Out> {
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, csum);
    }
    let mut outs = Vec::new();
    for o in gro.drain(packets) {
        let mut bytes = vec![0u8; o.len()];
        assert_eq!(o.materialize(&mut bytes), Ok(o.len()));
        let vnet = o.vnet_hdr();
        if o.is_merged() {
            assert_eq!(
                vnet.check_emit(&bytes),
                Ok(()),
                "emitted header must pass check_emit"
            );
            assert!(o.indices().len() >= 2);
            assert_eq!(o.payloads().count(), o.indices().len());
        } else {
            assert_eq!(vnet, VirtioNetHdr::plain());
            assert_eq!(o.indices().len(), 1);
            assert_eq!(
                bytes,
                packets[o.indices()[0]],
                "pass-through must be untouched"
            );
        }
        outs.push(Out {
            merged: o.is_merged(),
            indices: o.indices().to_vec(),
            vnet,
            header_len: o.headers().len(),
            bytes,
        });
    }
    outs
}

pub fn run(packets: &[Vec<u8>]) -> Vec<Out> {
    run_with(
        &mut Coalescer::new(Config::default()),
        packets,
        ChecksumStatus::Unverified,
    )
}

pub fn payloads(outs: &[Out]) -> Vec<usize> {
    outs.iter().map(Out::payload).collect()
}
