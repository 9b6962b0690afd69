//! The web server lessons: a listing, the request head and 304, ranges,
//! and `..` that must not get out.

use super::kit::{Run, wait_until};
use super::peers::*;
use serde_json::json;

pub fn web_server(run: &mut Run) -> anyhow::Result<bool> {
    run.step(
        "a directory: notes.txt, style.css, data.json, a file named <b>.txt (a name that is HTML) and a subdirectory sub/",
        "in what order will the listing show them, and how must <b>.txt be written in HTML?",
    );
    let files: [(&str, &[u8]); 5] = [
        ("notes.txt", b"plain text\n"),
        ("style.css", b"body { color: navy }\n"),
        ("data.json", b"{\"ok\": true}\n"),
        ("<b>.txt", b"not bold\n"),
        ("sub/inner.txt", b"inside\n"),
    ];
    let root = site(run, &files)?;
    let mut args = vec!["http", "server", root.as_str(), "-v"];
    if run.control() {
        run.say("control: the server runs with --no-listing");
        args.push("--no-listing");
    }
    let server = run.server(&args)?;
    let url = url(&server);
    run.step(
        &format!("netlab http get {url}/"),
        "what does a web server send for a directory?",
    );
    let done = run.netlab(&["http", "get", &format!("{url}/")], b"", LIMIT)?;
    let items: Vec<&str> = done.stdout.lines().filter(|l| l.starts_with("<li>")).collect();
    run.observe(
        &format!(
            "netlab http get: exit {}, {} bytes of HTML, {} <li> lines: {}{}",
            done.code(),
            done.stdout.len(),
            items.len(),
            items.join(" "),
            done.stderr.trim()
        ),
        json!({"source": "netlab http get", "exit": done.code(), "items": items}),
    );
    let first_file = items.iter().position(|l| !l.contains("/\">"));
    let dirs_first = items.first().is_some_and(|l| l.contains(">sub/<")) && first_file == Some(1);
    let escaped = done.stdout.contains(">&lt;b&gt;.txt<") && !done.stdout.contains("<b>.txt");
    run.step(
        "netlab http get -i on style.css and data.json",
        "how does a browser know a file is CSS?",
    );
    let mut typed = true;
    for (name, kind) in [("style.css", "text/css"), ("data.json", "application/json")] {
        let done = run.netlab(&["http", "get", "-i", &format!("{url}/{name}")], b"", LIMIT)?;
        let head: Vec<&str> = done
            .stdout
            .lines()
            .filter(|l| l.starts_with("HTTP/") || l.starts_with("Content-"))
            .collect();
        typed &= head
            .iter()
            .any(|l| l.eq_ignore_ascii_case(&format!("content-type: {kind}")));
        run.observe(
            &format!("netlab http get -i /{name}: {}", head.join(" | ")),
            json!({"source": "netlab http get -i", "head": head}),
        );
    }
    let log = after_requests(&server, 3);
    let access: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"GET "))
        .filter_map(|l| l.split("}: ").nth(1))
        .collect();
    run.observe(
        &format!(
            "the server's -v log, one access line per request: {}",
            access.join(" · ")
        ),
        json!({"source": "the server's -v log", "access": access}),
    );
    let (ok, seen) = checks(&[
        (dirs_first, "a listing with the directory sub/ first"),
        (escaped, "<b>.txt written &lt;b&gt;.txt"),
        (typed, "text/css and application/json"),
    ]);
    Ok(run.judge(
        ok,
        &seen,
        "a directory becomes an HTML page a browser can follow, a file goes out with its type",
        "a listing, directories first, names escaped, and each file's Content-Type",
    ))
}

const PY_HEAD: &str = r#"
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
h = {"Accept": "text/html", "User-Agent": "lesson (nearly a browser)"}
for load in (1, 2):
    c.request("GET", "/page.html", headers=h)
    r = c.getresponse()
    body = r.read()
    print(json.dumps({"status": r.status, "reason": r.reason, "etag": r.getheader("ETag"), "bytes": len(body)}), flush=True)
    if sys.argv[2] == "validate":
        h["If-None-Match"] = r.getheader("ETag") or ""
    sys.stdin.readline()
"#;

