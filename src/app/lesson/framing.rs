//! The framing lessons: TCP is a byte stream, so messages need a frame (a
//! 4-byte big-endian length, then the bytes) and a loop that reads until the
//! whole frame came (`recvall`); a length is a claim, not an allocation; two
//! small writes meet Nagle and the delayed ACK; zlib on the wire, and a bomb.

use super::kit::{Child, Run, wait_until};
use super::stream::{End, addr_of, either, row, status_kib};
use netlab::client::framed::{get_block, put_block};
use netlab::proto::zlib;
use netlab::words::count;
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A payload of `n` lowercase letters.
fn letters(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz".get(i % 26).copied().unwrap_or(b'a'))
        .collect()
}

/// Bytes as hex pairs: `ff ff ff ff`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// A block on the wire: the 4-byte big-endian length, then the payload.
fn block(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut wire = len.to_be_bytes().to_vec();
    wire.extend_from_slice(payload);
    wire
}

/// Runs `netlab framed client ...` against `port`; its stdout lines.
fn cli(run: &Run, port: u16, extra: &[&str], messages: &[&str]) -> anyhow::Result<Vec<String>> {
    let port = port.to_string();
    let mut args = vec!["framed", "client", "127.0.0.1", "-p", &port, "--timeout", "2s"];
    args.extend_from_slice(extra);
    args.extend_from_slice(messages);
    run.say(&format!("run: netlab {}", args.join(" ")));
    let done = run.netlab(&args, b"", Duration::from_secs(5))?;
    let lines: Vec<String> = done.stdout.lines().map(str::to_string).collect();
    run.observe(
        &format!("it printed {lines:?}, exit {}", done.code()),
        json!({"stdout": lines, "exit": done.code()}),
    );
    Ok(lines)
}

/// Receives one whole block asking for all that is missing each time, as
/// Python's recvall does, `got` having come already; returns the payload
/// and how many more recvs it took.
fn recvall_counted(sock: &mut TcpStream, mut got: Vec<u8>) -> anyhow::Result<(Vec<u8>, usize)> {
    let mut recvs = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let want = match got.get(..4).and_then(|h| <[u8; 4]>::try_from(h).ok()) {
            Some(head) => 4 + u32::from_be_bytes(head) as usize,
            None => 4,
        };
        if got.len() >= want {
            return Ok((got.get(4..).unwrap_or_default().to_vec(), recvs));
        }
        anyhow::ensure!(want <= (16 << 20) + 4, "the server announced a block of {want} bytes");
        anyhow::ensure!(Instant::now() < deadline, "the block did not come whole within 5 s");
        let start = got.len();
        got.resize(want, 0);
        let n = sock.read(got.get_mut(start..).unwrap_or_default())?;
        got.truncate(start + n);
        recvs += 1;
        anyhow::ensure!(
            n > 0,
            "the server closed with {} bytes left in this block",
            want - start
        );
    }
}

pub fn framing(run: &mut Run) -> anyhow::Result<bool> {
    run.step(
        "a framed server: each block is a 4-byte big-endian length (struct.pack('!I', n)), then n bytes",
        "how does the receiver know where one message ends?",
    );
    let server = run.server(&["framed", "server"])?;
    let addr = addr_of(&server)?;
    run.step(
        "netlab framed client 127.0.0.1 hello world: two messages, two blocks",
        "what comes back, and in how many replies?",
    );
    let lines = cli(run, addr.port(), &[], &["hello", "world"])?;
    let size = if run.control() { 16 } else { 1 << 20 };
    run.step(
        &format!(
            "the lesson sends one block of {size} bytes (head {}) and asks a single recv for all of the reply",
            hex(&u32::try_from(size).unwrap_or(0).to_be_bytes())
        ),
        "will one recv return the whole block?",
    );
    let payload = letters(size);
    let mut sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(3)))?;
    sock.write_all(&block(&payload))?;
    let mut first = vec![0u8; size + 4];
    let n = sock.read(&mut first)?;
    first.truncate(n);
    run.observe(
        &format!("one recv({}) returned {n} bytes", size + 4),
        json!({"asked": size + 4, "got": n}),
    );
    run.step(
        "recvall: recv again, asking for what is still missing, until the whole block came",
        "how many recvs will the whole block take?",
    );
    let (reply, more) = recvall_counted(&mut sock, first)?;
    let recvs = more + 1;
    let whole = reply == payload.to_ascii_uppercase();
    let (took, n) = (count(recvs as u64, "recv", "recvs"), reply.len());
    let what = either(whole, "the payload uppercased", "not the payload uppercased");
    run.observe(
        &format!("the block came whole in {took}: {n} bytes, {what}"),
        json!({"recvs": recvs, "payload_bytes": reply.len(), "uppercased": whole}),
    );
    drop(server);
    Ok(run.judge(
        whole && recvs > 1 && lines == ["HELLO", "WORLD"],
        &format!("the {size}-byte block took {took}"),
        "recv returns whatever has arrived; the length prefix says how much to wait for, and recvall loops until it came",
        "one recv returning only part of the block, and recvall looping to the end",
    ))
}

