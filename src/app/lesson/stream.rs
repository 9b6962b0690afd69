//! The byte-stream lessons: half-close, a server that talks first, a client
//! that never reads (back-pressure), Unix stream sockets, and restarting a
//! server while its old connections sit in TIME-WAIT (`SO_REUSEADDR`). The
//! kernel's connection table (`/proc/net/tcp`) shows each state on the way.

use super::kit::{Child, Run, secs, wait_until};
use anyhow::Context;
use netlab::kernel::TcpEntry;
use serde_json::json;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How a read to the end stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum End {
    /// `recv` returned 0: the peer closed its side.
    Eof,
    /// Nothing came for the whole read timeout.
    Silent,
    /// The socket failed (a reset).
    Failed(String),
}

impl End {
    pub(super) fn text(&self) -> String {
        match self {
            End::Eof => "then EOF (recv returned 0: the server closed)".into(),
            End::Silent => "then silence: no EOF before the read timeout".into(),
            End::Failed(e) => format!("then an error: {e}"),
        }
    }
}

/// Reads until EOF, a read timeout (set by the caller), an error, or `limit` in all.
pub(super) fn read_to_end(sock: &mut impl Read, limit: Duration) -> (Vec<u8>, End) {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    while Instant::now() < deadline {
        match sock.read(&mut buf) {
            Ok(0) => return (got, End::Eof),
            Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return (got, End::Silent);
            }
            Err(e) => return (got, End::Failed(e.to_string())),
        }
    }
    (got, End::Silent)
}

/// The server's address (from its ready line).
pub(super) fn addr_of(server: &Child) -> anyhow::Result<SocketAddr> {
    server.addr.context("the server printed no TCP address")
}

/// The kernel's row for the connection from `local` to `remote`.
pub(super) fn row(local: SocketAddr, remote: SocketAddr) -> Option<TcpEntry> {
    netlab::kernel::sockets_on(local.port())
        .ok()?
        .into_iter()
        .find(|r| r.local == local && r.remote == remote)
}

/// The state of that row, or "gone" when the kernel has forgotten it.
fn state(local: SocketAddr, remote: SocketAddr) -> &'static str {
    row(local, remote).map_or("gone", |r| r.state)
}

/// A figure of `/proc/PID/status` (`VmRSS`, `VmPeak`...), in KiB.
pub(super) fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        let value = l.strip_prefix(field)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Waits (at most `limit`) until our side is `mine` and the server's `theirs`;
/// returns the states last seen.
fn wait_states(
    me: SocketAddr,
    server: SocketAddr,
    want: (&str, &str),
    limit: Duration,
) -> (&'static str, &'static str) {
    let mut seen = ("gone", "gone");
    wait_until(limit, || {
        seen = (state(me, server), state(server, me));
        seen == want
    });
    seen
}

pub fn half_close(run: &mut Run) -> anyhow::Result<bool> {
    run.step(
        "an uppercase server that waits 300 ms before each reply (so the states can be seen)",
        "what does a server do when its client says it will send nothing more?",
    );
    let server = run.server(&["tcp-server", "--delay", "300ms"])?;
    let addr = addr_of(&server)?;
    run.step(
        "the lesson connects, sends abc, then calls shutdown(SHUT_WR): 'no more requests'",
        "after shutting down our write side, can we still read the reply?",
    );
    let mut sock = TcpStream::connect(addr)?;
    let me = sock.local_addr()?;
    sock.write_all(b"abc")?;
    if run.control() {
        run.say("control: no shutdown; the server cannot know the request is complete");
    } else {
        sock.shutdown(Shutdown::Write)?;
        run.say("shutdown(SHUT_WR): our FIN is sent; our read side stays open");
    }
    let (mine, theirs) = wait_states(me, addr, ("FIN-WAIT-2", "CLOSE-WAIT"), Duration::from_millis(250));
    let meaning = if (mine, theirs) == ("FIN-WAIT-2", "CLOSE-WAIT") {
        " (FIN-WAIT-2: we sent FIN and it was ACKed; CLOSE-WAIT: the server got our FIN, \
         its own side still open to answer)"
    } else {
        ""
    };
    run.observe(
        &format!("/proc/net/tcp: our side {me} is {mine}, the server's side {addr} is {theirs}{meaning}"),
        json!({"source": "/proc/net/tcp", "client": mine, "server": theirs}),
    );
    run.step(
        "read until EOF (recv returns 0); give up after 1 s of silence",
        "will the reply come, and then the end of the stream?",
    );
    sock.set_read_timeout(Some(Duration::from_secs(1)))?;
    let began = Instant::now();
    let (reply, end) = read_to_end(&mut sock, Duration::from_secs(3));
    let (text, after) = (String::from_utf8_lossy(&reply).into_owned(), began.elapsed());
    let (n, took, how) = (reply.len(), secs(after), end.text());
    run.observe(
        &format!("received {text:?} ({n} bytes) after {took}, {how}"),
        json!({"reply": text, "bytes": reply.len(), "eof": end == End::Eof, "after_s": after.as_secs_f64()}),
    );
    drop(server);
    Ok(run.judge(
        text == "ABC" && end == End::Eof,
        &format!("{text:?} and {}", if end == End::Eof { "EOF" } else { "no EOF" }),
        "the half-close told the server the request was complete; it answered, then closed its side",
        "\"ABC\" followed by EOF",
    ))
}

