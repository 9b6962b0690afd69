//! Test helpers: run the binary, wait for its ready line, always kill it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to print its ready line.
const READY_WITHIN: Duration = Duration::from_secs(15);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_netlab"))
}

pub fn netlab(args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args).env_remove("RUST_LOG");
    cmd
}

/// A running server; killed when dropped, so a failing test leaves nothing behind.
pub struct Server {
    child: Child,
    pub addr: String,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Server {
    /// Starts `netlab ARGS -p 0` and waits for `server ready on ADDR`.
    pub fn start(args: &[&str]) -> Server {
        let mut all: Vec<&str> = args.to_vec();
        if !args.contains(&"--unix") && !args.contains(&"-p") {
            all.extend(["-p", "0"]);
        }
        Server::spawn(netlab(&all), &format!("{args:?}"))
    }

    /// Starts `netlab ARGS -p 0` with at most `files` open descriptors.
    pub fn start_with_fd_limit(files: u32, args: &[&str]) -> Server {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\" -p 0"))
            .arg(bin())
            .args(args)
            .env_remove("RUST_LOG");
        Server::spawn(cmd, &format!("{args:?} with ulimit -n {files}"))
    }

    fn spawn(mut cmd: Command, what: &str) -> Server {
        let args = what;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn netlab");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut err) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().map(|mut s| s.extend_from_slice(&buf[..n])).ok();
                }
            });
        }
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(out);
            let mut line = String::new();
            let _ = lines.read_line(&mut line);
            let _ = tx.send(line);
            // Keep reading so the server never blocks on a full stdout pipe.
            let mut rest = Vec::new();
            let _ = lines.read_to_end(&mut rest);
        });
        let mut server = Server {
            child,
            addr: String::new(),
            stderr,
        };
        match rx.recv_timeout(READY_WITHIN) {
            Ok(line) if line.starts_with("server ready on ") => {
                server.addr = line.trim_end().trim_start_matches("server ready on ").to_string();
            }
            other => panic!(
                "no ready line from {args:?}: {other:?}; stderr: {}",
                server.stderr_text()
            ),
        }
        server
    }

    pub fn port(&self) -> String {
        self.socket_addr().port().to_string()
    }

    pub fn socket_addr(&self) -> SocketAddr {
        self.addr.parse().expect("ready line address")
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stderr_text(&self) -> String {
        self.stderr
            .lock()
            .map(|s| String::from_utf8_lossy(&s).into_owned())
            .unwrap_or_default()
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid()),
            nix::sys::signal::Signal::SIGTERM,
        );
        let status = self
            .wait_exit(Duration::from_secs(10))
            .expect("server did not exit after SIGTERM");
        thread::sleep(Duration::from_millis(50));
        (status, self.stderr_text())
    }

    /// Waits up to `limit` for the server to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command with `stdin` as input, killed after `limit`.
pub fn run(mut cmd: Command, stdin: &[u8], limit: Duration) -> Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let input = stdin.to_vec();
    let mut pipe = child.stdin.take().expect("stdin");
    let writer = thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let out = child.wait_with_output();
        let _ = tx.send(());
        out
    });
    if rx.recv_timeout(limit).is_err() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        let _ = writer.join();
        let out = waiter.join().expect("join").expect("output");
        panic!(
            "command timed out after {limit:?}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = writer.join();
    waiter.join().expect("join").expect("output")
}

/// Runs `netlab ARGS` with no stdin, bounded to 20 s.
pub fn netlab_out(args: &[&str]) -> Output {
    run(netlab(args), b"", Duration::from_secs(20))
}

/// Runs a Python 3 script with arguments, bounded to 60 s.
pub fn python(script: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script).args(args);
    run(cmd, stdin, Duration::from_secs(60))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts equality and prints both sides readably when it fails.
#[track_caller]
pub fn assert_same(expected: &[u8], got: &[u8], what: &str) {
    if expected != got {
        let show = |b: &[u8]| {
            let t = text(b);
            if t.len() > 300 {
                format!("{}… ({} bytes)", &t[..t.floor_char_boundary(300)], b.len())
            } else {
                format!("{t:?}")
            }
        };
        panic!("{what}\nexpected: {}\n     got: {}", show(expected), show(got));
    }
}

/// The exit code, or -1 when killed by a signal.
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// A Python 3 server that prints its port on its first line; killed on drop.
pub struct PyServer {
    child: Child,
    pub port: String,
}

impl PyServer {
    pub fn start(script: &str, args: &[&str]) -> PyServer {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let port = rx
            .recv_timeout(READY_WITHIN)
            .expect("python server port")
            .trim()
            .to_string();
        PyServer { child, port }
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
