//! TLS: `--tls` on the servers in every mode, Python's `ssl`, curl and
//! `openssl s_client` as independent peers, and `http get https://`.

use crate::util::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const UPPER_OVER_TLS: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
s.sendall("straße ".encode() * 3000)
want = len("STRASSE ".encode() * 3000)
got = b""
while len(got) < want:
    d = s.recv(65536)
    if not d:
        break
    got += d
print(got == "STRASSE ".encode() * 3000, s.version())
"#;

/// The uppercase echo under TLS in every mode, Python's `ssl` as the client.
fn upper_echo_over_tls(mode: &str) {
    if skip_mode(mode) {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let cert = dir.path().join("c.pem");
    let cert_s = cert.to_str().expect("path");
    let server = Server::start(&["tcp-server", "--mode", mode, "--tls", "--write-cert", cert_s]);
    let out = python(UPPER_OVER_TLS, &[&server.port(), cert_s], b"");
    assert_eq!(
        text(&out.stdout).trim(),
        "True TLSv1.3",
        "{mode}: {}",
        text(&out.stderr)
    );
    let (status, stderr) = server.terminate();
    assert!(status.success() && !stderr.contains("panicked"), "{stderr}");
}

every_mode!([sequential, thread, pool, poll, fork, uring] => upper_echo_over_tls);

/// A client that speaks plain text gets one log line and a close; the next
/// TLS client is served as usual.
#[test]
fn plain_text_to_a_tls_server_is_one_log_line() {
    let dir = tempfile::tempdir().expect("dir");
    let cert = dir.path().join("c.pem");
    let cert_s = cert.to_str().expect("path");
    let server = Server::start(&["tcp-server", "--mode", "poll", "--tls", "--write-cert", cert_s]);
    let mut plain = TcpStream::connect(server.socket_addr()).expect("connect");
    plain.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    plain.write_all(b"hello\n").expect("send");
    let mut buf = [0u8; 64];
    assert_eq!(plain.read(&mut buf).unwrap_or(0), 0, "closed without an answer");
    assert!(
        server.wait_for_stderr("not TLS: the client sent plain text", Duration::from_secs(10)),
        "{}",
        server.stderr_text()
    );
    let out = python(UPPER_OVER_TLS, &[&server.port(), cert_s], b"");
    assert!(text(&out.stdout).starts_with("True"), "{}", text(&out.stderr));
    let (_, stderr) = server.terminate();
    assert!(
        stderr.contains("fingerprint"),
        "the certificate's fingerprint is logged: {stderr}"
    );
}

/// `http get https://`: trusted with `--cacert`, refused without it (exit 1
/// with the hint), `--insecure` says so; curl and `openssl s_client` agree.
#[test]
fn https_with_cacert_insecure_curl_and_openssl() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("a.txt"), b"alpha\n").expect("file");
    let cert = dir.path().join("c.pem");
    let (root, cert_s) = (dir.path().to_str().expect("path"), cert.to_str().expect("path"));
    let server = Server::start(&[
        "http",
        "server",
        root,
        "--mode",
        "poll",
        "--tls",
        "--write-cert",
        cert_s,
        "-v",
    ]);
    let url = format!("https://localhost:{}/a.txt", server.port());
    let ok = netlab_out(&["http", "get", &url, "--cacert", cert_s]);
    assert_eq!(
        (code(&ok), text(&ok.stdout).as_str()),
        (0, "alpha\n"),
        "{}",
        text(&ok.stderr)
    );
    let untrusted = netlab_out(&["http", "get", &url]);
    assert_eq!(code(&untrusted), 1);
    let e = text(&untrusted.stderr);
    assert!(e.contains("certificate not trusted") && e.contains("--cacert"), "{e}");
    let insecure = netlab_out(&["http", "get", &url, "--insecure"]);
    assert_eq!(code(&insecure), 0, "{}", text(&insecure.stderr));
    assert!(text(&insecure.stderr).contains("--insecure"), "said on stderr");
    let mut curl = std::process::Command::new("curl");
    curl.args(["-s", "--cacert", cert_s, &url]);
    let curl = run(curl, b"", Duration::from_secs(20));
    assert_eq!(text(&curl.stdout), "alpha\n", "curl: {}", text(&curl.stderr));
    let mut s_client = std::process::Command::new("openssl");
    s_client.args([
        "s_client",
        "-connect",
        &server.addr,
        "-CAfile",
        cert_s,
        "-servername",
        "localhost",
    ]);
    let o = run(s_client, b"", Duration::from_secs(20));
    assert!(
        text(&o.stdout).contains("Verify return code: 0 (ok)"),
        "{}",
        text(&o.stdout)
    );
    assert!(
        server.wait_for_stderr("TLS established", Duration::from_secs(10)),
        "-v logs the handshake: {}",
        server.stderr_text()
    );
    let (status, stderr) = server.terminate();
    assert!(status.success() && !stderr.contains("panicked"), "{stderr}");
}