/// Waits (at most `limit`) until `sock`'s Recv-Q holds `bytes`; the Recv-Q last seen.
fn wait_recv_q(local: SocketAddr, remote: SocketAddr, bytes: u64, limit: Duration) -> u64 {
    let mut seen = 0;
    wait_until(limit, || {
        seen = row(local, remote).map_or(0, |r| r.rx_queue);
        seen >= bytes
    });
    seen
}

pub fn one_recv(run: &mut Run) -> anyhow::Result<bool> {
    run.step(
        "the lesson is both ends: a listener on a free port, and a client connected to it",
        "a connection carries bytes: does it also carry where one send ended?",
    );
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut client = TcpStream::connect(listener.local_addr()?)?;
    client.set_nodelay(true)?;
    let (mut receiver, peer) = listener.accept()?;
    receiver.set_read_timeout(Some(Duration::from_secs(1)))?;
    let here = receiver.local_addr()?;
    run.say(&format!(
        "connected: {peer} → {here}, TCP_NODELAY on the client (each send leaves at once)"
    ));
    run.step(
        "the client calls send(\"hello\"), then send(\"world\")",
        "when the receiver calls recv, how many bytes will it get?",
    );
    let mut recvs: Vec<String> = Vec::new();
    let mut buf = [0u8; 1024];
    client.write_all(b"hello")?;
    if run.control() {
        let q = wait_recv_q(here, peer, 5, Duration::from_secs(1));
        let n = receiver.read(&mut buf)?;
        let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
        run.observe(
            &format!("control: the receiver reads between the sends (Recv-Q {q}): recv returned {n} bytes, {text:?}"),
            json!({"source": "/proc/net/tcp", "recv_q": q, "bytes": n}),
        );
        recvs.push(text);
    }
    client.write_all(b"world")?;
    let want = if run.control() { 5 } else { 10 };
    let q = wait_recv_q(here, peer, want, Duration::from_secs(1));
    run.observe(
        &format!("/proc/net/tcp: the receiving socket's Recv-Q is {q} bytes: received by the kernel, not yet read"),
        json!({"source": "/proc/net/tcp", "recv_q": q}),
    );
    run.step("the receiver calls recv(1024)", "one message, or both?");
    let n = receiver.read(&mut buf)?;
    let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
    run.observe(
        &format!("recv returned {n} bytes: {text:?}"),
        json!({"bytes": n, "text": text}),
    );
    recvs.push(text);
    let one = recvs.len() == 1 && recvs.first().is_some_and(|t| t == "helloworld");
    Ok(run.judge(
        one,
        &format!("{} got {recvs:?}", count(recvs.len() as u64, "recv", "recvs")),
        "two sends became one recv: the stream keeps the bytes and their order, not the boundaries, \
         which is why messages need a frame",
        "one recv returning both messages",
    ))
}

/// `/proc/PID/status` VmRSS and VmPeak of `pid`, KiB.
fn memory(pid: u32) -> (u64, u64) {
    (
        status_kib(pid, "VmRSS").unwrap_or(0),
        status_kib(pid, "VmPeak").unwrap_or(0),
    )
}

