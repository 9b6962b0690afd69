//! One connection's lifecycle in the event-driven modes (poll, uring), without
//! its socket: the session, the replies waiting to go out (now or after
//! `--delay`), and the phase of its life. The loop around it does the I/O and
//! asks it what to do next, so both loops keep exactly the same rules (the
//! loop-wide rules, timers, sweep, shutdown, are [`super::event_loop`]'s):
//!
//! ```text
//!            peer EOF / shutdown                 replies sent
//!   Open ─────────────────────────▶ Draining ───────────────▶ closed
//!    │  session Close or error                   replies sent
//!    └───────────────────────────▶ Closing ─────────────────▶ Lingering ──▶ closed
//!                                    │ peer EOF first            (peer EOF, or LINGER)
//!                                    └──── replies sent ───────▶ closed
//!   any phase ── I/O error ──▶ Broken ──▶ closed
//! ```
//!
//! - What a session appended is always sent before the close (every phase
//!   but `Broken` waits for `out` and the delayed replies to drain).
//! - Back-pressure: past [`HIGH_WATER`] bytes of pending replies the loop
//!   stops reading from this peer, and reads again below half of it.
//! - Lingering: after the session ends while the peer may still send, our
//!   side is half-closed and the peer's leftover input read and discarded
//!   (briefly, boundedly) so the kernel never answers it with a reset that
//!   could destroy the reply in flight.

use super::{HIGH_WATER, LINGER, LINGER_BYTES};
use crate::proto::{Drain, Flow, Output, Session};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading requests and answering them.
    Open,
    /// No more input (the peer's EOF, or shutdown): the last replies go out, then close.
    Draining,
    /// The session is done (it asked to close, or failed): the last replies go
    /// out, then our side half-closes. `peer_done`: the peer's EOF came already.
    Closing {
        /// The peer's EOF has been seen.
        peer_done: bool,
    },
    /// Our write side is shut; leftover input is discarded until the peer's
    /// EOF or `until`.
    Lingering {
        /// When to give up waiting for the peer's EOF.
        until: Instant,
    },
    /// Close now: an I/O error.
    Broken,
}

/// The earlier of two optional times.
/// Why the sweep closes a connection that was silent too long.
pub const IDLE_TIMEOUT: &str = "idle timeout";

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A file region is read this much at a time where it cannot be sent
/// from the file (uring mode).
const FILE_PIECE: usize = 32 * 1024;

/// What the loop must do after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing yet.
    Keep,
    /// Shut our write side (the connection is now lingering).
    HalfClose,
    /// Close the socket and forget the connection.
    Close,
}

/// One client's protocol state, pending output and counters.
pub struct Lifecycle {
    /// The protocol.
    session: Box<dyn Session>,
    /// The peer, for every log line (`127.0.0.1:5000`, `[::1]:5000`, `unix`).
    pub peer: String,
    /// Reply bytes ready to go out.
    pub out: Output,
    /// Replies held back by `--delay`, each with the time it may go.
    delayed: VecDeque<(Instant, Output)>,
    /// Bytes in `delayed`, for the back-pressure limit.
    delayed_bytes: usize,
    /// The phase of its life.
    phase: Phase,
    /// Not reading because too many replies wait (back-pressure).
    paused: bool,
    /// `--delay`, copied here so every step applies it the same way.
    delay: Duration,
    /// Bytes thrown away while lingering.
    discarded: usize,
    /// Bytes taken out of `out` into a send the kernel has not completed
    /// (completion-based I/O): still owed to the peer.
    in_flight: usize,
    /// The session may have more to send once `out` is empty (a body that
    /// streams): set after every session call, cleared when `on_drain` says
    /// it is done.
    pulling: bool,
    /// When the session's own wait for input runs out (`Session::wait_limit`).
    deadline: Option<Instant>,
    /// Last time bytes moved either way (the idle timeout).
    pub last_active: Instant,
    /// When the connection opened (the close log line's duration).
    pub opened: Instant,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
}

