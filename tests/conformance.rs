//! The Session contract, once for every mode: scripted sessions served
//! through the library's own server API (`server::edge`), the same bytes on
//! the wire whatever the scheduler.
//!
//! Each server runs in a child process, `tests/scripted_server.rs` (a binary
//! of one thread, so fork mode forks a process that runs nothing else).

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

/// Starts the scripted server: `script` served in `mode`, with `--delay`
/// `delay_ms`; `debug` logs every socket call on its stderr.
fn start_with(mode: &str, script: &str, delay_ms: u64, debug: bool) -> Server {
    let mut cmd = Command::new(scripted_server());
    cmd.env("NETLAB_SCRIPTED", format!("{mode} {script} {delay_ms}"))
        .env_remove("RUST_LOG");
    if debug {
        cmd.env("NETLAB_SCRIPTED_DEBUG", "1");
    }
    Server::spawn(cmd, &format!("{mode} {script}"))
}

fn start(mode: &str, script: &str, delay_ms: u64) -> Server {
    start_with(mode, script, delay_ms, false)
}

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.socket_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    s
}

fn read_all(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("read to EOF");
    got
}

/// Sends `request` without half-closing, reads to the server's close.
fn send_and_read(mode: &str, script: &str, request: &[u8]) -> Vec<u8> {
    let server = start(mode, script, 0);
    let mut s = connect(&server);
    s.write_all(request).expect("send");
    read_all(&mut s)
}

/// Sends `request`, half-closes, reads to the server's close.
fn send_eof_and_read(mode: &str, script: &str, request: &[u8]) -> Vec<u8> {
    let server = start(mode, script, 0);
    let mut s = connect(&server);
    s.write_all(request).expect("send");
    s.shutdown(How::Write).expect("half-close");
    read_all(&mut s)
}

fn reply_then_close(mode: &str) {
    assert_same(b"closing\n", &send_and_read(mode, "ReplyThenClose", b"hello"), mode);
}

fn reply_then_error(mode: &str) {
    assert_same(b"fault\n", &send_and_read(mode, "ReplyThenError", b"hello"), mode);
}

fn close_on_start(mode: &str) {
    let server = start(mode, "CloseOnStart", 0);
    assert_same(b"greeting\n", &read_all(&mut connect(&server)), mode);
    // Input after the session closed is discarded, never answered.
    let mut s = connect(&server);
    let _ = s.write_all(b"late");
    assert_same(b"greeting\n", &read_all(&mut s), mode);
}

fn eof_flush(mode: &str) {
    let got = send_eof_and_read(mode, "EofFlush", &[b'x'; 1000]);
    assert_same(b"got 1000 bytes\n", &got, mode);
}

fn eof_error(mode: &str) {
    let got = send_eof_and_read(mode, "EofError", &[b'x'; 1000]);
    assert_same(b"partial 1000\n", &got, mode);
}

fn large_reply(mode: &str) {
    let got = send_eof_and_read(mode, "LargeReply", b"x");
    let want: Vec<u8> = scripted_shared::large_reply().collect();
    assert_same(&want, &got, mode);
}

/// A reply that streams through `on_drain`, one piece per call, arrives
/// whole, and the close the session asked for waits until it is done.
fn streamed_reply(mode: &str) {
    let got = send_and_read(mode, "Streamed", b"x");
    let want: Vec<u8> = scripted_shared::large_reply().collect();
    assert_same(&want, &got, mode);
}

/// `--delay` holds every reply, each call's on its own.
fn delay_per_call(mode: &str) {
    let delay = Duration::from_millis(200);
    let server = start(mode, "PerCall", 200);
    let mut s = connect(&server);
    let mut got = Vec::new();
    for (n, request) in [b"a", b"b"].iter().enumerate() {
        let sent = Instant::now();
        s.write_all(*request).expect("send");
        let mut reply = [0u8; 5];
        s.read_exact(&mut reply).expect("reply");
        assert!(sent.elapsed() >= delay, "{mode}: reply {n} came before --delay");
        got.extend_from_slice(&reply);
    }
    s.shutdown(How::Write).expect("half-close");
    got.extend(read_all(&mut s));
    assert_same(b"[1:a][2:b]", &got, mode);
}

/// A write boundary the session marks is two writes on the wire: the
/// server's own log shows two sends of 4 bytes, not one of 8.
fn split_writes(mode: &str) {
    let server = start_with(mode, "SplitWrites", 0, true);
    let mut s = connect(&server);
    s.write_all(b"x").expect("send");
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).expect("reply");
    s.shutdown(How::Write).expect("half-close");
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

every_mode!([sequential, thread, pool, poll, fork, uring] =>
    reply_then_close,
    reply_then_error,
    close_on_start,
    eof_flush,
    eof_error,
    large_reply,
    streamed_reply,
    delay_per_call,
    split_writes,
);
