//! The output buffer: the bytes a session has answered and not yet sent, and
//! where one write must end and the next begin.
//!
//! A session appends; the driver takes writes from the front. Most sessions
//! never mark a boundary, and then everything pending goes out in as few
//! writes as the socket allows (one, usually). A session that must show what
//! separate writes do on the wire (the framed server's `--split-writes`, the
//! Nagle lesson) calls [`Output::cut`] between two pieces, and every driver
//! then writes them with separate system calls.

use std::collections::VecDeque;
use std::fs::File;
use std::sync::Arc;

/// Bytes of a file to send after the pending bytes, without reading them
/// into memory: a driver hands them to the kernel (`sendfile`), or reads a
/// piece at a time where it cannot.
#[derive(Debug, Clone)]
pub struct FileRegion {
    /// The open file.
    pub file: Arc<File>,
    /// Where the bytes start.
    pub offset: u64,
    /// How many are left.
    pub len: u64,
}

impl PartialEq for FileRegion {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.file, &other.file) && self.offset == other.offset && self.len == other.len
    }
}

impl Eq for FileRegion {}

/// Pending reply bytes with write boundaries, and maybe a file region after them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already written.
    start: usize,
    /// Offsets into `buf` where a separate write must begin, ascending, all
    /// above `start` and below `buf.len()`.
    cuts: VecDeque<usize>,
    /// File bytes that follow everything in `buf`. A session adds one only
    /// to an empty output (from `on_drain`) and appends nothing after it
    /// until it has been sent.
    file: Option<FileRegion>,
    /// File regions are refused: these bytes are transformed before they
    /// leave (encrypted), so they must pass through memory.
    no_files: bool,
}

/// Below this many written bytes at the front, compaction waits: moving a few
/// bytes costs more than it frees.
const COMPACT_MIN: usize = 4096;
/// A frozen buffer larger than this is not swapped back in by
/// [`Output::take_write`]: many connections streaming bodies would each keep
/// two of them.
const SWAP_AT_MOST: usize = 16 * 1024;
/// An emptied buffer larger than this gives its memory back: one huge reply
/// must not cost an idle connection that much for the rest of its life.
const KEEP_AT_MOST: usize = 1 << 20;

