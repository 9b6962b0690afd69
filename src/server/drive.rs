//! The blocking per-connection loop: read, let the session answer, write it
//! all, repeat until EOF or the session says close.
//!
//! - `read` returning 0 is EOF: the peer half-closed. The session flushes what
//!   it held back (a split UTF-8 character), the reply is written, and only
//!   then is our side closed, so half-closing clients get every byte.
//! - Writing the whole reply before the next read is the back-pressure: a
//!   client that stops reading stops being read, and nothing grows unbounded.
//! - Closing while the peer still sends would make the kernel answer with a
//!   reset that can destroy the reply in flight; so our side is half-closed
//!   first and the rest of the input is read and discarded briefly (a lingering close).

use super::live::Tracked;
use super::{Ctx, LINGER, LINGER_BYTES, READ_BUF, peer_label};
use crate::conn::Stream;
use crate::proto::{ConnInfo, Drain, Flow, Output, ProtocolError, Session};
use std::io::{self, Read, Write};
use std::net::Shutdown as How;
use std::os::fd::AsFd;
use std::time::Instant;

/// The shortest read timeout set (a zero timeout would mean "no timeout").
const MIN_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// Bytes moved over one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
}

/// Serves a live connection to its end and counts it as finished. The count
/// comes before the connection leaves the live set, so a shutdown that waits
/// for the set to empty always sees it in the summary.
pub fn serve_and_finish(tracked: Tracked, info: ConnInfo, ctx: &Ctx) {
    serve(&tracked.conn, info, ctx);
    ctx.finish_connection();
    drop(tracked);
}

/// Serves one connection to its end. Never fails: errors close this
/// connection only and are logged with the peer's address.
pub fn serve(conn: &Stream, info: ConnInfo, ctx: &Ctx) -> Report {
    let started = Instant::now();
    let peer = peer_label(info.peer);
    // Every line logged while serving this client names it.
    let _span = tracing::info_span!("conn", %peer).entered();
    tracing::info!("connection opened");
    let mut report = Report::default();
    let result = exchange(conn, &info, ctx, &mut report);
    match &result {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            tracing::info!("idle timeout, closing");
        }
        // A peer that resets or goes away is its own business: not a warning.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted
            ) =>
        {
            tracing::info!(error = %e, "peer went away");
        }
        Err(e) => tracing::warn!(error = %e, "connection error"),
    }
    linger_close(conn);
    tracing::info!(
        bytes_in = report.bytes_in,
        bytes_out = report.bytes_out,
        duration = ?started.elapsed(),
        "connection closed"
    );
    report
}