/// `tcp-client --tls` one-shot and streaming, and `framed client --tls`,
/// against their servers under `--tls`; a plain server is "does not speak TLS".
#[test]
fn stream_clients_over_tls() {
    let dir = tempfile::tempdir().expect("dir");
    let cert = dir.path().join("c.pem");
    let cert_s = cert.to_str().expect("path");
    let tcp = Server::start(&["tcp-server", "--mode", "poll", "--tls", "--write-cert", cert_s]);
    let out = netlab_out(&[
        "tcp-client",
        "localhost",
        "straße",
        "-p",
        &tcp.port(),
        "--tls",
        "--cacert",
        cert_s,
    ]);
    assert_eq!(
        (code(&out), text(&out.stdout).as_str()),
        (0, "STRASSE\n"),
        "{}",
        text(&out.stderr)
    );
    let piped = run(
        netlab(&[
            "tcp-client",
            "localhost",
            "-p",
            &tcp.port(),
            "--tls",
            "--cacert",
            cert_s,
        ]),
        b"one\ntwo\n",
        Duration::from_secs(20),
    );
    assert_eq!(
        (code(&piped), text(&piped.stdout).as_str()),
        (0, "ONE\nTWO\n"),
        "{}",
        text(&piped.stderr)
    );
    let untrusted = netlab_out(&["tcp-client", "localhost", "x", "-p", &tcp.port(), "--tls"]);
    assert_eq!(code(&untrusted), 1);
    assert!(
        text(&untrusted.stderr).contains("certificate not trusted"),
        "{}",
        text(&untrusted.stderr)
    );

    let framed = Server::start(&["framed", "server", "--tls", "--write-cert", cert_s]);
    let out = netlab_out(&[
        "framed",
        "client",
        "localhost",
        "a",
        "b",
        "-p",
        &framed.port(),
        "--tls",
        "--cacert",
        cert_s,
    ]);
    assert_eq!(
        (code(&out), text(&out.stdout).as_str()),
        (0, "A\nB\n"),
        "{}",
        text(&out.stderr)
    );

    // An echo server sends the ClientHello back (the uppercase one could hold
    // a split UTF-8 character of it back and leave the handshake waiting).
    let plain = Server::start(&["tcp-server", "--handler", "echo"]);
    let out = netlab_out(&[
        "tcp-client",
        "127.0.0.1",
        "x",
        "-p",
        &plain.port(),
        "--tls",
        "--insecure",
        "--timeout",
        "10s",
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("does not speak TLS"),
        "{}",
        text(&out.stderr)
    );
}

/// Every protocol over TLS in every mode, through netlab's own clients:
/// uppercase echo, framed blocks, an XML-RPC call and a file.
fn every_protocol_over_tls(mode: &str) {
    if skip_mode(mode) {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("f.txt"), vec![b'f'; 100_000]).expect("file");
    let cert = dir.path().join("c.pem");
    let (root, cert_s) = (dir.path().to_str().expect("path"), cert.to_str().expect("path"));
    let tls = ["--mode", mode, "--tls", "--write-cert", cert_s];
    let check = |server: &Server, args: &[&str], want: &[u8]| {
        let mut all: Vec<&str> = args.to_vec();
        let port = server.port();
        all.extend(["--cacert", cert_s]);
        if !args.iter().any(|a| a.starts_with("https://")) {
            all.extend(["-p", &port, "--tls"]);
        }
        let out = netlab_out(&all);
        assert_eq!(code(&out), 0, "{mode} {args:?}: {}", text(&out.stderr));
        assert_same(want, &out.stdout, &format!("{mode} {args:?}"));
    };
    let tcp = Server::start(&[&["tcp-server"][..], &tls].concat());
    check(&tcp, &["tcp-client", "localhost", "straße"], b"STRASSE\n");
    let framed = Server::start(&[&["framed", "server"][..], &tls].concat());
    check(&framed, &["framed", "client", "localhost", "a", "b"], b"A\nB\n");
    let rpc = Server::start(&[&["rpc", "server"][..], &tls].concat());
    let url = format!("https://localhost:{}/RPC2", rpc.port());
    check(&rpc, &["rpc", "call", &url, "addtogether", "1", "2"], b"3\n");
    let http = Server::start(&[&["http", "server", root][..], &tls].concat());
    let url = format!("https://localhost:{}/f.txt", http.port());
    check(&http, &["http", "get", &url], &vec![b'f'; 100_000]);
    for server in [tcp, framed, rpc, http] {
        let (status, stderr) = server.terminate();
        assert!(status.success() && !stderr.contains("panicked"), "{mode}: {stderr}");
    }
}

every_mode!([sequential, thread, pool, poll, fork, uring] => every_protocol_over_tls);

/// `bench --tls` over kept connections and with `--new-conn` (a handshake per
/// request), every reply checked; an untrusted server is an error (exit 1);
/// `--compare-modes --tls` starts its servers under TLS and trusts them.
#[test]
fn bench_over_tls() {
    let dir = tempfile::tempdir().expect("dir");
    let cert = dir.path().join("c.pem");
    let cert_s = cert.to_str().expect("path");
    let server = Server::start(&["tcp-server", "--mode", "poll", "--tls", "--write-cert", cert_s]);
    let port = server.port();
    for extra in [&[][..], &["--new-conn"][..]] {
        let mut args = vec!["bench", "-p", &port, "--tls", "--cacert", cert_s, "--conns", "4"];
        args.extend(["--requests", "200", "--json"]);
        args.extend(extra);
        let out = netlab_out(&args);
        assert_eq!(code(&out), 0, "{extra:?}: {}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(
            (v["requests"].as_u64(), v["errors"].as_u64()),
            (Some(200), Some(0)),
            "{extra:?}: {v}"
        );
    }
    let untrusted = netlab_out(&["bench", "-p", &server.port(), "--tls", "--requests", "2"]);
    assert_eq!(code(&untrusted), 1);
    assert!(
        text(&untrusted.stderr).contains("UnknownIssuer"),
        "{}",
        text(&untrusted.stderr)
    );
    let out = run(
        netlab(&[
            "bench",
            "--compare-modes",
            "--tls",
            "--modes",
            "thread,poll",
            "--duration",
            "300ms",
            "--conns",
            "2",
        ]),
        b"",
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("poll"), "{}", text(&out.stdout));
}

/// A client's close_notify is answered with the server's (Python's `unwrap`
/// waits for it), bytes after it are ignored, and the next client is served:
/// in every event-driven and blocking mode alike.
#[test]
fn close_notify_both_ways_and_bytes_after_it() {
    let dir = tempfile::tempdir().expect("dir");
    let cert = dir.path().join("c.pem");
    let cert_s = cert.to_str().expect("path");
    for mode in ["thread", "poll"] {
        let server = Server::start(&["tcp-server", "--mode", mode, "--tls", "--write-cert", cert_s]);
        let script = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
raw.settimeout(10)
s = ctx.wrap_socket(raw, server_hostname="localhost")
s.sendall(b"abc")
got = b""
while len(got) < 3:
    got += s.recv(10)
plain = s.unwrap()
plain.sendall(b"\x17\x03\x03 after close_notify")
print(got.decode(), "unwrapped")
"#;
        let out = python(script, &[&server.port(), cert_s], b"");
        assert_eq!(
            text(&out.stdout).trim(),
            "ABC unwrapped",
            "{mode}: {}",
            text(&out.stderr)
        );
        let next = python(UPPER_OVER_TLS, &[&server.port(), cert_s], b"");
        assert!(text(&next.stdout).starts_with("True"), "{mode}: {}", text(&next.stderr));
        let (status, stderr) = server.terminate();
        assert!(status.success() && !stderr.contains("panicked"), "{mode}: {stderr}");
    }
}

/// A certificate made by plain `openssl req -x509` (it says CA:TRUE) is
/// trusted by `--cacert` as curl trusts it; every client ends with
/// close_notify (the server's `-vv` hears it); a name the certificate does
/// not carry is refused with its own hint.
#[test]
fn openssl_made_cert_close_notify_from_every_client_and_names() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("a.txt"), b"alpha\n").expect("file");
    let (cert, key) = openssl_cert(dir.path());
    let (cert_s, key_s) = (cert.as_str(), key.as_str());
    let tls = ["--tls", "--cert", cert_s, "--key", key_s, "-vv"];
    let clients: [(&[&str], Vec<String>); 2] = [
        (&["rpc", "server"], vec!["rpc".into(), "call".into()]),
        (
            &["framed", "server"],
            vec!["framed".into(), "client".into(), "localhost".into()],
        ),
    ];
    for (serve, mut client) in clients {
        let server = Server::start(&[serve, &tls].concat());
        let port = server.port();
        match client[0].as_str() {
            "rpc" => client.extend([format!("https://localhost:{port}"), "upper".into(), "hi".into()]),
            _ => client.extend(["hi".into(), "-p".into(), port.clone(), "--tls".into()]),
        }
        client.extend(["--cacert".into(), cert_s.into()]);
        let args: Vec<&str> = client.iter().map(String::as_str).collect();
        let out = netlab_out(&args);
        assert_eq!(code(&out), 0, "{args:?}: {}", text(&out.stderr));
        assert!(
            server.wait_for_stderr("close_notify from the client", Duration::from_secs(10)),
            "{args:?} ends with close_notify: {}",
            server.stderr_text()
        );
        if client[0] == "rpc" {
            let url = format!("https://127.0.0.1:{port}");
            let by_ip = netlab_out(&["rpc", "call", &url, "upper", "hi", "--cacert", cert_s]);
            let e = text(&by_ip.stderr);
            assert_eq!(code(&by_ip), 1, "{e}");
            assert!(
                e.contains("certificate not trusted") && e.contains("other names"),
                "{e}"
            );
        }
        let (status, stderr) = server.terminate();
        assert!(status.success() && !stderr.contains("panicked"), "{stderr}");
    }
    // http: netlab's server closes first under `Connection: close`, so a
    // Python server that keeps the connection open listens for the client's.
    let verdict = dir.path().join("verdict");
    let py = PyServer::start(HTTPS_KEEPS_OPEN, &[cert_s, key_s, verdict.to_str().expect("path")]);
    let out = netlab_out(&[
        "http",
        "get",
        &format!("https://localhost:{}/", py.port),
        "--cacert",
        cert_s,
    ]);
    assert_eq!(
        (code(&out), text(&out.stdout).as_str()),
        (0, "ok\n"),
        "{}",
        text(&out.stderr)
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !verdict.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let said = std::fs::read_to_string(&verdict).unwrap_or_default();
    assert_eq!(said, "close_notify", "http get ends its TLS with close_notify");
}

