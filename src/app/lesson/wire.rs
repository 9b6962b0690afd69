//! What the wire costs: Nagle against Python's `http.server`, and what a
//! TLS handshake is.

use super::kit::{Child, Run, wait_until};
use super::peers::*;
use serde_json::{Value, json};

const PY_SERVER: &str = r#"
import http.server as h, os, sys
os.chdir(sys.argv[1])
class Handler(h.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
s = h.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

/// `netlab bench --proto http` on `port` for 1 s: requests/s.
fn bench(run: &Run, who: &str, port: &str) -> anyhow::Result<f64> {
    let args = [
        "bench",
        "--proto",
        "http",
        "-p",
        port,
        "--path",
        "/page.html",
        "--conns",
        "4",
        "--duration",
        "1s",
        "--json",
    ];
    let done = run.netlab(&args, b"", LIMIT)?;
    let out: Value = serde_json::from_str(done.stdout.trim()).unwrap_or(Value::Null);
    let rps = field(&out, "rps").as_f64().unwrap_or(0.0);
    let p50 = field(&out, "p50_us").as_f64().unwrap_or(0.0) / 1000.0;
    run.observe(
        &format!(
            "netlab bench --json against {who}: {rps:.0} requests/s, p50 {p50:.1} ms, {} errors, exit {}{}",
            field(&out, "errors"),
            done.code(),
            done.stderr.trim()
        ),
        json!({"source": "netlab bench --json", "server": who, "rps": rps, "p50_ms": p50, "errors": field(&out, "errors")}),
    );
    Ok(if done.code() == 0 { rps } else { 0.0 })
}

pub fn http_nagle(run: &mut Run) -> anyhow::Result<bool> {
    let root = site(run, &[("page.html", &[b'x'; 600])])?;
    run.step(
        "Python's http.server with protocol_version = \"HTTP/1.1\" (keep-alive) serves page.html, 600 bytes",
        "it writes the head and the body in two send()s: how many requests a second over 4 connections?",
    );
    let python = if run.control() {
        "netlab http server, in Python's place"
    } else {
        "Python's http.server"
    };
    let (_python, _netlab, port) = if run.control() {
        run.say("control: netlab http server here too");
        let server = run.server(&["http", "server", &root])?;
        let port = server.port_arg();
        (None, Some(server), port)
    } else {
        let py = Python::start(PY_SERVER, &[&root])?;
        let port = py.json()?.to_string();
        run.say(&format!(
            "python3's http.server listens on port {port} (its first stdout line)"
        ));
        (Some(py), None, port)
    };
    let slow = bench(run, python, &port)?;
    run.step(
        "netlab http server serves the same file: the head and a small body in one write, TCP_NODELAY",
        "how many requests a second now?",
    );
    let server = run.server(&["http", "server", &root])?;
    let fast = bench(run, "netlab http server", &server.port_arg())?;
    if !run.control() {
        run.say(
            "(Python's p50 is the delayed ACK: Nagle holds the body until the head is ACKed, \
             and the client delays that ACK ~40 ms)",
        );
    }
    Ok(run.judge(
        fast >= 10.0 * slow && slow < 300.0 && slow > 0.0,
        &format!(
            "{python} {slow:.0} requests/s, netlab's {fast:.0} ({:.0}×)",
            fast / slow.max(1.0)
        ),
        "a small write after a small write waits for an ACK the other side delays",
        "Python under 300/s and netlab at least 10× faster",
    ))
}

const PY_TLS: &str = r#"
import json, socket, ssl, sys
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
me, reply, version = raw.getsockname()[1], b"", None
try:
    if sys.argv[3] == "plain":
        raw.sendall(b"hi")
        reply = raw.recv(9)
    else:
        s = ssl.create_default_context(cafile=sys.argv[2]).wrap_socket(raw, server_hostname="localhost")
        s.sendall(b"hi")
        reply, version = s.recv(9), s.version()
except Exception as e:
    version = f"{type(e).__name__}: {e}"
print(json.dumps({"port": me, "printed": f"{reply!r} {version}"}))
"#;

/// The server's `-vv` lines about the TLS records of the connection from `peer`.
fn records(log: &str, peer: &str) -> Vec<String> {
    let tag = format!("peer=127.0.0.1:{peer}}}: ");
    let kinds = ["TLS ", "not TLS", "handshake done", "send bytes", "recv bytes"];
    log.lines()
        .filter_map(|l| l.split_once(&tag).map(|(_, rest)| rest))
        .filter(|l| kinds.iter().any(|k| l.starts_with(k)))
        .map(|l| {
            l.replace(&format!(" peer=\"127.0.0.1:{peer}\""), "")
                .replace(&format!(" peer=127.0.0.1:{peer}"), "")
        })
        .collect()
}

/// Narrates the handshake in the server's log; true when it took one round trip.
fn handshake(run: &Run, server: &Child, peer: &str) -> bool {
    let lines = records(&server.log(), peer);
    let done = lines.iter().position(|l| l.starts_with("TLS established"));
    let upto = done.map_or(lines.len(), |i| i + 1);
    for line in lines.iter().take(upto) {
        run.say(&format!("the server's -vv log: {line}"));
    }
    let after = lines.iter().skip(upto).filter(|l| l.starts_with("TLS ")).count();
    if done.is_some() {
        run.say(&format!(
            "the server's -vv log: then {after} more encrypted records (session tickets, the data, close_notify): nothing an eavesdropper can read"
        ));
    }
    let before = lines.get(..upto).unwrap_or_default();
    let sent = before.iter().filter(|l| l.starts_with("send bytes")).count();
    let received = before.iter().filter(|l| l.starts_with("recv bytes")).count();
    let hellos = before.iter().any(|l| l.contains("ClientHello")) && before.iter().any(|l| l.contains("ServerHello"));
    let one_trip = done.is_some() && hellos && sent == 1;
    let how = if one_trip {
        "the ClientHello in, one flight out (ServerHello, then the certificate and Finished encrypted), the client's Finished in: \
         one round trip, and the client's data may follow at once"
    } else {
        "no handshake"
    };
    run.observe(
        &format!("the server's -vv log: before `TLS established` it read {received} time(s) and sent {sent}: {how}"),
        json!({"source": "the server's -vv log", "reads": received, "server_flights": sent, "established": done.is_some()}),
    );
    one_trip
}

/// `tcp-client --tls` without, then with `--cacert`; true when refused, then trusted.
fn trust(run: &Run, port: &str, cert: &str) -> anyhow::Result<bool> {
    let refused = run.netlab(&["tcp-client", "--tls", "127.0.0.1", "hi", "-p", port], b"", LIMIT)?;
    run.observe(
        &format!(
            "netlab tcp-client --tls: exit {}, {}",
            refused.code(),
            refused.stderr.trim()
        ),
        json!({"source": "netlab tcp-client", "exit": refused.code(), "stderr": refused.stderr.trim()}),
    );
    let trusted = run.netlab(
        &["tcp-client", "--tls", "--cacert", cert, "localhost", "hi", "-p", port],
        b"",
        LIMIT,
    )?;
    run.observe(
        &format!(
            "netlab tcp-client --tls --cacert cert.pem localhost: {} (exit {})",
            trusted.stdout.trim(),
            trusted.code()
        ),
        json!({"source": "netlab tcp-client", "exit": trusted.code(), "stdout": trusted.stdout.trim()}),
    );
    Ok(refused.code() == 1 && refused.stderr.contains("certificate not trusted") && trusted.stdout.trim() == "HI")
}

pub fn tls_handshake(run: &mut Run) -> anyhow::Result<bool> {
    let cert = run.path("cert.pem");
    run.step(
        "a TLS uppercase-echo server with -vv; it makes a self-signed certificate and writes it to cert.pem",
        "what must a client have to trust this server?",
    );
    let server = run.server(&["tcp-server", "--tls", "--write-cert", &cert, "-vv"])?;
    let port = server.port_arg();
    run.step(
        "Python's ssl: create_default_context(cafile=cert.pem), server_hostname='localhost', send b'hi'",
        "what does the server see before the first byte of 'hi'?",
    );
    let how = if run.control() {
        run.say("control: Python sends b'hi' in plain text, without ssl");
        "plain"
    } else {
        "tls"
    };
    let out = Python::start(PY_TLS, &[&port, &cert, how])?.json()?;
    let printed = text(field(&out, "printed"));
    run.observe(
        &format!("Python printed: {printed}"),
        json!({"source": "python3 ssl", "printed": printed}),
    );
    let peer = field(&out, "port").to_string();
    wait_until(LIMIT, || {
        server
            .log()
            .contains(&format!("peer=127.0.0.1:{peer}}}: connection closed"))
    });
    run.step(
        "the server's -vv log of that connection, record by record",
        "which of these records could an eavesdropper read?",
    );
    let one_trip = handshake(run, &server, &peer);
    run.step(
        "netlab tcp-client --tls without --cacert, then with --cacert cert.pem",
        "will a client that was not given the certificate talk to this server?",
    );
    let trusted = trust(run, &port, &cert)?;
    let (ok, seen) = checks(&[
        (printed == "b'HI' TLSv1.3", "Python printed b'HI' TLSv1.3"),
        (
            one_trip,
            "the ClientHello and ServerHello in clear, encrypted records after them, one round trip before data",
        ),
        (trusted, "a client without the certificate refused it"),
    ]);
    Ok(run.judge(
        ok,
        &seen,
        "one round trip agrees on keys and proves the server's identity to a client that trusts its certificate",
        "b'HI' TLSv1.3 after one round trip, and refusal without the certificate",
    ))
}
