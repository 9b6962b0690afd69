//! tcp-server options and mode-specific behaviour: caps, backlogs,
//! `SO_REUSEADDR`, dual-stack, busy ports, running out of descriptors.

use crate::util::tcp::*;
use crate::util::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn poll_answers_a_second_client_while_the_first_waits() {
    let server = start("poll", &["--delay", "1500ms", "-vv"]);
    let addr = server.socket_addr();
    let first = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(b"first").expect("send");
        s.shutdown(Shutdown::Write).expect("half-close");
        let mut r = String::new();
        s.read_to_string(&mut r).expect("reply");
        (r, Instant::now())
    });
    // The first request is in the server (its reply now waits on the timer).
    assert!(
        server.wait_for_stderr("bytes=5", Duration::from_secs(10)),
        "{}",
        server.stderr_text()
    );
    let second = exchange(&server, b"second");
    let second_done = Instant::now();
    let (first_reply, first_done) = first.join().expect("first");
    assert_eq!(first_reply, "FIRST");
    assert_same(b"SECOND", &second, "second");
    // The second took its own 1.5 s beside the first's, not after it (1.5 + 1.5).
    assert!(second_done.duration_since(first_done) < Duration::from_millis(1200));
}

#[test]
fn poll_workers_share_the_port() {
    let server = start("poll", &["--workers", "3"]);
    for i in 0..30 {
        assert_same(
            format!("N{i}").as_bytes(),
            &exchange(&server, format!("n{i}").as_bytes()),
            "poll workers",
        );
    }
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("served 30 connections"), "{stderr}");
}

#[test]
fn dual_stack_bind_serves_ipv6_and_ipv4() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    }
    let server = Server::start(&["tcp-server", "--bind", "::", "--handler", "hello"]);
    for host in ["::1", "127.0.0.1"] {
        let out = netlab_out(&["tcp-client", host, "-p", &server.port()]);
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        let reply = text(&out.stdout);
        let want = if host == "::1" {
            "Hello [::1]:"
        } else {
            "Hello 127.0.0.1:"
        };
        assert!(reply.starts_with(want), "{host}: {reply:?}");
    }
}

#[test]
fn busy_port_is_one_error_line() {
    for mode in ["thread", "poll"] {
        let server = start(mode, &[]);
        let mut args = vec!["tcp-server", "--mode", mode, "-p"];
        let port = server.port();
        args.push(&port);
        if mode == "poll" {
            args.extend(["--workers", "2"]);
        }
        let out = netlab_out(&args);
        assert_eq!(code(&out), 1, "{mode}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("netlab: error:") && stderr.contains("address already in use"),
            "{stderr}"
        );
    }
}

#[test]
fn thread_mode_cap_makes_the_rest_wait_in_the_backlog() {
    let server = start("thread", &["--max-conns", "2", "--delay", "300ms"]);
    let took = concurrent_clients(&server, 4);
    assert!(took >= Duration::from_millis(600), "two rounds expected, took {took:?}");
}

