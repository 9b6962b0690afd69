//! The server half of the Session contract tests (`tests/conformance.rs`):
//! scripted sessions served through the library's own server API
//! (`server::edge`) in the mode given on the command line.
//!
//! A binary of its own, without the test harness, so that the process runs
//! one thread: fork mode refuses to fork a process with others (the harness
//! runs each test on a thread of its own).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use netlab::proto::{Drain, Flow, Output, ProtocolError, Session};
use netlab::server::Mode;
use netlab::server::edge::{self, ListenOn, ServerOptions};
use netlab::shutdown::Shutdown;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

#[path = "scripted_shared.rs"]
mod shared;

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
    Streamed,
    IdleGoodbye,
}

impl Script {
    const ALL: [Script; 10] = [
        Script::ReplyThenClose,
        Script::ReplyThenError,
        Script::CloseOnStart,
        Script::EofFlush,
        Script::EofError,
        Script::LargeReply,
        Script::PerCall,
        Script::SplitWrites,
        Script::Streamed,
        Script::IdleGoodbye,
    ];

    fn name(self) -> String {
        format!("{self:?}")
    }
}

struct Scripted {
    script: Script,
    held: usize,
    calls: u32,
    /// `Streamed`: bytes of the large reply sent so far, once asked.
    streamed: Option<usize>,
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
                    out.vec_mut().extend(shared::large_reply());
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
            Script::Streamed => {
                // The close waits until the stream is done.
                self.streamed = Some(0);
                Ok(Flow::Close)
            }
            Script::IdleGoodbye => {
                out.extend_from_slice(data);
                Ok(Flow::Continue)
            }
        }
    }

    fn on_idle(&mut self, out: &mut Output) {
        if self.script == Script::IdleGoodbye {
            out.extend_from_slice(b"bye\n");
        }
    }

    fn on_drain(&mut self, out: &mut Output) -> Result<Drain, ProtocolError> {
        let Some(at) = self.streamed.as_mut() else {
            return Ok(Drain::Done);
        };
        let n = shared::PIECE.min(shared::LARGE - *at);
        out.vec_mut().extend(shared::large_reply().skip(*at).take(n));
        *at += n;
        Ok(if *at < shared::LARGE { Drain::More } else { Drain::Done })
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

/// With `NETLAB_SCRIPTED="MODE SCRIPT DELAY_MS"` (and `NETLAB_SCRIPTED_TLS`
/// to serve it under TLS): serves that script until
/// SIGTERM. Without it (as `cargo test` runs it, with whatever filter
/// arguments) it does nothing.
fn main() {
    let Ok(spec) = std::env::var("NETLAB_SCRIPTED") else {
        return;
    };
    let args: Vec<String> = spec.split_whitespace().map(String::from).collect();
    if std::env::var_os("NETLAB_SCRIPTED_DEBUG").is_some() {
        netlab::logging::init(netlab::logging::Verbosity::Debug);
    }
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let mode = Mode::ALL.into_iter().find(|m| words.first() == Some(&m.name()));
    let script = Script::ALL
        .into_iter()
        .find(|s| words.get(1).copied() == Some(s.name().as_str()));
    let delay = words.get(2).and_then(|d| d.parse().ok()).unwrap_or(0);
    let (Some(mode), Some(script)) = (mode, script) else {
        eprintln!("bad arguments: {spec}");
        std::process::exit(2);
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
    if script == Script::IdleGoodbye {
        opts.cfg.idle_timeout = Some(Duration::from_millis(300));
    }
    // NETLAB_SCRIPTED_TLS: the same script inside a TLS session (a self-signed certificate).
    let tls = std::env::var_os("NETLAB_SCRIPTED_TLS").map(|_| {
        netlab::tls::server_identity(None, &[])
            .expect("a self-signed certificate")
            .config
    });
    let factory = Arc::new(move |info: &netlab::proto::ConnInfo| {
        let inner = Box::new(Scripted {
            script,
            held: 0,
            calls: 0,
            streamed: None,
        }) as Box<dyn Session>;
        match &tls {
            None => inner,
            Some(config) => Box::new(
                netlab::tls::TlsServerSession::new(
                    Arc::clone(config),
                    inner,
                    format!("{:?}", info.peer),
                    std::time::SystemTime::now,
                )
                .expect("a TLS session"),
            ),
        }
    });
    let shutdown = Shutdown::with_signals().expect("signals");
    edge::serve(&opts, factory, shutdown).expect("serve");
}
