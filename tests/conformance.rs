//! The Session contract, once for every mode: scripted sessions served
//! through the library's own server API (`server::edge`), the same bytes on
//! the wire whatever the scheduler.
//!
//! Each server runs in a child process (this test binary again, running only
//! [`child`]), so fork mode forks a process that runs nothing else.

use crate::util::*;
use netlab::proto::{Flow, Output, ProtocolError, Session};
use netlab::server::Mode;
use netlab::server::edge::{self, ListenOn, ServerOptions};
use netlab::shutdown::Shutdown;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown as How, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tells the child which server to run: `MODE SCRIPT DELAY_MS`.
const CHILD_ENV: &str = "NETLAB_CONFORMANCE_CHILD";
/// The large reply, bigger than any socket buffer: it takes many short writes.
const LARGE: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    ReplyThenClose,
    ReplyThenError,
    CloseOnStart,
    EofFlush,
    EofError,
    LargeReply,
    PerCall,
    SplitWrites,
}

impl Script {
    const ALL: [Script; 8] = [
        Script::ReplyThenClose,
        Script::ReplyThenError,
        Script::CloseOnStart,
        Script::EofFlush,
        Script::EofError,
        Script::LargeReply,
        Script::PerCall,
        Script::SplitWrites,
    ];

    fn name(self) -> String {
        format!("{self:?}")
    }
}

struct Scripted {
    script: Script,
    held: usize,
    calls: u32,
}

impl Session for Scripted {
    fn on_start(&mut self, out: &mut Output) -> Flow {
        if self.script == Script::CloseOnStart {
            out.extend_from_slice(b"greeting\n");
            return Flow::Close;
        }
        Flow::Continue
    }

    fn on_data(&mut self, data: &[u8], out: &mut Output) -> Result<Flow, ProtocolError> {
        self.calls += 1;
        match self.script {
            Script::ReplyThenClose => {
                out.extend_from_slice(b"closing\n");
                Ok(Flow::Close)
            }
            Script::ReplyThenError => {
                out.extend_from_slice(b"fault\n");
                Err(ProtocolError::Peer("scripted".into()))
            }
            Script::CloseOnStart => {
                out.extend_from_slice(b"called after close\n");
                Ok(Flow::Close)
            }
            Script::EofFlush | Script::EofError => {
                self.held += data.len();
                Ok(Flow::Continue)
            }
            Script::LargeReply => {
                if self.calls == 1 {
                    out.vec_mut().extend((0..LARGE).map(|i| b'a' + (i % 26) as u8));
                }
                Ok(Flow::Continue)
            }
            Script::PerCall => {
                out.extend_from_slice(format!("[{}:{}]", self.calls, String::from_utf8_lossy(data)).as_bytes());
                Ok(Flow::Continue)
            }
            Script::SplitWrites => {
                out.extend_from_slice(b"head");
                out.cut();
                out.extend_from_slice(b"body");
                Ok(Flow::Continue)
            }
        }
    }

    fn on_eof(&mut self, out: &mut Output) -> Result<(), ProtocolError> {
        match self.script {
            Script::EofFlush => out.extend_from_slice(format!("got {} bytes\n", self.held).as_bytes()),
            Script::EofError => {
                out.extend_from_slice(format!("partial {}\n", self.held).as_bytes());
                return Err(ProtocolError::Truncated("scripted".into()));
            }
            _ => {}
        }
        Ok(())
    }
}

