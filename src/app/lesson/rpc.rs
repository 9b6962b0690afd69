//! The XML-RPC lessons: Python's own client, the XML on the wire,
//! keep-alive, and faults that travel as answers.

use super::kit::Run;
use super::peers::*;
use serde_json::{Value, json};

const PY_ADD: &str = r#"
import json, sys, xmlrpc.client
try:
    print(json.dumps({"result": xmlrpc.client.ServerProxy(sys.argv[1]).addtogether(1, 2, 3)}))
except Exception as e:
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
"#;

/// Python's `ServerProxy(url).addtogether(1, 2, 3)`, narrated; true when 6.
fn python_adds(run: &Run, url: &str) -> anyhow::Result<bool> {
    let out = Python::start(PY_ADD, &[url])?.json()?;
    let printed = out
        .get("result")
        .map_or_else(|| field(&out, "error").to_string(), Value::to_string);
    run.observe(
        &format!("Python's xmlrpc.client printed: {printed}"),
        json!({"source": "python3 xmlrpc.client", "reply": out}),
    );
    Ok(out.get("result") == Some(&json!(6)))
}

pub fn rpc(run: &mut Run) -> anyhow::Result<bool> {
    run.step(
        "an XML-RPC server: a call is an HTTP POST whose body names the method and its arguments in XML",
        "what must a client in another language know to call a function on it?",
    );
    let server = if run.control() {
        run.say("control: a plain web server on that port instead, one that does not speak XML-RPC");
        let root = site(run, &[])?;
        run.server(&["http", "server", &root])?
    } else {
        run.server(&["rpc", "server"])?
    };
    let url = url(&server);
    run.step(
        &format!("Python's own client, unchanged: xmlrpc.client.ServerProxy('{url}').addtogether(1, 2, 3)"),
        "what will Python print, and did it need any netlab code?",
    );
    let six = python_adds(run, &url)?;
    run.step(
        "netlab rpc call: the roots of x² - 3x + 2 = (x - 1)(x - 2), then of 2x² - 6x + 4 = 2(x - 1)(x - 2)",
        "the same roots twice? the tutorial's (-b ± √d) / 2.0*a multiplies by a instead of dividing",
    );
    let mut right = true;
    for abc in [["1", "-3", "2"], ["2", "-6", "4"]] {
        let args = [&["rpc", "call", url.as_str(), "quadratic"][..], &abc[..]].concat();
        let done = run.netlab(&args, b"", LIMIT)?;
        let printed = format!("{}{}", done.stdout.trim(), done.stderr.trim());
        right &= done.stdout.trim() == "[2.0,1.0]" && done.code() == 0;
        run.observe(
            &format!(
                "netlab rpc call … quadratic {}: {printed} (exit {})",
                abc.join(" "),
                done.code()
            ),
            json!({"source": "netlab rpc call", "args": abc, "printed": printed, "exit": done.code()}),
        );
    }
    run.say("(the tutorial's (-b ± √d) / 2.0*a is ((-b ± √d) / 2.0) * a: [8.0,4.0] for the second equation)");
    let (ok, seen) = checks(&[
        (six, "Python's unchanged client got 6"),
        (right, "netlab rpc call got [2.0,1.0] for both equations"),
    ]);
    Ok(run.judge(
        ok,
        &seen,
        "a remote call looks like a local one, whichever language's client makes it",
        "6 from Python and [2.0,1.0] twice",
    ))
}

pub fn rpc_wire(run: &mut Run) -> anyhow::Result<bool> {
    let level = if run.control() { "-v" } else { "-vv" };
    run.step(
        &format!("an XML-RPC server with {level}: its log (stderr) shows what crosses the socket"),
        "will the XML show on the server's stdout or its stderr?",
    );
    let server = run.server(&["rpc", "server", level])?;
    run.step(
        "Python's xmlrpc.client calls addtogether(1, 2, 3), one POST",
        "what does the integer 1 look like on the wire?",
    );
    python_adds(run, &url(&server))?;
    let log = after_requests(&server, 1);
    run.step(
        "what the server logged",
        "how many bytes of XML to send three small integers?",
    );
    let call = between(&log, "<methodCall>", "</methodCall>");
    let answer = between(&log, "<methodResponse>", "</methodResponse>");
    for (what, xml) in [("the request", call), ("the response", answer)] {
        let lines: Vec<&str> = xml.lines().collect();
        let shown = if xml.is_empty() {
            "no XML".to_string()
        } else {
            format!("{} bytes of XML: {}", xml.len(), lines.join(" "))
        };
        run.observe(
            &format!("the server's {level} log, {what}: {shown}"),
            json!({"source": "the server's log", "xml": lines}),
        );
    }
    let ok = call.contains("<value><int>1</int></value>") && answer.contains("<value><int>6</int></value>");
    let seen = if ok {
        "the log holds the <methodCall> with <value><int>1</int></value> and the response's <value><int>6</int></value>"
    } else {
        "no XML in the server's log"
    };
    Ok(run.judge(
        ok,
        seen,
        "a remote call is a text document each way, and -vv shows it",
        "the <methodCall> and <methodResponse> XML in the -vv log",
    ))
}

