//! `--against HOST:PORT`: the client half of a server-contract lesson run
//! against someone else's server, graded check by check. Each check is a
//! thing tutorial servers get wrong (one `recv` taken for a whole message, a
//! character cut across reads, a length trusted before it is read, a crash
//! on bad input), and a failure says why the check matters.

use super::kit::Run;
use serde_json::json;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

/// How long the server may stay silent before the check fails.
const PATIENCE: Duration = Duration::from_secs(3);
/// How long one check may take in all.
pub(super) const CHECK_LIMIT: Duration = Duration::from_secs(10);
/// The most a check reads (the largest reply a check expects is 4 MiB).
pub(super) const CAP: usize = 16 << 20;

/// One check: its name, why it matters, and how to run it.
pub(super) struct Check<'a> {
    name: &'static str,
    why: &'static str,
    test: Box<dyn FnOnce() -> Result<(), String> + 'a>,
}

pub(super) fn check<'a>(
    name: &'static str,
    why: &'static str,
    test: impl FnOnce() -> Result<(), String> + 'a,
) -> Check<'a> {
    Check {
        name,
        why,
        test: Box::new(test),
    }
}

/// Runs and narrates every check, then gives the verdict: ok only when all passed.
pub(super) fn grade(run: &mut Run, checks: Vec<Check<'_>>) -> bool {
    let (total, mut failed) = (checks.len(), Vec::new());
    for c in checks {
        run.step(&format!("check {}: {}", c.name, c.why), "will this server pass it?");
        match (c.test)() {
            Ok(()) => run.observe(&format!("{}: passed", c.name), json!({"check": c.name, "ok": true})),
            Err(e) => {
                run.observe(
                    &format!("{}: FAILED — {e}", c.name),
                    json!({"check": c.name, "ok": false, "error": e, "why": c.why}),
                );
                failed.push(c.name);
            }
        }
    }
    let seen = format!("{} of {total} checks passed", total - failed.len());
    let expected = format!("every check to pass; failed: {}", failed.join(", "));
    run.judge(failed.is_empty(), &seen, "the server keeps the contract", &expected)
}

pub(super) fn addr(target: &str) -> anyhow::Result<SocketAddr> {
    let all = addrs(target)?;
    // Several addresses (localhost): the first that accepts a TCP connection, as clients do.
    if let [one] = all.as_slice() {
        return Ok(*one);
    }
    let first = all
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("'{target}' names no address"))?;
    Ok(all
        .iter()
        .copied()
        .find(|a| TcpStream::connect_timeout(a, Duration::from_secs(1)).is_ok())
        .unwrap_or(first))
}

/// Every address of HOST:PORT (a bare PORT is on 127.0.0.1).
fn addrs(target: &str) -> anyhow::Result<Vec<SocketAddr>> {
    let full = if target.parse::<u16>().is_ok() {
        format!("127.0.0.1:{target}")
    } else {
        target.to_string()
    };
    Ok(full
        .to_socket_addrs()
        .map_err(|e| anyhow::anyhow!("'{target}': {e} (give HOST:PORT, such as 127.0.0.1:9000 or [::1]:9000)"))?
        .collect())
}

/// For UDP, where nothing accepts: the first address that answers a datagram, else the first.
fn udp_addr(target: &str) -> anyhow::Result<SocketAddr> {
    let all = addrs(target)?;
    let first = all
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("'{target}' names no address"))?;
    if all.len() == 1 {
        return Ok(first);
    }
    Ok(all.iter().copied().find(|a| ask(*a, b"ping").is_ok()).unwrap_or(first))
}

pub(super) fn connect(to: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&to, PATIENCE).map_err(|e| format!("cannot connect: {e}"))?;
    s.set_read_timeout(Some(PATIENCE)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(PATIENCE)).map_err(|e| e.to_string())?;
    Ok(s)
}

/// Reads until the server closes, keeping what came before in `got`: at
/// most `CAP` bytes and `CHECK_LIMIT` in all (a server that trickles or sends
/// forever fails the check, it does not hold the grader).
pub(super) fn read_to_close(s: &mut TcpStream, mut got: Vec<u8>) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + CHECK_LIMIT;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if got.len() > CAP {
            return Err(format!(
                "more than {} MiB came and no end: the reply never ends",
                CAP >> 20
            ));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "still sending after {} s ({} bytes came): the reply never ends",
                CHECK_LIMIT.as_secs(),
                got.len()
            ));
        }
        s.set_read_timeout(Some(PATIENCE.min(left)))
            .map_err(|e| e.to_string())?;
        match s.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(format!(
                    "no close after {} s ({} bytes came): the server did not end the reply",
                    PATIENCE.as_secs(),
                    got.len()
                ));
            }
            Err(e) => return Err(format!("{e} after {} bytes", got.len())),
        }
    }
}