/// A ctime line: `Sun Nov 22 02:33:11 2026\n`.
fn looks_like_ctime(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    text.ends_with('\n') && words.len() == 5 && words.first().is_some_and(|d| days.contains(d))
}

/// One greeting server: connect, send nothing, read to EOF, close; true when
/// the greeting came, then EOF, and the server's side sat in TIME-WAIT.
fn greeting(run: &mut Run, handler: &str) -> anyhow::Result<bool> {
    let used = if run.control() { "upper" } else { handler };
    run.step(
        &format!("a server with --handler {used}; the lesson connects and sends nothing"),
        "who speaks first, and who closes first?",
    );
    let server = run.server(&["tcp-server", "--handler", used])?;
    let addr = addr_of(&server)?;
    let mut sock = TcpStream::connect(addr)?;
    let me = sock.local_addr()?;
    sock.set_read_timeout(Some(Duration::from_millis(300)))?;
    let (got, end) = read_to_end(&mut sock, Duration::from_secs(2));
    let text = String::from_utf8_lossy(&got).into_owned();
    let (n, how) = (got.len(), end.text());
    run.observe(
        &format!("without sending a byte we received {text:?} ({n} bytes), {how}"),
        json!({"handler": used, "reply": text, "bytes": got.len(), "eof": end == End::Eof}),
    );
    drop(sock);
    // Whoever closed first keeps the TIME-WAIT: wait until one side shows it.
    let tw = |a, b| state(a, b) == "TIME-WAIT";
    wait_until(Duration::from_millis(300), || tw(addr, me) || tw(me, addr));
    let (ours, theirs) = (state(me, addr), state(addr, me));
    let waited = theirs == "TIME-WAIT";
    run.observe(
        &format!(
            "/proc/net/tcp after we closed too: the server's side {addr} is {theirs}, ours {ours} \
             (TIME-WAIT stays with whoever closed first, for 60 s)"
        ),
        json!({"source": "/proc/net/tcp", "server": theirs, "client": ours}),
    );
    let right = match handler {
        "hello" => text == format!("Hello {me}\n"),
        _ => looks_like_ctime(&text),
    };
    drop(server);
    Ok(right && end == End::Eof && waited)
}

pub fn greet(run: &mut Run) -> anyhow::Result<bool> {
    let hello = greeting(run, "hello")?;
    let time = greeting(run, "time")?;
    let did = |ok| either(ok, "greeted and closed first", "did not greet and close first");
    let (h, t) = (did(hello), did(time));
    Ok(run.judge(
        hello && time,
        &format!("hello {h}, time {t}"),
        "the server spoke first and closed first (its side in TIME-WAIT); the client only read",
        "a greeting, EOF, and TIME-WAIT on the server's side, both times",
    ))
}

