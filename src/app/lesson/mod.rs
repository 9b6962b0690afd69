//! `netlab lesson`: every row of the README's Lessons table as a command
//! that starts what it needs on loopback, narrates what the sockets do,
//! shows the kernel's evidence where it tells the story, and ends with a
//! verdict that checks the effect itself (`--control` removes the cause, so
//! each verdict is seen to fail).

mod against;
mod against_http;
mod costs;
mod designs;
mod framing;
mod kit;
mod names;
mod peers;
mod rpc;
mod stream;
mod udp;
mod udp_wait;
mod web;
mod wire;

use crate::cli::LessonArgs;
use kit::{Run, Telling};
use netlab::error::{Reported, UsageError};
use std::io::Write;

/// A lesson's body: narrates on `run` and returns its verdict (true: ok).
type Body = fn(&mut Run) -> anyhow::Result<bool>;
/// The client half of a server-contract lesson against someone else's server.
type Grade = fn(&mut Run, &str) -> anyhow::Result<bool>;

/// One lesson: the README table's row, runnable.
pub struct Lesson {
    /// Its name (`netlab lesson NAME`; the README table's "run it" column).
    pub name: &'static str,
    /// About how long it runs, in seconds.
    pub seconds: u32,
    /// What it teaches, in one line.
    pub teaches: &'static str,
    body: Body,
    against: Option<Grade>,
}

const fn lesson(name: &'static str, seconds: u32, teaches: &'static str, body: Body) -> Lesson {
    Lesson {
        name,
        seconds,
        teaches,
        body,
        against: None,
    }
}

const fn graded(name: &'static str, seconds: u32, teaches: &'static str, body: Body, grade: Grade) -> Lesson {
    Lesson {
        name,
        seconds,
        teaches,
        body,
        against: Some(grade),
    }
}

/// Every lesson, in the README table's order.
pub const ALL: &[Lesson] = &[
    lesson(
        "sequential",
        3,
        "a sequential server answers one client at a time: the rest wait in the listen backlog",
        designs::sequential,
    ),
    lesson(
        "thread",
        1,
        "a thread per client: every client is answered at once",
        designs::thread,
    ),
    lesson(
        "pool",
        2,
        "a pool of workers: as many clients at once as there are workers",
        designs::pool,
    ),
    lesson(
        "poll",
        1,
        "an event loop: one thread answers every client at once, a delay is a timer",
        designs::poll,
    ),
    lesson("fork", 1, "a process per client, reaped when it ends", designs::fork),
    lesson(
        "uring",
        3,
        "readiness vs completion: the same answers with far fewer system calls",
        costs::uring,
    ),
    lesson(
        "c10k",
        2,
        "one event-loop thread holds thousands of idle clients in a few MiB",
        costs::c10k,
    ),
    graded(
        "half-close",
        1,
        "shutdown(SHUT_WR) says 'no more requests' and the reply still arrives",
        stream::half_close,
        against::tcp,
    ),
    lesson(
        "greet",
        1,
        "a server that talks first and closes: hello and time",
        stream::greet,
    ),
    lesson(
        "back-pressure",
        1,
        "a client that never reads: the server stops reading it and memory stays flat",
        stream::back_pressure,
    ),
    lesson(
        "unix",
        1,
        "the same protocol over a Unix stream socket, a file in the file system",
        stream::unix,
    ),
    lesson(
        "reuseaddr",
        1,
        "SO_REUSEADDR: restarting a server while TIME_WAIT lingers",
        stream::reuseaddr,
    ),
    graded(
        "udp-echo",
        1,
        "UDP: one socket serves every sender, a datagram at a time",
        udp::echo,
        against::udp,
    ),
    lesson(
        "unicode",
        1,
        "text is not bytes: uppercase across UTF-8, invalid bytes unchanged",
        udp::unicode,
    ),
    lesson("retry", 3, "loss and retry with exponential backoff", udp::retry),
    lesson(
        "give-up",
        1,
        "the ICMP port-unreachable on a connect()ed UDP socket: exit at once",
        udp::give_up,
    ),
    lesson(
        "silent-server",
        4,
        "giving up on a server that never answers: five sends over 3.1 s",
        udp_wait::silent_server,
    ),
    lesson(
        "stale-replies",
        1,
        "a late answer to a resend is never taken for the next reply",
        udp_wait::stale_replies,
    ),
    lesson(
        "rtt",
        1,
        "round-trip times and loss, as ping prints them",
        udp_wait::rtt,
    ),
    lesson(
        "broadcast",
        1,
        "one datagram to every host of a network, every reply with its sender",
        udp_wait::broadcast,
    ),
    lesson(
        "resolve",
        1,
        "getaddrinfo: one name, several addresses and socket types",
        names::resolve,
    ),
    lesson(
        "byte-order",
        1,
        "the same integer in little-endian, big-endian and network order",
        names::byte_order,
    ),
    graded(
        "framing",
        1,
        "recvall and a length prefix: each message a block, however recv cuts it",
        framing::framing,
        against::framed,
    ),
    lesson(
        "one-recv",
        1,
        "two sends can arrive as one recv: TCP is a byte stream, which is why framing exists",
        framing::one_recv,
    ),
    lesson(
        "length-claim",
        1,
        "a 4 GiB length claim is not an allocation: only that connection closes",
        framing::length_claim,
    ),
    lesson(
        "nagle",
        3,
        "the Nagle trap: two small writes and a delayed ACK cost 40 ms a request",
        framing::nagle,
    ),
    lesson(
        "zlib",
        1,
        "compression on the wire, and a zip bomb refused",
        framing::zlib,
    ),
    graded(
        "rpc",
        1,
        "remote calls, almost transparent: Python's own client, and the right roots",
        rpc::rpc,
        against_http::rpc,
    ),
    lesson(
        "rpc-wire",
        1,
        "what goes on the wire: the XML of every call",
        rpc::rpc_wire,
    ),
    lesson(
        "keep-alive",
        1,
        "keep-alive: a hundred calls over one connection",
        rpc::keep_alive,
    ),
    lesson(
        "faults",
        1,
        "faults, not dropped connections: errors that travel as answers",
        rpc::faults,
    ),
    graded(
        "web-server",
        1,
        "the simplest web server: a directory listing and a file with its type",
        web::web_server,
        against_http::http,
    ),
    lesson(
        "browser-head",
        1,
        "what a client sends: the request head, and 304 for a page already seen",
        web::browser_head,
    ),
    lesson("ranges", 1, "ranges and resuming a download: 206 and 416", web::ranges),
    lesson(
        "dotdot",
        1,
        "why .. must not get out: every encoding of it is 404",
        web::dotdot,
    ),
    lesson(
        "http-nagle",
        3,
        "Nagle meets HTTP/1.1: a head and a body in two writes",
        wire::http_nagle,
    ),
    lesson(
        "tls-handshake",
        1,
        "what a TLS handshake is: the records, one round trip, and trust",
        wire::tls_handshake,
    ),
    lesson(
        "compare-modes",
        5,
        "the designs side by side under the same load",
        costs::compare_modes,
    ),
    lesson(
        "open-loop",
        7,
        "closed vs open loop: a stalled server hides in one and shows in the other",
        costs::open_loop,
    ),
];

