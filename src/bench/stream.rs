//! One bench thread over stream connections (TCP or Unix): a mio loop that
//! writes each request as fast as the socket takes it while it checks the
//! reply, so a huge request never deadlocks against a server that answers
//! while it reads.

use super::dialog::{self, Dialog, FramedDialog, HttpDialog, Reply, RpcDialog, StreamDialog};
use super::schedule::{Intervals, Schedule, TIMER, Waiter};
use super::stats::Tally;
use super::wire::Wire;
use super::{Proto, Shared, Snapshot, Target, WorkerResult};
use crate::conn::{EventStream, Stream};
use mio::net::{TcpStream, UnixStream};
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bytes read per call.
const READ_BUF: usize = 64 * 1024;
/// The longest a loop sleeps without looking at the clock.
const TICK: Duration = Duration::from_millis(100);

/// One connection's state.
struct Conn {
    sock: Wire,
    dialog: Box<dyn Dialog>,
    /// Request bytes written so far.
    sent: u64,
    /// A request is in flight.
    busy: bool,
    /// When the request in flight started (open loop: when it was due).
    started: Instant,
    /// When the request in flight, unanswered, becomes an error (`--timeout`
    /// after it was sent).
    deadline: Instant,
    /// Replies received on this connection.
    answered: u64,
    /// WRITABLE interest is registered: only while a request waits for room
    /// in the socket (a wake-up for every ACK would cost more than the request).
    want_write: bool,
}

/// Connects the way `tcp-client` does (same errors, `timeout` for the
/// handshake), then hands the socket to mio.
pub(super) fn connect(target: &Target, timeout: Duration) -> io::Result<EventStream> {
    let stream = match target {
        Target::Tcp(addrs) => crate::client::stream::connect_tcp(addrs, Some(timeout))?,
        Target::Unix(path) => crate::client::stream::connect_unix(path)?,
    };
    stream.set_nonblocking(true)?;
    Ok(match stream {
        Stream::Tcp(s) => EventStream::Tcp(TcpStream::from_std(s)),
        Stream::Unix(s) => EventStream::Unix(UnixStream::from_std(s)),
    })
}

fn dialog(shared: &Shared) -> io::Result<Box<dyn Dialog>> {
    let cfg = &shared.cfg;
    Ok(match cfg.proto {
        Proto::Framed => Box::new(FramedDialog::new(cfg.size).map_err(io::Error::other)?),
        Proto::Rpc => Box::new(RpcDialog::new(&cfg.target.to_string())),
        Proto::Http => Box::new(HttpDialog::new(&cfg.target.to_string(), &cfg.path)),
        _ => Box::new(StreamDialog::new(cfg.size, cfg.expect)),
    })
}

struct Worker<'a> {
    shared: &'a Shared,
    poll: Poll,
    conns: Vec<Option<Conn>>,
    buf: Vec<u8>,
    tally: Tally,
    interval: Tally,
    /// Which free connection sends next, and when.
    schedule: Schedule,
    /// The connections to start this turn (kept to reuse its memory).
    starting: Vec<(usize, Instant)>,
    in_flight: usize,
    /// Connections that got at least one reply.
    served: usize,
    /// Replies since the shared progress counter was last updated (a shared
    /// atomic per reply would bounce its cache line between the threads).
    unreported: u64,
    /// The time of the events being handled (one clock read per wake-up).
    now: Instant,
    /// When requests in flight are next checked against their deadlines.
    next_expiry: Instant,
}

/// Runs one thread's share of the load.
pub(super) fn run(
    shared: &Shared,
    count: usize,
    rate: Option<f64>,
    tx: &mpsc::Sender<Snapshot>,
) -> io::Result<WorkerResult> {
    let mut w = Worker {
        shared,
        poll: Poll::new()?,
        conns: Vec::with_capacity(count),
        buf: vec![0; READ_BUF],
        tally: Tally::default(),
        interval: Tally::default(),
        schedule: Schedule::new(rate, shared.started),
        starting: Vec::new(),
        in_flight: 0,
        served: 0,
        unreported: 0,
        now: Instant::now(),
        next_expiry: Instant::now(),
    };
    let mut connect_error = None;
    for k in 0..count {
        match w.open(k) {
            Ok(conn) => w.conns.push(Some(conn)),
            Err(e) => {
                w.error();
                shared.note_error(|| format!("a connection could not open: {e}"));
                connect_error = Some(e);
                w.conns.push(None);
            }
        }
    }
    let connected = w.conns.iter().flatten().count();
    let set_up = Instant::now();
    if connected > 0 {
        w.run(tx)?;
    }
    w.tally.add(&w.interval);
    Ok(WorkerResult {
        tally: w.tally,
        served: w.served,
        connect_error,
        connected,
        refused: false,
        set_up,
    })
}