impl Lifecycle {
    /// A connection that has just been accepted; runs the session's `on_start`.
    /// Returns it and, when its greeting waits for `--delay`, the timer to set.
    pub fn start(
        mut session: Box<dyn Session>,
        peer: String,
        delay: Duration,
        now: Instant,
    ) -> (Self, Option<Instant>) {
        let mut greeting = Output::new();
        let flow = session.on_start(&mut greeting);
        let mut life = Lifecycle {
            session,
            peer,
            out: Output::new(),
            delayed: VecDeque::new(),
            delayed_bytes: 0,
            phase: Phase::Open,
            paused: false,
            delay,
            discarded: 0,
            in_flight: 0,
            pulling: true,
            deadline: None,
            last_active: now,
            opened: now,
            bytes_in: 0,
            bytes_out: 0,
        };
        if flow == Flow::Close {
            life.phase = Phase::Closing { peer_done: false };
        }
        let timer = life.queue(greeting, now);
        (life, timer)
    }

    /// The phase now.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Reply bytes owed to the peer: pending, in a send in flight, or delayed.
    pub fn backlog(&self) -> usize {
        self.out.len() + self.in_flight + self.delayed_bytes
    }

    /// Whether the loop should read from this peer now (to answer, or to
    /// discard while lingering).
    pub fn wants_read(&self) -> bool {
        match self.phase {
            Phase::Open => !self.paused,
            Phase::Closing { peer_done } => !peer_done,
            Phase::Lingering { .. } => true,
            Phase::Draining | Phase::Broken => false,
        }
    }

    /// Whether this connection still answers input (reads are for the session).
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Updates the back-pressure pause; returns `Some(paused)` when it changed.
    pub fn update_pause(&mut self) -> Option<bool> {
        let backlog = self.backlog();
        let wants = self.session.wants_input();
        if !self.paused && self.phase == Phase::Open && (backlog >= HIGH_WATER || !wants) {
            self.paused = true;
            tracing::debug!(peer = %self.peer, backlog, "pausing reads");
            return Some(true);
        }
        if self.paused && backlog < HIGH_WATER / 2 && wants {
            self.paused = false;
            tracing::debug!(peer = %self.peer, backlog, "resuming reads");
            return Some(false);
        }
        None
    }

    /// Bytes arrived from the peer. Returns the timer to set when the reply
    /// waits for `--delay`.
    pub fn received(&mut self, data: &[u8], now: Instant) -> Option<Instant> {
        self.bytes_in += data.len() as u64;
        self.last_active = now;
        if self.phase != Phase::Open {
            // The session is done: leftover input is discarded, boundedly.
            self.discarded += data.len();
            if self.discarded > LINGER_BYTES {
                self.phase = Phase::Broken;
            }
            return None;
        }
        let mut held = Output::new();
        // Without --delay the session appends straight to the pending output.
        let sink = if self.delay.is_zero() { &mut self.out } else { &mut held };
        let flow = self.session.on_data(data, sink);
        self.pulling = true;
        self.deadline = self.session.wait_limit().map(|d| now + d);
        match flow {
            Ok(Flow::Continue) => {}
            Ok(Flow::Close) => self.phase = Phase::Closing { peer_done: false },
            Err(e) => {
                tracing::warn!(peer = %self.peer, error = %e, "connection error");
                self.phase = Phase::Closing { peer_done: false };
            }
        }
        let timer = self.queue(held, now);
        earliest(timer, self.deadline)
    }

    /// No more input: the peer's EOF, or the server shutting down. The
    /// session flushes what it held back. Returns a timer as [`Lifecycle::received`].
    pub fn input_ended(&mut self, now: Instant) -> Option<Instant> {
        match self.phase {
            Phase::Open => {
                let mut tail = Output::new();
                if let Err(e) = self.session.on_eof(&mut tail) {
                    tracing::warn!(peer = %self.peer, error = %e, "connection error");
                }
                self.pulling = true;
                self.phase = Phase::Draining;
                self.queue(tail, now)
            }
            Phase::Closing { .. } => {
                self.phase = Phase::Closing { peer_done: true };
                None
            }
            Phase::Lingering { .. } => {
                self.phase = Phase::Draining;
                None
            }
            Phase::Draining | Phase::Broken => None,
        }
    }

