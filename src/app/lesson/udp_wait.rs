//! The UDP lessons about waiting: a silent server given up on after five
//! sends, stale replies to resends, round-trip times, and broadcast.

use super::kit::{Run, secs};
use super::udp::{LIMIT, count, field, free_port, last_line, listed, netlab, udp_table};
use serde_json::json;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Receives on `socket` until `stop`, noting each datagram's arrival (since
/// `began`); answers each with its uppercase when `answer`.
fn listen(socket: UdpSocket, answer: bool, began: Instant, stop: Arc<AtomicBool>) -> Vec<f64> {
    let mut times = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let _ = socket.set_read_timeout(Some(Duration::from_millis(20)));
    while !stop.load(Ordering::Relaxed) && began.elapsed() < LIMIT {
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            times.push(began.elapsed().as_secs_f64());
            if answer {
                let _ = socket.send_to(&buf.get(..n).unwrap_or_default().to_ascii_uppercase(), from);
            }
        }
    }
    times
}

pub fn silent_server(run: &mut Run) -> anyhow::Result<bool> {
    let answer = run.control();
    let does = if answer { "answers" } else { "never answers" };
    run.step(
        &format!("a 'server' that is a socket of this lesson: bound, so no ICMP error comes back; it {does}"),
        "how long will a client keep trying?",
    );
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let port = socket.local_addr()?.port().to_string();
    run.say(&format!(
        "bound to 127.0.0.1:{port}; it notes when each datagram arrives"
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, began) = (Arc::clone(&stop), Instant::now());
    let listener = std::thread::spawn(move || listen(socket, answer, began, flag));
    run.step(
        &format!("udp-client 127.0.0.1 hi -p {port}, default waits: 0.1 s, doubled after each loss, up to 2 s"),
        "how many sends, and how far apart?",
    );
    let done = netlab(run, "udp-client 127.0.0.1 hi -p", &[&port], b"")?;
    stop.store(true, Ordering::Relaxed);
    let times = listener
        .join()
        .map_err(|_| anyhow::anyhow!("the listening thread failed"))?;
    let (error, code, took) = (last_line(&done.stderr), done.code(), secs(done.took));
    run.observe(
        &format!("udp-client: exit {code} after {took}, {error:?}"),
        json!({"exit": code, "took_s": done.took.as_secs_f64(), "stderr": error}),
    );
    let gaps: Vec<f64> = times.windows(2).filter_map(|w| Some(w.get(1)? - w.first()?)).collect();
    let shown: Vec<String> = gaps.iter().map(|g| format!("{g:.2}")).collect();
    run.observe(
        &format!(
            "this lesson's socket received {}, {} s apart",
            count(times.len(), "datagram", "datagrams"),
            listed(&shown, ", ", "no gap: 0")
        ),
        json!({"source": "this lesson's socket", "arrivals_s": times, "gaps_s": gaps}),
    );
    let growing = gaps
        .windows(2)
        // Each wait about twice the last: 1.3x leaves room for a loaded machine's late wake-ups.
        .all(|w| matches!((w.first(), w.get(1)), (Some(a), Some(b)) if *b > 1.3 * a));
    let ok = times.len() == 5 && growing && code == 69 && error.contains("server seems down");
    Ok(run.judge(
        ok,
        &format!("{}, exit {code} after {took}", count(times.len(), "send", "sends")),
        "the client resent after 0.1, 0.2, 0.4 and 0.8 s, waited 1.6 s more and gave up: 'server seems down'",
        "five sends with doubling gaps, then exit 69",
    ))
}

pub fn stale_replies(run: &mut Run) -> anyhow::Result<bool> {
    let delay = if run.control() { "0" } else { "300ms" };
    run.step(
        &format!("a slow UDP server: every reply comes after --delay {delay}"),
        "a client that waits only 100 ms: what becomes of the answers to its resends?",
    );
    let server = run.server(&["udp-server", "--delay", delay, "-v"])?;
    run.step(
        "printf 'a\\nb\\n' | udp-client --timeout 100ms -v: if 'a' is resent before its answer comes, \
         answers to 'a' are still on their way when 'b' is sent",
        "could the client print A as the answer to b?",
    );
    let done = netlab(
        run,
        "udp-client --timeout 100ms -v -p",
        &[&server.port_arg()],
        b"a\nb\n",
    )?;
    let told = |l: &&str| l.contains("resending") || l.contains("late");
    for line in done.stderr.lines().filter(told) {
        run.say(&format!("the client's -v log: {}", line.trim()));
    }
    let resends = done.stderr.lines().filter(|l| l.contains("resending")).count();
    let skipped = done.stderr.lines().filter(|l| l.contains("late reply")).count();
    let printed: Vec<&str> = done.stdout.lines().collect();
    run.observe(
        &format!(
            "udp-client printed {}; {resends} resends, {skipped} late replies skipped",
            printed.join(" then ")
        ),
        json!({"source": "the client's -v log", "printed": printed, "resends": resends, "skipped": skipped}),
    );
    let answered = server.stop().lines().filter(|l| l.contains("answered")).count();
    run.observe(
        &format!("the server's -v log: {answered} datagrams answered for the client's 2 lines"),
        json!({"source": "the server's -v log", "answered": answered}),
    );
    let ok = printed == ["A", "B"] && resends > 0;
    Ok(run.judge(
        ok,
        &format!(
            "{} after {}",
            printed.join(" then "),
            count(resends, "resend", "resends")
        ),
        "answers to the resends arrived late, and none was taken for the reply to the next line",
        "A then B, with resends whose late answers could have been mistaken",
    ))
}

pub fn rtt(run: &mut Run) -> anyhow::Result<bool> {
    let mut args = vec!["udp-server", "--reply", "pong"];
    if run.control() {
        args.extend(["--drop", "0.5", "--seed", "3"]);
    }
    run.step(
        &format!("a UDP server: netlab {}", args.join(" ")),
        "how long is a round trip on loopback?",
    );
    let server = run.server(&args)?;
    let cmd = "udp-client --count 5 --interval 200ms --max-wait 500ms -p";
    run.step(
        &format!(
            "{cmd} {}: ping mode, a probe every 0.2 s, lost after 0.5 s without answer",
            server.port()
        ),
        "how many of the five come back?",
    );
    let done = netlab(run, cmd, &[&server.port_arg()], b"")?;
    for line in done.stdout.lines() {
        run.say(&format!("udp-client: {line}"));
    }
    let times: Vec<f64> = done
        .stdout
        .lines()
        .filter_map(|l| field(l, "time")?.parse().ok())
        .collect();
    let (min, max) = (
        times.iter().copied().reduce(f64::min),
        times.iter().copied().reduce(f64::max),
    );
    let summary = done.stdout.lines().last().unwrap_or("").to_string();
    run.observe(
        &format!(
            "{} timed, from {:.3} to {:.3} ms: loopback never leaves this machine",
            count(times.len(), "reply", "replies"),
            min.unwrap_or(0.0),
            max.unwrap_or(0.0)
        ),
        json!({"rtt_ms": times, "summary": summary}),
    );
    let ok = times.len() == 5 && summary.starts_with("5 sent, 5 received, 0.0% loss, rtt min/avg/max");
    Ok(run.judge(
        ok,
        &format!("{summary:?}"),
        "every probe came back, each timed from its send to its reply",
        "5 sent, 5 received, 0.0% loss",
    ))
}

pub fn broadcast(run: &mut Run) -> anyhow::Result<bool> {
    let server = if run.control() {
        run.step(
            "no server this time: a free port nobody listens on",
            "who will answer a broadcast?",
        );
        None
    } else {
        run.step(
            "a UDP server bound to 0.0.0.0, every address of this machine, so a broadcast reaches it",
            "would a server bound to 127.0.0.1 alone hear a datagram sent to 127.255.255.255?",
        );
        Some(run.server(&["udp-server", "--bind", "0.0.0.0"])?)
    };
    let port = match &server {
        Some(s) => s.port(),
        None => free_port()?,
    };
    let on_port = udp_table().into_iter().filter(|r| r.local.port() == port);
    let rows: Vec<String> = on_port.map(|r| r.local.to_string()).collect();
    run.observe(
        &format!("/proc/net/udp: sockets on port {port}: {}", listed(&rows, ", ", "none")),
        json!({"source": "/proc/net/udp", "sockets": rows}),
    );
    let cmd = "udp-client --broadcast 127.255.255.255 who --timeout 300ms -p";
    run.step(
        &format!("{cmd} {port}: SO_BROADCAST, one datagram to the loopback network's broadcast address, then every reply until the timeout"),
        "whose address will the replies carry?",
    );
    let done = netlab(run, cmd, &[&port.to_string()], b"")?;
    for line in done.stdout.lines() {
        run.say(&format!("reply (sender, then the answer): {line}"));
    }
    let replies: Vec<&str> = done.stdout.lines().filter(|l| l.ends_with(" WHO")).collect();
    let (n, code, took) = (count(replies.len(), "reply", "replies"), done.code(), secs(done.took));
    run.observe(
        &format!("{n}, exit {code} after {took} (it listened until the timeout)"),
        json!({"replies": replies, "exit": code, "took_s": done.took.as_secs_f64()}),
    );
    Ok(run.judge(
        !replies.is_empty() && code == 0,
        &format!("{n} to one broadcast"),
        "the datagram reached the server bound to 0.0.0.0, which answered from its own address on the loopback interface",
        "a reply with its sender",
    ))
}
