//! The Session contract, once for every mode: scripted sessions served
//! through the library's own server API (`server::edge`), the same bytes on
//! the wire whatever the scheduler.
//!
//! Each server runs in a child process, `tests/scripted_server.rs` (a binary
//! of one thread, so fork mode forks a process that runs nothing else).
//! Every script runs twice: over plain TCP, and inside a TLS session (the
//! `tls` column: the same bytes must come out of the same script).

use crate::util::*;
use std::io::{Read, Write};
use std::net::{Shutdown as How, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::scripted_shared;

/// The scripted server binary, built beside this test binary by `cargo test`.
fn scripted_server() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let deps = exe.parent().expect("the deps directory");
    let newest = std::fs::read_dir(deps)
        .expect("read deps")
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("scripted_server-") && !name.contains('.')
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
    newest
        .expect("tests/scripted_server.rs is not built: run `cargo test`, or add `--test scripted_server`")
        .path()
}

/// Plain TCP, or TLS around the same session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Plain,
    Tls,
}

/// Starts the scripted server: `script` served in `mode` over `wire`, with
/// `--delay` `delay_ms`; `debug` logs every socket call on its stderr.
fn start_with(mode: &str, script: &str, delay_ms: u64, debug: bool, wire: Wire) -> Server {
    let mut cmd = Command::new(scripted_server());
    cmd.env("NETLAB_SCRIPTED", format!("{mode} {script} {delay_ms}"))
        .env_remove("RUST_LOG");
    if debug {
        cmd.env("NETLAB_SCRIPTED_DEBUG", "1");
    }
    if wire == Wire::Tls {
        cmd.env("NETLAB_SCRIPTED_TLS", "1");
    }
    Server::spawn(cmd, &format!("{mode} {script} {wire:?}"))
}

fn start(mode: &str, script: &str, delay_ms: u64, wire: Wire) -> Server {
    start_with(mode, script, delay_ms, false, wire)
}

/// A client connection over either wire.
enum Conn {
    Plain(TcpStream),
    Tls(Box<netlab::tls::client::TlsStream>),
}