/// `netlab lesson [NAME]`.
pub fn run(args: &LessonArgs, verbose: bool) -> anyhow::Result<()> {
    let Some(name) = &args.name else {
        return list(args.json);
    };
    let Some(lesson) = ALL.iter().find(|l| l.name == name.as_str()) else {
        let names: Vec<&str> = ALL.iter().map(|l| l.name).collect();
        return Err(UsageError(format!("no lesson '{name}'; the lessons are: {}", names.join(", "))).into());
    };
    let telling = Telling {
        json: args.json,
        step: args.step,
        verbose,
        control: args.control,
    };
    kit::stop_all_on_signals()?;
    let mut run = Run::new(telling)?;
    let ok = match (&args.against, lesson.against) {
        (Some(target), Some(grade)) => introduce(&run, lesson, ", graded against another server").and_then(|()| {
            run.say(&format!("the server under test: {target}"));
            grade(&mut run, target)
        }),
        (Some(_), None) => {
            let graded: Vec<&str> = ALL.iter().filter(|l| l.against.is_some()).map(|l| l.name).collect();
            return Err(UsageError(format!(
                "--against grades a server contract; lesson '{name}' has none (those that do: {})",
                graded.join(", ")
            ))
            .into());
        }
        (None, _) => introduce(&run, lesson, "").and_then(|()| (lesson.body)(&mut run)),
    };
    match ok {
        Ok(true) => Ok(()),
        Ok(false) => Err(Reported.into()),
        Err(e) => {
            run.verdict(false, &format!("the lesson could not run: {e:#}"));
            Err(Reported.into())
        }
    }
}

fn introduce(run: &Run, lesson: &Lesson, how: &str) -> anyhow::Result<()> {
    let control = if run.control() {
        " (the control experiment: the cause is removed, so the effect should not appear)"
    } else {
        ""
    };
    run.say(&format!("lesson {}{how}: {}{control}", lesson.name, lesson.teaches));
    Ok(())
}

fn list(json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let width = ALL.iter().map(|l| l.name.len()).max().unwrap_or(0);
    for l in ALL {
        let line = if json {
            serde_json::json!({"name": l.name, "seconds": l.seconds, "teaches": l.teaches, "against": l.against.is_some()})
                .to_string()
        } else {
            format!("{:width$}  {:>3}  {}", l.name, l.seconds, l.teaches)
        };
        if writeln!(out, "{line}").is_err() {
            return Ok(()); // `| head`
        }
    }
    Ok(())
}
