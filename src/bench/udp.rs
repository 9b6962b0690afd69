//! One bench thread over UDP: `connect()`ed sockets (so only the server's
//! datagrams arrive, and an ICMP refusal is reported), a deadline per
//! request. A request whose reply does not come in time counts as lost; a
//! late reply to it is recognised by its bytes and ignored, never taken for
//! the answer to a later request.
//!
//! Closed loop: one request in flight per socket. Open loop (`--rate`):
//! requests fall due at the rate whatever is lost, so a socket may have many
//! in flight (up to [`MAX_IN_FLIGHT`]); a lost datagram never holds up the
//! requests after it. Requests still unanswered when the run ends are lost.

use super::dialog::PATTERN;
use super::schedule::{Intervals, Schedule, TIMER, Waiter};
use super::stats::Tally;
use super::{Shared, Snapshot, Target, WorkerResult};
use crate::error::NetError;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Replies of timed-out requests remembered per socket, to spot late ones.
const LATE: usize = 256;
/// Receive buffer: the largest UDP payload.
const RECV_BUF: usize = 65_536;
/// The longest a loop sleeps without looking at the clock.
const TICK: Duration = Duration::from_millis(50);
/// Open loop: the most requests one socket has in flight (memory stays bounded
/// however much is lost); a request due while every socket is full waits, and
/// its latency still counts from when it was due.
pub(super) const MAX_IN_FLIGHT: usize = 4096;

/// One request waiting for its reply.
struct Pending {
    /// When it was due (open loop) or sent (closed loop): latency counts from here.
    started: Instant,
    /// When it counts as lost.
    deadline: Instant,
    /// The reply that answers it.
    expected: Vec<u8>,
    /// The datagram went out (a full send buffer may delay it).
    sent: bool,
    /// The datagram itself (kept to explain a wrong reply).
    request: Vec<u8>,
}

struct Sock {
    sock: UdpSocket,
    seq: u64,
    /// Requests in flight, oldest first.
    pending: VecDeque<Pending>,
    late: VecDeque<Vec<u8>>,
    answered: u64,
}

/// A request payload of `size` bytes: a 16-digit hex sequence number (cut
/// to fit a smaller size), then the pattern.
fn payload(seq: u64, size: usize, out: &mut Vec<u8>) {
    out.clear();
    let tag = format!("{seq:016x}");
    let tag = tag.as_bytes();
    // The tag's last `size` digits at most: the split point is within it.
    out.extend_from_slice(tag.split_at(tag.len().saturating_sub(size)).1);
    out.extend((out.len()..size).map(super::dialog::pattern_byte));
}

fn open(target: &Target, poll: &Poll, k: usize) -> io::Result<UdpSocket> {
    let Some(addr) = (match target {
        Target::Tcp(addrs) => addrs.first(),
        Target::Unix(_) => None,
    }) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "UDP needs HOST and -p, not --unix",
        ));
    };
    let ip: IpAddr = if addr.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let mut sock = UdpSocket::bind(SocketAddr::new(ip, 0))?;
    sock.connect(*addr)?;
    poll.registry().register(&mut sock, Token(k), Interest::READABLE)?;
    Ok(sock)
}

struct Worker<'a> {
    shared: &'a Shared,
    socks: Vec<Option<Sock>>,
    buf: Vec<u8>,
    tally: Tally,
    interval: Tally,
    /// Which free socket sends next, and when.
    schedule: Schedule,
    /// Open loop: sockets take requests while they have room, not only when idle.
    open_loop: bool,
    /// The sockets to start this turn (kept to reuse its memory).
    starting: Vec<(usize, Instant)>,
    in_flight: usize,
    served: usize,
    refused: bool,
}

