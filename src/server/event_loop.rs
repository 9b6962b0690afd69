//! The loop policy both event-driven modes (poll, uring) share, written once:
//! `--delay` timers, the idle and linger sweep, the stop sequence (stop
//! accepting, a grace period, close what is left), when accepting waits (the
//! connection cap, a pause after running out of descriptors), and the line
//! logged when a connection closes.
//!
//! A driver keeps only what is its own (readiness events and mio tokens, or
//! submissions, completions and buffers) and asks this policy what time
//! demands. Each connection's own rules are its [`Lifecycle`]'s.

use super::accept::{self, AcceptError};
use super::ctx::{Ctx, log_cap};
use super::lifecycle::{Lifecycle, Next, Phase};
use super::{LINGER, config::ServerConfig};
use crate::shutdown::GRACE;
use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

/// A delayed reply's timer: when it is due, and for which connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    /// When the reply may go.
    pub at: Instant,
    /// The connection table slot.
    pub slot: usize,
    /// Which tenant of the slot it was set for: a reused slot never gets an
    /// earlier connection's timer.
    pub generation: u64,
}

/// What the driver does with a connection after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Nothing yet.
    Keep,
    /// Shut our write side: the connection lingers (the sweep ends it).
    HalfClose,
    /// Close it, for this reason (the close log says it).
    Close(&'static str),
}

/// What a failed accept means for the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptFailed {
    /// No connection is waiting: stop accepting until the next readiness.
    Drained,
    /// Not ours (a peer that gave up): accept again.
    Retry,
    /// Out of descriptors: accepting waits until the pause is over.
    Paused,
}

/// How often a loop looks for idle and lingering connections: a quarter of
/// the idle timeout, between 10 ms and 1 s.
pub fn sweep_every(idle: Option<Duration>) -> Duration {
    idle.map_or(Duration::from_secs(1), |d| {
        (d / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    })
}

/// The loop-wide state and rules of one event loop.
pub struct LoopPolicy<'a> {
    /// Settings, counters, the session factory, the shutdown handle.
    pub ctx: &'a Ctx,
    /// Delay timers in deadline order (every delay is the same length).
    timers: VecDeque<Timer>,
    /// When the idle and linger sweep runs next.
    next_sweep: Instant,
    /// Shutting down: the grace period ends then.
    stop_by: Option<Instant>,
    /// This loop's share of `--max-conns`.
    cap: usize,
    /// At the cap: accepting waits for a connection to close.
    at_cap: bool,
    /// Accepting waits until then (it ran out of descriptors).
    accept_resume: Option<Instant>,
}

impl<'a> LoopPolicy<'a> {
    /// The policy of a loop starting at `now`.
    pub fn new(ctx: &'a Ctx, now: Instant) -> Self {
        let cfg: &ServerConfig = &ctx.cfg;
        LoopPolicy {
            ctx,
            timers: VecDeque::new(),
            next_sweep: now + sweep_every(cfg.idle_timeout),
            stop_by: None,
            cap: cfg.max_conns_per_worker(),
            at_cap: false,
            accept_resume: None,
        }
    }

    /// Remembers a delayed reply's timer, if a step returned one.
    pub fn set_timer(&mut self, at: Option<Instant>, slot: usize, generation: u64) {
        if let Some(at) = at {
            self.timers.push_back(Timer { at, slot, generation });
        }
    }

    /// How long the loop may wait for I/O: until the next timer, sweep,
    /// end of an accept pause, or end of the grace period.
    pub fn timeout(&self, now: Instant) -> Duration {
        let mut next = self.next_sweep;
        for at in [self.timers.front().map(|t| t.at), self.accept_resume, self.stop_by]
            .into_iter()
            .flatten()
        {
            next = next.min(at);
        }
        next.saturating_duration_since(now)
    }

    /// The timers due by `now`, as `(slot, generation)`, removed.
    pub fn due_timers(&mut self, now: Instant) -> Vec<(usize, u64)> {
        let mut due = Vec::new();
        while let Some(t) = self.timers.front().copied() {
            if t.at > now {
                break;
            }
            self.timers.pop_front();
            due.push((t.slot, t.generation));
        }
        due
    }

    /// When the sweep is due: the connections it closes, and why (an idle
    /// timeout, a linger over). Empty between sweeps.
    pub fn sweep<'c>(
        &mut self,
        now: Instant,
        conns: impl Iterator<Item = (usize, &'c Lifecycle)>,
    ) -> Vec<(usize, &'static str)> {
        if now < self.next_sweep {
            return Vec::new();
        }
        let idle = self.ctx.cfg.idle_timeout;
        self.next_sweep = now + sweep_every(idle);
        conns
            .filter_map(|(k, c)| c.expired(now, idle).map(|why| (k, why)))
            .collect()
    }

    /// What to do with a connection whose step is done: its lifecycle
    /// decides; a connection that starts lingering brings the sweep forward.
    pub fn settle(&mut self, life: &mut Lifecycle, now: Instant) -> Settle {
        match life.next(now) {
            Next::Keep => Settle::Keep,
            Next::HalfClose => {
                // The session closed first while the peer may still send: linger.
                tracing::debug!(peer = %life.peer, "shutdown(write)");
                self.next_sweep = self.next_sweep.min(now + LINGER);
                Settle::HalfClose
            }
            Next::Close if life.phase() == Phase::Broken => Settle::Close("error"),
            Next::Close => Settle::Close("done"),
        }
    }

    /// Shutdown: starts the grace period. True the first time only; the
    /// driver then stops accepting and ends every connection's input.
    pub fn begin_stop(&mut self, now: Instant) -> bool {
        if self.stop_by.is_some() {
            return false;
        }
        self.stop_by = Some(now + GRACE);
        true
    }