/// An https server that answers one request and keeps the connection open,
/// then writes whether the client ended with close_notify or a bare close.
const HTTPS_KEEPS_OPEN: &str = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.create_server(("127.0.0.1", 0))
print(ls.getsockname()[1], flush=True)
raw, _ = ls.accept()
raw.settimeout(20)
s = ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(4096)
s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
try:
    said = "close_notify" if s.recv(10) == b"" else "more bytes"
except ssl.SSLEOFError:
    said = "a bare close"
open(sys.argv[3], "w").write(said)
"#;

/// ALPN `http/1.1` is offered by the servers that speak it (http, rpc) and
/// by no other; a missing `--cacert` or an unwritable `--write-cert` is a
/// usage error before anything is sent.
#[test]
fn alpn_only_where_http_is_spoken_and_file_flags_checked_first() {
    let tcp = Server::start(&["tcp-server", "--tls"]);
    let http = Server::start(&["http", "server", ".", "--tls"]);
    for (server, want) in [(&tcp, "No ALPN negotiated"), (&http, "ALPN protocol: http/1.1")] {
        let mut s_client = std::process::Command::new("openssl");
        s_client.args(["s_client", "-connect", &server.addr, "-alpn", "http/1.1"]);
        let o = run(s_client, b"", Duration::from_secs(20));
        assert!(text(&o.stdout).contains(want), "{want}: {}", text(&o.stdout));
    }
    let missing = netlab_out(&["http", "get", "https://localhost:1/", "--cacert", "/nonexistent/c.pem"]);
    assert_eq!(code(&missing), 2, "{}", text(&missing.stderr));
    assert!(
        text(&missing.stderr).contains("cannot read"),
        "{}",
        text(&missing.stderr)
    );
    let unwritable = netlab_out(&["tcp-server", "-p", "0", "--tls", "--write-cert", "/nonexistent/c.pem"]);
    assert_eq!(code(&unwritable), 2, "{}", text(&unwritable.stderr));
    for server in [tcp, http] {
        let (status, stderr) = server.terminate();
        assert!(status.success() && !stderr.contains("panicked"), "{stderr}");
    }
}