/// A socket read with an end: past `until`, every read times out.
struct Deadline<'a> {
    s: &'a mut TcpStream,
    until: Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the check's time is up"));
        }
        self.s.set_read_timeout(Some(left.min(PATIENCE)))?;
        self.s.read(buf)
    }
}

fn read_to_end(s: &mut TcpStream) -> Result<Vec<u8>, String> {
    read_to_close(s, Vec::new())
}

/// Sends `pieces` with a pause between them, half-closes, reads to the end.
fn exchange(to: SocketAddr, pieces: &[&[u8]]) -> Result<Vec<u8>, String> {
    let mut s = connect(to)?;
    let mut sent = 0;
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(150));
        }
        s.write_all(p)
            .map_err(|e| format!("the server closed after the first {sent} bytes, before the rest was sent ({e})"))?;
        sent += p.len();
    }
    s.shutdown(Shutdown::Write).map_err(|e| format!("shutdown: {e}"))?;
    read_to_end(&mut s)
}

fn expect(got: Result<Vec<u8>, String>, want: &[u8]) -> Result<(), String> {
    let got = got?;
    if got == want {
        Ok(())
    } else {
        Err(format!("wanted {}, got {}", shown(want), shown(&got)))
    }
}

/// The uppercase echo over TCP.
pub fn tcp(run: &mut Run, target: &str) -> anyhow::Result<bool> {
    let to = addr(target)?;
    let checks = vec![
        check(
            "half-close",
            "shutdown(SHUT_WR) says the request is complete; the reply must still come, then the server's close",
            || expect(exchange(to, &[b"hello, stra\xc3\x9fe"]), "HELLO, STRASSE".as_bytes()),
        ),
        check(
            "split-writes",
            "TCP is a byte stream: one recv may return any part of what was sent, so a server must loop",
            || expect(exchange(to, &[b"hel", b"lo wor", b"ld"]), b"HELLO WORLD"),
        ),
        check(
            "split-character",
            "a UTF-8 character cut across two reads must be put together, not turned into two broken halves",
            || expect(exchange(to, &[b"stra\xc3", b"\x9fe"]), b"STRASSE"),
        ),
        check(
            "invalid-bytes",
            "bytes that are not UTF-8 come from the network too: pass them on, never crash on them",
            || expect(exchange(to, &[b"ok \xff\xfe"]), b"OK \xff\xfe"),
        ),
        check(
            "slow-reader",
            "a client that reads slowly must get every byte: the server waits for it, it neither drops nor dies",
            || slow_reader(to),
        ),
        check(
            "still-serving",
            "a misbehaving client closes its own connection, never the server",
            || expect(exchange(to, &[b"again"]), b"AGAIN"),
        ),
    ];
    Ok(grade(run, checks))
}

/// 4 MiB sent while the reader waits a second before it reads anything.
fn slow_reader(to: SocketAddr) -> Result<(), String> {
    const SIZE: usize = 4 << 20;
    let s = connect(to)?;
    s.set_read_timeout(Some(PATIENCE * 3)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(PATIENCE * 3)).map_err(|e| e.to_string())?;
    let mut writer = s.try_clone().map_err(|e| e.to_string())?;
    let sender = std::thread::spawn(move || {
        let block = vec![b'a'; 64 * 1024];
        for _ in 0..SIZE / block.len() {
            writer.write_all(&block)?;
        }
        writer.shutdown(Shutdown::Write)
    });
    std::thread::sleep(Duration::from_secs(1));
    let mut reader = s;
    let got = read_to_end(&mut reader);
    // The sender may still be in a write the server takes a little at a time: end it now.
    let _ = reader.shutdown(Shutdown::Both);
    let sent = sender.join().map_err(|_| "the sender stopped".to_string())?;
    sent.map_err(|e| format!("send: {e}"))?;
    let got = got?;
    if got.len() == SIZE && got.iter().all(|b| *b == b'A') {
        Ok(())
    } else {
        Err(format!(
            "{} of {SIZE} bytes came back uppercased",
            got.iter().filter(|b| **b == b'A').count()
        ))
    }
}

/// The uppercase echo over UDP.
pub fn udp(run: &mut Run, target: &str) -> anyhow::Result<bool> {
    let to = udp_addr(target)?;
    let checks = vec![
        check("reply", "one datagram in, one datagram out, to its sender", || {
            datagram(to, b"hi", b"HI")
        }),
        check(
            "unicode",
            "uppercase is a Unicode rule, not ASCII: ß becomes SS",
            || datagram(to, "straße é".as_bytes(), "STRASSE É".as_bytes()),
        ),
        check(
            "invalid-bytes",
            "a datagram that is not UTF-8 must not crash the server: pass the bytes on",
            || datagram(to, b"caf\xff", b"CAF\xff"),
        ),
        check(
            "two-senders",
            "one socket serves every sender: each gets its own answer",
            || two_senders(to),
        ),
        check(
            "big-datagram",
            "a datagram is read whole or not at all: a small recv buffer silently cuts it",
            || datagram(to, &[b'x'; 8000], &[b'X'; 8000]),
        ),
    ];
    Ok(grade(run, checks))
}

