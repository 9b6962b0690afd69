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
    let server = start("poll", &["--delay", "800ms", "-vv"]);
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
    // The second took its own 800 ms beside the first's, not after it (800 + 800).
    assert!(second_done.duration_since(first_done) < Duration::from_millis(700));
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
    let server = Server::start_with_fd_limit(48, &["tcp-server", "--mode", mode]);
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
