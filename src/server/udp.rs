//! The UDP server: one socket serves every sender, one datagram per reply.
//!
//! There is no connection and no accept: `recv_from` tells who sent each
//! datagram and `send_to` answers that address. The receive buffer holds the
//! largest UDP payload (65,507 bytes over IPv4), so nothing is ever truncated.
//! On a wildcard address each answer leaves from the local address its
//! request arrived on ([`super::pktinfo`]).
//! `--drop` and `--delay` simulate the lossy, slow network the client must survive.

use super::pktinfo;
use crate::proto::answer::Answer;
use crate::shutdown::Shutdown;
use crate::stats::Stats;
use std::io;
use std::net::UdpSocket;
use std::time::Duration;

/// The largest UDP payload over IPv4: 65,535 less the IPv4 and UDP headers.
pub const MAX_IPV4_PAYLOAD: usize = 65_507;
/// Big enough for any UDP payload over IPv4 or IPv6 (65,527 bytes without jumbograms).
const RECV_BUF: usize = 65_536;

/// UDP server settings.
#[derive(Debug, Clone)]
pub struct UdpServerConfig {
    /// The answer to each datagram.
    pub reply: Answer,
    /// Wait this long before each reply (a slow server).
    pub delay: Duration,
    /// Fraction of datagrams dropped without a reply, 0.0 to 1.0.
    pub drop: f64,
    /// Seed of the drop decisions, to repeat a run.
    pub seed: Option<u64>,
    /// Stop after this many datagrams.
    pub exit_after: Option<u64>,
}

/// Decides which datagrams to drop: a seeded coin with probability `p`.
#[derive(Debug)]
pub struct Dropper {
    p: f64,
    rng: fastrand::Rng,
}

impl Dropper {
    /// A dropper with probability `p`, seeded for repeatable runs when `seed` is given.
    pub fn new(p: f64, seed: Option<u64>) -> Self {
        let rng = seed.map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        Dropper { p, rng }
    }

    /// Whether to drop the next datagram.
    pub fn drops(&mut self) -> bool {
        self.p > 0.0 && self.rng.f64() < self.p
    }
}

/// How long a receive blocks before the loop looks at the shutdown flag.
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// Serves datagrams on `socket` until shutdown or `exit_after`.
///
/// At the system-call floor: one blocking `recvfrom` and one `sendto` per
/// datagram, whatever the load. The receive gives up after 100 ms,
/// so an idle server sees a shutdown within that; under load the shutdown
/// flag (which the signal handler sets) is checked after every datagram,
/// which costs no system call.
///
/// # Errors
/// Only when the socket itself fails; a bad datagram never stops the server.
pub fn serve(socket: &UdpSocket, cfg: &UdpServerConfig, shutdown: &Shutdown, stats: &Stats) -> io::Result<()> {
    let mut buf = vec![0u8; RECV_BUF];
    let mut out = Vec::with_capacity(RECV_BUF);
    let mut dropper = Dropper::new(cfg.drop, cfg.seed);
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(IDLE_CHECK))?;
    let wildcard = pktinfo::enable(socket)?;
    let mut control = pktinfo::control_buffer();
    while cfg.exit_after.is_none_or(|n| stats.served() < n) && !shutdown.flagged() {
        let received = if wildcard {
            pktinfo::recv(socket, &mut buf, &mut control)
        } else {
            socket.recv_from(&mut buf).map(|(n, from)| (n, from, None))
        };
        let (n, from, arrival) = match received {
            Ok(got) => got,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                // Idle: a trigger from another thread or process shows in the pipe.
                if shutdown.is_triggered() {
                    break;
                }
                continue;
            }
            // Signals, and ICMP errors about earlier replies.
            Err(e) if is_transient(&e) => continue,
            Err(e) => return Err(e),
        };
        let datagram = crate::net::filled(&buf, n);
        stats.add_served();
        stats.add_in(n);
        match arrival {
            Some(at) => tracing::debug!(peer = %from, bytes = n, to = %at.local(), "recvmsg"),
            None => tracing::debug!(peer = %from, bytes = n, "recv_from"),
        }
        if dropper.drops() {
            tracing::info!(peer = %from, bytes = n, "datagram dropped (--drop)");
            continue;
        }
        if !cfg.delay.is_zero() {
            // Cut short by a shutdown, but the reply in flight still goes out.
            shutdown.sleep(cfg.delay);
        }
        out.clear();
        cfg.reply.reply_once(datagram, &mut out);
        match pktinfo::send(socket, &out, from, arrival) {
            Ok(sent) => {
                stats.add_out(sent);
                tracing::debug!(peer = %from, bytes = sent, "send_to");
                tracing::info!(peer = %from, bytes_in = n, bytes_out = sent, "datagram answered");
            }
            Err(e) => tracing::warn!(peer = %from, error = %e, "reply not sent"),
        }
    }
    Ok(())
}

fn is_transient(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(e.kind(), WouldBlock | Interrupted | ConnectionRefused | ConnectionReset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_drops_repeat_and_match_the_rate() {
        let draw = |seed| {
            let mut d = Dropper::new(0.5, Some(seed));
            (0..1000).map(|_| d.drops()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        let dropped = draw(7).iter().filter(|d| **d).count();
        assert!((350..650).contains(&dropped), "{dropped}");
        let mut never = Dropper::new(0.0, None);
        assert!((0..100).all(|_| !never.drops()));
        let mut always = Dropper::new(1.0, None);
        assert!((0..100).all(|_| always.drops()));
    }
}