impl Conn {
    fn half_close(&mut self) {
        match self {
            Conn::Plain(s) => s.shutdown(How::Write).expect("half-close"),
            Conn::Tls(t) => netlab::tls::client::half_close(t).expect("close_notify and half-close"),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            // A close without close_notify ends the reply too (a session that fails).
            Conn::Tls(t) => netlab::tls::client::read(t, buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(t) => t.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(t) => t.flush(),
        }
    }
}

fn connect(server: &Server, wire: Wire) -> Conn {
    let s = TcpStream::connect(server.socket_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    match wire {
        Wire::Plain => Conn::Plain(s),
        Wire::Tls => Conn::Tls(Box::new(
            netlab::tls::client::connect(s, "localhost", &netlab::tls::Trust::Insecure).expect("TLS handshake"),
        )),
    }
}

fn read_all(s: &mut Conn) -> Vec<u8> {
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("read to EOF");
    got
}

/// Sends `request` without half-closing, reads to the server's close.
fn send_and_read(mode: &str, script: &str, request: &[u8], wire: Wire) -> Vec<u8> {
    let server = start(mode, script, 0, wire);
    let mut s = connect(&server, wire);
    s.write_all(request).expect("send");
    read_all(&mut s)
}

/// Sends `request`, half-closes, reads to the server's close.
fn send_eof_and_read(mode: &str, script: &str, request: &[u8], wire: Wire) -> Vec<u8> {
    let server = start(mode, script, 0, wire);
    let mut s = connect(&server, wire);
    s.write_all(request).expect("send");
    s.half_close();
    read_all(&mut s)
}

fn reply_then_close(mode: &str, wire: Wire) {
    assert_same(
        b"closing\n",
        &send_and_read(mode, "ReplyThenClose", b"hello", wire),
        mode,
    );
}

fn reply_then_error(mode: &str, wire: Wire) {
    assert_same(b"fault\n", &send_and_read(mode, "ReplyThenError", b"hello", wire), mode);
}

fn close_on_start(mode: &str, wire: Wire) {
    let server = start(mode, "CloseOnStart", 0, wire);
    assert_same(b"greeting\n", &read_all(&mut connect(&server, wire)), mode);
    // Input after the session closed is discarded, never answered.
    let mut s = connect(&server, wire);
    let _ = s.write_all(b"late");
    assert_same(b"greeting\n", &read_all(&mut s), mode);
}

fn eof_flush(mode: &str, wire: Wire) {
    let got = send_eof_and_read(mode, "EofFlush", &[b'x'; 1000], wire);
    assert_same(b"got 1000 bytes\n", &got, mode);
}

fn eof_error(mode: &str, wire: Wire) {
    let got = send_eof_and_read(mode, "EofError", &[b'x'; 1000], wire);
    assert_same(b"partial 1000\n", &got, mode);
}

fn large_reply(mode: &str, wire: Wire) {
    let got = send_eof_and_read(mode, "LargeReply", b"x", wire);
    let want: Vec<u8> = scripted_shared::large_reply().collect();
    assert_same(&want, &got, mode);
}

/// A reply that streams through `on_drain`, one piece per call, arrives
/// whole, and the close the session asked for waits until it is done.
fn streamed_reply(mode: &str, wire: Wire) {
    let got = send_and_read(mode, "Streamed", b"x", wire);
    let want: Vec<u8> = scripted_shared::large_reply().collect();
    assert_same(&want, &got, mode);
}

/// `--delay` holds every reply, each call's on its own.
fn delay_per_call(mode: &str, wire: Wire) {
    let delay = Duration::from_millis(200);
    let server = start(mode, "PerCall", 200, wire);
    let mut s = connect(&server, wire);
    let mut got = Vec::new();
    for (n, request) in [b"a", b"b"].iter().enumerate() {
        let sent = Instant::now();
        s.write_all(*request).expect("send");
        let mut reply = [0u8; 5];
        s.read_exact(&mut reply).expect("reply");
        assert!(sent.elapsed() >= delay, "{mode}: reply {n} came before --delay");
        got.extend_from_slice(&reply);
    }
    s.half_close();
    got.extend(read_all(&mut s));
    assert_same(b"[1:a][2:b]", &got, mode);
}

/// A write boundary the session marks is two writes on the wire: the
/// server's own log shows two sends of 4 bytes, not one of 8.
fn split_writes(mode: &str) {
    let server = start_with(mode, "SplitWrites", 0, true, Wire::Plain);
    let mut s = connect(&server, Wire::Plain);
    s.write_all(b"x").expect("send");
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).expect("reply");
    s.half_close();
    let mut got = reply.to_vec();
    got.extend(read_all(&mut s));
    assert_same(b"headbody", &got, mode);
    let sends = |text: &str| {
        text.lines()
            .filter(|l| l.contains("send") && !l.contains("submit") && l.contains("bytes=4"))
            .count()
    };
    assert!(
        server.wait_for_lines(2, Duration::from_secs(10), |l| sends(l) == 1),
        "{mode}: the two writes were not two sends: {}",
        server.stderr_text()
    );
    assert!(!server.stderr_text().contains("bytes=8"), "{mode}: one send of both");
}

/// The idle timeout lets the session say its last words (TLS: close_notify)
/// before the close: an echo, then silence, then `bye`.
fn idle_goodbye(mode: &str, wire: Wire) {
    let server = start(mode, "IdleGoodbye", 0, wire);
    let mut s = connect(&server, wire);
    s.write_all(b"hi").expect("send");
    assert_same(b"hibye\n", &read_all(&mut s), mode);
}

/// Each script as a test of both wires: `NAME_plain` over TCP, `NAME_tls` inside TLS.
macro_rules! both_wires {
    ($($name:ident: $plain:ident, $tls:ident;)*) => {
        $(
            fn $plain(mode: &str) {
                $name(mode, Wire::Plain)
            }
            fn $tls(mode: &str) {
                $name(mode, Wire::Tls)
            }
        )*
    };
}

both_wires!(
    reply_then_close: reply_then_close_plain, reply_then_close_tls;
    reply_then_error: reply_then_error_plain, reply_then_error_tls;
    close_on_start: close_on_start_plain, close_on_start_tls;
    eof_flush: eof_flush_plain, eof_flush_tls;
    eof_error: eof_error_plain, eof_error_tls;
    large_reply: large_reply_plain, large_reply_tls;
    streamed_reply: streamed_reply_plain, streamed_reply_tls;
    delay_per_call: delay_per_call_plain, delay_per_call_tls;
    idle_goodbye: idle_goodbye_plain, idle_goodbye_tls;
);

every_mode!([sequential, thread, pool, poll, fork, uring] =>
    reply_then_close_plain,
    reply_then_error_plain,
    close_on_start_plain,
    eof_flush_plain,
    eof_error_plain,
    large_reply_plain,
    streamed_reply_plain,
    delay_per_call_plain,
    split_writes,
    reply_then_close_tls,
    reply_then_error_tls,
    close_on_start_tls,
    eof_flush_tls,
    eof_error_tls,
    large_reply_tls,
    streamed_reply_tls,
    delay_per_call_tls,
    idle_goodbye_plain,
    idle_goodbye_tls,
);