/// `tcp-client --tls` streams a stdin of many MiB to a server that answers
/// as it reads: the client keeps reading while its records wait to be sent,
/// so neither side waits on the other.
#[test]
fn tls_stream_client_moves_megabytes_both_ways() {
    let dir = tempfile::tempdir().expect("dir");
    let cert = dir.path().join("c.pem");
    let cert_s = cert.to_str().expect("path");
    let server = Server::start(&["tcp-server", "--mode", "poll", "--tls", "--write-cert", cert_s]);
    let line = b"the quick brown fox jumps over the lazy dog 0123456789\n";
    let input: Vec<u8> = line.iter().copied().cycle().take(line.len() * 150_000).collect();
    let client = netlab(&[
        "tcp-client",
        "localhost",
        "-p",
        &server.port(),
        "--tls",
        "--cacert",
        cert_s,
    ]);
    let out = run(client, &input, Duration::from_secs(120));
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_same(&input.to_ascii_uppercase(), &out.stdout, "8 MiB upper-cased over TLS");
    let (status, stderr) = server.terminate();
    assert!(status.success() && !stderr.contains("panicked"), "{stderr}");
}

/// `openssl s_server` on an ephemeral port, killed when dropped.
struct SServer {
    child: std::process::Child,
    port: String,
}

