//! tcp-client: one-shot and streaming, errors and exit codes, and a Python
//! server as an independent peer.

use crate::util::tcp::*;
use crate::util::*;
use std::time::{Duration, Instant};

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
    // tcp-client sends one MESSAGE: a second positional is refused, not dropped.
    let two = netlab_out(&["tcp-client", "--unix", "/nonexistent/netlab.sock", "a", "b"]);
    assert_eq!(code(&two), 2);
    assert_eq!(
        text(&two.stderr),
        "netlab: error: with --unix there is no HOST: give one MESSAGE\n"
    );
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
    assert_eq!(text(&out.stdout), "Got 5 bytes: HELLO\n");
}

/// Issue 11: the loop the README suggests prints one reply per line.
#[test]
fn shell_loop_of_one_shot_clients_prints_one_line_each() {
    let server = start("thread", &[]);
    let script = format!(
        "for i in 1 2 3; do \"{}\" tcp-client -p {} 127.0.0.1 \"hi $i\"; done",
        bin().display(),
        server.port()
    );
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c").arg(script);
    let out = run(sh, b"", Duration::from_secs(30));
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "HI 1\nHI 2\nHI 3\n");
}

#[test]
fn a_reply_that_ends_its_line_is_not_doubled() {
    let hello = start("thread", &["--handler", "hello"]);
    let out = netlab_out(&["tcp-client", "127.0.0.1", "x", "-p", &hello.port()]);
    let reply = text(&out.stdout);
    assert!(
        reply.starts_with("Hello 127.0.0.1:") && reply.ends_with('\n'),
        "{reply:?}"
    );
    assert_eq!(reply.matches('\n').count(), 1, "{reply:?}");
    let upper = start("thread", &[]);
    let out = netlab_out(&["tcp-client", "127.0.0.1", "two\n", "-p", &upper.port()]);
    assert_eq!(text(&out.stdout), "TWO\n");
    let framed = Server::start(&["framed", "server"]);
    let out = netlab_out(&["framed", "client", "127.0.0.1", "a\n", "b", "-p", &framed.port()]);
    assert_eq!(text(&out.stdout), "A\nB\n");
}

/// Streaming mode and `--raw` pass bytes exactly, whatever they are.
#[test]
fn streaming_and_raw_are_byte_exact() {
    let server = start("poll", &["--handler", "echo"]);
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let random: Vec<u8> = (0..100_000)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng >> 24) as u8
        })
        .collect();
    let streamed = run(
        netlab(&["tcp-client", "-p", &server.port()]),
        &random,
        Duration::from_secs(20),
    );
    assert_eq!(code(&streamed), 0, "{}", text(&streamed.stderr));
    assert_same(&random, &streamed.stdout, "streamed bytes");
    let raw = netlab_out(&["tcp-client", "127.0.0.1", "no newline", "-p", &server.port(), "--raw"]);
    assert_same(b"no newline", &raw.stdout, "--raw");
    let framed = Server::start(&["framed", "server"]);
    let raw = netlab_out(&["framed", "client", "127.0.0.1", "x", "y", "-p", &framed.port(), "--raw"]);
    assert_same(b"XY", &raw.stdout, "framed --raw");
}

/// A server that sends arbitrary bytes (no newline at the end): `--raw`
/// prints them exactly.
const PY_RANDOM_BYTES: &str = concat!(
    py_accept_one!(),
    r#"
data = bytes(range(256)) * 40 + b'\x00\xff end without newline'
sock.recv(100)
sock.sendall(data)
sock.close()
"#
);

#[test]
fn raw_one_shot_output_is_byte_exact() {
    let want: Vec<u8> = [
        (0..=255u8).collect::<Vec<u8>>().repeat(40),
        b"\x00\xff end without newline".to_vec(),
    ]
    .concat();
    let py = PyServer::start(PY_RANDOM_BYTES, &[]);
    let out = netlab_out(&["tcp-client", "127.0.0.1", "go", "-p", &py.port, "--raw"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_same(&want, &out.stdout, "--raw");
}
