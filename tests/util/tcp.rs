//! TCP helpers shared by the test modules: start a server in a mode, the
//! classic exchange (send, half-close, read to EOF), many clients at once,
//! and the memory of a server's process tree.

use super::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

pub fn start(mode: &str, extra: &[&str]) -> Server {
    let mut args = vec!["tcp-server", "--mode", mode];
    args.extend_from_slice(extra);
    Server::start(&args)
}

pub fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.socket_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    s
}

/// The classic client: send everything, half-close, read until EOF. The
/// writer runs on its own thread so a big request cannot deadlock against
/// the reply filling the socket buffers.
pub fn exchange(server: &Server, request: &[u8]) -> Vec<u8> {
    let mut s = connect(server);
    let mut w = s.try_clone().expect("clone");
    let req = request.to_vec();
    let writer = thread::spawn(move || {
        w.write_all(&req).expect("send");
        w.shutdown(Shutdown::Write).expect("half-close");
    });
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).expect("read to EOF");
    writer.join().expect("writer");
    reply
}

/// 1 MiB of mixed-script text and Python 3's `str.upper()` of it.
pub fn mixed_text() -> &'static (Vec<u8>, Vec<u8>) {
    static TEXT: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    TEXT.get_or_init(|| {
        let sample = "Hello, straße! Привет, мир. Γειά σου κόσμε. こんにちは世界 😀 café naïve ǆ ﬁ\n";
        let mut text = String::new();
        while text.len() < (1 << 20) {
            text.push_str(sample);
        }
        let py = python(
            "import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read().decode('utf-8').upper().encode('utf-8'))",
            &[],
            text.as_bytes(),
        );
        assert_eq!(code(&py), 0, "{}", String::from_utf8_lossy(&py.stderr));
        (text.into_bytes(), py.stdout)
    })
}

/// Starts `n` clients at once, each sending its own message and checking
/// its own reply; returns how long the slowest took.
pub fn concurrent_clients(server: &Server, n: usize) -> Duration {
    let addr = server.socket_addr();
    let started = Instant::now();
    let clients: Vec<_> = (0..n)
        .map(|i| {
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
                s.write_all(format!("client {i}").as_bytes()).expect("send");
                s.shutdown(Shutdown::Write).expect("half-close");
                let mut reply = String::new();
                s.read_to_string(&mut reply).expect("reply");
                assert_eq!(reply, format!("CLIENT {i}"));
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client");
    }
    started.elapsed()
}

/// Resident memory of a process and its children, in KiB.
pub fn rss_tree_kib(pid: i32) -> u64 {
    let rss = |p: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{p}/status"))
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
            .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
            .unwrap_or(0)
    };
    let mut total = rss(&pid.to_string());
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stat = std::fs::read_to_string(format!("/proc/{name}/stat")).unwrap_or_default();
        // Field 4 (after the parenthesised name) is the parent pid.
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1))
            .unwrap_or("");
        if ppid == pid.to_string() {
            total += rss(&name);
        }
    }
    total
}