/// What a client that sends as fast as the socket takes got done.
#[derive(Default)]
struct Pushed {
    sent: usize,
    received: usize,
    stalled: bool,
}

/// Sends up to `total` bytes with non-blocking writes (reading the replies as
/// well when `read`); stops when no byte went out for `stall`.
fn push(sock: &TcpStream, total: usize, read: bool, stall: Duration) -> anyhow::Result<Pushed> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    sock.set_nonblocking(true)?;
    let chunk: Vec<u8> = (0..64 * 1024u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut sink = vec![0u8; 256 * 1024];
    let mut out = Pushed::default();
    let mut moved = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut s = sock;
    while Instant::now() < deadline && (out.sent < total || (read && out.received < total)) {
        let want = chunk.get(..(total - out.sent).min(chunk.len())).unwrap_or_default();
        match s.write(want) {
            Ok(n) if n > 0 => {
                out.sent += n;
                moved = Instant::now();
                continue;
            }
            Err(e) if e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted => {
                return Err(e.into());
            }
            _ => {}
        }
        // Drain what came, a bounded number of reads at a time.
        for _ in 0..if read { 64 } else { 0 } {
            match s.read(&mut sink) {
                Ok(n) if n > 0 => out.received += n,
                _ => break,
            }
        }
        if moved.elapsed() >= stall {
            out.stalled = true;
            break;
        }
        let mut wants = PollFlags::POLLOUT;
        wants.set(PollFlags::POLLIN, read);
        let _ = poll(&mut [PollFd::new(sock.as_fd(), wants)], PollTimeout::from(20u8));
    }
    Ok(out)
}

/// `yes` when `cond`, else `no`.
pub(super) fn either<'a>(cond: bool, yes: &'a str, no: &'a str) -> &'a str {
    if cond { yes } else { no }
}

/// Bytes as KiB below a MiB, else MiB.
fn size(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{} KiB", bytes.div_ceil(1024))
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    }
}

/// Both ends' queues in `/proc/net/tcp`, narrated.
fn show_queues(run: &Run, me: SocketAddr, server: SocketAddr) {
    let q = |r: Option<TcpEntry>| r.map_or((0, 0), |r| (r.rx_queue, r.tx_queue));
    let ((our_rx, our_tx), (their_rx, their_tx)) = (q(row(me, server)), q(row(server, me)));
    let [srx, stx, otx, orx] = [their_rx, their_tx, our_tx, our_rx].map(size);
    run.observe(
        &format!(
            "/proc/net/tcp, 0.5 s after the last write went through: the server's socket holds {srx} unread \
             (Recv-Q: not drained, so the server has stopped reading us; the kernel closed the window when \
             the receive buffer's memory was used up) and {stx} of replies unsent (Send-Q); ours holds {otx} \
             waiting to go (Send-Q) and {orx} of replies we never read (Recv-Q)"
        ),
        json!({"source": "/proc/net/tcp", "server_recv_q": their_rx, "server_send_q": their_tx,
               "client_send_q": our_tx, "client_recv_q": our_rx}),
    );
}

/// The server's VmRSS, narrated; KiB.
fn show_rss(run: &Run, pid: u32, before: Option<u64>) -> u64 {
    let rss = status_kib(pid, "VmRSS").unwrap_or(0);
    let more = before.map_or(String::new(), |b| {
        format!(", {} KiB more than before", rss.saturating_sub(b))
    });
    run.observe(
        &format!("/proc/{pid}/status VmRSS: the server holds {rss} KiB{more}"),
        json!({"source": "/proc/PID/status VmRSS", "rss_kib": rss}),
    );
    rss
}

