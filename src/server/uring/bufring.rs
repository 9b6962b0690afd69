//! The provided-buffer ring: receive buffers one ring lends to all of its
//! connections. A multishot receive takes a buffer only when data arrives,
//! so an idle connection holds none; the loop copies the bytes into the
//! session at once and hands the buffer back in the same batch.
//!
//! Layout (the kernel's `io_uring_buf`): an array of `entries` 16-byte
//! descriptors (address, length, buffer id) in page-aligned memory; the tail
//! that tells the kernel how many are published overlays the reserved field
//! of entry 0. So a descriptor is written field by field through raw
//! pointers, never through a `&mut` to the whole entry (which would overlap
//! the tail the kernel reads), and the tail only through an atomic.
//!
//! A completion's buffer is taken with [`BufRing::lend`]: the [`Lent`] guard
//! derefs to the bytes and gives the buffer back when it is dropped, so no
//! path (an error, a connection long gone) can forget to return it.

use io_uring::Submitter;
use std::alloc::{self, Layout};
use std::io;
use std::ptr::{NonNull, addr_of, addr_of_mut};
use std::sync::atomic::{AtomicU16, Ordering};

/// One descriptor, as the kernel lays out `struct io_uring_buf`.
#[repr(C)]
struct Desc {
    addr: u64,
    len: u32,
    bid: u16,
    /// Entry 0's is the ring's tail.
    resv: u16,
}

/// A registered buffer ring and the buffers it lends.
pub struct BufRing {
    /// The descriptor array (page-aligned, `layout` bytes, zeroed at start).
    ring: NonNull<Desc>,
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
        let bytes = (usize::from(entries) * std::mem::size_of::<Desc>()).div_ceil(page) * page;
        let layout = Layout::from_size_align(bytes, page).map_err(io::Error::other)?;
        // SAFETY: `layout` has a non-zero size (at least one page).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ring = NonNull::new(raw.cast::<Desc>()).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
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

    /// Takes buffer `bid`, which a completion says holds `len` received
    /// bytes; it goes back to the ring when the guard is dropped. `None` for
    /// an id this ring never lent.
    pub fn lend(&mut self, bid: u16, len: usize) -> Option<Lent<'_>> {
        (bid < self.entries).then(|| Lent {
            len: len.min(self.size),
            bid,
            ring: self,
        })
    }

    /// Queues buffer `bid` to be lent again (the kernel sees it at [`BufRing::publish`]).
    fn give_back(&mut self, bid: u16) {
        if bid >= self.entries {
            return;
        }
        let slot = usize::from(self.tail & (self.entries - 1));
        let addr = self.data.as_ptr() as u64 + (usize::from(bid) * self.size) as u64;
        let len = u32::try_from(self.size).unwrap_or(u32::MAX);
        // `slot` is masked below `entries`, so the descriptor lies in
        // the ring this struct owns. The kernel reads only descriptors before
        // the published tail, and this one is past it until `publish`. The
        // fields are written through raw pointers: no reference to the entry
        // is made, so none overlaps entry 0's tail.
        // SAFETY: the descriptor is in memory this ring owns, past the tail the kernel reads.
        unsafe {
            let desc = self.ring.as_ptr().add(slot);
            addr_of_mut!((*desc).addr).write(addr);
            addr_of_mut!((*desc).len).write(len);
            addr_of_mut!((*desc).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes every buffer given back since the last publish (one store).
    pub fn publish(&self) {
        // The tail is entry 0's `resv`, a u16 aligned for atomic
        // access, which the kernel only reads (with acquire semantics); this
        // side touches it only through this atomic. The release store then
        // publishes the descriptors written before it.
        // SAFETY: entry 0's `resv` is an aligned u16 this side touches only atomically.
        let tail = unsafe { AtomicU16::from_ptr(addr_of!((*self.ring.as_ptr()).resv).cast_mut()) };
        tail.store(self.tail, Ordering::Release);
    }
}

/// A provided buffer a completion filled, lent out until this is dropped.
pub struct Lent<'a> {
    ring: &'a mut BufRing,
    bid: u16,
    len: usize,
}

impl std::ops::Deref for Lent<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let start = usize::from(self.bid) * self.ring.size;
        // Buffer `bid` (checked in `lend`) lies inside the allocation
        // the ring owns; the kernel wrote these bytes before posting the
        // completion that named `bid`, and does not write them again until
        // the buffer is given back, which only this guard's drop does.
        // SAFETY: buffer `bid` lies in the ring's allocation and the kernel leaves it alone until this guard gives it back.
        unsafe { std::slice::from_raw_parts(self.ring.data.as_ptr().add(start), self.len) }
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        self.ring.give_back(self.bid);
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
