//! udp-server and udp-client, end to end.

use crate::util::*;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

fn udp_roundtrip(server: &Server, payload: &[u8]) -> Vec<u8> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    sock.connect(server.socket_addr()).expect("connect");
    sock.send(payload).expect("send");
    let mut buf = vec![0u8; 70_000];
    let n = sock.recv(&mut buf).expect("reply");
    buf.truncate(n);
    buf
}

#[test]
fn uppercases_ascii_unicode_and_keeps_invalid_bytes() {
    let server = Server::start(&["udp-server"]);
    assert_same(b"HELLO", &udp_roundtrip(&server, b"hello"), "ascii");
    assert_same(
        "STRASSE É".as_bytes(),
        &udp_roundtrip(&server, "straße é".as_bytes()),
        "unicode",
    );
    assert_same(
        b"AB\xff\xfeCD",
        &udp_roundtrip(&server, b"ab\xff\xfecd"),
        "invalid bytes",
    );
    assert_same(
        b"OK\xe2\x82",
        &udp_roundtrip(&server, b"ok\xe2\x82"),
        "cut character at the end",
    );
    assert_same(b"", &udp_roundtrip(&server, b""), "empty datagram");
}

#[test]
fn largest_datagram_comes_back_whole() {
    let server = Server::start(&["udp-server"]);
    let big: Vec<u8> = (0..netlab::server::udp::MAX_IPV4_PAYLOAD)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let want = big.to_ascii_uppercase();
    assert_same(&want, &udp_roundtrip(&server, &big), "65,507-byte datagram");
}

#[test]
fn pong_and_echo_replies() {
    let pong = Server::start(&["udp-server", "--reply", "pong"]);
    assert_same(b"PONG", &udp_roundtrip(&pong, b"anything"), "pong");
    let echo = Server::start(&["udp-server", "--reply", "echo"]);
    assert_same(b"MiXeD", &udp_roundtrip(&echo, b"MiXeD"), "echo");
}

