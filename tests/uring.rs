//! What only the uring mode has: a ring the kernel may refuse, rings small
//! enough to fill (submission queue, provided buffers), sends the kernel
//! completes in part, and operations in flight at shutdown.

use crate::util::tcp::*;
use crate::util::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

#[test]
fn a_refused_kernel_gets_one_line_and_exit_1() {
    for command in [&["tcp-server"][..], &["framed", "server"], &["rpc", "server"]] {
        for errno in ["EPERM", "ENOSYS", "EINVAL"] {
            let mut args = command.to_vec();
            args.extend(["--mode", "uring", "-p", "0"]);
            let mut cmd = netlab(&args);
            cmd.env("NETLAB_URING_REFUSE", errno);
            let out = run(cmd, b"", Duration::from_secs(20));
            assert_eq!(code(&out), 1, "{command:?} {errno}");
            assert!(out.stdout.is_empty(), "no ready line: {}", text(&out.stdout));
            let stderr = text(&out.stderr);
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(
                stderr.starts_with("netlab: error: io_uring is not available here (")
                    && stderr.trim_end().ends_with("): use --mode poll")
                    && stderr.contains(errno),
                "{stderr}"
            );
        }
    }
}

/// A submission queue of 4 and two 64-byte buffers for 20 busy clients:
/// the queue fills, receives run out of buffers and are re-armed, and
/// every client still gets every byte.
#[test]
fn tiny_rings_fill_up_and_every_byte_still_arrives() {
    if skip_mode("uring") {
        return;
    }
    let env = [
        ("NETLAB_URING_ENTRIES", "4"),
        ("NETLAB_URING_BUFFERS", "2"),
        ("NETLAB_URING_BUFFER_SIZE", "64"),
    ];
    let server = Server::start_with_env(&["tcp-server", "--mode", "uring", "-vv"], &env);
    let addr = server.socket_addr();
    let clients: Vec<_> = (0..20)
        .map(|i| {
            thread::spawn(move || {
                let request: Vec<u8> = (0..10_000u32).map(|j| b'a' + ((i + j) % 26) as u8).collect();
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
                let mut w = s.try_clone().expect("clone");
                let req = request.clone();
                let writer = thread::spawn(move || {
                    w.write_all(&req).expect("send");
                    w.shutdown(Shutdown::Write).expect("half-close");
                });
                let mut reply = Vec::new();
                s.read_to_end(&mut reply).expect("reply");
                writer.join().expect("writer");
                (request.to_ascii_uppercase(), reply)
            })
        })
        .collect();
    for c in clients {
        let (want, got) = c.join().expect("client");
        assert_same(&want, &got, "tiny rings");
    }
    let (status, stderr) = server.terminate();
    assert!(
        status.success(),
        "{}",
        stderr.lines().rev().take(5).collect::<Vec<_>>().join("\n")
    );
    assert!(
        stderr.contains("ENOBUFS"),
        "the buffers never ran out: the test proved nothing"
    );
    assert!(
        stderr.contains("submission queue full"),
        "the queue never filled: the test proved nothing"
    );
    assert!(!stderr.contains("panicked"));
}

/// A 12 MiB reply (one framed block, so one send) to a client that reads
/// slowly: more than the socket buffers hold, so the kernel sends it in
/// pieces, and each short send is continued from where it stopped.
#[test]
fn a_big_reply_to_a_slow_reader_goes_out_in_short_sends() {
    if skip_mode("uring") {
        return;
    }
    let server = Server::start(&["framed", "server", "--mode", "uring", "-vv"]);
    let payload: Vec<u8> = (0..12u32 << 20).map(|i| b'a' + (i % 26) as u8).collect();
    let mut s = connect(&server);
    let mut w = s.try_clone().expect("clone");
    let mut block = (payload.len() as u32).to_be_bytes().to_vec();
    block.extend_from_slice(&payload);
    let writer = thread::spawn(move || w.write_all(&block).expect("send"));
    // Nobody reads until the kernel has sent what the socket buffers hold
    // and said so: the first completion of the reply's send.
    assert!(server.wait_for_stderr("complete send", Duration::from_secs(30)));
    let mut reply = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while reply.len() < payload.len() + 4 {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed early");
        reply.extend_from_slice(&buf[..n]);
    }
    writer.join().expect("writer");
    assert_same(&payload.to_ascii_uppercase(), &reply[4..], "12 MiB block");
    let (_, stderr) = server.terminate();
    // A completion that sent less than its submission is a short send.
    let (mut short, mut asked) = (0, None);
    for line in stderr.lines() {
        let bytes = line
            .rsplit("bytes=")
            .next()
            .and_then(|b| b.trim().parse::<usize>().ok());
        if line.contains("submit send") {
            asked = bytes;
        } else if line.contains("complete send")
            && let (Some(sent), Some(asked)) = (bytes, asked)
            && sent < asked
        {
            short += 1;
        }
    }
    assert!(short > 0, "no short send happened: the test proved nothing");
}

/// SIGTERM while a delayed reply waits on its timer: it is still delivered.
#[test]
fn sigterm_with_a_delayed_reply_in_flight() {
    if skip_mode("uring") {
        return;
    }
    let server = Server::start(&["tcp-server", "--mode", "uring", "--delay", "1s", "-vv"]);
    let mut s = connect(&server);
    s.write_all(b"late").expect("send");
    assert!(server.wait_for_stderr("complete recv", Duration::from_secs(10)));
    server.signal(nix::sys::signal::Signal::SIGTERM);
    let mut reply = [0u8; 4];
    s.read_exact(&mut reply).expect("the delayed reply");
    assert_eq!(&reply, b"LATE");
    let mut server = server;
    let status = server.wait_exit(Duration::from_secs(10)).expect("exit");
    assert!(status.success());
    assert!(
        server.stderr_text().contains("served 1 connection,"),
        "{}",
        server.stderr_text()
    );
}
