//! framed server in every mode against Python 3's classic block client
//! (struct `!I`, recvall), and netlab's framed client against Python's
//! block server.

use crate::util::tcp::rss_tree_kib;
use crate::util::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn start(mode: &str, extra: &[&str]) -> Server {
    let mut args = vec!["framed", "server", "--mode", mode];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// The lesson's helpers, and a client that sends each argument as one block
/// and checks the reply is its `str.upper()`. Arguments: PORT, then blocks;
/// `@10MiB` stands for a 10 MiB block, `@drip:TEXT` sends TEXT's head one
/// byte at a time, `@zlib` compresses every payload that follows.
const PY_BLOCK_CLIENT: &str = concat!(
    py_recvall!(),
    r#"
def get_block(sock):
    data = recvall(sock, header.size)
    (block_length,) = header.unpack(data)
    return recvall(sock, block_length)

def put_block(sock, message, drip=False):
    head = header.pack(len(message))
    if drip:
        for b in head:
            sock.sendall(bytes([b]))
            time.sleep(0.02)
    else:
        sock.sendall(head)
    sock.sendall(message)

sock = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=30)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
packed = False
for arg in sys.argv[2:]:
    if arg == '@zlib':
        packed = True
        continue
    drip = arg.startswith('@drip:')
    text = ('abcdefghij' * (1 << 20)) if arg == '@10MiB' else arg[len('@drip:'):] if drip else arg
    payload = text.encode('utf-8')
    put_block(sock, zlib.compress(payload) if packed else payload, drip)
    reply = get_block(sock)
    if packed:
        reply = zlib.decompress(reply)
    assert reply == text.upper().encode('utf-8'), (len(reply), reply[:40])
    print(len(reply))
sock.close()
"#
);