const PY_CALLS: &str = r#"
import json, sys, time, xmlrpc.client as x
url, fresh, right = sys.argv[1], sys.argv[2] == "fresh", 0
t = time.perf_counter()
if fresh:
    for i in range(100):
        with x.ServerProxy(url) as p:
            right += p.addtogether(i, 1) == i + 1
else:
    p = x.ServerProxy(url)
    for i in range(100):
        right += p.addtogether(i, 1) == i + 1
print(json.dumps({"right": right, "us_per_call": (time.perf_counter() - t) * 1e4}), flush=True)
sys.stdin.readline()
"#;

/// 100 calls from one proxy (or a new one each time): the connections they
/// opened (none counted unless every answer was right), and µs a call.
fn hundred_calls(run: &Run, fresh: bool) -> anyhow::Result<(usize, f64)> {
    let server = run.server(&["rpc", "server", "-v"])?;
    let py = Python::start(PY_CALLS, &[&url(&server), if fresh { "fresh" } else { "one" }])?;
    let out = py.json()?;
    let us = field(&out, "us_per_call").as_f64().unwrap_or(f64::NAN);
    run.observe(
        &format!("Python: {} of 100 calls right, {us:.0} µs a call", field(&out, "right")),
        json!({"source": "python3 xmlrpc.client", "right": field(&out, "right"), "us_per_call": us}),
    );
    let log = after_requests(&server, 100);
    let opened = count(&log, "connection opened");
    run.observe(
        &format!("the server's -v log: {opened} `connection opened` line(s) for 100 calls"),
        json!({"source": "the server's -v log", "connections_opened": opened}),
    );
    let port = server.port();
    let rows = netlab::kernel::sockets_on(port).unwrap_or_default();
    let open = rows
        .iter()
        .filter(|r| r.local.port() == port && r.state == "ESTAB")
        .count();
    let waiting = rows
        .iter()
        .filter(|r| r.remote.port() == port && r.state == "TIME-WAIT")
        .count();
    run.observe(
        &format!(
            "/proc/net/tcp: {open} connection(s) established to port {port}, {waiting} closed ones in TIME-WAIT \
             on the client's side (the side that closed first keeps each for a minute)"
        ),
        json!({"source": "/proc/net/tcp", "established": open, "time_wait": waiting}),
    );
    let right = *field(&out, "right") == json!(100);
    Ok((if right { opened } else { 0 }, us))
}

pub fn keep_alive(run: &mut Run) -> anyhow::Result<bool> {
    let control = run.control();
    run.step(
        "one Python ServerProxy makes 100 calls to a fresh server (-v logs each connection)",
        "how many TCP connections will the 100 calls use?",
    );
    if control {
        run.say("control: a new ServerProxy for every call here too");
    }
    let (kept, kept_us) = hundred_calls(run, control)?;
    run.step(
        "the same 100 calls with a new ServerProxy each time (`with ServerProxy(url) as p:`)",
        "how many connections now, and what does each call cost?",
    );
    let (fresh, fresh_us) = hundred_calls(run, true)?;
    Ok(run.judge(
        kept == 1 && fresh == 100,
        &format!(
            "one proxy: {kept} connection(s), {kept_us:.0} µs a call; a proxy per call: {fresh} connections, {fresh_us:.0} µs a call"
        ),
        "HTTP/1.1 keep-alive: the calls share one connection, no handshake or TIME-WAIT per call",
        "1 connection for the one proxy and 100 for the proxy per call",
    ))
}

const PY_FAULT: &str = r#"
import json, sys, xmlrpc.client as x
p, out = x.ServerProxy(sys.argv[1]), {}
try:
    out["first"] = p.quadratic(*map(int, sys.argv[2:5]))
