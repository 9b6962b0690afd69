//! The hostile suite: peers that misbehave on purpose, one protocol at a
//! time, in every mode where it applies. In every case the server stays up
//! and every well-behaved client gets every byte it is owed.
//!
//! Beside this file: resets in the middle of a reply and a client that never
//! reads (`modes.rs`), 4 GiB frame claims and zlib bombs (`framed.rs`),
//! billion laughs, external entities, oversized and garbage requests
//! (`rpc.rs`), EMFILE (`tcp_server.rs`), floods of small datagrams (`udp.rs`).

use crate::util::tcp::*;
use crate::util::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

/// Thousands of clients that connect and leave at once: nothing leaks and a
/// canary is answered after.
fn connect_close_churn(mode: &str) {
    // A process per client makes fork mode the slowest to churn.
    let total = if mode == "fork" { 2_000 } else { 10_000 };
    let server = start(mode, &[]);
    let addr = server.socket_addr();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                for _ in 0..total / 4 {
                    let _ = TcpStream::connect(addr);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("churn");
    }
    assert_same(b"CANARY", &exchange(&server, b"canary"), mode);
    if mode != "fork" {
        // Every churned connection is closed again (fork mode's children are other processes).
        let started = Instant::now();
        while open_fds(server.pid()) >= 64 && started.elapsed() < Duration::from_secs(10) {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(
            open_fds(server.pid()) < 64,
            "{mode}: descriptors leaked: {}",
            open_fds(server.pid())
        );
    }
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{mode}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Starts `netlab ARGS --mode MODE --idle-timeout 1s`.
fn with_idle_timeout(args: &[&str], mode: &str) -> Server {
    let mut all = args.to_vec();
    all.extend(["--mode", mode, "--idle-timeout", "1s"]);
    Server::start(&all)
}

/// Sends `bytes`, then nothing: returns how long until the server hung up.
fn stalls(server: &Server, bytes: &[u8]) -> Duration {
    let mut s = TcpStream::connect(server.socket_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    s.write_all(bytes).expect("send");
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    started.elapsed()
}

/// Slowloris: half a frame head, half an HTTP head, then silence. The idle
/// timeout closes them; clients that behave are served meanwhile.
fn slowloris_heads_and_frames(mode: &str) {
    let framed = with_idle_timeout(&["framed", "server"], mode);
    let rpc = with_idle_timeout(&["rpc", "server"], mode);
    let loris: Vec<_> = [
        (framed.socket_addr(), &b"\0\0"[..]),
        (rpc.socket_addr(), &b"POST /RPC2 HTTP/1.1\r\nHost: x"[..]),
    ]
    .into_iter()
    .flat_map(|(addr, bytes)| (0..3).map(move |_| (addr, bytes)))
    .map(|(addr, bytes)| {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(bytes).expect("send");
        s
    })
    .collect();
    // Served while the slow clients hang on.
    let block = [&[0, 0, 0, 2][..], b"ok"].concat();
    let mut s = TcpStream::connect(framed.socket_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    s.write_all(&block).expect("send");
    let mut reply = [0u8; 6];
    s.read_exact(&mut reply).expect("framed canary");
    assert_eq!(&reply[4..], b"OK", "{mode}");
    let call = netlab_out(&["rpc", "call", &format!("http://{}", rpc.addr), "upper", "served"]);
    assert_eq!(text(&call.stdout), "\"SERVED\"\n", "{mode}: {}", text(&call.stderr));
    // And the slow ones are closed by the idle timeout, not held for ever.
    for took in [stalls(&framed, &[0, 0]), stalls(&rpc, b"POST / HTTP/1.1\r\n")] {
        assert!(
            took >= Duration::from_millis(800) && took < Duration::from_secs(15),
            "{mode}: {took:?}"
        );
    }
    drop(loris);
}

every_mode!([sequential, thread, pool, poll, fork, uring] => connect_close_churn);
// Sequential and pool modes serve one client per worker: a slow client holds
// its worker (that is their lesson), so the canary would wait for it.
every_mode!([thread, poll, fork, uring] => slowloris_heads_and_frames);

/// A gzip body of a few KiB that would inflate far past `--max-body`.
const PY_GZIP_BOMB: &str = r#"
import gzip, http.client, sys
bomb = gzip.compress(b'<' * (64 << 20), 9)
conn = http.client.HTTPConnection(sys.argv[1], timeout=20)
conn.request('POST', '/RPC2', body=bomb, headers={'Content-Encoding': 'gzip', 'Content-Type': 'text/xml'})
r = conn.getresponse()
print(len(bomb), r.status)
"#;

#[test]
fn gzip_bombs_are_refused() {
    for mode in ["thread", "poll", "uring"] {
        let server = Server::start(&["rpc", "server", "--mode", mode]);
        let before = rss_tree_kib(server.pid());
        let out = python(PY_GZIP_BOMB, &[&server.addr], b"");
        assert_eq!(code(&out), 0, "{mode}: {}", text(&out.stderr));
        let fields: Vec<u64> = text(&out.stdout)
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert!(
            fields.first().is_some_and(|n| *n < 256 << 10),
            "a small bomb: {fields:?}"
        );
        assert_eq!(
            fields.get(1),
            Some(&413),
            "{mode}: refused with 413, as any body over --max-body"
        );
        let call = netlab_out(&["rpc", "call", &format!("http://{}", server.addr), "upper", "alive"]);
        assert_eq!(text(&call.stdout), "\"ALIVE\"\n", "{mode}");
        let after = rss_tree_kib(server.pid());
        assert!(
            after < before + 16 * 1024,
            "{mode}: RSS grew from {before} KiB to {after} KiB"
        );
    }
}

/// Datagrams of the largest size, as fast as two senders can make them,
/// while a canary asks for its answer.
#[test]
fn udp_flood_of_largest_datagrams_and_a_canary() {
    let server = Server::start(&["udp-server"]);
    let target = server.socket_addr();
    let flood = Flood::start(target, netlab::server::udp::MAX_IPV4_PAYLOAD, 2);
    flood.assert_canary_answered(&server.port());
    let sent = flood.stop();
    assert!(sent > 100, "no flood to speak of: {sent}");
    let (status, stderr) = server.terminate();
    assert!(status.success());
    assert!(!stderr.contains("panicked"));
}
