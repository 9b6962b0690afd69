//! The UDP lessons: one socket serves every sender, text is not bytes, loss
//! and retry with backoff, giving up at once on an ICMP port-unreachable
//! (the lessons of waiting are in `udp_wait`). The kernel's evidence comes
//! from `/proc/net/udp` and `/proc/net/snmp`, the children's own words from
//! their `-v` logs.

use super::kit::{Finished, Run, python, secs};
use anyhow::Context;
use netlab::kernel::TcpEntry;
use serde_json::json;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// How long any client child may run before it is killed.
pub(super) const LIMIT: Duration = Duration::from_secs(10);

/// Runs `netlab WORDS EXTRA...` to its end (WORDS split on spaces).
pub(super) fn netlab(run: &Run, words: &str, extra: &[&str], input: &[u8]) -> anyhow::Result<Finished> {
    let mut args: Vec<&str> = words.split(' ').collect();
    args.extend_from_slice(extra);
    run.netlab(&args, input, LIMIT)
}

/// Bytes as hex pairs, `c3 9f`.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// `1 reply`, `2 replies`.
pub(super) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The items joined by `sep`, or `none`.
pub(super) fn listed(items: &[String], sep: &str, none: &str) -> String {
    if items.is_empty() {
        none.to_string()
    } else {
        items.join(sep)
    }
}

/// The last line of a child's stderr (its error, if it failed).
pub(super) fn last_line(text: &str) -> String {
    text.lines().last().unwrap_or("").trim().to_string()
}

/// The value after `key=` on a log line.
pub(super) fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(&format!("{key}=")).nth(1)?.split_whitespace().next()
}

/// The rows of `/proc/net/udp` and `/proc/net/udp6` (the TCP table's format:
/// state 07 is an unconnected socket, 01 a `connect()`ed one).
pub(super) fn udp_table() -> Vec<TcpEntry> {
    ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| netlab::kernel::parse_tcp_table(&t))
        .collect()
}

/// ICMP destination-unreachable messages received and sent (`/proc/net/snmp`).
pub(super) fn icmp_unreachables() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut rows = text.lines().filter(|l| l.starts_with("Icmp:"));
    let (names, values) = (rows.next()?, rows.next()?);
    let value = |name: &str| -> Option<u64> {
        let at = names.split_whitespace().position(|n| n == name)?;
        values.split_whitespace().nth(at)?.parse().ok()
    };
    Some((value("InDestUnreachs")?, value("OutDestUnreachs")?))
}

/// A port nobody listens on: bound by the kernel's choice, then closed.
pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A socket of this lesson, on its own ephemeral port, `connect()`ed to `server`.
pub(super) fn client_socket(server: SocketAddr) -> anyhow::Result<UdpSocket> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(server)?;
    Ok(socket)
}

