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

/// Pending reply bytes with write boundaries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already written.
    start: usize,
    /// Offsets into `buf` where a separate write must begin, ascending, all
    /// above `start` and below `buf.len()`.
    cuts: VecDeque<usize>,
}

/// Below this many written bytes at the front, compaction waits: moving a few
/// bytes costs more than it frees.
const COMPACT_MIN: usize = 4096;
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

    /// Bytes pending in all.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every pending byte, across write boundaries (for tests and logs).
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
            self.clear();
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
            std::mem::swap(into, &mut self.buf);
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
        other.clear();
    }

    /// Drops everything (and the memory of a very large buffer).
    pub fn clear(&mut self) {
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
}
