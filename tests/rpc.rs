//! rpc server in every mode against Python 3's `xmlrpc.client`, hostile
//! requests on raw sockets, and `netlab rpc call` against Python's
//! `SimpleXMLRPCServer`.

use crate::util::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn start(mode: &str, extra: &[&str]) -> Server {
    let mut args = vec!["rpc", "server", "--mode", mode];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// Python's client doing every call of the contract; prints `ok` at the end.
const PY_CONTRACT: &str = r#"
import sys, datetime, xmlrpc.client as x
p = x.ServerProxy('http://%s/RPC2' % sys.argv[1], allow_none=True)
def fault(f, *args):
    try:
        f(*args)
    except x.Fault as e:
        return e.faultCode, e.faultString
    raise AssertionError('no fault from %r' % (args,))
assert p.addtogether(20, 30, 4, 1) == 55
assert p.addtogether('x', 'ÿ', 'z') == 'xÿz'
assert p.addtogether([1], [2, 3]) == [1, 2, 3]
assert p.addtogether(1, 2.5) == 3.5
assert p.addtogether(2147483647, 1) == 2147483648, 'exact, as <i8>'
assert sorted(p.quadratic(1, -3, 2)) == [1.0, 2.0]
assert sorted(p.quadratic(2, -4, 0)) == [0.0, 2.0], 'not the tutorial precedence bug'
assert p.quadratic(1, 2, 1) == [-1.0]
assert fault(p.quadratic, 1, 0, 1) == (1, "<class 'ValueError'>:math domain error")
assert fault(p.addtogether) == (1, "<class 'TypeError'>:reduce() of empty iterable with no initial value")
assert fault(p.addtogether, 1, 'a') == (1, "<class 'TypeError'>:unsupported operand type(s) for +: 'int' and 'str'")
assert fault(p.nosuch) == (1, '<class \'Exception\'>:method "nosuch" is not supported')
assert fault(p.quadratic, 1, 2) == (1, "<class 'TypeError'>:quadratic() missing 1 required positional argument: 'c'")
assert p.upper('straße é') == 'STRASSE É'
names = p.system.listMethods()
assert names == sorted(names) and 'system.multicall' in names and 'upper' in names, names
assert 'uppercase' in p.system.methodHelp('upper')
assert p.system.methodHelp('nosuch') == ''
assert p.system.methodSignature('upper') == 'signatures not supported'
m = x.MultiCall(p)
m.addtogether(1, 2)
m.nosuch()
m.upper('a')
results = m().results
assert results[0] == [3] and results[2] == ['A'], results
assert results[1]['faultCode'] == 1 and 'is not supported' in results[1]['faultString'], results
# Round trips through addtogether(x), which returns its one argument.
when = datetime.datetime(2026, 12, 1, 2, 33, 11)
assert p.addtogether(None) is None
assert p.addtogether(x.Binary(b'\x00\xffbytes')).data == b'\x00\xffbytes'
assert p.addtogether(when) == x.DateTime(when)
nested = {'a': {'b': [1, 2.5, 'c', True, None, {'d': []}]}, 'e': 'ü'}
assert p.addtogether(nested) == nested
assert p.addtogether(True) is True
big = 'é' * 5000
assert p.addtogether(big, big) == big + big, 'a gzipped response'
print('ok')
"#;

fn python_client_contract(mode: &str) {
    let server = start(mode, &[]);
    let out = python(PY_CONTRACT, &[&server.addr], b"");
    assert_eq!(code(&out), 0, "{mode}: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok\n");
}

/// 200 calls from one ServerProxy travel over one kept-alive connection;
/// 4 clients at once each get their own answers.
const PY_KEEPALIVE: &str = r#"
import sys, threading, xmlrpc.client as x
p = x.ServerProxy('http://%s' % sys.argv[1])
for i in range(200):
    assert p.addtogether(i, 1) == i + 1
errors = []
def client(n):
    try:
        q = x.ServerProxy('http://%s' % sys.argv[1])
        for i in range(50):
            assert q.upper('client %d call %d' % (n, i)) == 'CLIENT %d CALL %d' % (n, i)
    except Exception as e:
        errors.append(e)
threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
print('ok')
"#;

fn keep_alive_and_concurrent_clients(mode: &str) {
    let server = start(mode, &[]);
    let out = python(PY_KEEPALIVE, &[&server.addr], b"");
    assert_eq!(code(&out), 0, "{mode}: {}", text(&out.stderr));
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("served 5 connections"),
        "one for the 200 calls, one per client: {stderr}"
    );
}

