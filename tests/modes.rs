//! The behaviour table: every tcp-server behaviour, run once per mode by
//! `every_mode!` at the bottom.

use crate::util::tcp::*;
use crate::util::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

fn upper_echo(mode: &str) {
    let server = start(mode, &[]);
    assert_same(
        "HELLO, STRASSE É!".as_bytes(),
        &exchange(&server, "hello, straße é!".as_bytes()),
        mode,
    );
}

/// A character cut across writes is answered whole. Each part's reply is
/// read before the next part is sent, which proves the parts arrived apart
/// (and that the held-back bytes waited for the rest of their character).
fn split_character_across_writes(mode: &str) {
    let server = start(mode, &[]);
    let mut s = connect(&server);
    s.set_nodelay(true).expect("nodelay");
    let bytes = "x€😀".as_bytes();
    let mut got = Vec::new();
    for (part, reply) in [(&bytes[..2], "X"), (&bytes[2..6], "€"), (&bytes[6..], "😀")] {
        s.write_all(part).expect("part");
        let mut answer = vec![0u8; reply.len()];
        s.read_exact(&mut answer).expect("the reply to this part alone");
        assert_same(reply.as_bytes(), &answer, mode);
        got.extend_from_slice(&answer);
    }
    s.shutdown(Shutdown::Write).expect("half-close");
    s.read_to_end(&mut got).expect("EOF");
    assert_same("X€😀".as_bytes(), &got, mode);
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

/// 8 clients at once against `--delay 500ms`: how many rounds each mode
/// needs. The bounds are the lesson's, with room for a loaded machine:
/// sequential takes at least 8 rounds, the pool of 4 at least 2 and clearly
/// fewer than sequential, the concurrent modes well under half of that.
fn concurrency_lesson(mode: &str) {
    let extra: &[&str] = if mode == "pool" {
        &["--delay", "500ms", "--workers", "4"]
    } else {
        &["--delay", "500ms"]
    };
    let server = start(mode, extra);
    let took = concurrent_clients(&server, 8);
    let round = Duration::from_millis(500);
    match mode {
        "sequential" => assert!(took >= round * 8, "sequential took {took:?}"),
        "pool" => assert!(took >= round * 2 && took < round * 7, "pool took {took:?}"),
        _ => assert!(took < round * 4, "{mode} took {took:?}"),
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

/// What the server may hold for a client that never reads: the replies up
/// to the back-pressure mark, a few read buffers' worth, and in uring mode
/// the receive buffers the kernel fills; 1 MiB more for the allocator.
fn never_reading_bound_kib(mode: &str) -> u64 {
    let mut bytes = netlab::server::HIGH_WATER + 4 * netlab::server::READ_BUF + (1 << 20);
    if mode == "uring" {
        let ring = netlab::server::uring::RingSize::default();
        bytes += usize::from(ring.buffers) * ring.buffer_size;
    }
    (bytes / 1024) as u64
}

fn client_that_never_reads_stays_bounded(mode: &str) {
    let server = start(mode, &[]);
    let mut hog = connect(&server);
    // One round trip first: the connection (and a fork mode child) exists
    // before the memory is measured.
    hog.write_all(b"x").expect("send");
    let mut one = [0u8; 1];
    hog.read_exact(&mut one).expect("reply");
    let before = rss_tree_kib(server.pid());
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
    let bound = never_reading_bound_kib(mode);
    assert!(
        after < before + bound,
        "{mode}: RSS grew from {before} KiB to {after} KiB, past {bound} KiB"
    );
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
    // A reset is not the clean close the idle timeout promises.
    let n = s.read(&mut buf).expect("a clean close, not a reset");
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
    assert_same("ÜBER\n".as_bytes(), &out.stdout, mode);
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

every_mode!([sequential, thread, pool, poll, fork, uring] =>
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

// Sequential and pool modes serve only as many clients as they have workers (the lesson).
every_mode!([thread, poll, fork, uring] => idle_connections_then_a_canary);
