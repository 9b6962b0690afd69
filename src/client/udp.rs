//! The UDP client: request, wait, resend with backoff, never trust a late reply.
//!
//! - The socket is `connect()`ed, as in the classic lesson: the kernel then
//!   drops datagrams from any other sender, and an ICMP port-unreachable comes
//!   back as `ECONNREFUSED` on the next receive, so "nobody is listening" is
//!   known at once instead of after every retry.
//! - UDP has no request ids. A reply that is the answer to an *earlier*
//!   request (a resend answered late) is recognised and skipped: before each
//!   send the socket is drained, and a reply that matches what an earlier
//!   message would produce under any answer [`Policy`] but not what the
//!   current one would is discarded.

use super::backoff::Backoff;
use crate::error::NetError;
use crate::proto::answer::Answer as Policy;
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// How many earlier messages are remembered to spot their late replies.
const REMEMBERED: usize = 32;
/// Receive buffer: the largest UDP payload.
const RECV_BUF: usize = 65_536;

/// A reply and what it took to get it.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The reply datagram.
    pub reply: Vec<u8>,
    /// Time from the last send to the reply.
    pub rtt: Duration,
    /// Datagrams sent for this request (1 when the first one was answered).
    pub tries: u32,
}

/// A UDP client connected to one server address.
#[derive(Debug)]
pub struct UdpClient {
    socket: UdpSocket,
    server: SocketAddr,
    earlier: VecDeque<Vec<u8>>,
    buf: Vec<u8>,
}

fn unspecified_for(addr: &SocketAddr) -> SocketAddr {
    let ip: IpAddr = if addr.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    SocketAddr::new(ip, 0)
}

impl UdpClient {
    /// Binds an ephemeral port and connects it to `server`.
    ///
    /// # Errors
    /// When the socket cannot be created or connected.
    pub fn connect(server: SocketAddr) -> io::Result<Self> {
        let socket = UdpSocket::bind(unspecified_for(&server))?;
        socket.connect(server)?;
        socket.set_nonblocking(true)?;
        tracing::debug!(%server, local = ?socket.local_addr().ok(), "socket(UDP) + connect");
        Ok(UdpClient {
            socket,
            server,
            earlier: VecDeque::new(),
            buf: vec![0; RECV_BUF],
        })
    }

    /// Tries each address in turn until one answers `message`; the client
    /// stays connected to that one.
    ///
    /// # Errors
    /// The last address's error: [`NetError::Refused`] or [`NetError::ServerDown`].
    pub fn connect_any(addrs: &[SocketAddr], message: &[u8], backoff: &Backoff) -> io::Result<(Self, Response)> {
        let mut last = io::Error::from(NetError::Refused);
        for addr in addrs {
            let mut client = UdpClient::connect(*addr)?;
            match client.request(message, backoff.clone()) {
                Ok(answer) => return Ok((client, answer)),
                Err(e) => {
                    tracing::debug!(server = %addr, error = %e, "no answer, trying the next address");
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// The server this client talks to.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Sends `message` and waits for its reply, resending after each wait of `backoff`.
    ///
    /// # Errors
    /// [`NetError::Refused`] on ICMP port unreachable, [`NetError::ServerDown`]
    /// when the waits run out, or an I/O error.
    pub fn request(&mut self, message: &[u8], backoff: Backoff) -> io::Result<Response> {
        self.drain()?;
        let mut tries = 0;
        let mut waits = backoff.peekable();
        while let Some(wait) = waits.next() {
            tries += 1;
            let sent_at = self.send(message)?;
            if let Some(reply) = self.receive_for(message, wait)? {
                self.remember(message);
                return Ok(Response {
                    reply,
                    rtt: sent_at.elapsed(),
                    tries,
                });
            }
            if waits.peek().is_some() {
                tracing::info!(server = %self.server, waited = ?wait, "no reply, resending");
            } else {
                tracing::info!(server = %self.server, waited = ?wait, tries, "no reply, giving up");
            }
        }
        self.remember(message);
        Err(NetError::ServerDown { tries }.into())
    }

    /// Sends `message` once and waits up to `wait` (ping mode: no resend).
    ///
    /// # Errors
    /// [`NetError::Refused`] on ICMP port unreachable, or an I/O error.
    pub fn probe(&mut self, message: &[u8], wait: Duration) -> io::Result<Option<Response>> {
        self.drain()?;
        let sent_at = self.send(message)?;
        let reply = self.receive_for(message, wait)?;
        self.remember(message);
        Ok(reply.map(|reply| Response {
            reply,
            rtt: sent_at.elapsed(),
            tries: 1,
        }))
    }

    fn send(&self, message: &[u8]) -> io::Result<Instant> {
        let at = Instant::now();
        match self.socket.send(message) {
            Ok(n) => tracing::debug!(server = %self.server, bytes = n, "send"),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return Err(NetError::Refused.into()),
            Err(e) => return Err(e),
        }
        Ok(at)
    }

    /// Waits up to `wait` for a reply that is not a late answer to an earlier message.
    fn receive_for(&mut self, message: &[u8], wait: Duration) -> io::Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !crate::net::wait_readable(self.socket.as_fd(), left)? {
                return Ok(None);
            }
            let Some(n) = self.recv_now()? else { continue };
            let reply = crate::net::filled(&self.buf, n);
            if is_late_reply(reply, message, &self.earlier) {
                tracing::info!(bytes = n, "skipped a late reply to an earlier request");
                continue;
            }
            return Ok(Some(reply.to_vec()));
        }
    }

    /// One non-blocking receive: `None` when nothing is queued.
    fn recv_now(&mut self) -> io::Result<Option<usize>> {
        match self.socket.recv(&mut self.buf) {
            Ok(n) => {
                tracing::debug!(server = %self.server, bytes = n, "recv");
                Ok(Some(n))
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Err(NetError::Refused.into()),
            Err(e) => Err(e),
        }
    }

    /// Discards replies already queued: they belong to earlier requests.
    fn drain(&mut self) -> io::Result<()> {
        for _ in 0..1024 {
            if self.recv_now()?.is_none() {
                break;
            }
        }
        Ok(())
    }

    fn remember(&mut self, message: &[u8]) {
        if self.earlier.len() == REMEMBERED {
            self.earlier.pop_front();
        }
        self.earlier.push_back(message.to_vec());
    }
}

/// Whether `reply` can only be the answer to one of the `earlier` messages.
pub fn is_late_reply<'a>(reply: &[u8], current: &[u8], earlier: impl IntoIterator<Item = &'a Vec<u8>>) -> bool {
    !Policy::any_answers(current, reply) && earlier.into_iter().any(|m| Policy::any_answers(m, reply))
}

/// Sends `message` once with `SO_BROADCAST` to `target` and calls `on_reply`
/// for every reply from any sender until `wait` passes; returns how many came.
///
/// # Errors
/// When the socket fails or `on_reply` does.
pub fn broadcast(
    target: SocketAddr,
    message: &[u8],
    wait: Duration,
    mut on_reply: impl FnMut(SocketAddr, &[u8]) -> io::Result<()>,
) -> io::Result<usize> {
    let socket = UdpSocket::bind(unspecified_for(&target))?;
    socket.set_broadcast(true)?;
    socket.set_nonblocking(true)?;
    tracing::debug!(%target, "socket(UDP) + SO_BROADCAST + sendto");
    socket.send_to(message, target)?;
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; RECV_BUF];
    let mut count = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !crate::net::wait_readable(socket.as_fd(), left)? {
            return Ok(count);
        }
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                count += 1;
                on_reply(from, crate::net::filled(&buf, n))?;
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(e),
        }
    }
}