    /// Asks the session for the next piece of a body that streams, when
    /// everything before it has left `out` (and no delayed reply waits, so
    /// the order holds); returns whether it appended anything.
    pub fn refill(&mut self) -> bool {
        if !self.pulling || !self.out.is_empty() || !self.delayed.is_empty() || self.phase == Phase::Broken {
            return false;
        }
        let before = self.out.len();
        // A session may answer More with nothing appended (a step of its own
        // done); asking again a few times keeps it from stalling until the
        // next event, a few times only so a broken one cannot spin the loop.
        let mut drained = self.session.on_drain(&mut self.out);
        for _ in 0..4 {
            if !matches!(drained, Ok(Drain::More)) || self.out.len() > before {
                break;
            }
            drained = self.session.on_drain(&mut self.out);
        }
        match drained {
            Ok(Drain::More) => {}
            Ok(Drain::Done) => self.pulling = false,
            Ok(Drain::Close) => {
                self.pulling = false;
                self.end_session();
            }
            Err(e) => {
                tracing::warn!(peer = %self.peer, error = %e, "connection error");
                self.pulling = false;
                self.end_session();
            }
        }
        self.out.len() > before
    }

    /// The session is done: an open connection starts closing.
    fn end_session(&mut self) {
        if self.phase == Phase::Open {
            self.phase = Phase::Closing { peer_done: false };
        }
    }

    /// The socket failed: close without waiting for anything.
    pub fn break_off(&mut self) {
        self.phase = Phase::Broken;
    }

    /// `n` bytes of `out` were written.
    pub fn sent(&mut self, n: usize, now: Instant) {
        self.out.consume(n);
        self.bytes_out += n as u64;
        self.last_active = now;
    }

    /// `n` bytes of the file region in `out` were sent (`sendfile`).
    pub fn sent_file(&mut self, n: usize, now: Instant) {
        self.out.consume_file(n as u64);
        self.bytes_out += n as u64;
        self.last_active = now;
    }

    /// Moves the next write's bytes out of `out` into `into`, for a send the
    /// kernel completes later (the buffer stays untouched until then). A file
    /// region is read into it a piece at a time (completion-based I/O has no
    /// `sendfile`); a read that fails or finds the file shorter breaks the
    /// connection, as the head promised more.
    pub fn take_send(&mut self, into: &mut Vec<u8>) {
        if let Some(region) = self.out.file() {
            let want = usize::try_from(region.len).unwrap_or(usize::MAX).min(FILE_PIECE);
            into.clear();
            into.resize(want, 0);
            let got = std::os::unix::fs::FileExt::read_at(&*region.file, into, region.offset);
            let n = got.as_ref().map_or(0, |n| (*n).min(want));
            into.truncate(n);
            if n == 0 {
                tracing::warn!(peer = %self.peer, "body cut short: the file ended or failed");
                self.break_off();
                return;
            }
            self.out.consume_file(n as u64);
        } else {
            self.out.take_write(into);
        }
        self.in_flight += into.len();
    }

    /// `n` bytes of a taken send were written.
    pub fn send_done(&mut self, n: usize, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(n);
        self.bytes_out += n as u64;
        self.last_active = now;
    }

    /// A taken send will never complete (the connection broke).
    pub fn send_lost(&mut self) {
        self.in_flight = 0;
    }

    /// Moves the delayed replies that are due into `out`, and lets a session
    /// whose wait ran out have its last words; returns whether any came.
    pub fn release_due(&mut self, now: Instant) -> bool {
        let mut any = false;
        if self.phase == Phase::Open && self.deadline.is_some_and(|d| d <= now) {
            self.deadline = None;
            let before = self.out.len();
            self.session.on_timeout(&mut self.out);
            self.phase = Phase::Closing { peer_done: false };
            any = self.out.len() > before;
        }
        while self.delayed.front().is_some_and(|(at, _)| *at <= now) {
            let Some((_, mut bytes)) = self.delayed.pop_front() else {
                break;
            };
            self.delayed_bytes -= bytes.len();
            self.out.append(&mut bytes);
            any = true;
        }
        any
    }

