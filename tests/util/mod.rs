//! Test helpers: run the binary, wait for its ready line, always kill it.
#![allow(dead_code)]

pub mod tcp;

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

/// The binary under test: this build's, or `NETLAB_BIN` (to run a test
/// against another build, such as the one before a fix).
pub fn bin() -> PathBuf {
    std::env::var_os("NETLAB_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_netlab")), PathBuf::from)
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
    /// The thread copying the server's stderr; joined once the server exits,
    /// so everything it wrote has been read.
    stderr_reader: Option<thread::JoinHandle<()>>,
}

/// How many stdout lines may come before the ready line (a test harness
/// child prints its own first).
const LINES_BEFORE_READY: usize = 20;

impl Server {
    /// Starts `netlab ARGS -p 0` and waits for `server ready on ADDR`.
    pub fn start(args: &[&str]) -> Server {
        let mut all: Vec<&str> = args.to_vec();
        if !args.contains(&"--unix") && !args.contains(&"-p") {
            all.extend(["-p", "0"]);
        }
        Server::spawn(netlab(&all), &format!("{args:?}"))
    }

    /// Starts `netlab ARGS -p 0` with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-p", "0"]);
        let mut cmd = netlab(&all);
        cmd.envs(env.iter().copied());
        Server::spawn(cmd, &format!("{args:?} with {env:?}"))
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

