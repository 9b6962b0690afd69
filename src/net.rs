//! Socket set-up shared by every command: the one bind helper and HOST resolution.
//!
//! - `SO_REUSEADDR` on TCP listeners lets a restarted server bind while old
//!   connections sit in TIME_WAIT (`--no-reuseaddr` shows the failure). It is
//!   left off for UDP, where Linux would let two servers share a port silently.
//! - Binding `::` clears `IPV6_V6ONLY`, so one socket takes IPv4 and IPv6 (dual-stack).

use crate::error::NetError;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

/// How a TCP listener is set up.
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// Listen backlog: connections the kernel queues before `accept`.
    pub backlog: i32,
    /// Set `SO_REUSEADDR` (on by default).
    pub reuse_addr: bool,
    /// Set `SO_REUSEPORT`, so several listeners (event loops) share the port.
    pub reuse_port: bool,
}

/// The listen backlog by default: the usual 128 overflows when a thousand
/// clients connect at once, and the kernel caps it at `somaxconn` anyway.
pub const DEFAULT_BACKLOG: i32 = 1024;

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: DEFAULT_BACKLOG,
            reuse_addr: true,
            reuse_port: false,
        }
    }
}

fn socket_for(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if let IpAddr::V6(ip) = addr.ip()
        && ip.is_unspecified()
    {
        socket.set_only_v6(false)?;
    }
    Ok(socket)
}

fn bind_error(addr: SocketAddr, err: io::Error) -> io::Error {
    let what = match err.kind() {
        io::ErrorKind::AddrInUse => "address already in use".to_string(),
        io::ErrorKind::AddrNotAvailable => "address not available on this machine".to_string(),
        _ => err.to_string(),
    };
    io::Error::new(err.kind(), format!("cannot bind {addr}: {what}"))
}

/// Binds a UDP socket on `ip:port` (port 0 picks a free one).
///
/// # Errors
/// A busy port says "address already in use".
pub fn bind_udp(ip: IpAddr, port: u16) -> io::Result<UdpSocket> {
    let addr = SocketAddr::new(ip, port);
    let socket = socket_for(addr, Type::DGRAM, Protocol::UDP)?;
    tracing::debug!(%addr, "socket(UDP) + bind");
    socket.bind(&SockAddr::from(addr)).map_err(|e| bind_error(addr, e))?;
    Ok(socket.into())
}

/// Binds and listens on a TCP socket on `ip:port`.
///
/// # Errors
/// A busy port says "address already in use".
pub fn listen_tcp(ip: IpAddr, port: u16, opts: ListenOptions) -> io::Result<TcpListener> {
    let addr = SocketAddr::new(ip, port);
    let socket = socket_for(addr, Type::STREAM, Protocol::TCP)?;
    socket.set_reuse_address(opts.reuse_addr)?;
    if opts.reuse_port {
        socket.set_reuse_port(true)?;
    }
    tracing::debug!(%addr, backlog = opts.backlog, "socket(TCP) + bind + listen");
    socket.bind(&SockAddr::from(addr)).map_err(|e| bind_error(addr, e))?;
    socket.listen(opts.backlog)?;
    Ok(socket.into())
}

/// Binds `count` TCP listeners on one port with `SO_REUSEPORT`, one per event
/// loop; the kernel spreads new connections across them. With port 0 the
/// first bind picks the port and the others join it.
///
/// `SO_REUSEPORT` would also let this join another server already on the
/// port, so a plain bind is tried first to report a busy port honestly.
///
/// # Errors
/// A busy port says "address already in use".
pub fn listen_tcp_group(ip: IpAddr, port: u16, opts: ListenOptions, count: usize) -> io::Result<Vec<TcpListener>> {
    if count <= 1 {
        return Ok(vec![listen_tcp(ip, port, opts)?]);
    }
    if port != 0 {
        let addr = SocketAddr::new(ip, port);
        let probe = socket_for(addr, Type::STREAM, Protocol::TCP)?;
        probe.set_reuse_address(opts.reuse_addr)?;
        probe.bind(&SockAddr::from(addr)).map_err(|e| bind_error(addr, e))?;
    }
    let shared = ListenOptions {
        reuse_port: true,
        ..opts
    };
    let first = listen_tcp(ip, port, shared)?;
    let port = first.local_addr()?.port();
    let mut all = vec![first];
    for _ in 1..count {
        all.push(listen_tcp(ip, port, shared)?);
    }
    Ok(all)
}

