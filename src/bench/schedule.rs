//! When requests go out: the open loop's pacer and the connections waiting
//! for a request to fall due, or the closed loop's "at once"; the interval
//! bookkeeping; and a wait finer than mio's millisecond steps. Shared by the
//! stream and UDP workers.

use super::stats::Tally;
use super::{Shared, Snapshot};
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
    /// Open loop: connections free to take a request when one falls due.
    idle: Vec<usize>,
}

impl Schedule {
    /// A closed loop, or an open one at `rate` requests/s from `start`.
    pub(super) fn new(rate: Option<f64>, start: Instant) -> Self {
        Schedule {
            pacer: Pacer::new(rate, start),
            idle: Vec::new(),
        }
    }

    /// Connection `k` is free. Closed loop: returns when its next request
    /// starts (now), if the run allows another. Open loop: it waits.
    pub(super) fn free(&mut self, k: usize, shared: &Shared, now: Instant) -> Option<Instant> {
        if self.pacer.is_some() {
            self.idle.push(k);
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
            let Some(k) = self.idle.pop() else { break };
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
}

/// Waits up to `wait` for events. mio's timeout has millisecond steps, which
/// would make an open loop send up to 1 ms late; a shorter wait polls
/// without blocking and then sleeps the rest (nanosleep is finer).
pub(super) fn poll_for(poll: &mut mio::Poll, events: &mut mio::Events, wait: Duration) -> io::Result<()> {
    if wait >= Duration::from_millis(1) || wait.is_zero() {
        return poll.poll(events, Some(wait));
    }
    poll.poll(events, Some(Duration::ZERO))?;
    if events.is_empty() {
        std::thread::sleep(wait);
    }
    Ok(())
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