    /// Runs `cmd` and waits for its ready line (any program that prints one).
    pub fn spawn(mut cmd: Command, what: &str) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stderr_reader = child.stderr.take().map(|mut err| {
            let sink = Arc::clone(&stderr);
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().map(|mut s| s.extend_from_slice(&buf[..n])).ok();
                }
            })
        });
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(out);
            for _ in 0..LINES_BEFORE_READY {
                let mut line = String::new();
                if lines.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(addr) = netlab::ready::parse(&line) {
                    let _ = tx.send(addr.to_string());
                    break;
                }
            }
            // Keep reading so the server never blocks on a full stdout pipe.
            let _ = std::io::copy(&mut lines, &mut std::io::sink());
        });
        let mut server = Server {
            child,
            addr: String::new(),
            stderr,
            stderr_reader,
        };
        match rx.recv_timeout(READY_WITHIN) {
            Ok(addr) => server.addr = addr,
            Err(e) => {
                let _ = server.child.kill();
                let _ = server.child.wait();
                server.join_stderr();
                panic!("no ready line from {what}: {e}; stderr: {}", server.stderr_text());
            }
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

    /// Waits (bounded) until the server's stderr contains `needle`; false if it never did.
    pub fn wait_for_stderr(&self, needle: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.stderr_text().contains(needle) {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.stderr_text().contains(needle)
    }

    /// Waits (bounded) until `count` lines of stderr match `pred`.
    pub fn wait_for_lines(&self, count: usize, limit: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let start = Instant::now();
        loop {
            if self.stderr_text().lines().filter(|l| pred(l)).count() >= count {
                return true;
            }
            if start.elapsed() >= limit {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn join_stderr(&mut self) {
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
    }

    /// Sends SIGTERM and waits (bounded) for the exit; returns the status and all of stderr.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let status = self
            .wait_exit(Duration::from_secs(10))
            .expect("server did not exit after SIGTERM");
        (status, self.stderr_text())
    }

    /// Sends `sig` to the server.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig);
    }

    /// Waits up to `limit` for the server to exit by itself; once it has,
    /// all of its stderr has been read.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.join_stderr();
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
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

/// Whether tests of `mode` must be skipped here, saying why: io_uring can be
/// refused by the kernel (a seccomp profile, `kernel.io_uring_disabled`).
/// Where it works, nothing is skipped; and with `NETLAB_REQUIRE_URING` set
/// (CI sets it where its probe found io_uring working) a refusal fails the
/// test instead of skipping it, so a broken check cannot turn them green.
pub fn skip_mode(mode: &str) -> bool {
    static URING: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    if mode != "uring" {
        return false;
    }
    match URING.get_or_init(|| netlab::server::uring::check().map_err(|e| e.to_string())) {
        Ok(()) => false,
        Err(why) if std::env::var_os("NETLAB_REQUIRE_URING").is_some() => {
            panic!("io_uring was found working, and now: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            true
        }
    }
}

/// Open descriptors of a process, from /proc.
pub fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// A child process killed (and reaped) when dropped, so a failing assert
/// leaves nothing running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The start of a Python peer that serves one client: a listener on a free
/// loopback port whose number is the first line it prints (what
/// [`PyServer::start`] waits for), and `sock`, the accepted connection.
macro_rules! py_accept_one {
    () => {
        "import socket, struct, sys, time, zlib
listener = socket.socket()
listener.bind(('127.0.0.1', 0))
listener.listen(8)
print(listener.getsockname()[1], flush=True)
listener.settimeout(20)
sock, _ = listener.accept()
sock.settimeout(20)
"
    };
}
pub(crate) use py_accept_one;

/// The lesson's `recvall` and the `!I` block header, in Python.
macro_rules! py_recvall {
    () => {
        "import socket, struct, sys, time, zlib
header = struct.Struct('!I')
def recvall(sock, length):
    blocks = []
    while length:
        block = sock.recv(length)
        if not block:
            raise EOFError('socket closed with %d bytes left in this block' % length)
        length -= len(block)
        blocks.append(block)
    return b''.join(blocks)
"
    };
}
pub(crate) use py_recvall;

/// Threads sending `size`-byte datagrams to `target` as fast as the server
/// answers them (and throwing the replies away) until [`Flood::stop`].
///
/// Each sender keeps a small window of datagrams in flight, sized so that
/// every sender's window together takes well under the server's receive
/// buffer (rmem_default, 208 KiB, counts ~768 bytes of overhead per
/// datagram): the server is never idle, yet another client's datagram
/// always finds room. A flood that overfilled the buffer would make the
/// canary depend on winning a race for the last free slot.
pub struct Flood {
    stop: Arc<std::sync::atomic::AtomicBool>,
    senders: Vec<thread::JoinHandle<u64>>,
}

impl Flood {
    /// Starts the senders and returns once 1,000 datagrams have been
    /// answered (bounded by 10 s): the flood is on.
    pub fn start(target: SocketAddr, size: usize, threads: usize) -> Flood {
        const WARM: u64 = 1000;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let answered = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let window = (48 * 1024 / (size + 768) / threads.max(1)).max(1);
        let senders = (0..threads)
            .map(|_| {
                let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
                thread::spawn(move || {
                    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
                    sock.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
                    let datagram = vec![b'f'; size];
                    let mut sink = vec![0u8; 65_536];
                    let (mut sent, mut in_flight) = (0u64, 0usize);
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        while in_flight < window && sock.send_to(&datagram, target).is_ok() {
                            sent += 1;
                            in_flight += 1;
                        }
                        match sock.recv(&mut sink) {
                            Ok(_) => {
                                in_flight = in_flight.saturating_sub(1);
                                answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            // Nothing for 20 ms: the window was lost (or the server stopped).
                            Err(_) => in_flight = 0,
                        }
                    }
                    sent
                })
            })
            .collect();
        let started = Instant::now();
        while answered.load(std::sync::atomic::Ordering::Relaxed) < WARM && started.elapsed() < Duration::from_secs(10)
        {
            thread::sleep(Duration::from_millis(5));
        }
        Flood { stop, senders }
    }

    /// While the flood runs: `udp-client` asks `port` for "canary" with retries
    /// (50 ms, doubling, up to 5 s) and must get "CANARY" back.
    pub fn assert_canary_answered(&self, port: &str) {
        let canary = netlab_out(&[
            "udp-client",
            "127.0.0.1",
            "canary",
            "-p",
            port,
            "--timeout",
            "50ms",
            "--max-wait",
            "5s",
        ]);
        assert_eq!(code(&canary), 0, "{}", text(&canary.stderr));
        assert_eq!(text(&canary.stdout), "CANARY\n");
    }

    /// Stops the flood; returns how many datagrams were sent.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        std::mem::take(&mut self.senders)
            .into_iter()
            .map(|s| s.join().unwrap_or(0))
            .sum()
    }
}

/// A failed assertion never leaves senders running into the next test.
impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One test module per behaviour, one `#[test]` per mode in the list:
/// `every_mode!([thread, poll] => upper_echo, idle_timeout);` calls
/// `upper_echo("thread")` and `upper_echo("poll")`, and so on.
macro_rules! every_mode {
    ($modes:tt => $($behaviour:ident),* $(,)?) => {
        $( crate::util::every_mode!(@one $modes $behaviour); )*
    };
    (@one [$($mode:ident),*] $behaviour:ident) => {
        mod $behaviour {
            $(
                #[test]
                fn $mode() {
                    if crate::util::skip_mode(stringify!($mode)) {
                        return;
                    }
                    super::$behaviour(stringify!($mode))
                }
            )*
        }
    };
}
pub(crate) use every_mode;

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