fn python_client(server: &Server, blocks: &[&str]) -> String {
    let mut args = vec![server.port()];
    args.extend(blocks.iter().map(|b| b.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = python(PY_BLOCK_CLIENT, &refs, b"");
    assert_eq!(code(&out), 0, "python client: {}", text(&out.stderr));
    text(&out.stdout)
}

fn python_blocks_on_one_connection(mode: &str) {
    let server = start(mode, &[]);
    let got = python_client(&server, &["hello", "", "straße", "@drip:dripped", "@10MiB", "last"]);
    assert_eq!(got, "5\n0\n7\n7\n10485760\n4\n", "{mode}");
}

fn python_zlib_both_ways(mode: &str) {
    let server = start(mode, &["--zlib"]);
    let got = python_client(&server, &["@zlib", "hello", "straße straße straße", "@10MiB"]);
    assert_eq!(got, "5\n23\n10485760\n", "{mode}");
}

/// Sends `bytes` on a fresh connection, half-closes, and reads until the
/// server closes it.
fn hostile(server: &Server, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(server.socket_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    got
}

fn canary(server: &Server, mode: &str) {
    assert_eq!(python_client(server, &["canary"]), "6\n", "{mode}: canary");
}

fn oversized_claims_close_only_their_connection(mode: &str) {
    let server = start(mode, &[]);
    let before = rss_tree_kib(server.pid());
    for _ in 0..5 {
        assert_eq!(hostile(&server, &[0xff, 0xff, 0xff, 0xff, b'x']), b"", "{mode}");
    }
    canary(&server, mode);
    let after = rss_tree_kib(server.pid());
    assert!(
        after < before + 16 * 1024,
        "{mode}: RSS grew from {before} KiB to {after} KiB"
    );
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("4294967295 bytes was announced"), "{mode}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn peers_closing_mid_head_and_mid_block(mode: &str) {
    let server = start(mode, &[]);
    assert_eq!(hostile(&server, &[0, 0]), b"");
    let mut cut = vec![0, 0, 0, 100];
    cut.extend_from_slice(&[b'y'; 10]);
    assert_eq!(hostile(&server, &cut), b"");
    canary(&server, mode);
    let (_, stderr) = server.terminate();
    assert!(
        stderr.contains("socket closed with 2 bytes left in this block"),
        "{mode}: {stderr}"
    );
    assert!(
        stderr.contains("socket closed with 90 bytes left in this block"),
        "{mode}: {stderr}"
    );
}

const PY_BOMB: &str = r#"
import socket, struct, sys, zlib
bomb = zlib.compress(b'\0' * (64 << 20), 9)
sock = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=30)
sock.sendall(struct.pack('!I', len(bomb)) + bomb)
print(len(bomb), len(sock.recv(16)))
"#;

fn zlib_bombs_are_refused(mode: &str) {
    let server = start(mode, &["--zlib", "--max-frame", "1MiB"]);
    let before = rss_tree_kib(server.pid());
    let out = python(PY_BOMB, &[&server.port()], b"");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let fields: Vec<u64> = text(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        fields.first().is_some_and(|n| *n < 128 << 10),
        "a small bomb: {fields:?}"
    );
    assert_eq!(fields.get(1), Some(&0), "no reply, the connection closed");
    assert_eq!(python_client(&server, &["@zlib", "canary"]), "6\n");
    let after = rss_tree_kib(server.pid());
    assert!(
        after < before + 16 * 1024,
        "{mode}: RSS grew from {before} KiB to {after} KiB"
    );
    let (_, stderr) = server.terminate();
    assert!(
        stderr.contains("inflates past the 1048576-byte limit"),
        "{mode}: {stderr}"
    );
}

every_mode!([sequential, thread, pool, poll, fork, uring] =>
    python_blocks_on_one_connection,
    python_zlib_both_ways,
    oversized_claims_close_only_their_connection,
    peers_closing_mid_head_and_mid_block,
    zlib_bombs_are_refused,
);

/// Ten round trips, timed by a Python client that sends each block in one
/// write with Nagle off, so only the server's writes can be delayed.
const PY_TIMED: &str = r#"
import socket, struct, sys, time
sock = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=30)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def recvall(n):
    data = b''
    while len(data) < n:
        more = sock.recv(n - len(data))
        if not more:
            raise EOFError('socket closed with %d bytes left in this block' % (n - len(data)))
        data += more
    return data
start = time.monotonic()
for i in range(10):
    msg = b'ping %d' % i
    sock.sendall(struct.pack('!I', len(msg)) + msg)
    (n,) = struct.unpack('!I', recvall(4))
    assert recvall(n) == msg.upper()
print(time.monotonic() - start)
"#;

fn ten_round_trips(extra: &[&str]) -> f64 {
    let server = start("poll", extra);
    let out = python(PY_TIMED, &[&server.port()], b"");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    text(&out.stdout).trim().parse().expect("seconds")
}

/// The Nagle lesson: two writes per reply wait for the peer's delayed ACK
/// (~40 ms each) only while Nagle is on.
#[test]
fn split_writes_are_slow_only_with_nagle() {
    let nagle = ten_round_trips(&["--split-writes"]);
    let nodelay = ten_round_trips(&["--split-writes", "--nodelay"]);
    let one_write = ten_round_trips(&[]);
    // Delayed ACKs are at least ~20 ms on Linux: ten of them take 0.2 s.
    assert!(nagle >= 0.15, "split writes with Nagle took only {nagle:.3} s");
    assert!(nodelay < nagle / 4.0, "nodelay {nodelay:.3} s vs nagle {nagle:.3} s");
    assert!(
        one_write < nagle / 4.0,
        "one write {one_write:.3} s vs nagle {nagle:.3} s"
    );
}

/// The tutorial's server: answers each block with its uppercase, until an
/// empty block; `cut` in argv[1] makes it close in the middle of its reply.
const PY_BLOCK_SERVER: &str = concat!(
    py_recvall!(),
    py_accept_one!(),
    r#"
mode = sys.argv[1]
while True:
    try:
        (n,) = header.unpack(recvall(sock, 4))
    except EOFError:
        break
    data = recvall(sock, n)
    if mode == 'zlib':
        data = zlib.compress(zlib.decompress(data).decode('utf-8').upper().encode('utf-8'))
    else:
        data = data.decode('utf-8').upper().encode('utf-8')
    if mode == 'cut':
        sock.sendall(header.pack(len(data)) + data[:2])
        break
    sock.sendall(header.pack(len(data)) + data)
sock.close()
"#
);

#[test]
fn netlab_client_against_python_block_server() {
    let py = PyServer::start(PY_BLOCK_SERVER, &["plain"]);
    let out = netlab_out(&[
        "framed",
        "client",
        "127.0.0.1",
        "hello",
        "straße",
        "ends\n",
        "-p",
        &py.port,
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_same(
        "HELLO\nSTRASSE\nENDS\n".as_bytes(),
        &out.stdout,
        "one block per message",
    );

    let py = PyServer::start(PY_BLOCK_SERVER, &["plain"]);
    let lines = run(
        netlab(&["framed", "client", "-p", &py.port]),
        "a\nstraße\n\nlast".as_bytes(),
        Duration::from_secs(20),
    );
    assert_eq!(code(&lines), 0, "{}", text(&lines.stderr));
    assert_same(
        "A\nSTRASSE\n\nLAST\n".as_bytes(),
        &lines.stdout,
        "one block per stdin line",
    );

    let py = PyServer::start(PY_BLOCK_SERVER, &["zlib"]);
    let z = netlab_out(&["framed", "client", "--zlib", "127.0.0.1", "zipped", "-p", &py.port]);
    assert_eq!(code(&z), 0, "{}", text(&z.stderr));
    assert_eq!(text(&z.stdout), "ZIPPED\n");
}

#[test]
fn a_server_closing_mid_block_is_reported_like_recvall() {
    let py = PyServer::start(PY_BLOCK_SERVER, &["cut"]);
    let out = netlab_out(&["framed", "client", "127.0.0.1", "hello", "-p", &py.port]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "netlab: error: socket closed with 3 bytes left in this block\n"
    );
}

#[test]
fn framed_client_file_is_one_block_with_a_raw_reply() {
    let server = start("thread", &[]);
    let dir = std::env::temp_dir().join(format!("netlab-framed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("in.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data).expect("write");
    let out = netlab_out(&[
        "framed",
        "client",
        "-p",
        &server.port(),
        "--file",
        &path.to_string_lossy(),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let mut want = Vec::new();
    netlab::proto::answer::Answer::Upper.reply_once(&data, &mut want);
    assert_same(&want, &out.stdout, "--file reply, raw");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn framed_client_errors_and_exit_codes() {
    let gone = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = gone.local_addr().expect("addr").port().to_string();
    drop(gone);
    let refused = netlab_out(&["framed", "client", "127.0.0.1", "hi", "-p", &port]);
    assert_eq!(code(&refused), 69, "{}", text(&refused.stderr));
    let unknown = netlab_out(&["framed", "client", "nonexistent.invalid", "hi"]);
    assert_eq!(code(&unknown), 68, "{}", text(&unknown.stderr));
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port().to_string();
    let slow = netlab_out(&["framed", "client", "127.0.0.1", "hi", "-p", &port, "--timeout", "300ms"]);
    assert_eq!(code(&slow), 1, "{}", text(&slow.stderr));
    assert!(text(&slow.stderr).contains("timed out"), "{}", text(&slow.stderr));
    let server = start("poll", &["--max-frame", "8"]);
    let big = netlab_out(&["framed", "client", "127.0.0.1", "far too long", "-p", &server.port()]);
    assert_eq!(code(&big), 1, "{}", text(&big.stderr));
    assert!(
        text(&big.stderr).contains("without answering this 12-byte block: a block over its --max-frame"),
        "{}",
        text(&big.stderr)
    );
}