/// Reads, lets the session answer, writes the answer whole; repeats. What
/// a session call appended is written before its outcome is looked at, so a
/// closing or failing session still gets its last words out.
fn exchange(mut conn: &Stream, info: &ConnInfo, ctx: &Ctx, report: &mut Report) -> io::Result<()> {
    conn.set_read_timeout(ctx.cfg.idle_timeout)?;
    conn.set_write_timeout(ctx.cfg.idle_timeout)?;
    if ctx.cfg.nodelay {
        conn.set_nodelay()?;
    }
    let mut session = (ctx.factory)(info);
    let mut buf = vec![0u8; READ_BUF];
    let mut out = Output::with_capacity(READ_BUF);
    let mut flow: Result<Flow, ProtocolError> = Ok(session.on_start(&mut out));
    // The read timeout in force: the idle timeout, or the session's own
    // shorter wait (changed only when it changes: one setsockopt, not one per read).
    let mut waiting = ctx.cfg.idle_timeout;
    loop {
        flow = send(&mut conn, session.as_mut(), &mut out, flow, ctx, report)?;
        match flow {
            Ok(Flow::Continue) => {}
            Ok(Flow::Close) => return Ok(()),
            Err(e) => return Err(io::Error::other(e)),
        }
        let limit = session.wait_limit();
        let wait = match (ctx.cfg.idle_timeout, limit) {
            (Some(idle), Some(l)) => Some(idle.min(l.max(MIN_WAIT))),
            (idle, l) => idle.or(l.map(|l| l.max(MIN_WAIT))),
        };
        if wait != waiting {
            conn.set_read_timeout(wait)?;
            waiting = wait;
        }
        let n = match conn.read(&mut buf) {
            Err(e) if limit.is_some() && matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                // The session's own wait ran out first: its last words, then close.
                session.on_timeout(&mut out);
                let _closing = send(&mut conn, session.as_mut(), &mut out, Ok(Flow::Close), ctx, report)?;
                return Ok(());
            }
            Ok(0) => {
                tracing::debug!("recv 0 bytes (EOF)");
                let ended = session.on_eof(&mut out).map(|()| Flow::Close);
                let ended = send(&mut conn, session.as_mut(), &mut out, ended, ctx, report)?;
                return ended.map(drop).map_err(io::Error::other);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                // The idle timeout: the session's last words (best effort, and
                // never long: a peer that does not read is not waited for), then the close.
                session.on_idle(&mut out);
                let _ = conn.set_write_timeout(Some(LINGER));
                let _ = send(&mut conn, session.as_mut(), &mut out, Ok(Flow::Close), ctx, report);
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        tracing::debug!(bytes = n, "recv");
        report.bytes_in += n as u64;
        ctx.stats.add_in(n);
        flow = session.on_data(crate::net::filled(&buf, n), &mut out);
    }
}

/// Sends what the session answered, then the pieces of a body that streams
/// for as long as it has more ([`Session::on_drain`]); returns the outcome
/// `flow` turned into, once nothing more is owed.
fn send(
    conn: &mut &Stream,
    session: &mut dyn Session,
    out: &mut Output,
    flow: Result<Flow, ProtocolError>,
    ctx: &Ctx,
    report: &mut Report,
) -> io::Result<Result<Flow, ProtocolError>> {
    if !out.is_empty() && !ctx.cfg.delay.is_zero() {
        // A shutdown cuts the wait short; the reply is still sent.
        ctx.shutdown.sleep(ctx.cfg.delay);
    }
    loop {
        write_out(conn, out, ctx, report)?;
        let drained = session.on_drain(out);
        if matches!(drained, Ok(Drain::More)) {
            continue;
        }
        // What the last call appended goes out too.
        write_out(conn, out, ctx, report)?;
        match drained {
            Ok(Drain::More | Drain::Done) => return Ok(flow),
            Ok(Drain::Close) | Err(_) => {
                return Ok(match (flow, drained) {
                    (Err(e), _) | (_, Err(e)) => Err(e),
                    _ => Ok(Flow::Close),
                });
            }
        }
    }
}

/// Writes everything pending, one write per boundary the session marked.
fn write_out(conn: &mut &Stream, out: &mut Output, ctx: &Ctx, report: &mut Report) -> io::Result<()> {
    while !out.is_empty() {
        let n = if let Some(region) = out.file() {
            // A file region: from the page cache to the socket (zero copy).
            let n = match crate::net::sendfile(conn.as_fd(), region) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(io::ErrorKind::TimedOut.into()),
                other => other?,
            };
            tracing::debug!(bytes = n, "sendfile");
            out.consume_file(n as u64);
            n
        } else {
            let write = out.next_write();
            let n = write.len();
            conn.write_all(write)?;
            tracing::debug!(bytes = n, "send");
            out.consume(n);
            n
        };
        report.bytes_out += n as u64;
        ctx.stats.add_out(n);
    }
    Ok(())
}

/// Half-closes, then reads and drops what the peer still sends, briefly.
fn linger_close(mut conn: &Stream) {
    tracing::debug!("shutdown(write)");
    if conn.shutdown(How::Write).is_err() {
        return;
    }
    let _ = conn.set_read_timeout(Some(LINGER));
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 8192];
    let mut drained = 0;
    while drained < LINGER_BYTES && Instant::now() < deadline {
        match conn.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    tracing::debug!("close");
}
