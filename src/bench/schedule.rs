//! When requests go out: the open loop's pacer and the connections waiting
//! for a request to fall due, or the closed loop's "at once"; the interval
//! bookkeeping; and a wait finer than mio's millisecond steps. Shared by the
//! stream and UDP workers.

use super::stats::Tally;
use super::{Shared, Snapshot};
use std::collections::VecDeque;
use std::io;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Open loop: when the next request falls due.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pacer {
    next: Instant,
    period: Duration,
}

impl Pacer {
    /// `None` for a closed loop; else a pacer at `rate` requests/s.
    pub(super) fn new(rate: Option<f64>, start: Instant) -> Option<Pacer> {
        let rate = rate.filter(|r| *r > 0.0)?;
        Some(Pacer {
            next: start,
            period: Duration::from_secs_f64(1.0 / rate),
        })
    }

    /// The due time of a request that is due by `now`, advancing the pacer.
    pub(super) fn take_due(&mut self, now: Instant) -> Option<Instant> {
        if self.next > now {
            return None;
        }
        let due = self.next;
        self.next += self.period;
        Some(due)
    }
}

/// Which free connection sends next, and when.
pub(super) struct Schedule {
    /// Open loop: when the next request falls due; `None`: closed loop.
    pacer: Option<Pacer>,
    /// Open loop: connections free to take a request when one falls due,
    /// in the order they became free (so the load goes round them all).
    idle: VecDeque<usize>,
}

impl Schedule {
    /// A closed loop, or an open one at `rate` requests/s from `start`.
    pub(super) fn new(rate: Option<f64>, start: Instant) -> Self {
        Schedule {
            pacer: Pacer::new(rate, start),
            idle: VecDeque::new(),
        }
    }

    /// Connection `k` is free. Closed loop: returns when its next request
    /// starts (now), if the run allows another. Open loop: it waits.
    pub(super) fn free(&mut self, k: usize, shared: &Shared, now: Instant) -> Option<Instant> {
        if self.pacer.is_some() {
            self.idle.push_back(k);
            return None;
        }
        shared.claim(now).then_some(now)
    }

    /// Open loop: the connections to start now, each with the time its
    /// request fell due (latency counts from then).
    pub(super) fn due(&mut self, shared: &Shared, now: Instant, out: &mut Vec<(usize, Instant)>) {
        let Some(pacer) = &mut self.pacer else { return };
        while !self.idle.is_empty() {
            let Some(due) = pacer.take_due(now) else { break };
            let Some(k) = self.idle.pop_front() else { break };
            if !shared.claim(now) {
                self.idle.clear();
                break;
            }
            out.push((k, due));
        }
    }

    /// `until`, or earlier if a request falls due for a waiting connection.
    pub(super) fn wake_by(&self, until: Instant) -> Instant {
        match &self.pacer {
            Some(p) if !self.idle.is_empty() => until.min(p.next),
            _ => until,
        }
    }

    /// Connection `k` is gone.
    pub(super) fn forget(&mut self, k: usize) {
        self.idle.retain(|&i| i != k);
    }

    /// Whether connections wait for requests to fall due.
    pub(super) fn has_waiting(&self) -> bool {
        !self.idle.is_empty()
    }

    /// Whether connection `k` waits for a request to fall due.
    pub(super) fn is_waiting(&self, k: usize) -> bool {
        self.idle.contains(&k)
    }
}

/// The token of a [`Waiter`]'s timer in a worker's poll (no connection has it).
pub(super) const TIMER: mio::Token = mio::Token(usize::MAX);

/// Waits for events with a deadline finer than mio's millisecond steps.
///
/// epoll's timeout counts whole milliseconds, so an open loop at a high
/// rate would send up to 1 ms late; sleeping the remainder instead would
/// leave replies unread for as long. A wait shorter than a millisecond
/// arms a timerfd (nanosecond precision) beside the sockets, so the loop
/// wakes for whichever comes first.
pub(super) struct Waiter {
    timer: nix::sys::timerfd::TimerFd,
}

impl Waiter {
    /// A waiter whose timer is registered in `poll` under [`TIMER`].
    pub(super) fn new(poll: &mio::Poll) -> io::Result<Self> {
        use nix::sys::timerfd::{ClockId, TimerFd, TimerFlags};
        use std::os::fd::{AsFd, AsRawFd};
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        let fd = timer.as_fd().as_raw_fd();
        poll.registry()
            .register(&mut mio::unix::SourceFd(&fd), TIMER, mio::Interest::READABLE)?;
        Ok(Waiter { timer })
    }

    /// Waits up to `wait` for events (a timer event among them is consumed
    /// here: callers skip [`TIMER`]).
    pub(super) fn wait(&mut self, poll: &mut mio::Poll, events: &mut mio::Events, wait: Duration) -> io::Result<()> {
        use nix::sys::time::TimeSpec;
        use nix::sys::timerfd::{Expiration, TimerSetTimeFlags};
        if wait >= Duration::from_millis(1) || wait.is_zero() {
            return poll.poll(events, Some(wait));
        }
        self.timer
            .set(Expiration::OneShot(TimeSpec::from(wait)), TimerSetTimeFlags::empty())?;
        poll.poll(events, None)?;
        if events.iter().any(|e| e.token() == TIMER) {
            // Read the expiry so the next one is a new edge.
            let _ = self.timer.wait();
        } else {
            let _ = self.timer.unset();
        }
        Ok(())
    }
}

/// Interval bookkeeping shared by the workers: which interval it is, and
/// sending each one's tally when it ends.
pub(super) struct Intervals<'a> {
    span: Option<Duration>,
    index: u32,
    next: Option<Instant>,
    tx: &'a mpsc::Sender<Snapshot>,
}

impl<'a> Intervals<'a> {
    pub(super) fn new(span: Option<Duration>, start: Instant, tx: &'a mpsc::Sender<Snapshot>) -> Self {
        Intervals {
            span,
            index: 0,
            next: span.map(|s| start + s),
            tx,
        }
    }

    /// For every interval that ended by `now`: adds its tally to the
    /// run's `total`, sends it, and starts the next one empty.
    pub(super) fn tick(&mut self, now: Instant, interval: &mut Tally, total: &mut Tally) {
        while let (Some(next), Some(span)) = (self.next, self.span) {
            if now < next {
                return;
            }
            total.add(interval);
            let _ = self.tx.send(Snapshot {
                index: self.index,
                tally: std::mem::take(interval),
            });
            self.index += 1;
            self.next = Some(next + span);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_hands_out_due_times_at_the_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Some(1000.0), t0).expect("open loop");
        let mut due = Vec::new();
        while let Some(d) = p.take_due(t0 + Duration::from_millis(10)) {
            due.push(d);
        }
        assert_eq!(due.len(), 11, "t = 0, 1, ... 10 ms");
        assert_eq!(due.get(1).map(|d| d.duration_since(t0)), Some(Duration::from_millis(1)));
        assert!(Pacer::new(None, t0).is_none());
    }
}