/// Listens on a Unix stream socket at `path`. A stale socket file left by a
/// server that died is removed; one with a live server behind it is "address
/// already in use"; any other file is left alone.
///
/// # Errors
/// When the path is taken or cannot be bound.
pub fn listen_unix(path: &std::path::Path, backlog: i32) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("cannot bind {}: the file exists and is not a socket", path.display()),
            ));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("cannot bind {}: address already in use", path.display()),
            ));
        }
        tracing::debug!(path = %path.display(), "removing stale socket file");
        std::fs::remove_file(path)?;
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    tracing::debug!(path = %path.display(), backlog, "socket(AF_UNIX) + bind + listen");
    socket
        .bind(&SockAddr::unix(path)?)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}: {e}", path.display())))?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// The soft limit on open files, as last read or raised (0: not read yet).
static NOFILE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The open-file limits around a [`raise_fd_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit before.
    pub before: u64,
    /// The soft limit now.
    pub now: u64,
    /// The hard limit (the most the soft one may be raised to).
    pub hard: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as Go's runtime and
/// many servers do: the soft default (often 1024) is a shell's comfort, not
/// a server's ceiling, and every connection is a descriptor.
///
/// # Errors
/// When the limits cannot be read; a refused raise keeps the old limit.
pub fn raise_fd_limit() -> io::Result<FdLimit> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    let now = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    NOFILE.store(
        usize::try_from(now).unwrap_or(usize::MAX),
        std::sync::atomic::Ordering::Relaxed,
    );
    Ok(FdLimit {
        before: soft,
        now,
        hard,
    })
}

/// The soft limit on open files (read once, then remembered).
pub fn fd_limit() -> usize {
    use std::sync::atomic::Ordering::Relaxed;
    let known = NOFILE.load(Relaxed);
    if known != 0 {
        return known;
    }
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| usize::try_from(soft).unwrap_or(usize::MAX));
    NOFILE.store(soft, Relaxed);
    soft
}

/// Resolves `host` with `port` into every address the resolver returns, in order.
///
/// # Errors
/// [`NetError::UnknownHost`] when the name does not resolve.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, NetError> {
    let unknown = |reason: String| NetError::UnknownHost {
        host: host.to_string(),
        reason,
    };
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| unknown(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(unknown("no addresses".into()));
    }
    Ok(addrs)
}

/// The most one `sendfile` call is asked to send, so one connection's large
/// file never holds an event loop for long.
const SENDFILE_AT_MOST: u64 = 8 << 20;

/// Sends bytes of a file region on a socket with `sendfile(2)`: from the
/// page cache to the socket, never through user memory. Returns the bytes
/// sent (as much as the socket took); the caller marks them consumed.
///
/// # Errors
/// As `sendfile(2)` (`WouldBlock` on a full non-blocking socket); a file
/// that ended before the region did is `UnexpectedEof`.
pub fn sendfile(sock: BorrowedFd<'_>, region: &crate::proto::output::FileRegion) -> io::Result<usize> {
    let mut offset = i64::try_from(region.offset).map_err(io::Error::other)?;
    let count = usize::try_from(region.len.min(SENDFILE_AT_MOST)).unwrap_or(usize::MAX);
    match nix::sys::sendfile::sendfile64(sock, region.file.as_fd(), Some(&mut offset), count) {
        Ok(0) if count > 0 => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file ended before its announced length",
        )),
        Ok(n) => Ok(n),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// The bytes a read of `n` left at the front of `buf`. A read never returns
/// more than the buffer's length (the `Read` and `recv(2)` contract), so `n`
/// past it cannot happen; were it to, the whole buffer is what was read.
pub fn filled(buf: &[u8], n: usize) -> &[u8] {
    buf.split_at(n.min(buf.len())).0
}

/// Blocks until one of `fds` is readable or `timeout` passes (`None`: no
/// limit); returns the index of the first readable one, `None` on timeout.
///
/// # Errors
/// When `poll` fails (`EINTR` is retried).
pub fn poll_readable<const N: usize>(fds: [BorrowedFd<'_>; N], timeout: Option<Duration>) -> io::Result<Option<usize>> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        // Round up so a 0.4 ms remainder does not spin.
        let wait = left.map_or(PollTimeout::NONE, |l| {
            PollTimeout::try_from(l.as_micros().div_ceil(1000)).unwrap_or(PollTimeout::MAX)
        });
        // An array, not a Vec: this runs once per datagram and per accept.
        let mut polled = fds.map(|fd| PollFd::new(fd, PollFlags::POLLIN));
        match poll(&mut polled, wait) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(0) if left.is_some_and(|l| l.is_zero()) => return Ok(None),
            Ok(0) => continue,
            Ok(_) => {
                let ready = polled.iter().position(|p| p.revents().is_some_and(|r| !r.is_empty()));
                if ready.is_some() {
                    return Ok(ready);
                }
            }
        }
    }
}

/// Blocks until `fd` is readable or `timeout` passes; true when readable.
///
/// # Errors
/// When `poll` fails.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    poll_readable([fd], Some(timeout)).map(|r| r.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn busy_port_says_address_already_in_use() {
        let first = listen_tcp(Ipv4Addr::LOCALHOST.into(), 0, ListenOptions::default()).expect("bind");
        let port = first.local_addr().expect("addr").port();
        let err = listen_tcp(Ipv4Addr::LOCALHOST.into(), port, ListenOptions::default()).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("address already in use"), "{text}");

        let udp = bind_udp(Ipv4Addr::LOCALHOST.into(), 0).expect("bind");
        let port = udp.local_addr().expect("addr").port();
        assert!(bind_udp(Ipv4Addr::LOCALHOST.into(), port).is_err());
    }

    #[test]
    fn reuseport_group_shares_one_port_but_not_a_busy_one() {
        let group = listen_tcp_group(Ipv4Addr::LOCALHOST.into(), 0, ListenOptions::default(), 3).expect("group");
        let ports: Vec<u16> = group.iter().map(|l| l.local_addr().expect("addr").port()).collect();
        assert!(ports.iter().all(|p| *p == ports[0]), "{ports:?}");
        let again = listen_tcp_group(Ipv4Addr::LOCALHOST.into(), ports[0], ListenOptions::default(), 2);
        assert!(
            again
                .err()
                .is_some_and(|e| e.to_string().contains("address already in use"))
        );
    }

    #[test]
    fn unix_socket_stale_file_is_replaced_and_live_one_is_busy() {
        let dir = std::env::temp_dir().join(format!("netlab-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("s.sock");
        let first = listen_unix(&path, 8).expect("bind");
        let busy = listen_unix(&path, 8).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(busy.contains("address already in use"), "{busy}");
        drop(first); // the file stays behind, stale
        assert!(path.exists());
        let _second = listen_unix(&path, 8).expect("stale file replaced");
        std::fs::write(dir.join("plain"), b"x").expect("file");
        assert!(listen_unix(&dir.join("plain"), 8).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn resolve_localhost_and_unknown() {
        let addrs = resolve("127.0.0.1", 9).expect("resolve");
        assert_eq!(addrs, vec!["127.0.0.1:9".parse().expect("addr")]);
        assert!(matches!(
            resolve("nonexistent.invalid", 9),
            Err(NetError::UnknownHost { .. })
        ));
    }
}
