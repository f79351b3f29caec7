//! One-call forms of the `Plan` methods, so each test states its input and expectation in
//! one line: build the plan, then run the method on the same packet (errors from either step
//! come back as the test expects them).
#![allow(dead_code, unreachable_pub)]

use inet_hdr::zerocopy::byteorder::ByteOrder;
use udp_gso::{ChecksumStatus, Plan, SegmentRef, Slab, Span, Split, SplitError, VirtioNetHdr};

pub fn split<O: ByteOrder>(
    hdr: &VirtioNetHdr<O>,
    packet: &[u8],
    first_segment: usize,
    slab: &mut [u8],
    headroom: usize,
    spans: &mut [Span],
) -> Result<Split, SplitError> {
    Plan::new(hdr, packet)?.split(packet, first_segment, Slab::new(slab, headroom), spans)
}

pub fn split_headers<O: ByteOrder>(
    hdr: &VirtioNetHdr<O>,
    packet: &[u8],
    first_segment: usize,
    headers: &mut [u8],
    headroom: usize,
    segs: &mut [SegmentRef],
) -> Result<Split, SplitError> {
    Plan::new(hdr, packet)?.split_headers(packet, first_segment, Slab::new(headers, headroom), segs)
}

pub fn split_to_buffers<O: ByteOrder, B: AsMut<[u8]>>(
    hdr: &VirtioNetHdr<O>,
    packet: &[u8],
    first_segment: usize,
    bufs: &mut [B],
    lens: &mut [usize],
) -> Result<Split, SplitError> {
    Plan::new(hdr, packet)?.split_to_buffers(packet, first_segment, bufs, lens)
}

/// The plan is built from the input range; a range outside the slab is the split's error.
pub fn split_in_place<O: ByteOrder>(
    hdr: &VirtioNetHdr<O>,
    slab: &mut [u8],
    input: core::ops::Range<usize>,
    headroom: usize,
    spans: &mut [Span],
) -> Result<Split, SplitError> {
    let plan = match slab.get(input.clone()) {
        Some(packet) => Plan::new(hdr, packet)?,
        None => Plan::new(&VirtioNetHdr::plain(), &[])?,
    };
    plan.split_in_place(Slab::new(slab, headroom), input, spans)
}

pub fn finish_in_place<O: ByteOrder>(
    hdr: &VirtioNetHdr<O>,
    packet: &mut [u8],
) -> Result<ChecksumStatus, SplitError> {
    Plan::new(hdr, packet)?.finish_in_place(packet)
}

pub fn segments_of<O: ByteOrder>(
    hdr: &VirtioNetHdr<O>,
    packet: &[u8],
) -> Result<usize, SplitError> {
    Ok(Plan::new(hdr, packet)?.segments())
}

pub fn split_with(
    plan: &Plan,
    packet: &[u8],
    first_segment: usize,
    slab: &mut [u8],
    headroom: usize,
    spans: &mut [Span],
) -> Result<Split, SplitError> {
    plan.split(packet, first_segment, Slab::new(slab, headroom), spans)
}

pub fn split_headers_with(
    plan: &Plan,
    packet: &[u8],
    first_segment: usize,
    headers: &mut [u8],
    headroom: usize,
    segs: &mut [SegmentRef],
) -> Result<Split, SplitError> {
    plan.split_headers(packet, first_segment, Slab::new(headers, headroom), segs)
}