/// Runs one thread's share of the UDP load.
pub(super) fn run(
    shared: &Shared,
    count: usize,
    rate: Option<f64>,
    tx: &mpsc::Sender<Snapshot>,
) -> io::Result<WorkerResult> {
    let mut poll = Poll::new()?;
    let mut w = Worker {
        shared,
        socks: Vec::with_capacity(count),
        buf: vec![0; RECV_BUF],
        tally: Tally::default(),
        interval: Tally::default(),
        schedule: Schedule::new(rate, shared.started),
        open_loop: rate.is_some(),
        starting: Vec::new(),
        in_flight: 0,
        served: 0,
        refused: false,
    };
    let mut connect_error = None;
    for k in 0..count {
        let sock = match open(&shared.cfg.target, &poll, k) {
            Ok(s) => s,
            Err(e) => {
                shared.note_error(|| format!("cannot open a UDP socket: {e}"));
                connect_error = Some(e);
                w.socks.push(None);
                continue;
            }
        };
        w.socks.push(Some(Sock {
            sock,
            seq: (k as u64) << 40,
            pending: VecDeque::new(),
            late: VecDeque::new(),
            answered: 0,
        }));
    }
    let set_up = Instant::now();
    if w.socks.iter().flatten().next().is_some() {
        w.run(&mut poll, tx)?;
    }
    w.finish();
    Ok(WorkerResult {
        tally: w.tally,
        served: w.served,
        connect_error: connect_error.or_else(|| w.refused.then(|| NetError::Refused.into())),
        connected: w.socks.iter().flatten().count(),
        refused: w.refused,
        set_up,
    })
}