pub fn back_pressure(run: &mut Run) -> anyhow::Result<bool> {
    const MIB: usize = 64;
    const TOTAL: usize = MIB << 20;
    run.step(
        "an uppercase server in poll mode: one event loop, non-blocking sockets",
        "if a client sends and never reads the replies, where do the replies go?",
    );
    let server = run.server(&["tcp-server", "--mode", "poll"])?;
    let addr = addr_of(&server)?;
    let before = show_rss(run, server.pid(), None);
    let read = run.control();
    let how = either(read, "reads every reply as it goes (control)", "never reads");
    run.step(
        &format!("the lesson sends up to {MIB} MiB with non-blocking writes and {how}"),
        "how much will go out before the writes stop going through?",
    );
    let sock = TcpStream::connect(addr)?;
    let began = Instant::now();
    let pushed = push(&sock, TOTAL, read, Duration::from_millis(500))?;
    let sent = size(pushed.sent as u64);
    let stall = either(pushed.stalled, "then stalled: no write for 0.5 s", "no stall");
    let (got, took) = (size(pushed.received as u64), secs(began.elapsed()));
    run.observe(
        &format!("{sent} sent, {got} of replies read, in {took}; {stall}"),
        json!({"sent_bytes": pushed.sent, "received_bytes": pushed.received, "stalled": pushed.stalled}),
    );
    run.step(
        "where the bytes wait: the kernel's queues, and the server's memory",
        "which queues are full, and has the server's memory grown by the bytes it could not send?",
    );
    show_queues(run, sock.local_addr()?, addr);
    let grew = show_rss(run, server.pid(), Some(before)).saturating_sub(before);
    drop(sock);
    drop(server);
    let seen = either(pushed.stalled, "the writes stalled after", "no stall:");
    Ok(run.judge(
        pushed.stalled && pushed.sent < TOTAL / 2 && grew < 16 * 1024,
        &format!("{seen} {sent} of {MIB} MiB went out, and the server grew {grew} KiB"),
        "the server stopped reading a client that does not read (1 MiB of pending replies at most); \
         the rest waits in kernel buffers, and the sender is held back",
        "a stall well short of the total and flat server memory",
    ))
}

/// What is at `path`: "socket", "absent", or another kind of file.
fn file_kind(path: &str) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => "socket",
        Ok(_) => "not a socket",
        Err(_) => "absent",
    }
}

pub fn unix(run: &mut Run) -> anyhow::Result<bool> {
    let path = run.path("netlab.sock");
    run.step(
        "an uppercase server on a Unix stream socket: an address that is a file name, not a port",
        "what appears in the file system while it serves?",
    );
    let server = if run.control() {
        run.say("control: the server listens on TCP instead, so nothing listens at the path");
        run.server(&["tcp-server"])?
    } else {
        run.server(&["tcp-server", "--unix", &path])?
    };
    let during = file_kind(&path);
    run.observe(
        &format!("{path}: {during} (ls -l shows a socket with an 's' as the first letter)"),
        json!({"path": path, "file": during}),
    );
    run.step(
        "netlab tcp-client --unix PATH hi",
        "the same protocol over another kind of socket: what comes back?",
    );
    let client = ["tcp-client", "--unix", &path, "hi", "--timeout", "2s"];
    let done = run.netlab(&client, b"", Duration::from_secs(5))?;
    let reply = done.stdout.trim_end().to_string();
    let error = done.stderr.lines().last().unwrap_or("").to_string();
    run.observe(
        &format!("the client printed {reply:?}, exit {} {error}", done.code()),
        json!({"reply": reply, "exit": done.code(), "stderr": error}),
    );
    run.step(
        "stop the server (SIGTERM)",
        "what happens to the socket file when the server exits?",
    );
    let (log, after) = (server.stop(), file_kind(&path));
    let summary = log.lines().last().unwrap_or("").trim().to_string();
    run.observe(
        &format!("{path}: {after} after the server stopped ({summary})"),
        json!({"path": path, "file": after}),
    );
    Ok(run.judge(
        during == "socket" && reply == "HI" && after == "absent",
        &format!("the path held: {during} while serving, {after} after; the reply {reply:?}"),
        "a Unix stream socket carries the same bytes; its address is a file, removed when the server exits",
        "a socket file, \"HI\", and no file after the stop",
    ))
}