    /// Whether the loop is shutting down.
    pub fn stopping(&self) -> bool {
        self.stop_by.is_some()
    }

    /// Whether the loop may end: shutting down, and every connection gone or
    /// the grace period over (the driver closes what is left).
    pub fn done(&self, now: Instant, live: usize) -> bool {
        self.stop_by.is_some_and(|by| live == 0 || now >= by)
    }

    /// Whether another connection may be accepted with `live` open: not
    /// while stopping or paused, nor at the cap (said once per episode).
    pub fn may_accept(&mut self, live: usize) -> bool {
        if self.stopping() || self.accept_resume.is_some() {
            return false;
        }
        if live >= self.cap {
            if !self.at_cap {
                log_cap(true, self.cap);
            }
            self.at_cap = true;
        }
        !self.at_cap
    }

    /// A connection closed, `live` are left: true when accepting was held at
    /// the cap and may go on now (said once per episode).
    pub fn left(&mut self, live: usize) -> bool {
        if self.at_cap && live < self.cap {
            self.at_cap = false;
            log_cap(false, self.cap);
            return !self.stopping() && self.accept_resume.is_none();
        }
        false
    }

    /// The accept error policy, the same as the blocking loop's.
    ///
    /// # Errors
    /// A fatal error: the listener itself is broken.
    pub fn accept_failed(&mut self, e: io::Error, now: Instant) -> io::Result<AcceptFailed> {
        if e.kind() == io::ErrorKind::WouldBlock {
            return Ok(AcceptFailed::Drained);
        }
        match accept::note(&e) {
            AcceptError::Skip => Ok(AcceptFailed::Retry),
            AcceptError::Pause => {
                self.accept_resume = Some(now + accept::PAUSE);
                Ok(AcceptFailed::Paused)
            }
            AcceptError::Fatal => Err(e),
        }
    }

    /// Whether an accept pause ended by `now` (accepting may go on).
    pub fn resume_due(&mut self, now: Instant) -> bool {
        if self.accept_resume.is_some_and(|at| at <= now) {
            self.accept_resume = None;
            return !self.stopping() && !self.at_cap;
        }
        false
    }

    /// The line a closed connection leaves, and its count in the summary.
    pub fn closed(&self, life: &Lifecycle, why: &str) {
        tracing::debug!(peer = %life.peer, "close");
        tracing::info!(
            peer = %life.peer,
            bytes_in = life.bytes_in,
            bytes_out = life.bytes_out,
            duration = ?life.opened.elapsed(),
            why,
            "connection closed"
        );
        self.ctx.finish_connection();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::SessionFactory;
    use crate::shutdown::Shutdown;

    fn ctx(max_conns: usize) -> Ctx {
        let factory: SessionFactory = crate::proto::factory(|_| crate::proto::answer::EchoSession);
        let cfg = ServerConfig {
            mode: crate::server::Mode::Poll,
            max_conns: Some(max_conns),
            ..ServerConfig::default()
        };
        Ctx::new(cfg, factory, Shutdown::new().expect("pipe"))
    }

    #[test]
    fn timers_come_due_in_order_and_bound_the_wait() {
        let ctx = ctx(10);
        let now = Instant::now();
        let mut p = LoopPolicy::new(&ctx, now);
        let ms = Duration::from_millis;
        p.set_timer(Some(now + ms(5)), 1, 7);
        p.set_timer(Some(now + ms(9)), 2, 8);
        p.set_timer(None, 3, 9);
        assert_eq!(p.timeout(now), ms(5));
        assert_eq!(p.due_timers(now + ms(6)), vec![(1, 7)]);
        assert_eq!(p.due_timers(now + ms(9)), vec![(2, 8)]);
        assert!(p.due_timers(now + ms(100)).is_empty());
    }

    #[test]
    fn the_cap_is_said_once_and_left_once() {
        let ctx = ctx(2);
        let mut p = LoopPolicy::new(&ctx, Instant::now());
        assert!(p.may_accept(1));
        assert!(!p.may_accept(2));
        assert!(!p.may_accept(2));
        assert!(!p.left(2), "still at the cap");
        assert!(p.left(1));
        assert!(!p.left(0), "the episode is over");
    }

    #[test]
    fn the_stop_sequence() {
        let ctx = ctx(2);
        let now = Instant::now();
        let mut p = LoopPolicy::new(&ctx, now);
        assert!(!p.done(now, 0));
        assert!(p.begin_stop(now));
        assert!(!p.begin_stop(now), "once");
        assert!(!p.may_accept(0), "no accepting while stopping");
        assert!(!p.done(now, 3), "connections finish their replies");
        assert!(p.done(now, 0));
        assert!(p.done(now + GRACE, 3), "the grace period is over");
    }

    #[test]
    fn running_out_of_descriptors_pauses_accepting() {
        let ctx = ctx(2);
        let now = Instant::now();
        let mut p = LoopPolicy::new(&ctx, now);
        let emfile = io::Error::from_raw_os_error(nix::libc::EMFILE);
        assert_eq!(p.accept_failed(emfile, now).ok(), Some(AcceptFailed::Paused));
        assert!(!p.may_accept(0));
        assert!(!p.resume_due(now));
        assert!(p.resume_due(now + accept::PAUSE));
        assert!(p.may_accept(0));
        let block = io::Error::from(io::ErrorKind::WouldBlock);
        assert_eq!(p.accept_failed(block, now).ok(), Some(AcceptFailed::Drained));
        let bad = io::Error::from_raw_os_error(nix::libc::EBADF);
        assert!(p.accept_failed(bad, now).is_err());
    }
}