impl SServer {
    fn start(cert: &str, key: &str, mode: &str) -> SServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new("openssl")
            .args(["s_server", "-accept", "127.0.0.1:0", "-cert", cert, "-key", key, mode])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("ACCEPT 127.0.0.1:") {
                    let _ = tx.send(port.to_string());
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(15))
            .expect("s_server's ACCEPT line");
        SServer { child, port }
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// netlab's clients complete handshakes and exchanges with `openssl s_server`:
/// `-rev` answers each line reversed, `-www` an HTML status page.
#[test]
fn netlab_clients_against_openssl_s_server() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = openssl_cert(dir.path());
    let (cert_s, key_s) = (cert.as_str(), key.as_str());
    let rev = SServer::start(cert_s, key_s, "-rev");
    let client = netlab(&["tcp-client", "localhost", "-p", &rev.port, "--tls", "--cacert", cert_s]);
    let out = run(client, b"hello\n", Duration::from_secs(20));
    assert_eq!(
        (code(&out), text(&out.stdout).as_str()),
        (0, "olleh\n"),
        "{}",
        text(&out.stderr)
    );
    let www = SServer::start(cert_s, key_s, "-www");
    let url = format!("https://localhost:{}/", www.port);
    let out = netlab_out(&["http", "get", &url, "--cacert", cert_s]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("<HTML>"), "{}", text(&out.stdout));
}

/// A client that sends garbage records after its handshake, and one whose
/// handshake stops halfway, each close only their own connection: the next
/// client is served, in a blocking mode and an event-driven one.
#[test]
fn garbage_after_the_handshake_and_a_cut_handshake_close_only_their_own() {
    let dir = tempfile::tempdir().expect("dir");
    let cert = dir.path().join("c.pem");
    let cert_s = cert.to_str().expect("path");
    let script = r#"
import os, socket, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
s.sendall(b"ok")
got = s.recv(10)
os.write(s.fileno(), b"\x17\x03\x03\x00\x20" + b"\xaa" * 32)
try:
    after = s.recv(10)
except (ssl.SSLError, OSError):
    after = b""
cut = socket.create_connection(("127.0.0.1", port), timeout=10)
cut.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x11" * 40)
cut.close()
print(got.decode(), len(after))
"#;
    for mode in ["thread", "poll"] {
        let server = Server::start(&["tcp-server", "--mode", mode, "--tls", "--write-cert", cert_s]);
        let out = python(script, &[&server.port(), cert_s], b"");
        assert_eq!(text(&out.stdout).trim(), "OK 0", "{mode}: {}", text(&out.stderr));
        let next = python(UPPER_OVER_TLS, &[&server.port(), cert_s], b"");
        assert!(text(&next.stdout).starts_with("True"), "{mode}: {}", text(&next.stderr));
        assert!(
            server.wait_for_stderr("TLS failed", Duration::from_secs(10)),
            "{mode}: the garbage is logged: {}",
            server.stderr_text()
        );
        let (status, stderr) = server.terminate();
        assert!(status.success() && !stderr.contains("panicked"), "{mode}: {stderr}");
    }
}