    /// The idle timeout closes this connection: the session's last words
    /// (if any) are queued and the connection closes once they are sent;
    /// true when there are some (else the caller closes it at once).
    /// The sweep closes this connection for `why` ([`Lifecycle::expired`]):
    /// for the idle timeout, the session's last words first ([`Lifecycle::idle_out`]);
    /// true when there are some to send before the close.
    pub fn last_words(&mut self, why: &str) -> bool {
        let some = why == IDLE_TIMEOUT && self.idle_out();
        if some {
            tracing::info!(peer = %self.peer, "idle timeout: last words, then close");
        }
        some
    }

    fn idle_out(&mut self) -> bool {
        // Only a connection with nothing left to send: one that is still
        // sending (a peer that stopped reading mid-body) is closed at once,
        // as before, rather than told a clean end after a cut reply.
        if self.phase != Phase::Open || self.backlog() > 0 || self.pulling {
            return false;
        }
        let before = self.out.len();
        self.session.on_idle(&mut self.out);
        self.phase = Phase::Closing { peer_done: false };
        self.out.len() > before
    }

    /// What the loop must do now that the last step is done.
    pub fn next(&mut self, now: Instant) -> Next {
        if self.phase == Phase::Broken {
            return Next::Close;
        }
        if !self.out.is_empty() || self.in_flight > 0 || !self.delayed.is_empty() || self.pulling {
            return Next::Keep;
        }
        match self.phase {
            Phase::Open | Phase::Lingering { .. } => Next::Keep,
            Phase::Draining | Phase::Closing { peer_done: true } => Next::Close,
            Phase::Closing { peer_done: false } => {
                self.phase = Phase::Lingering { until: now + LINGER };
                Next::HalfClose
            }
            Phase::Broken => Next::Close,
        }
    }