/// The next datagram on `socket` before `deadline`, if any.
pub(super) fn reply_before(socket: &UdpSocket, deadline: Instant) -> Option<Vec<u8>> {
    let left = deadline.saturating_duration_since(Instant::now());
    socket.set_read_timeout(Some(left.max(Duration::from_millis(1)))).ok()?;
    let mut buf = vec![0u8; 65_536];
    let n = socket.recv(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

pub fn echo(run: &mut Run) -> anyhow::Result<bool> {
    let loss = if run.control() { "1" } else { "0" };
    run.step(
        &format!("a UDP server (--drop {loss}): one socket on one port, answering each datagram with its uppercase"),
        "how many sockets will the server need for three clients?",
    );
    let server = run.server(&["udp-server", "-v", "--drop", loss])?;
    let (port, addr) = (server.port(), server.addr.context("the server has no address")?);
    let cmd = "udp-client 127.0.0.1 hi --max-wait 400ms -p";
    run.step(
        &format!("{cmd} {port}: one datagram out, one reply back (a lost one given up on after 0.7 s)"),
        "what will it print?",
    );
    let done = netlab(run, cmd, &[&port.to_string()], b"")?;
    let (out, code) = (done.stdout.trim(), done.code());
    run.observe(
        &format!("udp-client printed {out:?}, exit {code}"),
        json!({"stdout": out, "exit": code}),
    );
    let mut answered = usize::from(code == 0);
    run.step(
        "two more clients, sockets of this lesson on ports of their own, send at the same moment",
        "will the server open a socket for each of them, as a TCP server does?",
    );
    let clients = [client_socket(addr)?, client_socket(addr)?];
    for (c, msg) in clients.iter().zip(["from a", "from b"]) {
        c.send(msg.as_bytes())?;
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut mine = Vec::new();
    for c in &clients {
        let me = c.local_addr()?.to_string();
        let reply = reply_before(c, deadline);
        answered += usize::from(reply.is_some());
        let got = reply.map_or("no reply".into(), |r| format!("{:?}", String::from_utf8_lossy(&r)));
        run.observe(&format!("client {me} got {got}"), json!({"client": me, "reply": got}));
        mine.push(me);
    }
    run.step(
        "/proc/net/udp while both clients are still open",
        "how many rows on the server's port?",
    );
    let rows = udp_table();
    let servers = rows.iter().filter(|r| r.local.port() == port).count();
    let connected = rows.iter().filter(|r| r.remote.port() == port).count();
    run.observe(
        &format!(
            "/proc/net/udp: {servers} socket with local port {port} (the server's, unconnected, for every sender); \
             {connected} connect()ed to it (the clients' own): no socket per client on the server side"
        ),
        json!({"source": "/proc/net/udp", "server_sockets": servers, "client_sockets": connected}),
    );
    drop(clients);
    run.step(
        "the server's -v log, once it has stopped",
        "how many lines, and whose addresses?",
    );
    let log = server.stop();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("datagram")).collect();
    for l in &lines {
        run.say(&format!("the server's -v log: {}", l.trim()));
    }
    let answers = lines.iter().filter(|l| l.contains("answered"));
    let peers: Vec<&str> = answers.filter_map(|l| field(l, "peer")).collect();
    let named = mine.iter().all(|m| peers.contains(&m.as_str()));
    let ok = answered == 3 && peers.len() == 3 && named && servers == 1;
    Ok(run.judge(
        ok,
        &format!(
            "{answered} of 3 clients answered, {} naming their senders, {servers} server socket",
            count(peers.len(), "log line", "log lines")
        ),
        "one UDP socket serves every sender, a datagram at a time, each reply sent back to the address it came from",
        "three answers from one socket",
    ))
}

pub fn unicode(run: &mut Run) -> anyhow::Result<bool> {
    let reply = if run.control() { "echo" } else { "upper" };
    run.step(
        &format!("a UDP server whose answer is --reply {reply}"),
        "what is the uppercase of ß?",
    );
    let server = run.server(&["udp-server", "--reply", reply])?;
    let (port, addr) = (server.port_arg(), server.addr.context("the server has no address")?);
    let text = "straße é";
    let chars = text.chars().count();
    run.step(
        &format!(
            "udp-client 127.0.0.1 '{text}': {chars} characters, {} bytes of UTF-8",
            text.len()
        ),
        "will the reply be longer, shorter, or the same length in bytes?",
    );
    let sent = hex(text.as_bytes());
    run.observe(&format!("sent {} bytes: {sent}", text.len()), json!({"sent": sent}));
    for c in text.chars().filter(|c| !c.is_ascii()) {
        let up: String = c.to_uppercase().collect();
        let (n, bytes) = (c.len_utf8(), hex(c.to_string().as_bytes()));
        let (m, upper) = (up.len(), hex(up.as_bytes()));
        run.say(&format!(
            "{c} is {n} bytes ({bytes}); its uppercase {up} is {m} bytes ({upper})"
        ));
    }
    let args = ["127.0.0.1", text, "-p", &port];
    let done = netlab(run, "udp-client --max-wait 400ms", &args, b"")?;
    let got = done.stdout.trim_end_matches('\n');
    let got_hex = hex(got.as_bytes());
    run.observe(
        &format!("udp-client printed {got:?}: {} bytes, {got_hex}", got.len()),
        json!({"reply": got, "hex": got_hex}),
    );
    let python_says = python("import sys; print(sys.argv[1].upper())", &[text])?;
    let python_says = python_says.trim_end();
    run.say(&format!("Python's str.upper() says {python_says:?}"));
    let bytes: &[u8] = b"caf\xc3\xa9 \xff";
    run.step(
        &format!(
            "bytes that are not all UTF-8: {} (ff is no character at all)",
            hex(bytes)
        ),
        "what happens to the byte ff?",
    );
    run.say("sent from this lesson's own socket, as `printf 'caf\\xc3\\xa9 \\xff\\n' | netlab udp-client` would, to see every byte");
    let socket = client_socket(addr)?;
    socket.send(bytes)?;
    let back = reply_before(&socket, Instant::now() + Duration::from_secs(1)).unwrap_or_default();
    let lossy = String::from_utf8_lossy(&back);
    run.observe(
        &format!("reply: {} ({lossy:?})", hex(&back)),
        json!({"hex": hex(&back)}),
    );
    let want: &[u8] = b"CAF\xc3\x89 \xff";
    let ok = got == "STRASSE É" && got == python_says && back == want;
    Ok(run.judge(
        ok,
        &format!("{got:?} and {}", hex(&back)),
        "text was uppercased as Unicode (ß became SS, é became É) and the invalid byte ff came back unchanged",
        &format!("\"STRASSE É\" and {}", hex(want)),
    ))
}

/// A `waited=100ms` / `waited=1.6s` value of the client's log, in seconds.
pub(super) fn waited(line: &str) -> Option<f64> {
    let v = field(line, "waited")?;
    match v.strip_suffix("ms") {
        Some(ms) => ms.parse::<f64>().ok().map(|m| m / 1000.0),
        None => v.strip_suffix('s')?.parse().ok(),
    }
}

/// The same wait (they are the client's own figures, not measured).
pub(super) fn near(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.01
}

pub fn retry(run: &mut Run) -> anyhow::Result<bool> {
    let loss = if run.control() { "0" } else { "0.5" };
    run.step(
        &format!(
            "a UDP server that drops a fraction {loss} of the datagrams it gets (--seed 1: the same losses each run)"
        ),
        "what does a UDP client notice when its datagram is lost?",
    );
    let server = run.server(&["udp-server", "--drop", loss, "--seed", "1", "-v"])?;
    run.step(
        "seq 10 | udp-client -v: ten lines, ten datagrams; no reply within 0.1 s means resend, and wait twice as long",
        "how many resends, and after which waits?",
    );
    let input: String = (1..=10).map(|i| format!("{i}\n")).collect();
    let done = netlab(run, "udp-client -v -p", &[&server.port_arg()], input.as_bytes())?;
    let replies: Vec<&str> = done.stdout.lines().collect();
    let took = secs(done.took);
    run.observe(
        &format!(
            "udp-client printed {}: {}, in {took}",
            count(replies.len(), "reply", "replies"),
            replies.join(" ")
        ),
        json!({"replies": replies, "took_s": done.took.as_secs_f64()}),
    );
    let resends = done.stderr.lines().filter(|l| l.contains("resending"));
    let waits: Vec<f64> = resends.filter_map(waited).collect();
    // One group per request: each starts again at the first wait.
    let mut groups: Vec<Vec<String>> = Vec::new();
    for w in &waits {
        match groups.last_mut() {
            Some(g) if !near(*w, 0.1) => g.push(format!("{w:.1}")),
            _ => groups.push(vec![format!("{w:.1}")]),
        }
    }
    let told: Vec<String> = groups.iter().map(|g| format!("{} s", g.join(", "))).collect();
    run.observe(
        &format!(
            "the client's -v log: {}, after waits of {}",
            count(waits.len(), "resend", "resends"),
            listed(&told, "; ", "(none)")
        ),
        json!({"source": "the client's -v log", "waits_s": waits}),
    );
    let log = server.stop();
    let dropped = log.lines().filter(|l| l.contains("dropped")).count();
    let answered = log.lines().filter(|l| l.contains("answered")).count();
    run.observe(
        &format!("the server's -v log: {answered} datagrams answered, {dropped} dropped"),
        json!({"source": "the server's -v log", "answered": answered, "dropped": dropped}),
    );
    let doubling = waits.windows(2).all(|p| match (p.first(), p.get(1)) {
        (Some(a), Some(b)) => near(*b, 0.1) || near(*b, 2.0 * a),
        _ => false,
    });
    let want: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
    let ok = replies == want && doubling && waits.iter().any(|w| *w > 0.15);
    Ok(run.judge(
        ok,
        &format!(
            "{} of 10 lines answered after {}",
            replies.len(),
            count(waits.len(), "resend", "resends")
        ),
        "every loss was noticed by a timeout and repaired by a resend, each wait twice the one before",
        "all ten answered, with resends after 0.1, 0.2, 0.4 ... s",
    ))
}

pub fn give_up(run: &mut Run) -> anyhow::Result<bool> {
    run.step(
        "a free UDP port: this lesson binds one, notes its number and closes it",
        "what does the kernel do with a datagram for a port nobody holds?",
    );
    let port = free_port()?.to_string();
    let _server = if run.control() {
        run.say(&format!("port {port}: this time a server listens on it"));
        Some(run.server(&["udp-server", "-p", &port])?)
    } else {
        run.say(&format!("port {port}: nothing listens on it"));
        None
    };
    run.step(
        &format!("udp-client 127.0.0.1 hi -p {port}: its socket is connect()ed, so errors for it come back to it"),
        "will it wait through five sends (3.1 s) before giving up?",
    );
    let before = icmp_unreachables();
    let done = netlab(run, "udp-client 127.0.0.1 hi -p", &[&port], b"")?;
    let after = icmp_unreachables();
    let (error, code, took) = (last_line(&done.stderr), done.code(), secs(done.took));
    let out = done.stdout.trim();
    run.observe(
        &format!("exit {code} after {took}; stdout {out:?}, stderr {error:?}"),
        json!({"exit": code, "took_s": done.took.as_secs_f64(), "stderr": error}),
    );
    if let (Some((in0, out0)), Some((in1, out1))) = (before, after) {
        let (sent, got) = (out1.saturating_sub(out0), in1.saturating_sub(in0));
        run.observe(
            &format!(
                "/proc/net/snmp: ICMP destination-unreachable +{sent} sent, +{got} received by this machine meanwhile"
            ),
            json!({"source": "/proc/net/snmp", "out_dest_unreachs": sent, "in_dest_unreachs": got}),
        );
    }
    let ok = code == 69 && done.took < Duration::from_millis(1500) && error.contains("refused");
    Ok(run.judge(
        ok,
        &format!("exit {code} after {took}"),
        "the kernel answered with an ICMP port-unreachable, reported as ECONNREFUSED on the connect()ed socket: \
         the client gave up at once",
        "exit 69 (connection refused) in well under the 3.1 s of five waits",
    ))
}