/// The server side: runs only in a child started by [`start`].
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let words: Vec<&str> = spec.split_whitespace().collect();
    let mode = Mode::ALL.into_iter().find(|m| words.first() == Some(&m.name()));
    let script = Script::ALL
        .into_iter()
        .find(|s| words.get(1).copied() == Some(s.name().as_str()));
    let delay = words.get(2).and_then(|d| d.parse().ok()).unwrap_or(0);
    let (Some(mode), Some(script)) = (mode, script) else {
        panic!("bad {CHILD_ENV}: {spec}");
    };
    let mut opts = ServerOptions {
        listen: ListenOn::Tcp {
            ip: Ipv4Addr::LOCALHOST.into(),
            port: 0,
        },
        ..ServerOptions::default()
    };
    opts.cfg.mode = mode;
    opts.cfg.delay = Duration::from_millis(delay);
    // A forked child left behind by a failed test ends by itself soon.
    opts.cfg.idle_timeout = Some(Duration::from_secs(20));
    let factory = Arc::new(move |_: &_| {
        Box::new(Scripted {
            script,
            held: 0,
            calls: 0,
        }) as Box<dyn Session>
    });
    let shutdown = Shutdown::with_signals().expect("signals");
    edge::serve(&opts, factory, shutdown).expect("serve");
}

fn start(mode: &str, script: Script, delay_ms: u64) -> Server {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = Command::new(exe);
    cmd.args([
        "conformance::child",
        "--exact",
        "--nocapture",
        "--quiet",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, format!("{mode} {} {delay_ms}", script.name()))
    .env_remove("RUST_LOG");
    Server::spawn(cmd, &format!("{mode} {script:?}"))
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
fn send_and_read(mode: &str, script: Script, request: &[u8]) -> Vec<u8> {
    let server = start(mode, script, 0);
    let mut s = connect(&server);
    s.write_all(request).expect("send");
    read_all(&mut s)
}

/// Sends `request`, half-closes, reads to the server's close.
fn send_eof_and_read(mode: &str, script: Script, request: &[u8]) -> Vec<u8> {
    let server = start(mode, script, 0);
    let mut s = connect(&server);
    s.write_all(request).expect("send");
    s.shutdown(How::Write).expect("half-close");
    read_all(&mut s)
}

fn reply_then_close(mode: &str) {
    assert_same(
        b"closing\n",
        &send_and_read(mode, Script::ReplyThenClose, b"hello"),
        mode,
    );
}

fn reply_then_error(mode: &str) {
    assert_same(b"fault\n", &send_and_read(mode, Script::ReplyThenError, b"hello"), mode);
}

fn close_on_start(mode: &str) {
    let server = start(mode, Script::CloseOnStart, 0);
    assert_same(b"greeting\n", &read_all(&mut connect(&server)), mode);
    // Input after the session closed is discarded, never answered.
    let mut s = connect(&server);
    let _ = s.write_all(b"late");
    assert_same(b"greeting\n", &read_all(&mut s), mode);
}

fn eof_flush(mode: &str) {
    let got = send_eof_and_read(mode, Script::EofFlush, &[b'x'; 1000]);
    assert_same(b"got 1000 bytes\n", &got, mode);
}

fn eof_error(mode: &str) {
    let got = send_eof_and_read(mode, Script::EofError, &[b'x'; 1000]);
    assert_same(b"partial 1000\n", &got, mode);
}

fn large_reply(mode: &str) {
    let got = send_eof_and_read(mode, Script::LargeReply, b"x");
    let want: Vec<u8> = (0..LARGE).map(|i| b'a' + (i % 26) as u8).collect();
    assert_same(&want, &got, mode);
}

/// `--delay` holds every reply, each call's on its own.
fn delay_per_call(mode: &str) {
    let delay = Duration::from_millis(200);
    let server = start(mode, Script::PerCall, 200);
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

fn split_writes(mode: &str) {
    let server = start(mode, Script::SplitWrites, 0);
    let mut s = connect(&server);
    s.write_all(b"x").expect("send");
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).expect("reply");
    s.shutdown(How::Write).expect("half-close");
    let mut got = reply.to_vec();
    got.extend(read_all(&mut s));
    assert_same(b"headbody", &got, mode);
}

every_mode!([sequential, thread, pool, poll, fork, uring] =>
    reply_then_close,
    reply_then_error,
    close_on_start,
    eof_flush,
    eof_error,
    large_reply,
    delay_per_call,
    split_writes,
);