    /// Why this connection should be closed by the sweep now, if it should:
    /// its linger is over, or it was silent for `idle` with nothing pending.
    pub fn expired(&self, now: Instant, idle: Option<Duration>) -> Option<&'static str> {
        if let Phase::Lingering { until } = self.phase {
            return (now >= until).then_some("linger over");
        }
        let silent = idle.is_some_and(|d| now.duration_since(self.last_active) >= d);
        (silent && self.delayed.is_empty()).then_some(IDLE_TIMEOUT)
    }

    /// Adds reply bytes, now or after `--delay`; returns the timer to set.
    fn queue(&mut self, mut bytes: Output, now: Instant) -> Option<Instant> {
        if bytes.is_empty() {
            return None;
        }
        if self.delay.is_zero() {
            self.out.append(&mut bytes);
            return None;
        }
        let at = now + self.delay;
        self.delayed_bytes += bytes.len();
        self.delayed.push_back((at, bytes));
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::answer::UpperSession;
    use crate::proto::{ConnInfo, ProtocolError};

    struct Failing;
    impl Session for Failing {
        fn on_data(&mut self, data: &[u8], out: &mut Output) -> Result<Flow, ProtocolError> {
            out.extend_from_slice(b"last word: ");
            out.extend_from_slice(data);
            Err(ProtocolError::Peer("bad".into()))
        }
        fn on_eof(&mut self, _out: &mut Output) -> Result<(), ProtocolError> {
            Ok(())
        }
    }

    fn life(session: Box<dyn Session>, delay: Duration) -> (Lifecycle, Instant) {
        let now = Instant::now();
        (Lifecycle::start(session, "test".into(), delay, now).0, now)
    }

    fn drain(c: &mut Lifecycle, now: Instant) -> Vec<u8> {
        let bytes = c.out.pending().to_vec();
        c.sent(bytes.len(), now);
        assert!(!c.refill(), "these sessions answer whole");
        bytes
    }

    struct Goodbye;
    impl Session for Goodbye {
        fn on_data(&mut self, _data: &[u8], _out: &mut Output) -> Result<Flow, ProtocolError> {
            Ok(Flow::Continue)
        }
        fn on_eof(&mut self, _out: &mut Output) -> Result<(), ProtocolError> {
            Ok(())
        }
        fn on_idle(&mut self, out: &mut Output) {
            out.extend_from_slice(b"bye");
        }
    }

    #[test]
    fn an_idle_close_sends_the_last_words_first() {
        let (mut c, now) = life(Box::new(Goodbye), Duration::ZERO);
        assert!(drain(&mut c, now).is_empty(), "nothing said yet, nothing to stream");
        assert!(c.idle_out(), "last words queued");
        assert_eq!(drain(&mut c, now), b"bye");
        assert!(matches!(c.next(now), Next::HalfClose));
        assert!(!c.idle_out(), "once only");
        let (mut quiet, now) = life(Box::new(UpperSession::default()), Duration::ZERO);
        drain(&mut quiet, now);
        assert!(!quiet.idle_out(), "a session with nothing to say is closed at once");
        let (mut busy, now) = life(Box::new(Goodbye), Duration::ZERO);
        drain(&mut busy, now);
        busy.out.extend_from_slice(b"unsent reply");
        assert!(
            !busy.idle_out(),
            "a connection still sending is closed at once, no last words"
        );
        assert_eq!(drain(&mut busy, now), b"unsent reply");
    }

    #[test]
    fn eof_flushes_then_closes() {
        let (mut c, now) = life(Box::new(UpperSession::default()), Duration::ZERO);
        c.received(b"ab\xc3", now);
        assert_eq!(c.next(now), Next::Keep);
        c.input_ended(now);
        assert_eq!(c.phase(), Phase::Draining);
        assert!(!c.wants_read());
        assert_eq!(c.next(now), Next::Keep, "replies pending");
        assert_eq!(drain(&mut c, now), b"AB\xc3");
        assert_eq!(c.next(now), Next::Close);
    }

    #[test]
    fn an_error_reply_is_sent_then_the_connection_lingers() {
        let (mut c, now) = life(Box::new(Failing), Duration::ZERO);
        c.received(b"x", now);
        assert_eq!(c.phase(), Phase::Closing { peer_done: false });
        assert_eq!(c.next(now), Next::Keep);
        assert_eq!(drain(&mut c, now), b"last word: x");
        assert_eq!(c.next(now), Next::HalfClose);
        assert!(c.wants_read(), "lingering reads to discard");
        c.received(b"ignored", now);
        assert!(c.out.is_empty());
        assert_eq!(c.expired(now + LINGER, None), Some("linger over"));
        c.input_ended(now);
        assert_eq!(c.next(now), Next::Close);
    }

    #[test]
    fn a_greeting_that_closes_is_sent_first() {
        let info = ConnInfo {
            peer: None,
            accepted_at: std::time::SystemTime::UNIX_EPOCH,
        };
        let session = crate::proto::handlers::Handler::Hello.session(&info);
        let (mut c, now) = life(session, Duration::ZERO);
        assert_eq!(drain(&mut c, now), b"Hello unix socket\n");
        assert_eq!(c.next(now), Next::HalfClose);
    }

    #[test]
    fn delayed_replies_wait_for_their_timer() {
        let delay = Duration::from_millis(300);
        let (mut c, now) = life(Box::new(UpperSession::default()), delay);
        assert_eq!(c.received(b"a", now), Some(now + delay));
        assert!(c.out.is_empty());
        c.input_ended(now);
        assert_eq!(c.next(now), Next::Keep, "a delayed reply is still owed");
        assert!(!c.release_due(now));
        assert!(c.release_due(now + delay));
        assert_eq!(drain(&mut c, now), b"A");
        assert_eq!(c.next(now), Next::Close);
        assert_eq!(c.expired(now + delay, Some(Duration::ZERO)), Some("idle timeout"));
    }

    #[test]
    fn back_pressure_pauses_and_resumes() {
        let (mut c, now) = life(Box::new(crate::proto::answer::EchoSession), Duration::ZERO);
        c.received(&vec![b'a'; HIGH_WATER], now);
        assert_eq!(c.update_pause(), Some(true));
        assert!(!c.wants_read());
        c.sent(HIGH_WATER / 4, now);
        assert_eq!(c.update_pause(), None, "still above half");
        c.sent(HIGH_WATER / 2, now);
        assert_eq!(c.update_pause(), Some(false));
        assert!(c.wants_read());
    }
}