pub fn length_claim(run: &mut Run) -> anyhow::Result<bool> {
    run.step(
        "a framed server, one event loop (--max-frame 16 MiB, the default)",
        "what should a server do with a length it cannot afford?",
    );
    let server = run.server(&["framed", "server", "--mode", "poll"])?;
    let addr = addr_of(&server)?;
    let pid = server.pid();
    let (rss0, peak0) = memory(pid);
    run.observe(
        &format!("/proc/{pid}/status VmRSS {rss0} KiB, VmPeak {peak0} KiB (the largest its address space has been)"),
        json!({"source": "/proc/PID/status VmRSS", "rss_kib": rss0, "peak_kib": peak0}),
    );
    let claim: Vec<u8> = if run.control() { block(b"hello") } else { vec![0xff; 4] };
    run.step(
        &format!("a client sends {} and waits for an answer", hex(&claim)),
        "ff ff ff ff announces a block of 4 GiB: will the server try to make room for it?",
    );
    let mut sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(1)))?;
    sock.write_all(&claim)?;
    let mut buf = [0u8; 64];
    let got = sock.read(&mut buf);
    let closed = matches!(got, Ok(0));
    let seen = match &got {
        Ok(0) => "b'' (0 bytes): the server closed the connection".to_string(),
        Ok(n) => format!("{n} bytes of an answer: {}", hex(buf.get(..*n).unwrap_or_default())),
        Err(e) => format!("no answer: {e}"),
    };
    run.observe(&format!("recv returned {seen}"), json!({"closed": closed}));
    let logged = server.wait_log("limit", Duration::from_millis(500));
    let lines: Vec<String> = server
        .log()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("limit"))
        .map(str::to_string)
        .collect();
    run.observe(
        &format!(
            "the server logged {}: {}",
            count(lines.len() as u64, "line", "lines"),
            lines.join(" | ").trim()
        ),
        json!({"log": lines}),
    );
    let (rss1, peak1) = memory(pid);
    let (rss_grew, peak_grew) = (rss1.saturating_sub(rss0), peak1.saturating_sub(peak0));
    run.observe(
        &format!(
            "/proc/{pid}/status VmRSS {rss1} KiB (+{rss_grew}), VmPeak {peak1} KiB (+{peak_grew}): no 4 GiB anywhere"
        ),
        json!({"source": "/proc/PID/status VmRSS", "rss_kib": rss1, "peak_kib": peak1}),
    );
    run.step("the next client: framed client hello", "is anyone else affected?");
    let next = cli(run, addr.port(), &[], &["hello"])?;
    let served = next == ["HELLO"];
    drop(server);
    let fate = either(
        closed,
        "the claim's connection was closed",
        "the connection stayed open",
    );
    let said = count(lines.len() as u64, "log line", "log lines");
    let next = either(served, "served", "did not serve");
    Ok(run.judge(
        closed && logged && lines.len() == 1 && rss_grew < 16 * 1024 && peak_grew < 1 << 20 && served,
        &format!("{fate} with {said}; the server grew {rss_grew} KiB and {next} the next client"),
        "the claim was checked against --max-frame before anything was allocated, and only that connection closed",
        "a close (b''), one log line, flat memory and the next client served",
    ))
}

/// A closed-loop framed client on one connection for `how_long`: requests/s,
/// and the client socket's TCP_INFO at the end.
fn closed_loop(addr: SocketAddr, how_long: Duration) -> anyhow::Result<(f64, netlab::kernel::TcpInfo)> {
    use std::os::fd::AsFd;
    let mut sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    let began = Instant::now();
    let mut done = 0u32;
    while began.elapsed() < how_long {
        put_block(&mut sock, b"hello")?;
        let reply = get_block(&mut sock, 1024)?;
        anyhow::ensure!(reply == b"HELLO", "a wrong reply: {reply:?}");
        done += 1;
    }
    let rate = f64::from(done) / began.elapsed().as_secs_f64();
    Ok((rate, netlab::kernel::tcp_info(sock.as_fd())?))
}

/// One leg of the Nagle lesson: requests/s against a `--split-writes` server.
fn nagle_leg(run: &mut Run, nodelay: bool, question: &str) -> anyhow::Result<f64> {
    let mut args = vec!["framed", "server", "--split-writes"];
    if nodelay {
        args.push("--nodelay");
    }
    run.step(
        &format!(
            "a framed server that writes each reply's head and payload separately{}; \
             one client, one connection, a request as soon as the reply came, for 1 s",
            if nodelay { ", with TCP_NODELAY" } else { "" }
        ),
        question,
    );
    let server = run.server(&args)?;
    let (rate, info) = closed_loop(addr_of(&server)?, Duration::from_secs(1))?;
    run.observe(
        &format!("{rate:.0} requests/s"),
        json!({"rps": rate, "nodelay": nodelay}),
    );
    run.observe(
        &format!(
            "TCP_INFO of the client's socket: rtt {} µs, ato {} µs (its delayed-ACK timeout), \
             unacked {}, total_retrans {}",
            info.rtt_us, info.ato_us, info.unacked, info.total_retrans
        ),
        json!({"source": "TCP_INFO", "rtt_us": info.rtt_us, "ato_us": info.ato_us,
               "unacked": info.unacked, "total_retrans": info.total_retrans}),
    );
    drop(server);
    Ok(rate)
}

pub fn nagle(run: &mut Run) -> anyhow::Result<bool> {
    let trap = nagle_leg(
        run,
        run.control(),
        "loopback answers in microseconds: how many requests per second?",
    )?;
    let fast = nagle_leg(run, true, "Nagle off: how many now?")?;
    Ok(run.judge(
        trap < 100.0 && fast > 1000.0 && fast >= 20.0 * trap,
        &format!("{trap:.0} requests/s with two writes, {fast:.0} with TCP_NODELAY"),
        "Nagle held each payload until its head was ACKed, and the client delayed that ACK ~40 ms",
        "under 100 requests/s in the trap and thousands with TCP_NODELAY",
    ))
}