/// Runs a hello server (it closes first, so its side of the connection sits
/// in TIME_WAIT afterwards), stops it, and restarts on the same port.
fn restart_after_time_wait(flags: &[&str]) -> std::process::Output {
    let mut args = vec!["--handler", "hello"];
    args.extend_from_slice(flags);
    let first = start("thread", &args);
    let port = first.port();
    let mut s = connect(&first);
    let mut greeting = String::new();
    s.read_to_string(&mut greeting).expect("hello"); // EOF: the server closed first
    drop(s);
    let (status, _) = first.terminate();
    assert!(status.success());
    let mut again = vec!["tcp-server", "-p", &port, "--exit-after", "1", "--handler", "hello"];
    again.extend_from_slice(flags);
    let mut cmd = netlab(&again);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    // Either the ready line comes (then serve its one connection so it
    // exits), or stdout ends because binding failed.
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let _ = std::io::BufRead::read_line(&mut stdout, &mut line);
    if netlab::ready::parse(&line).is_some() {
        let mut c = TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect to the restarted server");
        let _ = c.read_to_end(&mut Vec::new());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let mut out = child.wait_with_output().expect("output");
    out.stdout = [line.into_bytes(), out.stdout].concat();
    out
}

#[test]
fn no_reuseaddr_restart_fails_while_time_wait_lasts() {
    let out = restart_after_time_wait(&["--no-reuseaddr"]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("address already in use"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn reuseaddr_restart_succeeds_despite_time_wait() {
    let out = restart_after_time_wait(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("server ready on 127.0.0.1:"));
}

#[test]
fn poll_mode_cap_defers_accepts() {
    let server = start("poll", &["--max-conns", "1", "-v"]);
    let opened = |l: &str| l.contains("connection opened");
    let first = connect(&server);
    assert!(server.wait_for_lines(1, Duration::from_secs(10), opened));
    let addr = server.socket_addr();
    let (sent_tx, sent_rx) = std::sync::mpsc::channel();
    let waiting = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        s.write_all(b"second").expect("send");
        s.shutdown(Shutdown::Write).expect("half-close");
        let _ = sent_tx.send(());
        let mut r = String::new();
        s.read_to_string(&mut r).expect("reply");
        r
    });
    // The second client is connected (in the backlog) and has sent its request.
    sent_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("second request sent");
    // A negative result needs a window: nothing may be served in it.
    thread::sleep(Duration::from_millis(300));
    assert!(!waiting.is_finished(), "served past --max-conns");
    assert_eq!(server.stderr_text().lines().filter(|l| opened(l)).count(), 1);
    drop(first);
    assert_eq!(waiting.join().expect("second"), "SECOND");
}

/// Out of descriptors (EMFILE): the server pauses accepting instead of
/// spinning or dying, and serves again once clients leave.
fn running_out_of_descriptors_pauses_accepting(mode: &str) {
    // A cap above the descriptors (poll and uring would otherwise cap below them).
    let server = Server::start_with_fd_limit(48, &["tcp-server", "--mode", mode, "--max-conns", "1000"]);
    let crowd: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect(server.socket_addr()).ok())
        .collect();
    assert!(
        server.wait_for_stderr("accept failed, pausing", Duration::from_secs(10)),
        "{mode}: EMFILE was never hit: {}",
        server.stderr_text()
    );
    drop(crowd);
    // The canary waits in the backlog until accepting resumes.
    assert_same(b"CANARY", &exchange(&server, b"canary"), mode);
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("accept failed, pausing"),
        "{mode}: EMFILE was never hit: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

every_mode!([thread, poll, uring] => running_out_of_descriptors_pauses_accepting);

/// Open sockets of a process, from /proc.
fn sockets(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")))
                .count()
        })
        .unwrap_or(0)
}

/// The hard limit on open files of this test process.
fn hard_fd_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).map_or(0, |(_, hard)| hard)
}

