//! The flow table: a batch's held runs filed by flow hash, their members, their header copies,
//! and the write order. It stores and links; what may merge is decided by the rules, and when a
//! checksum is checked by the verification.

use alloc::vec::Vec;

use offload_buf::Buckets;

use inet_csum::ChecksumStatus;

use crate::rules::{IdMode, RunState, same_flow};
use crate::segment::Seg;

/// The end of a chain or member list, and "no hot run".
pub(crate) const NIL: u32 = Buckets::NONE;

/// A held run of segments of one flow that will be written as one packet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Run {
    pub(crate) hash: u64,
    /// Next run in the same hash bucket (older).
    pub(crate) chain: u32,
    /// Where the copy of the head segment's headers lives in the header arena.
    pub(crate) hdr_at: u32,
    pub(crate) l4_off: u32,
    /// Members, as a linked list in sequence order.
    pub(crate) head: u32,
    pub(crate) tail: u32,
    /// Members whose checksum is not known good: before drain's check, the unchecked ones;
    /// after it, the bad ones.
    pub(crate) unverified: u32,
    /// What the merge rules know of the run.
    pub(crate) state: RunState,
}

/// One segment of a run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Member {
    pub(crate) index: usize,
    pub(crate) payload_len: u32,
    pub(crate) next: u32,
    /// Checksum verified (or known good). A run's first segment is verified only at drain,
    /// and only if something merged with it: a segment that stays alone is written unchanged
    /// and needs no verification.
    pub(crate) verified: bool,
    /// Joined its run on the promise of a good checksum, checked at drain: if the check fails,
    /// the batch is replayed with checks at push.
    pub(crate) deferred: bool,
    /// Pushed as [`ChecksumStatus::KnownGood`] (for a replay).
    pub(crate) known_good: bool,
}

/// How the checksum of a segment about to join a run is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JoinCheck {
    /// Pushed as [`ChecksumStatus::KnownGood`]: it joins.
    KnownGood,
    /// Verified now and good: it joins.
    Verified,
    /// Verified now and bad: it passes alone (rule book §2.4).
    Bad,
    /// Joins now, verified at drain with the rest of its run.
    Deferred,
}

/// One entry of the write order, in push order.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slot {
    /// A packet written alone, and how it was pushed (for a replay).
    Pass(usize, ChecksumStatus),
    Run(u32),
}

/// The flow table of one batch; its storage is kept from batch to batch.
#[derive(Debug)]
pub(crate) struct Table {
    /// The newest run of each hash bucket (as many buckets as the largest batch needs).
    buckets: Buckets,
    runs: Vec<Run>,
    members: Vec<Member>,
    slots: Vec<Slot>,
    /// The run the last push started or joined, if it is the newest open run of its flow
    /// ([`NIL`] otherwise): the run the general path would offer the next segment of that flow
    /// first. Never a closed run: [`close_flow`](Self::close_flow) clears it.
    hot: u32,
    /// Header copies of each run's head segment; patched in place when the batch is drained,
    /// and read by its outputs until the next batch.
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
            hdrs: Vec::with_capacity(batch * 80),
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

    /// The newest run filed in `bucket` (the chain goes on through [`Run::chain`]), or [`NIL`].
    #[inline]
    pub(crate) fn newest(&self, bucket: usize) -> u32 {
        self.buckets.head(bucket)
    }

    #[inline]
    pub(crate) fn run(&self, id: usize) -> &Run {
        &self.runs[id]
    }

    #[inline]
    pub(crate) fn member(&self, m: u32) -> Member {
        self.members[m as usize]
    }