/// openssl s_client (the uppercase echo) and curl (a file) complete their
/// handshakes and exchanges in every mode; Python's `ssl` does in
/// `upper_echo_over_tls`.
fn openssl_and_curl_in_every_mode(mode: &str) {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("a.txt"), b"alpha\n").expect("file");
    let cert = dir.path().join("c.pem");
    let (root, cert_s) = (dir.path().to_str().expect("path"), cert.to_str().expect("path"));
    // The server ends the exchange (s_client -quiet waits for its close).
    let tcp = Server::start(&[
        "tcp-server",
        "--mode",
        mode,
        "--tls",
        "--write-cert",
        cert_s,
        "--idle-timeout",
        "1s",
    ]);
    let mut s_client = std::process::Command::new("openssl");
    s_client.args([
        "s_client",
        "-connect",
        &tcp.addr,
        "-CAfile",
        cert_s,
        "-servername",
        "localhost",
        "-quiet",
    ]);
    let o = run(s_client, b"hi\n", Duration::from_secs(30));
    assert!(
        text(&o.stdout).contains("HI"),
        "{mode}: {} {}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let http = Server::start(&["http", "server", root, "--mode", mode, "--tls", "--write-cert", cert_s]);
    let mut curl = std::process::Command::new("curl");
    curl.args([
        "-s",
        "--cacert",
        cert_s,
        &format!("https://localhost:{}/a.txt", http.port()),
    ]);
    let c = run(curl, b"", Duration::from_secs(30));
    assert_eq!(text(&c.stdout), "alpha\n", "{mode}: curl {}", text(&c.stderr));
    for server in [tcp, http] {
        let (status, stderr) = server.terminate();
        assert!(status.success() && !stderr.contains("panicked"), "{mode}: {stderr}");
    }
}

every_mode!([sequential, thread, pool, poll, fork, uring] => openssl_and_curl_in_every_mode);

/// A certificate for localhost as plain `openssl req -x509` makes it (it
/// says CA:TRUE), and its key: their paths in `dir`.
fn openssl_cert(dir: &std::path::Path) -> (String, String) {
    let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
    let (cert, key) = (
        cert.to_str().expect("path").to_string(),
        key.to_str().expect("path").to_string(),
    );
    let mut make = std::process::Command::new("openssl");
    make.args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ])
    .args(["-keyout", &key, "-out", &cert, "-days", "30", "-subj", "/CN=localhost"])
    .args(["-addext", "subjectAltName=DNS:localhost"]);
    let made = run(make, b"", Duration::from_secs(30));
    assert!(made.status.success(), "{}", text(&made.stderr));
    (cert, key)
}

/// A connection the idle timeout closes ends its TLS with close_notify:
/// Python's `ssl` (ragged EOFs not suppressed) sees a clean end, in a
/// blocking mode and an event-driven one.
#[test]
fn idle_timeout_sends_close_notify() {
    let dir = tempfile::tempdir().expect("dir");
    let cert = dir.path().join("c.pem");
    let cert_s = cert.to_str().expect("path");
    let script = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
s.sendall(b"hi")
got = s.recv(10)
try:
    end = "close_notify" if s.recv(10) == b"" else "more bytes"
except ssl.SSLEOFError:
    end = "a bare close"
print(got.decode(), end)
"#;
    for mode in ["thread", "poll", "uring"] {
        if skip_mode(mode) {
            continue;
        }
        let args = [
            "tcp-server",
            "--mode",
            mode,
            "--tls",
            "--write-cert",
            cert_s,
            "--idle-timeout",
            "500ms",
        ];
        let server = Server::start(&args);
        let out = python(script, &[&server.port(), cert_s], b"");
        assert_eq!(
            text(&out.stdout).trim(),
            "HI close_notify",
            "{mode}: {}",
            text(&out.stderr)
        );
        let (status, stderr) = server.terminate();
        assert!(status.success() && !stderr.contains("panicked"), "{mode}: {stderr}");
    }
}