#[test]
fn client_sends_message_and_stdin_lines() {
    let server = Server::start(&["udp-server"]);
    let out = netlab_out(&["udp-client", "127.0.0.1", "straße", "-p", &server.port()]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_same("STRASSE\n".as_bytes(), &out.stdout, "one-shot");

    let input = "one\ntwo é\n\nthree".as_bytes();
    let out = run(
        netlab(&["udp-client", "-p", &server.port()]),
        input,
        Duration::from_secs(20),
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_same("ONE\nTWO É\n\nTHREE\n".as_bytes(), &out.stdout, "stdin lines");
}

#[test]
fn drop_half_still_answers_every_line_through_retries() {
    let server = Server::start(&["udp-server", "--drop", "0.5", "--seed", "7"]);
    let lines: String = (0..12).map(|i| format!("line {i}\n")).collect();
    let want: String = (0..12).map(|i| format!("LINE {i}\n")).collect();
    let out = run(
        netlab(&[
            "udp-client",
            "-p",
            &server.port(),
            "--timeout",
            "20ms",
            "--max-wait",
            "5s",
        ]),
        lines.as_bytes(),
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_same(want.as_bytes(), &out.stdout, "every line answered, in order");
}

#[test]
fn silent_peer_gives_server_seems_down_after_five_waits() {
    // Bound but never answering: no ICMP, so only the backoff can end it.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port().to_string();
    let start = Instant::now();
    let out = netlab_out(&["udp-client", "127.0.0.1", "hi", "-p", &port]);
    let took = start.elapsed();
    assert_eq!(code(&out), 69, "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("server seems down"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).starts_with("netlab: error:"), "{}", text(&out.stderr));
    // 0.1 + 0.2 + 0.4 + 0.8 + 1.6 = 3.1 s; generous upper bound for a busy machine.
    assert!(took >= Duration::from_millis(3000), "gave up after {took:?}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let mut buf = [0u8; 64];
    silent
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut sends = 0;
    while silent.recv(&mut buf).is_ok() {
        sends += 1;
    }
    assert_eq!(sends, 5, "five sends");
}

#[test]
fn no_server_is_refused_at_once() {
    let gone = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = gone.local_addr().expect("addr").port().to_string();
    drop(gone);
    let start = Instant::now();
    let out = netlab_out(&["udp-client", "127.0.0.1", "hi", "-p", &port]);
    assert_eq!(code(&out), 69, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("connection refused"),
        "{}",
        text(&out.stderr)
    );
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
}

#[test]
fn slow_server_each_line_gets_its_own_reply_in_order() {
    let server = Server::start(&["udp-server", "--delay", "300ms"]);
    let out = run(
        netlab(&[
            "udp-client",
            "-p",
            &server.port(),
            "--timeout",
            "100ms",
            "--max-wait",
            "10s",
        ]),
        b"alpha\nbeta\ngamma\n",
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_same(b"ALPHA\nBETA\nGAMMA\n", &out.stdout, "no stale replies");
}

#[test]
fn ping_mode_prints_rtts_and_a_summary() {
    let server = Server::start(&["udp-server", "--reply", "pong"]);
    let out = netlab_out(&["udp-client", "-p", &server.port(), "--count", "3", "--interval", "50ms"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    for (i, line) in lines.iter().take(3).enumerate() {
        assert!(
            line.contains(&format!("seq={}", i + 1)) && line.contains("time="),
            "{line}"
        );
    }
    // The summary is data, on stdout's last line (as ping prints it), and -q cannot hide it.
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with("3 sent, 3 received, 0.0% loss, rtt min/avg/max = "),
        "{stdout}"
    );
    let quiet = netlab_out(&["udp-client", "-q", "-p", &server.port(), "--count", "1"]);
    let quiet_out = text(&quiet.stdout);
    assert!(
        quiet_out
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("1 sent, 1 received, 0.0% loss")),
        "{quiet_out}"
    );
    assert_eq!(text(&quiet.stderr), "");

    let json = netlab_out(&[
        "udp-client",
        "-p",
        &server.port(),
        "--count",
        "2",
        "--interval",
        "10ms",
        "--json",
    ]);
    let objects: Vec<serde_json::Value> = text(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(objects.len(), 3);
    assert_eq!(objects[2]["received"], 2);
}

#[test]
fn broadcast_prints_each_reply_with_its_sender() {
    let server = Server::start(&["udp-server"]);
    let out = netlab_out(&[
        "udp-client",
        "127.0.0.1",
        "who",
        "-p",
        &server.port(),
        "--broadcast",
        "--timeout",
        "300ms",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{} WHO\n", server.addr));
}

#[test]
fn json_output() {
    let server = Server::start(&["udp-server"]);
    let out = netlab_out(&["udp-client", "127.0.0.1", "hi", "-p", &server.port(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["reply"], "HI");
    assert_eq!(v["tries"], 1);
}

#[test]
fn exit_after_stops_cleanly_with_a_summary() {
    let mut server = Server::start(&["udp-server", "--exit-after", "2"]);
    udp_roundtrip(&server, b"a");
    udp_roundtrip(&server, b"b");
    let status = server.wait_exit(Duration::from_secs(10)).expect("exited by itself");
    assert!(status.success());
    assert!(
        server.stderr_text().contains("served 2 datagrams"),
        "{}",
        server.stderr_text()
    );
}

#[test]
fn sigterm_exits_zero_with_a_summary_and_q_hides_it() {
    let server = Server::start(&["udp-server"]);
    udp_roundtrip(&server, b"abc");
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        stderr.contains("served 1 datagram, 3 bytes in, 3 bytes out"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));

    let quiet = Server::start(&["udp-server", "-q"]);
    let (status, stderr) = quiet.terminate();
    assert!(status.success());
    assert_eq!(stderr, "");
}

#[test]
fn busy_port_is_one_error_line() {
    let server = Server::start(&["udp-server"]);
    let out = netlab_out(&["udp-server", "-p", &server.port()]);
    assert_eq!(code(&out), 1);
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("netlab: error:") && stderr.contains("address already in use"),
        "{stderr}"
    );
}

const PY_TUTORIAL_CLIENT: &str = r#"
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(5)
for text in sys.argv[2:]:
    sock.sendto(text.encode('utf-8'), ('127.0.0.1', int(sys.argv[1])))
    data, address = sock.recvfrom(65535)
    print(data.decode('utf-8'))
"#;

#[test]
fn python_tutorial_client_against_netlab_server() {
    let server = Server::start(&["udp-server"]);
    let out = python(PY_TUTORIAL_CLIENT, &[&server.port(), "hello", "straße", "café"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_same("HELLO\nSTRASSE\nCAFÉ\n".as_bytes(), &out.stdout, "python client");
}

const PY_SERVER: &str = r#"
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(('127.0.0.1', 0))
print(sock.getsockname()[1], flush=True)
sock.settimeout(20)
for _ in range(int(sys.argv[1])):
    data, address = sock.recvfrom(65535)
    sock.sendto('Your data was {} bytes long'.format(len(data)).encode('ascii'), address)
"#;

#[test]
fn netlab_client_against_python_server() {
    let py = PyServer::start(PY_SERVER, &["2"]);
    let out = run(
        netlab(&["udp-client", "-p", &py.port]),
        b"abc\nhello!\n",
        Duration::from_secs(20),
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_same(
        b"Your data was 3 bytes long\nYour data was 6 bytes long\n",
        &out.stdout,
        "python server",
    );
}

#[test]
fn dual_stack_udp_server_answers_ipv6_and_ipv4() {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    }
    let server = Server::start(&["udp-server", "--bind", "::"]);
    for host in ["::1", "127.0.0.1", "localhost"] {
        let out = netlab_out(&["udp-client", host, "hi", "-p", &server.port()]);
        assert_eq!(code(&out), 0, "{host}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "HI\n", "{host}");
    }
}

/// Issue 16: a flood of datagrams is answered at the system-call floor, a
/// canary still gets through, and SIGTERM in the middle of the flood ends
/// the server within a second.
#[test]
fn flooded_udp_server_answers_and_stops_promptly() {
    let server = Server::start(&["udp-server"]);
    let target = server.socket_addr();
    let flood = Flood::start(target, 17, 2);
    flood.assert_canary_answered(&server.port());
    let mut server = server;
    server.signal(nix::sys::signal::Signal::SIGTERM);
    let signalled = Instant::now();
    let status = server.wait_exit(Duration::from_secs(10)).expect("exit");
    let took = signalled.elapsed();
    let sent = flood.stop();
    assert!(sent >= 1000, "no flood to speak of: {sent} datagrams");
    assert!(status.success());
    assert!(
        took < Duration::from_secs(1),
        "exit took {took:?} in the middle of a flood"
    );
}