impl Output {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty buffer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Self {
        Output {
            buf: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    /// Appends bytes to the current write.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Appends one byte.
    pub fn push(&mut self, byte: u8) {
        self.buf.push(byte);
    }

    /// The underlying vector, for code that appends to a `Vec<u8>` (such as
    /// [`super::upper::upper_once`]). Only append to it.
    pub fn vec_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Ends the current write: bytes appended after this go out in a write
    /// of their own. A cut with nothing pending before it does nothing.
    pub fn cut(&mut self) {
        let at = self.buf.len();
        if at > self.start && self.cuts.back() != Some(&at) {
            self.cuts.push_back(at);
        }
    }

    /// Bytes pending in all, a file region's included.
    pub fn len(&self) -> usize {
        let file = self
            .file
            .as_ref()
            .map_or(0, |f| usize::try_from(f.len).unwrap_or(usize::MAX));
        (self.buf.len() - self.start).saturating_add(file)
    }

    /// An empty buffer that takes no file regions (see [`Output::accepts_files`]).
    pub fn without_files() -> Self {
        Output {
            no_files: true,
            ..Self::default()
        }
    }

    /// Whether a file region may be added: false where the bytes are
    /// transformed on their way out (TLS), so a session reads the file itself.
    pub fn accepts_files(&self) -> bool {
        !self.no_files
    }

    /// Adds a file region after the pending bytes (see [`FileRegion`]);
    /// ignored where [`Output::accepts_files`] is false.
    pub fn push_file(&mut self, region: FileRegion) {
        if region.len > 0 && !self.no_files {
            self.file = Some(region);
        }
    }

    /// The file region to send, once every pending byte before it has been.
    pub fn file(&self) -> Option<&FileRegion> {
        if self.start < self.buf.len() {
            return None;
        }
        self.file.as_ref()
    }

    /// Marks `n` bytes of the file region as sent.
    pub fn consume_file(&mut self, n: u64) {
        if let Some(f) = &mut self.file {
            let n = n.min(f.len);
            f.offset += n;
            f.len -= n;
            if f.len == 0 {
                self.file = None;
            }
        }
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every pending byte, across write boundaries (for tests and logs; a
    /// file region is not among them).
    pub fn pending(&self) -> &[u8] {
        // start ≤ buf.len() always (consume clamps it).
        self.buf.get(self.start..).unwrap_or_default()
    }

    /// The bytes of the next write: up to the first boundary.
    pub fn next_write(&self) -> &[u8] {
        let end = self.cuts.front().copied().unwrap_or(self.buf.len());
        // start < every cut < buf.len() (the field's invariant).
        self.buf.get(self.start..end).unwrap_or_default()
    }

    /// Marks `n` bytes from the front as written.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
        while self.cuts.front().is_some_and(|&c| c <= self.start) {
            self.cuts.pop_front();
        }
        if self.start == self.buf.len() {
            self.clear_bytes();
        } else if self.start >= COMPACT_MIN && self.start > self.buf.len() / 2 {
            self.buf.drain(..self.start);
            for c in &mut self.cuts {
                *c -= self.start;
            }
            self.start = 0;
        }
    }

    /// Moves the bytes of the next write into `into` (emptied first), as one
    /// frozen buffer a completion-based driver can hand to the kernel. When
    /// that is everything pending, the vectors are swapped: nothing is copied.
    pub fn take_write(&mut self, into: &mut Vec<u8>) {
        into.clear();
        if self.cuts.is_empty() && self.start == 0 {
            if into.capacity() > SWAP_AT_MOST {
                // A large buffer is not kept twice per connection (one in
                // flight, one here): it goes, and the next fill allocates.
                *into = std::mem::take(&mut self.buf);
            } else {
                std::mem::swap(into, &mut self.buf);
            }
            return;
        }
        let n = self.next_write().len();
        into.extend_from_slice(self.next_write());
        self.consume(n);
    }

    /// Appends everything pending in `other` after what is pending here,
    /// keeping `other`'s boundaries (and a boundary where it starts, if
    /// `other` began with one).
    pub fn append(&mut self, other: &mut Output) {
        let base = self.buf.len();
        for &c in &other.cuts {
            self.cuts.push_back(base + c - other.start);
        }
        if self.buf.is_empty() && self.start == 0 {
            std::mem::swap(&mut self.buf, &mut other.buf);
            self.buf.drain(..other.start);
        } else {
            self.buf.extend_from_slice(other.pending());
        }
        if other.file.is_some() {
            self.file = other.file.take();
        }
        other.clear();
    }

    /// Drops everything (and the memory of a very large buffer).
    pub fn clear(&mut self) {
        self.clear_bytes();
        self.file = None;
    }

    fn clear_bytes(&mut self) {
        if self.buf.capacity() > KEEP_AT_MOST {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        self.start = 0;
        self.cuts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writes(mut out: Output, step: usize) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        while !out.is_empty() {
            let w = out.next_write();
            let n = w.len().min(step);
            got.push(w.get(..n).unwrap_or_default().to_vec());
            out.consume(n);
        }
        got
    }

    #[test]
    fn without_cuts_everything_is_one_write() {
        let mut out = Output::new();
        out.extend_from_slice(b"abc");
        out.push(b'd');
        assert_eq!(writes(out, usize::MAX), vec![b"abcd".to_vec()]);
    }

    #[test]
    fn cuts_separate_writes_even_after_short_writes() {
        let mut out = Output::new();
        out.cut(); // nothing before it: ignored
        out.extend_from_slice(b"head");
        out.cut();
        out.cut(); // twice at one place: once
        out.extend_from_slice(b"payload");
        assert_eq!(
            writes(out.clone(), usize::MAX),
            vec![b"head".to_vec(), b"payload".to_vec()]
        );
        // Short writes never cross a boundary.
        assert_eq!(
            writes(out, 3),
            vec![
                b"hea".to_vec(),
                b"d".to_vec(),
                b"pay".to_vec(),
                b"loa".to_vec(),
                b"d".to_vec()
            ]
        );
    }

    #[test]
    fn compaction_keeps_boundaries() {
        let mut out = Output::new();
        out.extend_from_slice(&[1; 10_000]);
        out.cut();
        out.extend_from_slice(&[2; 10]);
        out.consume(9_000);
        assert_eq!(out.len(), 1_010);
        assert_eq!(out.next_write(), &[1; 1_000][..]);
        out.consume(1_000);
        assert_eq!(out.next_write(), &[2; 10][..]);
    }

    #[test]
    fn take_write_and_append() {
        let mut out = Output::new();
        out.extend_from_slice(b"one");
        let mut frozen = Vec::new();
        out.take_write(&mut frozen);
        assert_eq!((frozen.as_slice(), out.is_empty()), (&b"one"[..], true));

        let mut later = Output::new();
        later.extend_from_slice(b"xx");
        later.cut();
        later.extend_from_slice(b"yy");
        out.extend_from_slice(b"a");
        out.append(&mut later);
        assert!(later.is_empty());
        assert_eq!(out.pending(), b"axxyy");
        out.take_write(&mut frozen);
        assert_eq!(frozen, b"axx");
        out.take_write(&mut frozen);
        assert_eq!((frozen.as_slice(), out.is_empty()), (&b"yy"[..], true));
    }

    #[test]
    fn a_file_region_follows_the_bytes() {
        let file = Arc::new(tempfile::tempfile().expect("file"));
        let mut out = Output::new();
        out.extend_from_slice(b"head");
        out.push_file(FileRegion {
            file: Arc::clone(&file),
            offset: 10,
            len: 100,
        });
        assert_eq!(out.len(), 104);
        assert!(out.file().is_none(), "the head goes first");
        out.consume(4);
        assert_eq!(out.file().map(|f| (f.offset, f.len)), Some((10, 100)));
        out.consume_file(60);
        assert_eq!(out.file().map(|f| (f.offset, f.len)), Some((70, 40)));
        out.consume_file(40);
        assert!(out.is_empty() && out.file().is_none());
    }
}
