//! One bench thread over UDP: `connect()`ed sockets (so only the server's
//! datagrams arrive, and an ICMP refusal is reported), one request in flight
//! per socket, a deadline per request. A request whose reply does not come
//! in time counts as lost; a late reply to it is recognised by its sequence
//! number and ignored, never taken for the answer to a later request.

use super::dialog::PATTERN;
use super::schedule::{Intervals, Schedule, poll_for};
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
const LATE: usize = 16;
/// Receive buffer: the largest UDP payload.
const RECV_BUF: usize = 65_536;
/// The longest a loop sleeps without looking at the clock.
const TICK: Duration = Duration::from_millis(50);

struct Sock {
    sock: UdpSocket,
    seq: u64,
    busy: bool,
    /// The request went out (a full send buffer may delay it).
    sent: bool,
    started: Instant,
    deadline: Instant,
    request: Vec<u8>,
    expected: Vec<u8>,
    late: VecDeque<Vec<u8>>,
    answered: u64,
}

/// A request payload of `size` bytes: a 16-digit hex sequence number (cut
/// to fit a smaller size), then the pattern.
fn payload(seq: u64, size: usize, out: &mut Vec<u8>) {
    out.clear();
    let tag = format!("{seq:016x}");
    let tag = tag.as_bytes();
    out.extend_from_slice(tag.get(tag.len().saturating_sub(size)..).unwrap_or_default());
    out.extend((out.len()..size).map(|i| b"abcdefghijklmnopqrstuvwxyz"[i % 26]));
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
        starting: Vec::new(),
        in_flight: 0,
        served: 0,
        refused: false,
    };
    let mut connect_error = None;
    let now = Instant::now();
    for k in 0..count {
        let sock = match open(&shared.cfg.target, &poll, k) {
            Ok(s) => s,
            Err(e) => {
                connect_error = Some(e);
                w.socks.push(None);
                continue;
            }
        };
        w.socks.push(Some(Sock {
            sock,
            seq: (k as u64) << 40,
            busy: false,
            sent: false,
            started: now,
            deadline: now,
            request: Vec::new(),
            expected: Vec::new(),
            late: VecDeque::new(),
            answered: 0,
        }));
    }
    let set_up = Instant::now();
    if w.socks.iter().flatten().next().is_some() {
        w.run(&mut poll, tx)?;
    }
    w.tally.add(&w.interval);
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
        loop {
            let now = Instant::now();
            intervals.tick(now, &mut self.interval, &mut self.tally);
            self.expire(now);
            if self.shared.over(now) || (self.in_flight == 0 && !self.schedule.has_waiting()) {
                return Ok(());
            }
            self.dispatch_due(now);
            self.retry_sends();
            match poll_for(poll, &mut events, self.wait(now)) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            // A reply that lands after the end is not part of the run.
            if self.shared.over(Instant::now()) {
                return Ok(());
            }
            for event in &events {
                self.receive(event.token().0);
            }
        }
    }

    fn wait(&self, now: Instant) -> Duration {
        let mut until = self.schedule.wake_by(now + TICK);
        for s in self.socks.iter().flatten().filter(|s| s.busy) {
            until = until.min(s.deadline);
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
        }
        self.starting = starting;
    }

    fn ready_for_next(&mut self, k: usize, now: Instant) {
        if self.socks.get(k).is_none_or(Option::is_none) {
            return;
        }
        if let Some(at) = self.schedule.free(k, self.shared, now) {
            self.begin(k, at);
        }
    }

    fn begin(&mut self, k: usize, started: Instant) {
        let (size, timeout, answer) = (
            self.shared.cfg.size,
            self.shared.cfg.udp_timeout,
            self.shared.cfg.expect,
        );
        let Some(Some(s)) = self.socks.get_mut(k) else { return };
        s.seq += 1;
        payload(s.seq, usize::try_from(size).unwrap_or(PATTERN), &mut s.request);
        s.expected.clear();
        answer.reply_once(&s.request, &mut s.expected);
        s.busy = true;
        s.sent = false;
        s.started = started;
        s.deadline = Instant::now() + timeout;
        self.in_flight += 1;
        self.send(k);
    }

    fn send(&mut self, k: usize) {
        let Some(Some(s)) = self.socks.get_mut(k) else { return };
        match s.sock.send(&s.request) {
            Ok(n) => {
                s.sent = true;
                self.interval.bytes += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => self.refused_by(k),
            // A full send buffer: try again on the next turn of the loop.
            Err(_) => {}
        }
    }

    fn retry_sends(&mut self) {
        for k in 0..self.socks.len() {
            if self
                .socks
                .get(k)
                .and_then(Option::as_ref)
                .is_some_and(|s| s.busy && !s.sent)
            {
                self.send(k);
            }
        }
    }

    /// Requests past their deadline are lost; their sockets go on.
    fn expire(&mut self, now: Instant) {
        for k in 0..self.socks.len() {
            let Some(Some(s)) = self.socks.get_mut(k) else { continue };
            if !s.busy || s.deadline > now {
                continue;
            }
            s.busy = false;
            if s.late.len() == LATE {
                s.late.pop_front();
            }
            s.late.push_back(std::mem::take(&mut s.expected));
            self.in_flight -= 1;
            self.interval.lost += 1;
            self.ready_for_next(k, now);
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
            let reply = self.buf.get(..n).unwrap_or_default();
            if s.busy && reply == s.expected.as_slice() {
                let now = Instant::now();
                s.busy = false;
                s.answered += 1;
                if s.answered == 1 {
                    self.served += 1;
                }
                self.in_flight -= 1;
                self.interval.latencies.record(now.duration_since(s.started));
                self.shared.answered.fetch_add(1, Ordering::Relaxed);
                self.ready_for_next(k, now);
            } else if !s.late.iter().any(|l| l.as_slice() == reply) {
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
            if s.busy {
                self.in_flight -= 1;
            }
            self.interval.errors += 1;
            self.shared.errors.fetch_add(1, Ordering::Relaxed);
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
