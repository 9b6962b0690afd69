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
