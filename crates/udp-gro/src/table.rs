//! The flow table: a batch's runs filed by flow hash, newest first, so the first run of a flow
//! found is its newest (the packet the kernel would hold for it); the runs' members and header
//! copies, and the write order. It stores and links; what may merge is decided by the rules.

use alloc::vec::Vec;

use offload_buf::Buckets;

use inet_hdr::{Ipv4Header, Ipv6Header, UdpHeader};

use crate::datagram::Dgram;
use crate::rules::{IdMode, RunState, same_flow};
use crate::verify::pseudo_addrs;

/// The end of a chain or member list.
pub(crate) const NIL: u32 = Buckets::NONE;

/// A run of datagrams of one flow that will be written as one packet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Run {
    /// Its flow's hash.
    pub(crate) hash: u64,
    /// The next run in the same hash bucket (older). A flow's older runs stay behind its
    /// newest, which a lookup finds first: only the newest may be joined (the kernel holds one
    /// packet per flow).
    chain: u32,
    /// Where the copy of the first datagram's headers lives in the header arena.
    pub(crate) hdr_at: u32,
    pub(crate) l4_off: u32,
    /// Members, as a linked list in arrival order.
    pub(crate) head: u32,
    pub(crate) tail: u32,
    /// Whether the first datagram's checksum is still to be verified (at drain, and only if
    /// something joined it: a datagram written alone is written unchanged). Every other member
    /// was verified before it joined.
    pub(crate) head_unverified: bool,
    /// The first datagram's pseudo-header address sum ([`pseudo_addrs`]): what every datagram
    /// that joins shares (same addresses), summed once for their checks. Never 0 (the sum
    /// includes the protocol number, and a folded non-zero sum is not 0), so 0 can say
    /// "unknown" without an `Option` growing the run past 56 bytes.
    pub(crate) addrs: u16,
    /// What the merge rules know of the run.
    pub(crate) state: RunState,
}

/// One datagram of a run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Member {
    pub(crate) index: usize,
    pub(crate) payload_len: u32,
    pub(crate) next: u32,
}

/// One entry of the write order, in push order.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slot {
    /// A packet written alone.
    Pass(usize),
    Run(u32),
}

/// The flow table of one batch; its storage is kept from batch to batch.
#[derive(Debug)]
pub(crate) struct Table {
    /// The newest run filed in each bucket, or [`NIL`].
    /// The newest run of each hash bucket (as many buckets as the largest batch needs).
    buckets: Buckets,
    runs: Vec<Run>,
    members: Vec<Member>,
    slots: Vec<Slot>,
    /// The run the last push started or joined ([`NIL`] before the first): the newest run of
    /// its flow, so the run the general path would offer the next datagram of that flow.
    hot: u32,
    /// Header copies of each run's first datagram; patched in place when the batch is
    /// drained, and read by its outputs until the next batch.
    hdrs: Vec<u8>,
}

impl Table {
    /// An empty table with room for `batch` packets.
    pub(crate) fn with_capacity(batch: usize) -> Self {
        Table {
            buckets: Buckets::with_capacity(batch),
            runs: Vec::with_capacity(batch),
            members: Vec::with_capacity(batch),
            slots: Vec::with_capacity(batch),
            hot: NIL,
            hdrs: Vec::with_capacity(batch * 48),
        }
    }

    /// Forget the runs and the write order; the header copies stay (drained outputs read
    /// them).
    pub(crate) fn reset(&mut self) {
        self.buckets
            .reset(self.runs.iter().map(|r| r.hash), self.runs.len());
        self.runs.clear();
        self.members.clear();
        self.slots.clear();
        self.hot = NIL;
    }

    /// Forget everything, header copies included.
    pub(crate) fn clear(&mut self) {
        self.reset();
        self.hdrs.clear();
    }

    /// The bucket of a flow hash.
    #[inline]
    pub(crate) fn bucket(&self, hash: u64) -> usize {
        self.buckets.index(hash)
    }

    /// The newest run of the flow of `d` (filed in `bucket`) if the batch has one, or [`NIL`].
    #[inline]
    pub(crate) fn find_run(&self, bucket: usize, d: &Dgram<'_>) -> u32 {
        let mut at = self.buckets.head(bucket);
        while at != NIL {
            let r = &self.runs[at as usize];
            if r.hash == d.hash
                && same_flow(self.run_header(r), r.state.version, r.l4_off as usize, d)
            {
                return at;
            }
            at = r.chain;
        }
        NIL
    }