fn datagram(to: SocketAddr, send: &[u8], want: &[u8]) -> Result<(), String> {
    let got = ask(to, send)?;
    if got == want {
        Ok(())
    } else {
        Err(format!("got {:?}", String::from_utf8_lossy(&got)))
    }
}

/// One request and its answer, with two resends (UDP may lose either).
fn ask(to: SocketAddr, send: &[u8]) -> Result<Vec<u8>, String> {
    let any: SocketAddr = if to.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(any).map_err(|e| e.to_string())?;
    s.connect(to).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_millis(700)))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65536];
    for _ in 0..3 {
        s.send(send).map_err(|e| format!("send: {e}"))?;
        match s.recv(&mut buf) {
            Ok(n) => return Ok(buf.get(..n).unwrap_or_default().to_vec()),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(format!("{e}")),
        }
    }
    Err("no answer to three sends".into())
}

fn two_senders(to: SocketAddr) -> Result<(), String> {
    datagram(to, b"first", b"FIRST")?;
    datagram(to, b"second", b"SECOND")
}

/// Length-prefixed uppercase blocks.
pub fn framed(run: &mut Run, target: &str) -> anyhow::Result<bool> {
    let to = addr(target)?;
    let checks = vec![
        check("block", "a block is a 4-byte big-endian length, then the bytes", || {
            blocks(to, &[b"hello"], &[b"HELLO"])
        }),
        check(
            "split-header",
            "the length itself may arrive in pieces: recvall(4) before reading it, never one recv",
            || split_header(to),
        ),
        check(
            "two-blocks-one-send",
            "two blocks may arrive in one recv: the length says where the first ends",
            || blocks(to, &[b"one", b"two"], &[b"ONE", b"TWO"]),
        ),
        check(
            "big-block",
            "a 1 MiB block comes in many recvs: recvall loops until it is whole",
            || big_block(to),
        ),
        check(
            "length-claim",
            "a 4 GiB length is a claim, not an allocation: refuse it and close that connection",
            || length_claim(to),
        ),
        check(
            "still-serving",
            "the bad client's connection closed, the server did not",
            || blocks(to, &[b"ok"], &[b"OK"]),
        ),
    ];
    Ok(grade(run, checks))
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX).to_be_bytes();
    [&len[..], payload].concat()
}

/// Sends every block in one write, then reads one reply block per block.
fn blocks(to: SocketAddr, send: &[&[u8]], want: &[&[u8]]) -> Result<(), String> {
    let mut s = connect(to)?;
    let all: Vec<u8> = send.iter().flat_map(|p| frame(p)).collect();
    s.write_all(&all).map_err(|e| format!("send: {e}"))?;
    read_blocks(&mut s, want)
}

fn read_blocks(s: &mut TcpStream, want: &[&[u8]]) -> Result<(), String> {
    let mut bounded = Deadline {
        s,
        until: Instant::now() + CHECK_LIMIT,
    };
    for w in want {
        // The largest reply a check expects is 1 MiB.
        let got = netlab::client::framed::get_block(&mut bounded, 2 << 20).map_err(|e| e.to_string())?;
        if got != *w {
            return Err(format!("wanted {}, got {}", shown(w), shown(&got)));
        }
    }
    Ok(())
}

fn split_header(to: SocketAddr) -> Result<(), String> {
    let mut s = connect(to)?;
    let block = frame(b"hello world");
    let (a, rest) = block.split_at(2);
    let (b, c) = rest.split_at(2);
    for piece in [a, b, c] {
        s.write_all(piece).map_err(|e| format!("send: {e}"))?;
        std::thread::sleep(Duration::from_millis(150));
    }
    read_blocks(&mut s, &[b"HELLO WORLD"])
}

fn big_block(to: SocketAddr) -> Result<(), String> {
    let payload = vec![b'q'; 1 << 20];
    let want = vec![b'Q'; 1 << 20];
    blocks(to, &[&payload], &[&want])
}

fn length_claim(to: SocketAddr) -> Result<(), String> {
    let mut s = connect(to)?;
    s.write_all(&[0xff; 4]).map_err(|e| format!("send: {e}"))?;
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(()),
        Ok(n) => Err(format!("{n} bytes came back instead of a close")),
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
            Err("the server kept the connection open, waiting for 4 GiB".into())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Bytes as the narration shows them: quoted, at most 40 characters, and their length.
pub(super) fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let head: String = text.chars().take(40).collect();
    let more = if text.chars().count() > 40 { "…" } else { "" };
    format!("{head:?}{more} ({} bytes)", bytes.len())
}