/// Sends raw bytes, half-closes, and returns everything the server sent.
fn raw(server: &Server, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(server.socket_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    text(&got)
}

fn post(body: &str) -> String {
    format!(
        "POST /RPC2 HTTP/1.1\r\nHost: t\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

const UPPER_CALL: &str = "<?xml version='1.0'?>\n<methodCall>\n<methodName>upper</methodName>\n<params>\n<param>\n<value><string>alive</string></value>\n</param>\n</params>\n</methodCall>\n";

fn hostile_requests_are_answered(mode: &str) {
    let server = start(mode, &[]);
    let ok = |reply: &str| reply.matches("<string>ALIVE</string>").count();
    // Each bad call is a fault on 200, and the same connection answers the next call.
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol9 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><methodCall><methodName>&lol9;</methodName></methodCall>"#;
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><methodCall><methodName>&xxe;</methodName></methodCall>"#;
    for (what, body) in [
        ("malformed", "<methodCall><methodName>x"),
        ("billion laughs", laughs),
        ("external entity", xxe),
        ("garbage", "\u{1}\u{2}junk"),
    ] {
        let reply = raw(&server, format!("{}{}", post(body), post(UPPER_CALL)).as_bytes());
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{mode} {what}: {reply}");
        assert!(reply.contains("<name>faultCode</name>"), "{mode} {what}: {reply}");
        assert!(!reply.contains("root:"), "{mode} {what}: a file was read: {reply}");
        assert_eq!(ok(&reply), 1, "{mode} {what}: the connection stayed usable: {reply}");
    }
    let get = raw(&server, b"GET /RPC2 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        get.starts_with("HTTP/1.1 405 Method Not Allowed") && get.contains("Allow: POST"),
        "{get}"
    );
    let path = raw(&server, post(UPPER_CALL).replace("/RPC2", "/elsewhere").as_bytes());
    assert!(path.starts_with("HTTP/1.1 404"), "{path}");
    let no_length = raw(&server, b"POST /RPC2 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(no_length.starts_with("HTTP/1.1 411"), "{no_length}");
    let bytes = raw(&server, b"\x16\x03\x01\x02\x00garbage\r\n\r\n");
    assert!(bytes.starts_with("HTTP/1.1 400"), "{bytes}");
    let huge_head = format!("POST /RPC2 HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    assert!(raw(&server, huge_head.as_bytes()).starts_with("HTTP/1.1 431"));
    // Still serving.
    assert_eq!(
        ok(&raw(&server, post(UPPER_CALL).as_bytes())),
        1,
        "{mode}: alive after all of it"
    );
    let stderr = server.stderr_text();
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A body over --max-body is refused with 413 that Python's client sees as
/// such (the body it is still sending is read and dropped, not reset).
const PY_BIG_BODY: &str = r#"
import sys, xmlrpc.client as x
p = x.ServerProxy('http://%s' % sys.argv[1])
try:
    p.upper('a' * (2 << 20))
    print('accepted')
except x.ProtocolError as e:
    print(e.errcode)
print(p.upper('after'))
"#;

/// A head dripped one byte at a time is answered (and other clients served meanwhile).
const PY_DRIP: &str = r#"
import socket, sys, time, xmlrpc.client as x
host, port = sys.argv[1].rsplit(':', 1)
body = x.dumps(('dripped',), 'upper').encode()
head = b'POST /RPC2 HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n' % len(body)
s = socket.create_connection((host, int(port)), timeout=20)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i, b in enumerate(head):
    s.sendall(bytes([b]))
    if i == 10:
        assert x.ServerProxy('http://%s' % sys.argv[1]).upper('meanwhile') == 'MEANWHILE'
    time.sleep(0.002)
s.sendall(body)
reply = b''
while b'</methodResponse>' not in reply:
    more = s.recv(4096)
    if not more:
        break
    reply += more
print(x.loads(reply.split(b'\r\n\r\n', 1)[1])[0][0])
"#;

fn limits_and_slow_heads(mode: &str) {
    let server = start(mode, &[]);
    let out = python(PY_BIG_BODY, &[&server.addr], b"");
    assert_eq!(code(&out), 0, "{mode}: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "413\nAFTER\n", "{mode}");
    if mode != "sequential" && mode != "pool" {
        let out = python(PY_DRIP, &[&server.addr], b"");
        assert_eq!(code(&out), 0, "{mode}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "DRIPPED\n");
    }
}

every_mode!([sequential, thread, pool, poll, fork, uring] => python_client_contract, hostile_requests_are_answered, limits_and_slow_heads);
every_mode!([thread, pool, poll, uring] => keep_alive_and_concurrent_clients);

/// Python's own server, with introspection, multicall and None, telling
/// what type each argument arrived as.
const PY_SERVER: &str = r#"
from xmlrpc.server import SimpleXMLRPCServer
def types(*args):
    """Names the Python type of each argument."""
    return [type(a).__name__ for a in args]
def add(a, b):
    return a + b
server = SimpleXMLRPCServer(('127.0.0.1', 0), logRequests=False, allow_none=True)
server.register_introspection_functions()
server.register_multicall_functions()
server.register_function(types)
server.register_function(add)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

#[test]
fn rpc_call_against_python_server() {
    let py = PyServer::start(PY_SERVER, &[]);
    let url = format!("http://127.0.0.1:{}", py.port);
    let call = |args: &[&str]| {
        let mut all = vec!["rpc", "call", url.as_str()];
        all.extend_from_slice(args);
        netlab_out(&all)
    };
    let out = call(&[
        "types",
        "1",
        "1.5",
        "\"x\"",
        "[1, 2]",
        "{\"k\": 1}",
        "true",
        "null",
        "plain text",
        "4294967296",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "[\"int\",\"float\",\"str\",\"list\",\"dict\",\"bool\",\"NoneType\",\"str\",\"int\"]\n"
    );
    let names = call(&["system.listMethods"]);
    assert!(
        text(&names.stdout).contains("\"system.multicall\""),
        "{}",
        text(&names.stdout)
    );
    let help = call(&["system.methodHelp", "types"]);
    assert_eq!(text(&help.stdout), "\"Names the Python type of each argument.\"\n");
    let multi = call(&[
        "system.multicall",
        r#"[{"methodName": "add", "params": [1, 2]}, {"methodName": "add", "params": [1]}]"#,
    ]);
    let v: serde_json::Value = serde_json::from_slice(&multi.stdout).expect("json");
    assert_eq!(v[0], serde_json::json!([3]));
    assert_eq!(v[1]["faultCode"], 1);
    let fault = call(&["add", "1", "\"a\""]);
    assert_eq!(code(&fault), 1);
    assert_eq!(
        text(&fault.stderr),
        "fault 1: <class 'TypeError'>:unsupported operand type(s) for +: 'int' and 'str'\n"
    );
}

#[test]
fn rpc_call_errors_and_exit_codes() {
    let server = start("poll", &[]);
    let ok = netlab_out(&[
        "rpc",
        "call",
        &format!("http://{}", server.addr),
        "quadratic",
        "1",
        "-3",
        "2",
    ]);
    assert_eq!(code(&ok), 0, "{}", text(&ok.stderr));
    let roots: Vec<f64> = serde_json::from_slice(&ok.stdout).expect("json");
    assert_eq!(roots.len(), 2, "{roots:?}");
    let wrong_path = netlab_out(&["rpc", "call", &format!("http://{}/nope", server.addr), "upper", "x"]);
    assert_eq!(code(&wrong_path), 1);
    assert!(
        text(&wrong_path.stderr).contains("HTTP 404"),
        "{}",
        text(&wrong_path.stderr)
    );
    let gone = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = gone.local_addr().expect("addr").port();
    drop(gone);
    let refused = netlab_out(&["rpc", "call", &format!("http://127.0.0.1:{port}"), "upper", "x"]);
    assert_eq!(code(&refused), 69, "{}", text(&refused.stderr));
    let unknown = netlab_out(&["rpc", "call", "http://nonexistent.invalid:7001", "upper", "x"]);
    assert_eq!(code(&unknown), 68, "{}", text(&unknown.stderr));
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let slow = netlab_out(&[
        "rpc",
        "call",
        &format!("http://127.0.0.1:{port}"),
        "upper",
        "x",
        "--timeout",
        "300ms",
    ]);
    assert_eq!(code(&slow), 1, "{}", text(&slow.stderr));
    assert!(text(&slow.stderr).contains("timed out"), "{}", text(&slow.stderr));
    // https is spoken (tests/tls.rs); another scheme is a usage error.
    let ftp = netlab_out(&["rpc", "call", "ftp://x", "upper"]);
    assert_eq!(code(&ftp), 2, "{}", text(&ftp.stderr));
}

#[test]
fn rpc_server_defaults_to_port_7001() {
    let help = netlab_out(&["rpc", "server", "--help"]);
    assert!(text(&help.stdout).contains("[default: 7001]"), "{}", text(&help.stdout));
}