except x.Fault as f:
    out["first"] = f"fault {f.faultCode}: {f.faultString}"
out["then"] = p.quadratic(1, -3, 2)
print(json.dumps(out))
"#;

/// An XML-RPC POST of `upper(text)`, cut short when `broken`.
fn upper_call(text: &str, broken: bool) -> Vec<u8> {
    let mut xml =
        format!("<?xml version='1.0'?><methodCall><methodName>upper</methodName><params><param><value><string>{text}");
    if !broken {
        xml.push_str("</string></value></param></params></methodCall>");
    }
    let head = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
        xml.len()
    );
    [head.into_bytes(), xml.into_bytes()].concat()
}

/// Malformed XML, then a good call, over one raw connection: true when a
/// fault came back and the connection answered the next call.
fn malformed(run: &mut Run, port: u16) -> anyhow::Result<bool> {
    run.step(
        "raw over one TcpStream: a POST whose XML is cut short, then a good upper('still here')",
        "malformed XML: a dropped connection, an HTTP error, or a fault?",
    );
    if run.control() {
        run.say("control: the first XML is whole too");
    }
    let mut raw = Raw::connect(port)?;
    let first = raw.send(&upper_call("oops", !run.control()))?;
    let fault = first.status == 200 && first.body.windows(7).any(|w| w == b"<fault>");
    let next = raw
        .send(&upper_call("still here", false))
        .is_ok_and(|r| String::from_utf8_lossy(&r.body).contains("STILL HERE"));
    run.observe(
        &format!(
            "the first call: {}, {}; the next on the same connection: {}",
            first.status_line(),
            if fault { "a <fault> in the body" } else { "no fault" },
            if next { "STILL HERE" } else { "no answer" }
        ),
        json!({"source": "the raw replies", "status": first.status, "fault": fault, "next_answered": next}),
    );
    Ok(fault && next)
}

pub fn faults(run: &mut Run) -> anyhow::Result<bool> {
    let abc: [&str; 3] = if run.control() {
        ["1", "-3", "2"]
    } else {
        ["1", "0", "1"]
    };
    let [a, b, c] = abc;
    run.step(
        "an XML-RPC server (-v logs each connection)",
        "what should a server do with a call it cannot answer?",
    );
    let server = run.server(&["rpc", "server", "-v"])?;
    let url = url(&server);
    run.step(
        &format!(
            "netlab rpc call … quadratic {}: the real roots of {a}x² + {b}x + {c}",
            abc.join(" ")
        ),
        "x² + 1 = 0 has no real root: what comes back, and is the connection dropped?",
    );
    let done = run.netlab(
        &[&["rpc", "call", url.as_str(), "quadratic"][..], &abc[..]].concat(),
        b"",
        LIMIT,
    )?;
    let said = format!("{}{}", done.stdout.trim(), done.stderr.trim());
    run.observe(
        &format!("netlab rpc call: {said} (exit {})", done.code()),
        json!({"source": "netlab rpc call", "printed": said, "exit": done.code()}),
    );
    let cli = done.code() == 1 && said.contains("fault 1: <class 'ValueError'>:math domain error");
    let before = count(&after_requests(&server, 1), "connection opened");
    run.step(
        "Python: one ServerProxy makes that call, then quadratic(1, -3, 2)",
        "after the fault, does the second call need a new connection?",
    );
    let out = Python::start(PY_FAULT, &[&url, a, b, c])?.json()?;
    let conns = count(&after_requests(&server, 3), "connection opened").saturating_sub(before);
    run.observe(
        &format!(
            "Python's xmlrpc.client: first {}, then {}; the server's -v log: {conns} connection(s) for both",
            text(field(&out, "first")),
            field(&out, "then")
        ),
        json!({"source": "python3 xmlrpc.client and the server's -v log", "reply": out, "connections": conns}),
    );
    let py = field(&out, "first").as_str().is_some_and(|f| f.starts_with("fault 1:"))
        && *field(&out, "then") == json!([2.0, 1.0])
        && conns == 1;
    let raw = malformed(run, server.port())?;
    let (ok, seen) = checks(&[
        (cli, "netlab rpc call printed fault 1 and exited 1"),
        (
            py,
            "Python's client got the fault, then the roots on the same connection",
        ),
        (
            raw,
            "the malformed XML got a fault and the connection answered the next call",
        ),
    ]);
    Ok(run.judge(
        ok,
        &seen,
        "an error travels back as an answer and the connection stays usable",
        "a fault every time and no dropped connection",
    ))
}