/// Sends `wire` as one block on a fresh connection; the reply block's
/// payload, or the end that came instead.
fn exchange(addr: SocketAddr, wire: &[u8]) -> anyhow::Result<Result<Vec<u8>, End>> {
    let mut sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(1)))?;
    put_block(&mut sock, wire)?;
    let mut first = [0u8; 1];
    Ok(match sock.peek(&mut first) {
        Ok(0) => Err(End::Eof),
        Ok(_) => get_block(&mut sock, 16 << 20).map_err(|e| End::Failed(e.to_string())),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Err(End::Silent),
        Err(e) => Err(End::Failed(e.to_string())),
    })
}

/// The largest block of the zlib lesson's server, compressed or inflated.
const ZMAX: usize = 1 << 20;

/// A repetitive 100,000-byte message through the `--zlib` server: the bytes
/// on the wire, and whether the reply inflated to the message uppercased.
fn wire_sizes(run: &mut Run, addr: SocketAddr) -> anyhow::Result<(usize, bool)> {
    run.step(
        "a repetitive 100,000-byte message, compressed, as one block",
        "how many bytes cross the wire instead of 100,004?",
    );
    let text = letters(100_000);
    let packed = zlib::deflate(&text);
    let reply = exchange(addr, &packed)?.unwrap_or_default();
    let back = zlib::inflate(&reply, ZMAX).unwrap_or_default();
    let right = back == text.to_ascii_uppercase();
    let (sent, plain, answer, inflated) = (packed.len() + 4, text.len() + 4, reply.len() + 4, back.len());
    let what = either(right, "the message uppercased", "not the message uppercased");
    run.observe(
        &format!(
            "request {sent} bytes on the wire instead of {plain}, reply {answer} bytes; \
             it inflated to {inflated} bytes, {what}"
        ),
        json!({"plain_bytes": plain, "request_wire": sent, "reply_wire": answer}),
    );
    Ok((sent, right))
}

/// A zip bomb (a small block inflating past `--max-frame`; in the control,
/// within it): its size, and whether it closed the connection with a log line.
fn zip_bomb(run: &mut Run, server: &Child, addr: SocketAddr) -> anyhow::Result<(usize, bool)> {
    let size = if run.control() { ZMAX / 2 } else { 4 * ZMAX };
    let bomb = zlib::deflate(&vec![0u8; size]);
    let len = bomb.len();
    run.step(
        &format!("a block of {len} bytes that inflates to {size} bytes (--max-frame is {ZMAX})"),
        "will the server inflate all of it?",
    );
    let answer = exchange(addr, &bomb)?;
    let closed = answer == Err(End::Eof);
    let seen = match &answer {
        Ok(r) => format!("an answer of {} bytes", r.len() + 4),
        Err(End::Eof) => "EOF: recv returned 0, the server closed the connection".to_string(),
        Err(end) => end.text(),
    };
    run.observe(&format!("the client got {seen}"), json!({"closed": closed}));
    let logged = server.wait_log("inflates past", Duration::from_millis(500));
    let log = server
        .log()
        .lines()
        .filter(|l| l.contains("inflates"))
        .collect::<Vec<_>>()
        .join(" | ");
    run.observe(
        &format!("the server logged: {}", log.trim()),
        json!({"log": log.trim()}),
    );
    Ok((len, closed && logged))
}

pub fn zlib(run: &mut Run) -> anyhow::Result<bool> {
    run.step(
        "a framed server with --zlib (payloads compressed both ways) and --max-frame 1 MiB",
        "what does compression change on the wire?",
    );
    let server = run.server(&["framed", "server", "--zlib", "--max-frame", "1MiB"])?;
    let addr = addr_of(&server)?;
    let lines = cli(run, addr.port(), &["--zlib"], &["hello"])?;
    let (wire, right) = wire_sizes(run, addr)?;
    let (len, refused) = zip_bomb(run, &server, addr)?;
    let after = exchange(addr, &zlib::deflate(b"still here"))?.unwrap_or_default();
    let still = zlib::inflate(&after, ZMAX).unwrap_or_default() == b"STILL HERE";
    run.say(&format!(
        "another connection {}",
        either(still, "is still served", "is not served")
    ));
    drop(server);
    let bomb = either(refused, "closed its connection with a log line", "did not");
    Ok(run.judge(
        lines == ["HELLO"] && right && wire * 10 < 100_000 && refused && still,
        &format!("HELLO, 100,000 bytes sent as {wire}, and the {len}-byte bomb {bomb}"),
        "compression shrinks repetitive payloads, and inflating stops at --max-frame, closing only that connection",
        "a small wire size and a bomb that closes its connection with a log line",
    ))
}