/// Serves one client on a fresh port (`--exit-after 1`) and returns the port
/// once the server exited, with who sits in TIME-WAIT. The server closes first
/// (hello), or in the control the client half-closes first (upper).
fn serve_once(run: &mut Run, extra: &[&str]) -> anyhow::Result<(u16, bool)> {
    let handler = if run.control() { "upper" } else { "hello" };
    let mut args = vec!["tcp-server", "--handler", handler, "--exit-after", "1"];
    args.extend_from_slice(extra);
    let mut server = run.server(&args)?;
    let addr = addr_of(&server)?;
    let mut sock = TcpStream::connect(addr)?;
    if run.control() {
        sock.write_all(b"hi")?;
        sock.shutdown(Shutdown::Write)?;
        run.say("control: the client sends hi and half-closes first");
    }
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    let (got, end) = read_to_end(&mut sock, Duration::from_secs(3));
    drop(sock);
    server.wait(Duration::from_secs(5));
    let reply = String::from_utf8_lossy(&got).into_owned();
    run.observe(
        &format!("the client got {reply:?}, {}; the server exited", end.text()),
        json!({"reply": reply, "eof": end == End::Eof}),
    );
    let port = addr.port();
    let rows = netlab::kernel::sockets_on(port).unwrap_or_default();
    let waiting = |server_side: bool| {
        rows.iter()
            .filter(|r| r.state == "TIME-WAIT" && (r.local.port() == port) == server_side)
            .count()
    };
    let (server_tw, client_tw) = (waiting(true), waiting(false));
    run.observe(
        &format!(
            "/proc/net/tcp: {server_tw} TIME-WAIT on the server's side (local port {port}), \
             {client_tw} on the client's side"
        ),
        json!({"source": "/proc/net/tcp", "port": port, "server_time_wait": server_tw, "client_time_wait": client_tw}),
    );
    Ok((port, server_tw > 0))
}

/// Starts the server again on `port`: true when it bound (then stopped), or
/// false and its error line.
fn restart(run: &Run, port: u16, extra: &[&str]) -> anyhow::Result<(bool, String)> {
    let port = port.to_string();
    let mut args = vec!["tcp-server", "--handler", "hello", "-p", &port];
    args.extend_from_slice(extra);
    run.say(&format!("start: netlab {}", args.join(" ")));
    let mut child = run.start(&args)?;
    wait_until(Duration::from_secs(5), || {
        child.stdout().contains("ready") || child.exited()
    });
    if child.stdout().contains("ready") {
        run.say(&format!("bound: {}", child.stdout().trim()));
        drop(child);
        return Ok((true, String::new()));
    }
    let code = child.wait(Duration::from_secs(2)).and_then(|s| s.code()).unwrap_or(-1);
    let error = format!("exit {code}: {}", child.log().trim());
    run.observe(
        &format!("refused: {error}"),
        json!({"exit": code, "stderr": child.log().trim()}),
    );
    Ok((false, error))
}

pub fn reuseaddr(run: &mut Run) -> anyhow::Result<bool> {
    // One question per pair: a pause between serving and restarting could
    // outlast the TIME-WAIT (60 s) the restart is about.
    run.step(
        "a hello server on a free port serves one client and exits (--exit-after 1), then starts again at once \
         on the same port (SO_REUSEADDR, the default)",
        "the server closed first, so its side lingers in TIME-WAIT: can a new listener bind the port?",
    );
    let (port, tw1) = serve_once(run, &[])?;
    let (bound, _) = restart(run, port, &[])?;
    run.step(
        "the same with --no-reuseaddr, both times: serve one client, exit, start again at once",
        "and without SO_REUSEADDR?",
    );
    let (port2, tw2) = serve_once(run, &["--no-reuseaddr"])?;
    let (bound2, error) = restart(run, port2, &["--no-reuseaddr"])?;
    let refused = !bound2 && error.contains("address already in use");
    let (with, without) = (
        either(bound, "bound", "failed"),
        either(refused, "\"address already in use\"", "it bound"),
    );
    Ok(run.judge(
        tw1 && tw2 && bound && refused,
        &format!("with SO_REUSEADDR the restart {with}; without it {without}"),
        "the server's own TIME-WAIT blocks a new bind on its port unless both sockets set SO_REUSEADDR",
        "TIME-WAIT on the server's side, a restart that binds, and one refused without SO_REUSEADDR",
    ))
}