/// The request heads in a `-vv` log (`< ` lines), one Vec per request.
fn heads(log: &str) -> Vec<Vec<&str>> {
    let mut all: Vec<Vec<&str>> = Vec::new();
    for line in log.lines().filter_map(|l| l.split_once("}: < ").map(|(_, h)| h)) {
        if line.starts_with("GET ") || all.is_empty() {
            all.push(Vec::new());
        }
        if let Some(last) = all.last_mut() {
            last.push(line);
        }
    }
    all
}

pub fn browser_head(run: &mut Run) -> anyhow::Result<bool> {
    run.step(
        "a web server with -vv: its log shows each request head as it arrives",
        "what does a client say besides the path?",
    );
    let root = site(run, &[("page.html", b"<h1>hello</h1>\n")])?;
    let server = run.server(&["http", "server", &root, "-vv"])?;
    run.step(
        "Python's http.client loads /page.html, as a browser would",
        "which lines will the head hold, and what will the server give the client to remember the page by?",
    );
    let port = server.port_arg();
    let validate = if run.control() { "forget" } else { "validate" };
    let mut py = Python::start(PY_HEAD, &[&port, validate])?;
    let first = py.json()?;
    run.observe(
        &format!(
            "Python's http.client: {} {}, {} bytes, ETag {}",
            field(&first, "status"),
            text(field(&first, "reason")),
            field(&first, "bytes"),
            text(field(&first, "etag"))
        ),
        json!({"source": "python3 http.client", "reply": first}),
    );
    wait_until(LIMIT, || !heads(&server.log()).is_empty());
    let log = server.log();
    let one = heads(&log).into_iter().next().unwrap_or_default();
    for line in &one {
        run.say(&format!("the server's -vv log: < {line}"));
    }
    let host = format!("Host: 127.0.0.1:{port}");
    let head_ok = one.first() == Some(&"GET /page.html HTTP/1.1") && one.contains(&host.as_str());
    run.step(
        "the second load sends the ETag back as If-None-Match",
        "the page has not changed: what must the server send, and how many bytes of body?",
    );
    if run.control() {
        run.say("control: the client forgets the ETag and sends no If-None-Match");
    }
    py.go_on();
    let second = py.json()?;
    run.observe(
        &format!(
            "Python's http.client: {} {}, {} bytes of body",
            field(&second, "status"),
            text(field(&second, "reason")),
            field(&second, "bytes")
        ),
        json!({"source": "python3 http.client", "reply": second}),
    );
    wait_until(LIMIT, || heads(&server.log()).len() >= 2);
    let log = server.log();
    if let Some(line) = heads(&log)
        .get(1)
        .and_then(|h| h.iter().find(|l| l.starts_with("If-None-Match")))
    {
        run.say(&format!("the server's -vv log: < {line}"));
    }
    let not_modified = *field(&second, "status") == json!(304) && *field(&second, "bytes") == json!(0);
    let (ok, seen) = checks(&[
        (head_ok, "the request head line by line in the -vv log"),
        (not_modified, "the second load 304 Not Modified with no body"),
    ]);
    Ok(run.judge(
        ok,
        &seen,
        "the client said what it wanted and what it already had; the server sent no body again",
        "the head in the log and 304 Not Modified with no body",
    ))
}