/// Round-trip summary of a ping run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PingSummary {
    /// Probes sent.
    pub sent: u64,
    /// Probes answered.
    pub received: u64,
    /// Fastest round trip.
    pub min: Duration,
    /// Mean round trip.
    pub avg: Duration,
    /// Slowest round trip.
    pub max: Duration,
}

impl PingSummary {
    /// Summarises `sent` probes and the round trips of those answered.
    pub fn new(sent: u64, rtts: &[Duration]) -> Self {
        let received = rtts.len() as u64;
        let total: Duration = rtts.iter().sum();
        PingSummary {
            sent,
            received,
            min: rtts.iter().min().copied().unwrap_or_default(),
            max: rtts.iter().max().copied().unwrap_or_default(),
            avg: u32::try_from(rtts.len())
                .ok()
                .filter(|n| *n > 0)
                .map(|n| total / n)
                .unwrap_or_default(),
        }
    }

    /// Lost probes as a percentage of those sent.
    pub fn loss_percent(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            100.0 * (self.sent - self.received) as f64 / self.sent as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_replies_are_recognised() {
        let earlier = vec![b"first".to_vec()];
        assert!(is_late_reply(b"FIRST", b"second", &earlier));
        assert!(!is_late_reply(b"SECOND", b"second", &earlier));
        assert!(!is_late_reply(b"second", b"second", &earlier));
        // Unknown servers' replies are not second-guessed.
        assert!(!is_late_reply(b"5 bytes", b"second", &earlier));
        // The same message twice: any copy is a fine answer.
        assert!(!is_late_reply(b"FIRST", b"first", &earlier));
        assert!(!is_late_reply(b"PONG", b"ping 2", &earlier));
    }

    #[test]
    fn ping_summary() {
        let ms = Duration::from_millis;
        let s = PingSummary::new(4, &[ms(1), ms(3), ms(2)]);
        assert_eq!((s.received, s.min, s.avg, s.max), (3, ms(1), ms(2), ms(3)));
        assert_eq!(s.loss_percent(), 25.0);
        let none = PingSummary::new(2, &[]);
        assert_eq!((none.avg, none.loss_percent()), (Duration::ZERO, 100.0));
    }

    #[test]
    fn refused_at_once_without_a_server() {
        let free = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = free.local_addr().expect("addr");
        drop(free);
        let start = Instant::now();
        let err = UdpClient::connect_any(
            &[addr],
            b"hi",
            &Backoff::new(Duration::from_secs(1), Duration::from_secs(8)),
        );
        let err = err.err().map(|e| e.kind());
        assert_eq!(err, Some(io::ErrorKind::ConnectionRefused));
        assert!(start.elapsed() < Duration::from_secs(3));
    }
}
