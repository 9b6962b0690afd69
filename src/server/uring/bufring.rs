//! The provided-buffer ring: receive buffers one ring lends to all of its
//! connections. A multishot receive takes a buffer only when data arrives,
//! so an idle connection holds none; the loop copies the bytes into the
//! session at once and hands the buffer back in the same batch.
//!
//! Layout (the kernel's): an array of `entries` 16-byte descriptors
//! (address, length, buffer id) in page-aligned memory; the tail that tells
//! the kernel how many are published overlays the reserved field of entry 0,
//! so an entry is filled field by field, never written whole.

use io_uring::Submitter;
use io_uring::types::BufRingEntry;
use std::alloc::{self, Layout};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

/// A registered buffer ring and the buffers it lends.
pub struct BufRing {
    /// The descriptor array (page-aligned, `layout` bytes, zeroed at start).
    ring: NonNull<BufRingEntry>,
    layout: Layout,
    /// The buffers, `entries × size` bytes; buffer `bid` is at `bid × size`.
    /// Raw memory, not a Rust buffer: the kernel writes into it behind our back.
    data: NonNull<u8>,
    data_layout: Layout,
    size: usize,
    entries: u16,
    /// The tail as this side knows it (published with [`BufRing::publish`]).
    tail: u16,
    /// The buffer group id receives name.
    pub bgid: u16,
}

// SAFETY: the ring memory is owned by this struct alone; moving it to the
// worker thread that registers and uses it moves that ownership.
unsafe impl Send for BufRing {}

impl BufRing {
    /// Allocates `entries` (a power of two) buffers of `size` bytes, lends
    /// them all to the kernel as group `bgid` of the ring behind `submitter`.
    ///
    /// # Errors
    /// `EINVAL` on kernels older than 5.19 (no buffer rings), or bad sizes.
    pub fn new(submitter: &Submitter<'_>, bgid: u16, entries: u16, size: usize) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || size == 0 || u32::try_from(size).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer ring entries must be a power of two",
            ));
        }
        let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .and_then(|p| usize::try_from(p).ok())
            .unwrap_or(4096);
        let bytes = (usize::from(entries) * std::mem::size_of::<BufRingEntry>()).div_ceil(page) * page;
        let layout = Layout::from_size_align(bytes, page).map_err(io::Error::other)?;
        // SAFETY: `layout` has a non-zero size (at least one page).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ring =
            NonNull::new(raw.cast::<BufRingEntry>()).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        let data_layout = Layout::from_size_align(usize::from(entries) * size, 64).map_err(io::Error::other)?;
        // SAFETY: a non-zero size (entries ≥ 1, size ≥ 1).
        let data = NonNull::new(unsafe { alloc::alloc_zeroed(data_layout) });
        let Some(data) = data else {
            // SAFETY: allocated just above with `layout`.
            unsafe { alloc::dealloc(raw, layout) };
            return Err(io::ErrorKind::OutOfMemory.into());
        };
        let mut bufs = BufRing {
            ring,
            layout,
            data,
            data_layout,
            size,
            entries,
            tail: 0,
            bgid,
        };
        // The owner unregisters the group (or drops the ring) before dropping
        // `bufs`, and leaks `bufs` instead while the kernel may hold a buffer.
        // SAFETY: the descriptor memory is page-aligned, `entries` long, and
        // owned by `bufs`, which outlives the registration (see above).
        unsafe { submitter.register_buf_ring_with_flags(raw as u64, entries, bgid, 0)? };
        for bid in 0..entries {
            bufs.give_back(bid);
        }
        bufs.publish();
        Ok(bufs)
    }

    /// The first `len` bytes of buffer `bid`, as a receive filled it.
    pub fn buffer(&self, bid: u16, len: usize) -> &[u8] {
        if bid >= self.entries {
            return &[];
        }
        // The kernel wrote these bytes before posting the completion that
        // named `bid`, and does not touch the buffer again until it is given back.
        // SAFETY: buffer `bid` (checked above) lies inside the allocation `bufs` owns.
        unsafe { std::slice::from_raw_parts(self.data.as_ptr().add(usize::from(bid) * self.size), len.min(self.size)) }
    }

    /// Queues buffer `bid` to be lent again (the kernel sees it at [`BufRing::publish`]).
    pub fn give_back(&mut self, bid: u16) {
        if bid >= self.entries {
            return;
        }
        let slot = usize::from(self.tail & (self.entries - 1));
        let addr = self.data.as_ptr() as u64 + (usize::from(bid) * self.size) as u64;
        // The kernel only reads descriptors before the published tail, and
        // this one is past it until `publish`.
        // SAFETY: `slot` is masked below `entries`: inside the owned ring, unshared.
        let entry = unsafe { &mut *self.ring.as_ptr().add(slot) };
        entry.set_addr(addr);
        entry.set_len(self.size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes every buffer given back since the last publish (one store).
    pub fn publish(&self) {
        // The kernel reads the tail with acquire semantics, so a release
        // store publishes the descriptors written before it.
        // SAFETY: `ring` is the owned ring's first descriptor; its tail is a u16.
        let tail = unsafe { &*BufRingEntry::tail(self.ring.as_ptr()).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // The owner unregistered the group (or dropped the ring) first.
        // SAFETY: both allocated in `new` with these layouts; the kernel holds no pointer into either.
        unsafe {
            alloc::dealloc(self.ring.as_ptr().cast(), self.layout);
            alloc::dealloc(self.data.as_ptr(), self.data_layout);
        }
    }
}