    /// Every member of every run, in push order.
    pub(crate) fn members(&self) -> &[Member] {
        &self.members
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

    #[inline]
    pub(crate) fn set_hot(&mut self, run: u32) {
        self.hot = run;
    }

    /// The copy of the run's headers (its first segment's).
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
    pub(crate) fn copy_header(&mut self, h: &[u8]) -> u32 {
        let at = self.hdrs.len() as u32;
        self.hdrs.extend_from_slice(h);
        at
    }

    /// Write the packet pushed as `index` alone, in push order.
    #[inline]
    pub(crate) fn pass(&mut self, index: usize, csum: ChecksumStatus) {
        self.slots.push(Slot::Pass(index, csum));
    }

    /// Whether `seg`'s flow has a run that may still be joined.
    pub(crate) fn flow_has_open_run(&self, bucket: usize, seg: &Seg<'_>) -> bool {
        let mut at = self.buckets.head(bucket);
        while at != NIL {
            let r = &self.runs[at as usize];
            if !r.state.closed
                && r.hash == seg.hash
                && same_flow(self.run_header(r), r.state.version, r.l4_off as usize, seg)
            {
                return true;
            }
            at = r.chain;
        }
        false
    }

    /// Close every run of `seg`'s flow: nothing may join them any more.
    pub(crate) fn close_flow(&mut self, bucket: usize, seg: &Seg<'_>) {
        self.hot = NIL;
        let mut at = self.buckets.head(bucket);
        while at != NIL {
            let r = self.runs[at as usize];
            if !r.state.closed
                && r.hash == seg.hash
                && same_flow(self.run_header(&r), r.state.version, r.l4_off as usize, seg)
            {
                self.runs[at as usize].state.closed = true;
            }
            at = r.chain;
        }
    }

    /// Start a run of the candidate `seg`, pushed as `index`; it becomes the hot run.
    #[inline]
    pub(crate) fn start_run(
        &mut self,
        bucket: usize,
        index: usize,
        seg: &Seg<'_>,
        csum: ChecksumStatus,
    ) {
        let id = self.runs.len() as u32;
        let known_good = csum == ChecksumStatus::KnownGood;
        // The first segment is checked at drain, once something has joined it.
        let check = if known_good {
            JoinCheck::KnownGood
        } else {
            JoinCheck::Deferred
        };
        let m = self.add_member(index, seg.payload_len as u32, check, true);
        let hdr_at = self.hdrs.len() as u32;
        self.hdrs.extend_from_slice(seg.hdr());
        self.runs.push(Run {
            hash: seg.hash,
            chain: self.buckets.head(bucket),
            hdr_at,
            l4_off: seg.l4_off as u32,
            head: m,
            tail: m,
            unverified: u32::from(!known_good),
            state: RunState::new(seg),
        });
        self.buckets.set_head(bucket, id);
        self.slots.push(Slot::Run(id));
        // The newest run of its flow by construction.
        self.hot = id;
    }

    /// Append `seg`, pushed as `index`, to the run (the rules allowed it, giving `id_mode`).
    /// Always inlined: it is most of the hot path's work, and a call costs a fifth of it.
    #[inline(always)]
    pub(crate) fn append(
        &mut self,
        run_id: usize,
        index: usize,
        seg: &Seg<'_>,
        id_mode: IdMode,
        check: JoinCheck,
    ) {
        let len = seg.payload_len as u32;
        let m = self.add_member(index, len, check, false);
        let r = &mut self.runs[run_id];
        r.unverified += u32::from(check == JoinCheck::Deferred);
        self.members[r.tail as usize].next = m;
        r.tail = m;
        r.state.append(seg, id_mode);
    }

    /// Prepend `seg`, pushed as `index`, to the run (the rules allowed it, giving `id_mode`):
    /// its headers become the run's.
    #[inline]
    pub(crate) fn prepend(
        &mut self,
        run_id: usize,
        index: usize,
        seg: &Seg<'_>,
        id_mode: IdMode,
        check: JoinCheck,
    ) {
        let len = seg.payload_len as u32;
        let m = self.add_member(index, len, check, false);
        self.runs[run_id].unverified += u32::from(check == JoinCheck::Deferred);
        let at = self.runs[run_id].hdr_at as usize;
        self.hdrs[at..at + seg.hdr_len].copy_from_slice(seg.hdr());
        let r = &mut self.runs[run_id];
        self.members[m as usize].next = r.head;
        r.head = m;
        r.state.prepend(seg, id_mode);
    }

    /// Add a member (not linked yet) whose checksum is settled by `check` (a run's first
    /// segment: [`JoinCheck::KnownGood`] or [`JoinCheck::Deferred`], its check being left to
    /// drain either way).
    #[inline]
    fn add_member(&mut self, index: usize, payload_len: u32, check: JoinCheck, first: bool) -> u32 {
        let m = self.members.len() as u32;
        self.members.push(Member {
            index,
            payload_len,
            next: NIL,
            verified: matches!(check, JoinCheck::KnownGood | JoinCheck::Verified),
            deferred: check == JoinCheck::Deferred && !first,
            known_good: check == JoinCheck::KnownGood,
        });
        m
    }

    /// Record a member's checksum, checked at drain.
    pub(crate) fn set_verified(&mut self, m: u32, ok: bool) {
        self.members[m as usize].verified = ok;
    }

    /// Record how many of the run's members failed their check at drain.
    pub(crate) fn set_unverified(&mut self, run_id: usize, bad: u32) {
        self.runs[run_id].unverified = bad;
    }
}
