//! tcp-server in every mode, and tcp-client. Each behaviour is one function,
//! run once per mode by the `every_mode!` table at the bottom.

use crate::util::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

fn start(mode: &str, extra: &[&str]) -> Server {
    let mut args = vec!["tcp-server", "--mode", mode];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.socket_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    s
}

/// The classic client: send everything, half-close, read until EOF. The
/// writer runs on its own thread so a big request cannot deadlock against
/// the reply filling the socket buffers.
fn exchange(server: &Server, request: &[u8]) -> Vec<u8> {
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

fn upper_echo(mode: &str) {
    let server = start(mode, &[]);
    assert_same(
        "HELLO, STRASSE É!".as_bytes(),
        &exchange(&server, "hello, straße é!".as_bytes()),
        mode,
    );
}

fn split_character_across_writes(mode: &str) {
    let server = start(mode, &[]);
    let mut s = connect(&server);
    let euro = "x€😀".as_bytes();
    s.write_all(&euro[..2]).expect("first part");
    thread::sleep(Duration::from_millis(150));
    s.write_all(&euro[2..6]).expect("second part");
    thread::sleep(Duration::from_millis(150));
    s.write_all(&euro[6..]).expect("last part");
    s.shutdown(Shutdown::Write).expect("half-close");
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).expect("reply");
    assert_same("X€😀".as_bytes(), &reply, mode);
}

/// 1 MiB of mixed-script text and Python 3's `str.upper()` of it.
fn mixed_text() -> &'static (Vec<u8>, Vec<u8>) {
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
        assert_eq!(code(&py), 0, "{}", text_of(&py.stderr));
        (text.into_bytes(), py.stdout)
    })
}

fn text_of(b: &[u8]) -> String {
    text(b)
}

fn one_mib_mixed_equals_python_upper(mode: &str) {
    let server = start(mode, &[]);
    let (input, want) = mixed_text();
    assert_same(want, &exchange(&server, input), mode);
}

fn invalid_utf8_unchanged(mode: &str) {
    let server = start(mode, &[]);
    assert_same(
        b"AB\xff\xfe\xc0CD\xed\xa0\x80",
        &exchange(&server, b"ab\xff\xfe\xc0cd\xed\xa0\x80"),
        mode,
    );
}

fn half_close_gets_the_whole_reply(mode: &str) {
    let server = start(mode, &[]);
    let request: Vec<u8> = (0..300_000u32).map(|i| b"abcdefghij\n"[(i % 11) as usize]).collect();
    assert_same(&request.to_ascii_uppercase(), &exchange(&server, &request), mode);
}

/// Starts `n` clients at once, each sending its own message and checking
/// its own reply; returns how long the slowest took.
fn concurrent_clients(server: &Server, n: usize) -> Duration {
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

/// 8 clients at once against `--delay 300ms`: how many rounds each mode needs.
fn concurrency_lesson(mode: &str) {
    let extra: &[&str] = if mode == "pool" {
        &["--delay", "300ms", "--workers", "4"]
    } else {
        &["--delay", "300ms"]
    };
    let server = start(mode, extra);
    let took = concurrent_clients(&server, 8);
    let round = Duration::from_millis(300);
    match mode {
        "sequential" => assert!(took >= round * 8, "sequential took {took:?}"),
        "pool" => assert!(took >= round * 2 && took < round * 7, "pool took {took:?}"),
        _ => assert!(took < round * 5, "{mode} took {took:?}"),
    }
}

/// Random bytes (invalid UTF-8 included) arrive in whatever reads the
/// network makes; the reply must equal the one-shot transform of the whole.
fn random_bytes_equal_the_one_shot_transform(mode: &str) {
    let server = start(mode, &[]);
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let input: Vec<u8> = (0..400_000)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // Mostly text-like bytes, with every byte value possible.
            if rng.is_multiple_of(4) {
                (rng >> 32) as u8
            } else {
                b"aZ\xc3\xa9\xe2\x82\xac \n"[(rng >> 40) as usize % 9]
            }
        })
        .collect();
    let mut want = Vec::new();
    netlab::proto::upper::upper_once(&input, &mut want);
    assert_same(&want, &exchange(&server, &input), mode);
}