/// Issue 16: the event loop holds thousands of idle clients out of the box.
fn holds_3000_idle_connections_under_ulimit_4096(mode: &str) {
    if hard_fd_limit() < 8192 {
        eprintln!(
            "skipped: the hard open-file limit here ({}) is too small for 3000 clients",
            hard_fd_limit()
        );
        return;
    }
    let server = Server::start_with_fd_limit(4096, &["tcp-server", "--mode", mode, "-v"]);
    let base = sockets(server.pid());
    let holder = KillOnDrop(
        netlab(&[
            "bench",
            "-q",
            "-p",
            &server.port(),
            "--conns",
            "3000",
            "--hold",
            "--duration",
            "60s",
            // A SYN dropped from a full backlog is resent after 1, 3, 7 s:
            // a connect on a loaded machine may need longer than the default 5 s.
            "--timeout",
            "25s",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("bench --hold"),
    );
    let started = Instant::now();
    while sockets(server.pid()) < base + 3000 && started.elapsed() < Duration::from_secs(30) {
        thread::sleep(Duration::from_millis(20));
    }
    let held = sockets(server.pid()) - base;
    assert_same(b"CANARY", &exchange(&server, b"canary"), mode);
    drop(holder);
    assert!(held >= 3000, "{mode} held only {held} connections");
    assert!(
        !server.stderr_text().contains("connection cap"),
        "{}",
        server.stderr_text()
    );
}

every_mode!([poll, uring] => holds_3000_idle_connections_under_ulimit_4096);

#[test]
fn the_default_cap_follows_the_fd_limit_in_poll_mode_only() {
    let fd_cap = format!("max_conns={}", 500 - netlab::server::config::FD_RESERVE);
    for (mode, want) in [
        ("poll", fd_cap.as_str()),
        ("uring", fd_cap.as_str()),
        ("thread", &format!("max_conns={}", netlab::server::DEFAULT_MAX_CONNS)),
    ] {
        let server = Server::start_with_fd_limit(500, &["tcp-server", "--mode", mode, "-v"]);
        assert!(server.wait_for_stderr("serving on", Duration::from_secs(10)));
        assert!(server.stderr_text().contains(want), "{mode}: {}", server.stderr_text());
    }
    let capped = Server::start_with_fd_limit(500, &["tcp-server", "--mode", "poll", "--max-conns", "7", "-v"]);
    assert!(capped.wait_for_stderr("max_conns=7", Duration::from_secs(10)));
}

/// The cap is logged once when reached, not once per waiting client.
#[test]
fn reaching_the_cap_is_logged_once_per_episode() {
    let server = start("poll", &["--max-conns", "2", "-v"]);
    let held: Vec<TcpStream> = (0..2).map(|_| connect(&server)).collect();
    assert!(server.wait_for_lines(2, Duration::from_secs(10), |l| l.contains("connection opened")));
    // Five more clients arrive while the cap holds: each one wakes the loop.
    let waiting: Vec<TcpStream> = (0..5)
        .map(|i| {
            let mut s = connect(&server);
            s.write_all(format!("w{i}").as_bytes()).expect("send");
            s.shutdown(Shutdown::Write).expect("half-close");
            s
        })
        .collect();
    assert!(server.wait_for_stderr("at the connection cap", Duration::from_secs(10)));
    thread::sleep(Duration::from_millis(300)); // a window for more lines, which must not come
    assert_eq!(
        server.stderr_text().matches("at the connection cap").count(),
        1,
        "{}",
        server.stderr_text()
    );
    drop(held);
    for mut s in waiting {
        let mut reply = String::new();
        s.read_to_string(&mut reply).expect("served once the cap allows");
        assert!(reply.starts_with('W'), "{reply:?}");
    }
    assert!(server.wait_for_stderr("below the connection cap", Duration::from_secs(10)));
}

/// Poll mode stops reading a socket after a short read (the epoll floor: 2
/// system calls per small request). No byte may be stranded by it: bytes
/// that arrive between reads, a request larger than the read buffer, and
/// the peer's EOF right behind its data are all answered.
#[test]
fn poll_never_strands_bytes_after_a_short_read() {
    let server = start("poll", &[]);
    let mut s = connect(&server);
    s.set_nodelay(true).expect("nodelay");
    for round in 0..50 {
        let msg = format!("round {round}");
        s.write_all(msg.as_bytes()).expect("send");
        let mut reply = vec![0u8; msg.len()];
        s.read_exact(&mut reply).expect("each round answered");
        assert_eq!(reply, msg.to_ascii_uppercase().as_bytes());
    }
    let big = vec![b'q'; 300 * 1024];
    s.write_all(&big).expect("a request larger than the read buffer");
    let mut reply = vec![0u8; big.len()];
    s.read_exact(&mut reply).expect("the whole of it answered");
    assert!(reply.iter().all(|b| *b == b'Q'));
    drop(s);
    for _ in 0..20 {
        // Data and FIN in one go: the EOF must be seen although no new edge comes.
        assert_same(b"TAIL", &exchange(&server, b"tail"), "data then EOF");
    }
}