impl Worker<'_> {
    fn run(&mut self, poll: &mut Poll, tx: &mpsc::Sender<Snapshot>) -> io::Result<()> {
        let mut intervals = Intervals::new(self.shared.cfg.interval, self.shared.started, tx);
        let now = Instant::now();
        for k in 0..self.socks.len() {
            self.ready_for_next(k, now);
        }
        let mut events = Events::with_capacity(1024);
        let mut waiter = Waiter::new(poll)?;
        loop {
            let now = Instant::now();
            intervals.tick(now, &mut self.interval, &mut self.tally);
            self.expire(now);
            if self.shared.over(now) || (self.in_flight == 0 && !self.schedule.has_waiting()) {
                return Ok(());
            }
            self.dispatch_due(now);
            self.retry_sends();
            match waiter.wait(poll, &mut events, self.wait(now)) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            // A reply that lands after the end is not part of the run.
            let now = Instant::now();
            if self.shared.over(now) {
                // The last interval ends with the run: report it too.
                intervals.tick(now, &mut self.interval, &mut self.tally);
                return Ok(());
            }
            for event in events.iter().filter(|e| e.token() != TIMER) {
                self.receive(event.token().0);
            }
        }
    }

    /// The run is over: replies already queued still count, and every
    /// request left unanswered is lost.
    fn finish(&mut self) {
        for k in 0..self.socks.len() {
            self.receive(k);
        }
        let left: usize = self.socks.iter().flatten().map(|s| s.pending.len()).sum();
        self.interval.lost += left as u64;
        self.in_flight = 0;
        self.tally.add(&self.interval);
    }

    fn wait(&self, now: Instant) -> Duration {
        let mut until = self.schedule.wake_by(now + TICK);
        for s in self.socks.iter().flatten() {
            if let Some(p) = s.pending.front() {
                until = until.min(p.deadline);
            }
        }
        if let Some(d) = self.shared.deadline() {
            until = until.min(d);
        }
        until.saturating_duration_since(now)
    }

    fn dispatch_due(&mut self, now: Instant) {
        let mut starting = std::mem::take(&mut self.starting);
        self.schedule.due(self.shared, now, &mut starting);
        for (k, due) in starting.drain(..) {
            self.begin(k, due);
            if self.open_loop {
                // Still free for the next request that falls due.
                self.ready_for_next(k, now);
            }
        }
        self.starting = starting;
    }

    /// Socket `k` may take another request: closed loop, when none is in
    /// flight; open loop, while it has room.
    fn ready_for_next(&mut self, k: usize, now: Instant) {
        let Some(Some(s)) = self.socks.get(k) else { return };
        let room = if self.open_loop {
            s.pending.len() < MAX_IN_FLIGHT
        } else {
            s.pending.is_empty()
        };
        if !room || self.schedule.is_waiting(k) {
            return;
        }
        if let Some(at) = self.schedule.free(k, self.shared, now) {
            self.begin(k, at);
        }
    }

    fn begin(&mut self, k: usize, started: Instant) {
        let (size, timeout, answer) = (self.shared.cfg.size, self.shared.cfg.timeout, self.shared.cfg.expect);
        let Some(Some(s)) = self.socks.get_mut(k) else { return };
        s.seq += 1;
        let mut request = Vec::new();
        payload(s.seq, usize::try_from(size).unwrap_or(PATTERN), &mut request);
        let expected = answer.reply_to(&request);
        s.pending.push_back(Pending {
            started,
            deadline: Instant::now() + timeout,
            expected,
            sent: false,
            request,
        });
        self.in_flight += 1;
        self.send(k);
    }

    /// Sends every request of socket `k` that has not gone out yet, in order.
    fn send(&mut self, k: usize) {
        let Some(Some(s)) = self.socks.get_mut(k) else { return };
        let mut refused = false;
        for p in s.pending.iter_mut().filter(|p| !p.sent) {
            match s.sock.send(&p.request) {
                Ok(n) => {
                    p.sent = true;
                    self.interval.bytes += n as u64;
                }
                Err(e) => {
                    refused = e.kind() == io::ErrorKind::ConnectionRefused;
                    // Otherwise a full send buffer: try again on the next turn of the loop.
                    break;
                }
            }
        }
        if refused {
            self.refused_by(k);
        }
    }

    fn retry_sends(&mut self) {
        for k in 0..self.socks.len() {
            let unsent = self
                .socks
                .get(k)
                .and_then(Option::as_ref)
                .is_some_and(|s| s.pending.iter().any(|p| !p.sent));
            if unsent {
                self.send(k);
            }
        }
    }

    /// Requests past their deadline are lost; their sockets go on.
    fn expire(&mut self, now: Instant) {
        for k in 0..self.socks.len() {
            let Some(Some(s)) = self.socks.get_mut(k) else { continue };
            let mut expired = 0;
            while s.pending.front().is_some_and(|p| p.deadline <= now) {
                let Some(p) = s.pending.pop_front() else { break };
                if s.late.len() == LATE {
                    s.late.pop_front();
                }
                s.late.push_back(p.expected);
                expired += 1;
            }
            if expired > 0 {
                self.in_flight -= expired;
                self.interval.lost += expired as u64;
                self.ready_for_next(k, now);
            }
        }
    }

    fn receive(&mut self, k: usize) {
        loop {
            let Some(Some(s)) = self.socks.get_mut(k) else { return };
            let n = match s.sock.recv(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return self.refused_by(k),
                Err(_) => return,
            };
            self.interval.bytes += n as u64;
            let reply = crate::net::filled(&self.buf, n);
            if let Some(i) = s.pending.iter().position(|p| p.sent && p.expected.as_slice() == reply) {
                let now = Instant::now();
                let Some(p) = s.pending.remove(i) else { return };
                s.answered += 1;
                if s.answered == 1 {
                    self.served += 1;
                }
                self.in_flight -= 1;
                self.interval.latencies.record(now.duration_since(p.started));
                self.shared.answered.fetch_add(1, Ordering::Relaxed);
                self.ready_for_next(k, now);
            } else if !s.late.iter().any(|l| l.as_slice() == reply) {
                if let Some(p) = s.pending.front() {
                    self.shared.note_wrong(&p.request, reply, &p.expected);
                }
                self.interval.errors += 1;
                self.shared.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// ICMP port unreachable: nobody listens there; this socket is done.
    fn refused_by(&mut self, k: usize) {
        self.refused = true;
        if let Some(slot) = self.socks.get_mut(k)
            && let Some(s) = slot.take()
        {
            self.in_flight -= s.pending.len();
            self.interval.errors += 1;
            self.shared.errors.fetch_add(1, Ordering::Relaxed);
            self.shared
                .note_error(|| "the server's port is unreachable (ICMP): nothing listens there".into());
        }
        self.schedule.forget(k);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn payloads_carry_their_sequence_number() {
        let mut p = Vec::new();
        super::payload(42, 20, &mut p);
        assert_eq!(p, b"000000000000002aqrst");
        super::payload(0x1234, 3, &mut p);
        assert_eq!(p, b"234");
    }
}
