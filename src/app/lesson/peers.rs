//! What the web lessons talk with: python3's standard library as the
//! independent peer (a client script or a server, killed on drop), and a
//! raw HTTP/1.1 client over a `TcpStream` so nothing normalises a request.

use super::kit::{Child, Run, wait_until};
use anyhow::Context;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// How long any one exchange may take on a loaded machine.
pub(super) const LIMIT: Duration = Duration::from_secs(10);
/// The most a raw reply may hold.
pub(super) const MAX_REPLY: usize = 1 << 20;

/// python3 (standard library only), the lessons' independent peer; killed when dropped.
pub(super) struct Python {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    err: Arc<Mutex<String>>,
}

impl Python {
    pub(super) fn start(script: &str, args: &[&str]) -> anyhow::Result<Python> {
        let mut child = super::kit::spawn_watched(
            Command::new("python3")
                .arg("-c")
                .arg(script)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
        .context("cannot start python3 (the lessons' independent peer)")?;
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let err = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = child.stderr.take() {
            let into = Arc::clone(&err);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut all) = into.lock() {
                        all.push_str(&line);
                        all.push('\n');
                    }
                }
            });
        }
        Ok(Python { child, lines, err })
    }

    /// Its next stdout line, as JSON.
    pub(super) fn json(&self) -> anyhow::Result<Value> {
        let Ok(line) = self.lines.recv_timeout(LIMIT) else {
            wait_until(Duration::from_secs(1), || Arc::strong_count(&self.err) == 1);
            let err = self.err.lock().map(|e| e.trim().to_string()).unwrap_or_default();
            anyhow::bail!("python3 printed nothing: {err}");
        };
        serde_json::from_str(&line).with_context(|| format!("python3 printed {line:?}"))
    }

    /// One line to its stdin (the script waits for it).
    pub(super) fn go_on(&mut self) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.write_all(b"\n").and_then(|()| stdin.flush());
        }
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        super::kit::forget(&mut self.child);
    }
}

/// One response read off a raw connection.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) head: String,
    pub(super) body: Vec<u8>,
}

impl Reply {
    pub(super) fn header(&self, name: &str) -> &str {
        let value = self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        });
        value.unwrap_or("-")
    }

    pub(super) fn status_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
}

/// A raw HTTP/1.1 connection: each request goes out byte for byte.
pub(super) struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub(super) fn connect(port: u16) -> anyhow::Result<Raw> {
        let stream = TcpStream::connect(("127.0.0.1", port)).context("cannot connect")?;
        stream.set_read_timeout(Some(LIMIT))?;
        Ok(Raw {
            stream,
            buf: Vec::new(),
        })
    }

    /// `GET target` with `extra` header lines (each ending in CRLF).
    pub(super) fn get(&mut self, target: &str, extra: &str) -> anyhow::Result<Reply> {
        self.send(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n").as_bytes())
    }

    /// Reads more; false at the end of the stream.
    pub(super) fn fill(&mut self) -> anyhow::Result<bool> {
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk).context("reading the reply")?;
        self.buf.extend(chunk.iter().take(n));
        anyhow::ensure!(self.buf.len() <= MAX_REPLY, "a reply of over {MAX_REPLY} bytes");
        Ok(n > 0)
    }

    pub(super) fn send(&mut self, request: &[u8]) -> anyhow::Result<Reply> {
        self.stream.write_all(request).context("sending the request")?;
        let mut end = None;
        for _ in 0..MAX_REPLY {
            end = self.buf.windows(4).position(|w| w == b"\r\n\r\n");
            if end.is_some() || !self.fill()? {
                break;
            }
        }
        let end = end.context("the server closed the connection without a reply")? + 4;
        let head = String::from_utf8_lossy(self.buf.drain(..end).as_slice()).into_owned();
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut reply = Reply {
            status,
            head,
            body: Vec::new(),
        };
        let length = match reply.header("Content-Length").parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) if matches!(status, 100..=199 | 204 | 304) => Some(0),
            Err(_) => None, // to the end of the stream
        };
        for _ in 0..MAX_REPLY {
            if length.is_some_and(|n| self.buf.len() >= n) || !self.fill()? {
                break;
            }
        }
        let take = length.unwrap_or(self.buf.len()).min(self.buf.len());
        reply.body = self.buf.drain(..take).collect();
        Ok(reply)
    }
}

/// `http://127.0.0.1:PORT` of a server.
pub(super) fn url(server: &Child) -> String {
    format!("http://127.0.0.1:{}", server.port())
}

/// Makes `run.dir()/site` holding `files` (name, contents; `a/b` makes `a`).
pub(super) fn site(run: &Run, files: &[(&str, &[u8])]) -> anyhow::Result<String> {
    let root = run.dir().join("site");
    for (name, data) in files {
        let path = root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, data).with_context(|| format!("cannot write {}", path.display()))?;
    }
    std::fs::create_dir_all(&root)?;
    Ok(root.to_string_lossy().into_owned())
}

/// A verdict's `seen` from named checks: every effect when all held, else the ones missing.
pub(super) fn checks(list: &[(bool, &str)]) -> (bool, String) {
    let missing: Vec<&str> = list.iter().filter(|(ok, _)| !ok).map(|(_, what)| *what).collect();
    if missing.is_empty() {
        (true, list.iter().map(|(_, what)| *what).collect::<Vec<_>>().join("; "))
    } else {
        (false, format!("not seen: {}", missing.join("; ")))
    }
}

/// A field of a JSON object (null when absent).
pub(super) fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&Value::Null)
}

/// A JSON value as text (a string without its quotes).
pub(super) fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

pub(super) fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

/// Waits until the server has logged `n` access lines (`-v`), then its log.
pub(super) fn after_requests(server: &Child, n: usize) -> String {
    wait_until(LIMIT, || count(&server.log(), " HTTP/1.1\" ") >= n);
    server.log()
}

/// The text from `start` to `end` (both included) in `log`.
pub(super) fn between<'a>(log: &'a str, start: &str, end: &str) -> &'a str {
    let from = log.find(start).unwrap_or(log.len());
    let to = log
        .get(from..)
        .and_then(|t| t.find(end))
        .map_or(from, |i| from + i + end.len());
    log.get(from..to).unwrap_or("")
}