    #[inline]
    pub(crate) fn run(&self, id: u32) -> &Run {
        &self.runs[id as usize]
    }

    #[inline]
    pub(crate) fn member(&self, m: u32) -> Member {
        self.members[m as usize]
    }

    /// The write order.
    #[inline]
    pub(crate) fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The hot run, or [`NIL`].
    #[inline]
    pub(crate) fn hot(&self) -> u32 {
        self.hot
    }

    /// The copy of the run's headers (its first datagram's).
    #[inline]
    pub(crate) fn run_header(&self, r: &Run) -> &[u8] {
        &self.hdrs[r.hdr_at as usize..(r.hdr_at + r.state.hdr_len) as usize]
    }

    /// The header arena: every run's header copy, patched once drained.
    pub(crate) fn headers(&self) -> &[u8] {
        &self.hdrs
    }

    /// `len` bytes of the header arena at `at`, to patch.
    pub(crate) fn header_mut(&mut self, at: u32, len: u32) -> &mut [u8] {
        &mut self.hdrs[at as usize..(at + len) as usize]
    }

    /// Copy `h` into the header arena; where it lies.
    #[inline]
    pub(crate) fn copy_header(&mut self, h: &[u8]) -> u32 {
        /// IPv4 (no options: every candidate) + UDP, and IPv6 + UDP without extension headers.
        const V4: usize = Ipv4Header::LEN + UdpHeader::LEN;
        const V6: usize = Ipv6Header::LEN + UdpHeader::LEN;
        let at = self.hdrs.len() as u32;
        // The usual lengths as fixed-size copies (a few moves instead of a `memcpy` call).
        if let Ok(h) = <&[u8; V4]>::try_from(h) {
            self.hdrs.extend_from_slice(h);
        } else if let Ok(h) = <&[u8; V6]>::try_from(h) {
            self.hdrs.extend_from_slice(h);
        } else {
            self.hdrs.extend_from_slice(h);
        }
        at
    }

    /// Write the packet pushed as `index` alone, in push order.
    #[inline]
    pub(crate) fn pass(&mut self, index: usize) {
        self.slots.push(Slot::Pass(index));
    }

    /// Nothing may join run `run` any more.
    #[inline]
    pub(crate) fn close(&mut self, run: u32) {
        self.runs[run as usize].state.open = false;
    }

    /// Start a run of the candidate `d`, pushed as `index`, as the newest run of its flow,
    /// filed in `bucket` (`d`'s).
    #[inline]
    pub(crate) fn start_run(
        &mut self,
        bucket: usize,
        index: usize,
        d: &Dgram<'_>,
        head_unverified: bool,
        max_segments: u32,
    ) {
        let id = self.runs.len() as u32;
        let m = self.add_member(index, d.payload_len as u32);
        let hdr_at = self.copy_header(d.hdr());
        self.runs.push(Run {
            hash: d.hash,
            chain: self.buckets.head(bucket),
            hdr_at,
            l4_off: d.l4_off as u32,
            head: m,
            tail: m,
            head_unverified,
            addrs: pseudo_addrs(d.header, d.version).unwrap_or(0),
            state: RunState::new(d, max_segments),
        });
        self.buckets.set_head(bucket, id);
        self.slots.push(Slot::Run(id));
        // The newest run of its flow by construction.
        self.hot = id;
    }

    /// Append `d`, pushed as `index`, to the run (the rules allowed it, giving `id_mode`).
    /// Always inlined: it is much of the hot path's work, and a call costs a good part of it.
    #[inline(always)]
    pub(crate) fn append(
        &mut self,
        run: u32,
        index: usize,
        d: &Dgram<'_>,
        id_mode: IdMode,
        max_segments: u32,
    ) {
        let m = self.add_member(index, d.payload_len as u32);
        let r = &mut self.runs[run as usize];
        self.members[r.tail as usize].next = m;
        r.tail = m;
        r.state.append(d, id_mode, max_segments);
        self.hot = run;
    }

    /// Add a member (not linked yet).
    #[inline]
    fn add_member(&mut self, index: usize, payload_len: u32) -> u32 {
        let m = self.members.len() as u32;
        self.members.push(Member {
            index,
            payload_len,
            next: NIL,
        });
        m
    }
}