impl Worker<'_> {
    fn open(&mut self, k: usize) -> io::Result<Conn> {
        let mut raw = connect(&self.shared.cfg.target, self.shared.cfg.timeout)?;
        self.poll
            .registry()
            .register(raw.source(), Token(k), Interest::READABLE)?;
        let tls = self.shared.cfg.tls.as_ref().map(|t| (&t.config, t.host.as_str()));
        let mut sock = Wire::new(raw, tls)?;
        // TLS: the ClientHello goes now; the request follows the handshake.
        sock.flush_tls()?;
        Ok(Conn {
            sock,
            dialog: dialog(self.shared)?,
            sent: 0,
            busy: false,
            started: Instant::now(),
            deadline: Instant::now(),
            answered: 0,
            want_write: false,
        })
    }

    fn error(&mut self) {
        self.interval.errors += 1;
        self.shared.errors.fetch_add(1, Ordering::Relaxed);
    }

    fn run(&mut self, tx: &mpsc::Sender<Snapshot>) -> io::Result<()> {
        let mut intervals = Intervals::new(self.shared.cfg.interval, self.shared.started, tx);
        let now = Instant::now();
        for k in 0..self.conns.len() {
            self.ready_for_next(k, now);
        }
        let mut events = Events::with_capacity(1024);
        let mut waiter = Waiter::new(&self.poll)?;
        loop {
            let now = Instant::now();
            self.shared
                .answered
                .fetch_add(std::mem::take(&mut self.unreported), Ordering::Relaxed);
            intervals.tick(now, &mut self.interval, &mut self.tally);
            let nothing_left = self.in_flight == 0 && !self.schedule.has_waiting() && !self.shared.cfg.hold;
            if self.shared.over(now) || nothing_left {
                return Ok(());
            }
            if now >= self.next_expiry {
                self.expire(now);
            }
            self.dispatch_due(now);
            let wait = self.wait(now);
            match waiter.wait(&mut self.poll, &mut events, wait) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            // A reply that lands after the end is not part of the run.
            self.now = Instant::now();
            if self.shared.over(self.now) {
                // The last interval ends with the run: report it too.
                intervals.tick(self.now, &mut self.interval, &mut self.tally);
                return Ok(());
            }
            for event in events.iter().filter(|e| e.token() != TIMER) {
                let k = event.token().0;
                let mut alive = true;
                if event.is_writable() {
                    alive = self.write_more(k);
                }
                if alive && (event.is_readable() || event.is_read_closed() || event.is_error()) {
                    alive = self.read_more(k);
                }
                if !alive {
                    self.fail(k, "the server closed or reset a connection with a request in flight");
                }
            }
        }
    }

    /// How long the loop may sleep: until the next due request (with an idle
    /// connection to send it), the end of the run, or a tick.
    fn wait(&self, now: Instant) -> Duration {
        let mut until = self.schedule.wake_by(now + TICK).min(self.next_expiry);
        if let Some(d) = self.shared.deadline() {
            until = until.min(d);
        }
        until.saturating_duration_since(now)
    }

    /// Open loop: hands each request that has fallen due to an idle connection.
    fn dispatch_due(&mut self, now: Instant) {
        let mut starting = std::mem::take(&mut self.starting);
        self.schedule.due(self.shared, now, &mut starting);
        for (k, due) in starting.drain(..) {
            self.begin(k, due);
        }
        self.starting = starting;
    }

    /// A connection is free: closed loop sends the next request at once,
    /// open loop waits for one to fall due.
    fn ready_for_next(&mut self, k: usize, now: Instant) {
        let Some(Some(c)) = self.conns.get(k) else { return };
        if self.shared.cfg.hold && c.answered > 0 {
            return; // held: idle until the run ends
        }
        if let Some(at) = self.schedule.free(k, self.shared, now) {
            self.begin(k, at);
        }
    }

    fn begin(&mut self, k: usize, started: Instant) {
        let Some(Some(c)) = self.conns.get_mut(k) else { return };
        c.dialog.reset();
        c.sent = 0;
        c.busy = true;
        c.started = started;
        c.deadline = Instant::now() + self.shared.cfg.timeout;
        self.in_flight += 1;
        if !self.write_more(k) {
            self.fail(k, "a connection failed while its request was being sent");
        }
    }

    /// Requests unanswered past `--timeout` are errors: their connections
    /// are closed (a late reply could not be told from the next one's).
    /// Checked a few times a second, not at every wake-up.
    fn expire(&mut self, now: Instant) {
        let timeout = self.shared.cfg.timeout;
        self.next_expiry = now + (timeout / 4).clamp(Duration::from_millis(10), TICK);
        let late: Vec<usize> = (0..self.conns.len())
            .filter(|&k| matches!(self.conns.get(k), Some(Some(c)) if c.busy && c.deadline <= now))
            .collect();
        for k in late {
            self.fail(
                k,
                &format!("no reply within --timeout {}", humantime::format_duration(timeout)),
            );
        }
    }

    /// Writes request bytes until done or `WouldBlock`, asking for WRITABLE only
    /// while blocked; false when the connection died (or could not be re-registered).
    fn write_more(&mut self, k: usize) -> bool {
        let Some(Some(c)) = self.conns.get_mut(k) else {
            return true;
        };
        let mut blocked = false;
        if c.sock.flush_tls().is_err() {
            return false;
        }
        while c.busy && c.sent < c.dialog.request_len() {
            match c.sock.write(c.dialog.request_from(c.sent)) {
                Ok(0) => return false,
                Ok(n) => {
                    c.sent += n as u64;
                    self.interval.bytes += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    blocked = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        // TLS records the socket has not taken yet keep WRITABLE asked for.
        let blocked = blocked || c.sock.has_pending();
        if blocked != c.want_write {
            let interest = if blocked {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            c.want_write = blocked;
            return self
                .poll
                .registry()
                .reregister(c.sock.sock.source(), Token(k), interest)
                .is_ok();
        }
        true
    }

    /// Reads and checks reply bytes until the socket is drained; false when
    /// the connection died or its reply was wrong.
    fn read_more(&mut self, k: usize) -> bool {
        loop {
            let Some(Some(c)) = self.conns.get_mut(k) else {
                return true;
            };
            let n = match c.sock.read(&mut self.buf) {
                Ok(0) => {
                    let busy = c.busy;
                    self.shared.note_error(|| {
                        if busy {
                            "the server closed a connection before its reply was complete".into()
                        } else {
                            "the server closed an idle connection".into()
                        }
                    });
                    return false;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.shared.note_error(|| format!("a connection failed: {e}"));
                    return false;
                }
            };
            self.interval.bytes += n as u64;
            let tls = c.sock.is_tls();
            let data = crate::net::filled(&self.buf, n);
            if !c.busy {
                self.shared
                    .note_error(|| format!("the server sent {} with no request in flight", dialog::preview(data)));
                return false;
            }
            match c.dialog.take_reply(data) {
                Err(wrong) => {
                    self.shared.note_error(|| wrong.0);
                    return false;
                }
                Ok(Reply::More) => {}
                Ok(Reply::Done { used, keep_alive }) => {
                    if used < n {
                        // used < n = data.len(), checked just above.
                        let extra = data.split_at(used.min(data.len())).1;
                        self.shared
                            .note_error(|| format!("the server sent more than the reply: {}", dialog::preview(extra)));
                        return false;
                    }
                    let now = self.now;
                    c.busy = false;
                    c.answered += 1;
                    if c.answered == 1 {
                        self.served += 1;
                    }
                    self.in_flight -= 1;
                    self.interval.latencies.record(now.duration_since(c.started));
                    self.unreported += 1;
                    if (!keep_alive || self.shared.cfg.new_conn) && !self.reconnect(k) {
                        return true;
                    }
                    self.ready_for_next(k, now);
                }
            }
            if n < self.buf.len() && !tls {
                return true; // drained: the next bytes bring a new edge
            }
        }
    }

    /// The server closes after each reply: a new connection for the next one.
    fn reconnect(&mut self, k: usize) -> bool {
        if let Some(Some(c)) = self.conns.get_mut(k) {
            let _ = self.poll.registry().deregister(c.sock.sock.source());
        }
        match self.open(k) {
            Ok(mut conn) => {
                if let Some(Some(old)) = self.conns.get_mut(k) {
                    conn.answered = old.answered;
                    *old = conn;
                }
                true
            }
            Err(_) => {
                self.error();
                if let Some(slot) = self.conns.get_mut(k) {
                    *slot = None;
                }
                false
            }
        }
    }

    /// A connection died, lied or went silent: count it and forget it.
    fn fail(&mut self, k: usize, why: &str) {
        let Some(slot) = self.conns.get_mut(k) else { return };
        if let Some(mut c) = slot.take() {
            let _ = self.poll.registry().deregister(c.sock.sock.source());
            if c.busy {
                self.in_flight -= 1;
            }
            self.error();
            self.shared.note_error(|| why.to_string());
        }
        self.schedule.forget(k);
    }
}