fn hello_and_time_handlers(mode: &str) {
    let hello = start(mode, &["--handler", "hello"]);
    let mut s = connect(&hello);
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("hello");
    let local = s.local_addr().expect("addr");
    assert_eq!(reply, format!("Hello {local}\n"));

    let time = start(mode, &["--handler", "time"]);
    let mut s = connect(&time);
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("time");
    let words: Vec<&str> = reply.split_whitespace().collect();
    assert_eq!(words.len(), 5, "{reply:?}");
    assert!(reply.ends_with('\n') && words[3].matches(':').count() == 2, "{reply:?}");
}

fn resets_mid_reply_do_not_hurt(mode: &str) {
    let server = start(mode, &[]);
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..200 {
        let mut s = connect(&server);
        let _ = s.write_all(&chunk);
        // SO_LINGER 0: close sends a reset instead of a FIN.
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .expect("linger");
        drop(s);
    }
    assert_same(b"CANARY", &exchange(&server, b"canary"), mode);
    let stderr = server.stderr_text();
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Sequential and pool modes cannot do this by design: their few workers
/// would all sit on idle clients (the lesson), so they are not in this table.
fn idle_connections_then_a_canary(mode: &str) {
    let server = start(mode, &[]);
    let idle: Vec<TcpStream> = (0..300).map(|_| connect(&server)).collect();
    assert_same(b"CANARY", &exchange(&server, b"canary"), mode);
    drop(idle);
}

/// Resident memory of a process and its children, in KiB.
fn rss_tree_kib(pid: i32) -> u64 {
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

fn client_that_never_reads_stays_bounded(mode: &str) {
    let server = start(mode, &[]);
    let before = rss_tree_kib(server.pid());
    let mut hog = connect(&server);
    hog.set_write_timeout(Some(Duration::from_secs(3))).expect("timeout");
    let writer = thread::spawn(move || {
        let chunk = vec![b'a'; 1 << 20];
        let mut sent = 0usize;
        while sent < 50 << 20 {
            match hog.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        (hog, sent)
    });
    let (hog, sent) = writer.join().expect("writer");
    assert!(
        sent < 50 << 20,
        "the server read {sent} bytes without the client reading any reply"
    );
    let after = rss_tree_kib(server.pid());
    assert!(after < before + 64 * 1024, "RSS grew from {before} KiB to {after} KiB");
    if mode == "sequential" {
        drop(hog); // one client at a time: the canary waits for the hog, by design
        assert_same(b"CANARY", &exchange(&server, b"canary"), mode);
    } else {
        assert_same(b"CANARY", &exchange(&server, b"canary"), mode);
        drop(hog);
    }
}

fn idle_timeout_closes_a_silent_client(mode: &str) {
    let server = start(mode, &["--idle-timeout", "1s"]);
    let mut s = connect(&server);
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "expected EOF");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "closed after {took:?}"
    );
}

fn unix_socket(mode: &str) {
    let dir = std::env::temp_dir().join(format!("netlab-test-{}-{mode}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("s.sock");
    let path_s = path.to_string_lossy().into_owned();
    let server = start(mode, &["--unix", &path_s]);
    assert_eq!(server.addr, path_s);
    let out = netlab_out(&["tcp-client", "--unix", &path_s, "über"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_same("ÜBER".as_bytes(), &out.stdout, mode);
    let hello = start(
        mode,
        &["--unix", &dir.join("h.sock").to_string_lossy(), "--handler", "hello"],
    );
    let out = netlab_out(&["tcp-client", "--unix", &hello.addr]);
    assert_eq!(text(&out.stdout), "Hello unix socket\n");
    let (status, _) = server.terminate();
    assert!(status.success());
    assert!(!path.exists(), "socket file left behind");
    drop(hello);
    let _ = std::fs::remove_dir_all(&dir);
}

fn sigterm_exits_zero_with_a_summary(mode: &str) {
    let server = start(mode, &[]);
    exchange(&server, b"abc");
    exchange(&server, b"de");
    // A client that got its reply and then sits idle (not closed) must not
    // hold the shutdown beyond the grace period. The round trip proves it
    // was accepted: one still in the backlog would (rightly) not be served.
    let mut idle = connect(&server);
    idle.write_all(b"f").expect("send");
    let mut reply = [0u8; 1];
    idle.read_exact(&mut reply).expect("reply");
    assert_eq!(&reply, b"F");
    let started = Instant::now();
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{status:?} {stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains("served 3 connections, 6 bytes in, 6 bytes out"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn exit_after_stops_by_itself(mode: &str) {
    let mut server = start(mode, &["--exit-after", "2"]);
    exchange(&server, b"one");
    exchange(&server, b"two");
    let status = server.wait_exit(Duration::from_secs(10)).expect("stopped by itself");
    assert!(status.success());
    thread::sleep(Duration::from_millis(50));
    assert!(
        server.stderr_text().contains("served 2 connections"),
        "{}",
        server.stderr_text()
    );
}

const PY_CLASSIC_CLIENT: &str = r#"
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.settimeout(20)
sock.connect(('127.0.0.1', int(sys.argv[1])))
sock.sendall(sys.argv[2].encode('utf-8'))
sock.shutdown(socket.SHUT_WR)
reply = b''
while True:
    more = sock.recv(4096)
    if not more:
        break
    reply += more
sock.close()
print(reply.decode('utf-8'))
"#;

fn python_classic_client(mode: &str) {
    let server = start(mode, &[]);
    let out = python(PY_CLASSIC_CLIENT, &[&server.port(), "Hi there, straße ǆ"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_same("HI THERE, STRASSE Ǆ\n".as_bytes(), &out.stdout, mode);
}

macro_rules! every_mode {
    ($($behaviour:ident),* $(,)?) => {
        $(
            mod $behaviour {
                #[test] fn sequential() { super::$behaviour("sequential") }
                #[test] fn thread() { super::$behaviour("thread") }
                #[test] fn pool() { super::$behaviour("pool") }
                #[test] fn poll() { super::$behaviour("poll") }
                #[test] fn fork() { super::$behaviour("fork") }
            }
        )*
    };
}

every_mode!(
    upper_echo,
    split_character_across_writes,
    one_mib_mixed_equals_python_upper,
    invalid_utf8_unchanged,
    random_bytes_equal_the_one_shot_transform,
    half_close_gets_the_whole_reply,
    concurrency_lesson,
    hello_and_time_handlers,
    resets_mid_reply_do_not_hurt,
    client_that_never_reads_stays_bounded,
    idle_timeout_closes_a_silent_client,
    unix_socket,
    sigterm_exits_zero_with_a_summary,
    exit_after_stops_by_itself,
    python_classic_client,
);

mod idle_connections_then_a_canary {
    #[test]
    fn thread() {
        super::idle_connections_then_a_canary("thread")
    }
    #[test]
    fn poll() {
        super::idle_connections_then_a_canary("poll")
    }
    #[test]
    fn fork() {
        super::idle_connections_then_a_canary("fork")
    }
}

#[test]
fn poll_answers_a_second_client_while_the_first_waits() {
    let server = start("poll", &["--delay", "800ms"]);
    let addr = server.socket_addr();
    let first = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(b"first").expect("send");
        s.shutdown(Shutdown::Write).expect("half-close");
        let mut r = String::new();
        s.read_to_string(&mut r).expect("reply");
        (r, Instant::now())
    });
    thread::sleep(Duration::from_millis(200));
    let second = exchange(&server, b"second");
    let second_done = Instant::now();
    let (first_reply, first_done) = first.join().expect("first");
    assert_eq!(first_reply, "FIRST");
    assert_same(b"SECOND", &second, "second");
    // The second was sent 200 ms later and took its own 800 ms, not 800 + 800.
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
fn tcp_client_refused_exits_69() {
    let gone = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = gone.local_addr().expect("addr").port().to_string();
    drop(gone);
    let out = netlab_out(&["tcp-client", "127.0.0.1", "hi", "-p", &port]);
    assert_eq!(code(&out), 69);
    assert_eq!(
        text(&out.stderr),
        "netlab: error: connection refused: is the server running?\n"
    );
    let unix = netlab_out(&["tcp-client", "--unix", "/nonexistent/netlab.sock", "hi"]);
    assert_eq!(code(&unix), 69);
}

#[test]
fn tcp_client_streams_stdin_in_pipes() {
    let server = start("thread", &[]);
    let input: Vec<u8> = [&b"line one\n"[..], "ß\n".as_bytes(), b"\xff raw\n"].concat();
    let out = run(
        netlab(&["tcp-client", "-p", &server.port()]),
        &input,
        Duration::from_secs(20),
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_same(
        &[&b"LINE ONE\n"[..], "SS\n".as_bytes(), b"\xff RAW\n"].concat(),
        &out.stdout,
        "streamed",
    );
}

#[test]
fn tcp_client_json_lines() {
    let server = start("poll", &[]);
    let out = netlab_out(&["tcp-client", "127.0.0.1", "one\ntwo", "-p", &server.port(), "--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "{\"line\":\"ONE\"}\n{\"line\":\"TWO\"}\n");
}

#[test]
fn tcp_client_timeout_on_a_silent_server() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port().to_string();
    let started = Instant::now();
    let out = netlab_out(&["tcp-client", "127.0.0.1", "hi", "-p", &port, "--timeout", "300ms"]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("timed out"), "{}", text(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(5));
}

const PY_SEQUENTIAL_SERVER: &str = r#"
import socket
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(('127.0.0.1', 0))
listener.listen(1)
print(listener.getsockname()[1], flush=True)
listener.settimeout(20)
sock, address = listener.accept()
sock.settimeout(20)
data = b''
while True:
    more = sock.recv(4096)
    if not more:
        break
    data += more
sock.sendall(b'Got ' + str(len(data)).encode() + b' bytes: ' + data.upper())
sock.close()
"#;

#[test]
fn netlab_client_against_python_sequential_server() {
    let py = PyServer::start(PY_SEQUENTIAL_SERVER, &[]);
    let out = netlab_out(&["tcp-client", "127.0.0.1", "hello", "-p", &py.port]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Got 5 bytes: HELLO");
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
    s.read_to_string(&mut greeting).expect("hello");
    drop(s);
    thread::sleep(Duration::from_millis(100));
    let (status, _) = first.terminate();
    assert!(status.success());
    let mut again = vec!["tcp-server", "-p", &port, "--exit-after", "1", "--handler", "hello"];
    again.extend_from_slice(flags);
    let mut cmd = netlab(&again);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    // If it listens, serve it its one connection so it exits.
    thread::sleep(Duration::from_millis(300));
    let _ = TcpStream::connect(format!("127.0.0.1:{port}")).map(|mut c| c.read_to_end(&mut Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait_with_output().expect("output")
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
    let server = start("poll", &["--max-conns", "1"]);
    let first = connect(&server);
    let addr = server.socket_addr();
    let waiting = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        s.write_all(b"second").expect("send");
        s.shutdown(Shutdown::Write).expect("half-close");
        let mut r = String::new();
        s.read_to_string(&mut r).expect("reply");
        r
    });
    thread::sleep(Duration::from_millis(300));
    assert!(!waiting.is_finished(), "served past --max-conns");
    drop(first);
    assert_eq!(waiting.join().expect("second"), "SECOND");
}

#[test]
fn bench_checks_every_reply() {
    let server = start("poll", &[]);
    let out = netlab_out(&[
        "bench",
        "-p",
        &server.port(),
        "--conns",
        "4",
        "--requests",
        "200",
        "--size",
        "100",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["requests"], 200);
    assert_eq!(v["errors"], 0);
    for key in ["rps", "mbps", "p50_us", "p99_us", "max_us"] {
        assert!(v[key].is_number(), "{key} in {v}");
    }
    // An upper server does not echo: every reply is wrong.
    let wrong = netlab_out(&["bench", "-p", &server.port(), "--requests", "10", "--reply", "echo"]);
    assert_eq!(code(&wrong), 1);
    assert!(text(&wrong.stdout).contains("errors"), "{}", text(&wrong.stdout));
    let gone = netlab_out(&["bench", "-p", "1", "--requests", "1"]);
    assert_eq!(code(&gone), 69, "{}", text(&gone.stderr));
}

/// Out of descriptors (EMFILE): the server pauses accepting instead of
/// spinning or dying, and serves again once clients leave.
fn running_out_of_descriptors_pauses_accepting(mode: &str) {
    let server = Server::start_with_fd_limit(48, &["tcp-server", "--mode", mode]);
    let crowd: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect(server.socket_addr()).ok())
        .collect();
    thread::sleep(Duration::from_millis(300));
    drop(crowd);
    thread::sleep(Duration::from_millis(300));
    assert_same(b"CANARY", &exchange(&server, b"canary"), mode);
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("accept failed, pausing"),
        "{mode}: EMFILE was never hit: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

mod running_out_of_descriptors_pauses_accepting {
    #[test]
    fn thread() {
        super::running_out_of_descriptors_pauses_accepting("thread")
    }
    #[test]
    fn poll() {
        super::running_out_of_descriptors_pauses_accepting("poll")
    }
}