/// 1000 bytes that show where they came from.
fn file_bytes() -> Vec<u8> {
    (0..1000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// `GET /big.bin` with `Range: bytes=RANGE` (none in the control), narrated.
fn ask(run: &Run, raw: &mut Raw, range: &str) -> anyhow::Result<Reply> {
    let header = if run.control() {
        String::new()
    } else {
        format!("Range: bytes={range}\r\n")
    };
    let reply = raw.get("/big.bin", &header)?;
    let with = header.trim_end();
    let span = reply.header("Content-Range");
    run.observe(
        &format!(
            "GET /big.bin {with} → {}, Content-Range: {span}, {} bytes of body",
            reply.status_line(),
            reply.body.len()
        ),
        json!({"source": "the raw reply", "range": with, "status": reply.status, "content_range": span, "bytes": reply.body.len()}),
    );
    Ok(reply)
}

pub fn ranges(run: &mut Run) -> anyhow::Result<bool> {
    let data = file_bytes();
    run.step(
        "a web server and a file of 1000 bytes, big.bin",
        "can a client ask for just part of it?",
    );
    let root = site(run, &[("big.bin", &data)])?;
    let server = run.server(&["http", "server", &root])?;
    let mut raw = Raw::connect(server.port())?;
    let control = run.control();
    run.step(
        "raw over one connection: GET with Range: bytes=0-99",
        "what status, and how many bytes?",
    );
    if control {
        run.say("control: every request without its Range header");
    }
    let head = ask(run, &mut raw, "0-99")?;
    let part = head.status == 206 && head.header("Content-Range") == "bytes 0-99/1000" && head.body.len() == 100;
    run.step(
        "Range: bytes=5000- (past the end of the file)",
        "what can a server say to a range it cannot serve?",
    );
    let past = ask(run, &mut raw, "5000-")?;
    let refused = past.status == 416 && past.header("Content-Range") == "bytes */1000";
    run.step(
        "resuming: the download stopped after 100 bytes, so Range: bytes=100-",
        "will the two parts make the file?",
    );
    let rest = ask(run, &mut raw, "100-")?;
    let joined = [head.body, rest.body].concat();
    let whole = joined == data;
    run.observe(
        &format!(
            "the two parts joined: {} bytes, {} the file",
            joined.len(),
            if whole { "exactly" } else { "not" }
        ),
        json!({"joined_bytes": joined.len(), "same_as_file": whole}),
    );
    let (ok, seen) = checks(&[
        (part, "206 with bytes 0-99/1000 and 100 bytes"),
        (refused, "416 past the end"),
        (whole, "the two parts joined into the file"),
    ]);
    Ok(run.judge(
        ok,
        &seen,
        "a client can fetch any part and resume where it stopped",
        "206, 416 and a file put together again",
    ))
}

pub fn dotdot(run: &mut Run) -> anyhow::Result<bool> {
    run.step(
        "a site directory with index.html; next to it, outside the site, secret.txt; inside it, `link`, a symlink to secret.txt",
        "which requests could reach secret.txt?",
    );
    let root = site(run, &[("index.html", b"<h1>the site</h1>\n")])?;
    let secret = run.dir().join("secret.txt");
    std::fs::write(&secret, b"the password is swordfish\n")?;
    std::os::unix::fs::symlink(&secret, run.dir().join("site/link"))?;
    let mut args = vec!["http", "server", root.as_str(), "-v"];
    if run.control() {
        run.say("control: the server runs with --follow-symlinks");
        args.push("--follow-symlinks");
    }
    let server = run.server(&args)?;
    run.step(
        "raw requests over TcpStream, so no client tidies the path: /index.html, then every way to say `..`, and the link",
        "what must each of them get?",
    );
    let targets = [
        "/index.html",
        "/../secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/./../secret.txt",
        "/link",
    ];
    let mut kept_out = true;
    for target in targets {
        let reply = Raw::connect(server.port())?.get(target, "Connection: close\r\n")?;
        let leaked = reply.body.windows(9).any(|w| w == b"swordfish");
        let body = String::from_utf8_lossy(&reply.body)
            .trim()
            .chars()
            .take(40)
            .collect::<String>();
        run.observe(
            &format!("GET {target} → {} ({body})", reply.status_line()),
            json!({"source": "the raw reply", "target": target, "status": reply.status, "secret_leaked": leaked}),
        );
        kept_out &= if target == "/index.html" {
            reply.status == 200
        } else {
            reply.status == 404 && !leaked
        };
    }
    let log = after_requests(&server, 1);
    if let Some(line) = log.lines().find(|l| l.contains("outside the root")) {
        run.say(&format!(
            "the server's -v log: {}",
            line.split("}: ").nth(1).unwrap_or(line)
        ));
    }
    run.say("(--follow-symlinks would let /link through: the control runs that way)");
    Ok(run.judge(
        kept_out,
        if kept_out {
            "every .. and the link got 404, index.html 200"
        } else {
            "a request got out of the site"
        },
        "the target is decoded once, each segment checked, and the real path checked after the OS followed the links",
        "404 for every way out",
    ))
}
