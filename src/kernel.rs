//! What the kernel says about sockets, for the lessons: the TCP connection
//! table of `/proc/net/tcp` and `/proc/net/tcp6` (each connection's state,
//! and its Send-Q/Recv-Q, a listener's Recv-Q being its accept queue), and a
//! connected socket's `TCP_INFO` (round-trip time, retransmissions, unacked
//! segments, the delayed-ACK timeout).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};

/// One row of the kernel's TCP table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpEntry {
    /// This end.
    pub local: SocketAddr,
    /// The other end (`0.0.0.0:0` for a listener).
    pub remote: SocketAddr,
    /// The state's name, as `ss` prints it: `ESTAB`, `TIME-WAIT`, `LISTEN`...
    pub state: &'static str,
    /// Bytes sent and not yet acknowledged (Send-Q).
    pub tx_queue: u64,
    /// Bytes received and not yet read; for a listener, connections waiting for `accept` (Recv-Q).
    pub rx_queue: u64,
}

/// A state number of `/proc/net/tcp` as `ss` names it (include/net/tcp_states.h).
fn state_name(n: u8) -> &'static str {
    match n {
        1 => "ESTAB",
        2 => "SYN-SENT",
        3 => "SYN-RECV",
        4 => "FIN-WAIT-1",
        5 => "FIN-WAIT-2",
        6 => "TIME-WAIT",
        7 => "CLOSED",
        8 => "CLOSE-WAIT",
        9 => "LAST-ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        _ => "UNKNOWN",
    }
}

/// An address of `/proc/net/tcp(6)`: the IP as 32-bit words in host order
/// (hex), a colon, the port (hex).
fn address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = ip.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    match ip.len() {
        8 => Some(SocketAddr::from((Ipv4Addr::from(word(0)?), port))),
        32 => {
            let mut octets = [0u8; 16];
            for (i, chunk) in octets.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(i)?);
            }
            Some(SocketAddr::from((Ipv6Addr::from(octets), port)))
        }
        _ => None,
    }
}

/// The rows of a `/proc/net/tcp` or `/proc/net/tcp6` text (its header skipped).
pub fn parse_tcp_table(text: &str) -> Vec<TcpEntry> {
    text.lines().skip(1).filter_map(row).collect()
}

fn row(line: &str) -> Option<TcpEntry> {
    let mut fields = line.split_whitespace().skip(1);
    let local = address(fields.next()?)?;
    let remote = address(fields.next()?)?;
    let state = state_name(u8::from_str_radix(fields.next()?, 16).ok()?);
    let (tx, rx) = fields.next()?.split_once(':')?;
    Some(TcpEntry {
        local,
        remote,
        state,
        tx_queue: u64::from_str_radix(tx, 16).ok()?,
        rx_queue: u64::from_str_radix(rx, 16).ok()?,
    })
}

/// Every TCP socket of this network namespace, IPv4 and IPv6.
///
/// # Errors
/// When `/proc/net/tcp` cannot be read (no procfs).
pub fn tcp_table() -> io::Result<Vec<TcpEntry>> {
    let mut all = parse_tcp_table(&std::fs::read_to_string("/proc/net/tcp")?);
    if let Ok(v6) = std::fs::read_to_string("/proc/net/tcp6") {
        all.extend(parse_tcp_table(&v6));
    }
    Ok(all)
}

/// The rows with `port` at either end.
///
/// # Errors
/// As [`tcp_table`].
pub fn sockets_on(port: u16) -> io::Result<Vec<TcpEntry>> {
    Ok(tcp_table()?
        .into_iter()
        .filter(|e| e.local.port() == port || e.remote.port() == port)
        .collect())
}

/// Figures of `getsockopt(TCP_INFO)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TcpInfo {
    /// Smoothed round-trip time, µs.
    pub rtt_us: u32,
    /// Its variation, µs.
    pub rttvar_us: u32,
    /// Segments retransmitted over the connection's life.
    pub total_retrans: u32,
    /// Segments sent and not yet acknowledged.
    pub unacked: u32,
    /// The delayed-ACK timeout, µs.
    pub ato_us: u32,
    /// The congestion window, segments.
    pub snd_cwnd: u32,
}

/// `getsockopt(fd, IPPROTO_TCP, TCP_INFO)`.
///
/// # Errors
/// When `fd` is not a TCP socket.
pub fn tcp_info(fd: BorrowedFd<'_>) -> io::Result<TcpInfo> {
    let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
    // A `tcp_info` is a few hundred bytes: it fits a socklen_t.
    let size = std::mem::size_of::<libc::tcp_info>();
    let mut len = libc::socklen_t::try_from(size).map_err(|_| io::Error::other("tcp_info too large"))?;
    // `info` is a zeroed `tcp_info` of `len` bytes that lives across
    // the call; the kernel writes at most `len` bytes into it and says how
    // many in `len`; `fd` is borrowed, so it stays open during the call.
    // SAFETY: `info` is ours, `len` bytes long, alive across the call; `fd` is borrowed and open.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zeroed memory is a valid `tcp_info` (plain integers), and the
    // kernel filled its first `len` bytes.
    let info = unsafe { info.assume_init() };
    Ok(TcpInfo {
        rtt_us: info.tcpi_rtt,
        rttvar_us: info.tcpi_rttvar,
        total_retrans: info.tcpi_total_retrans,
        unacked: info.tcpi_unacked,
        ato_us: info.tcpi_ato,
        snd_cwnd: info.tcpi_snd_cwnd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:04D2 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 209 1 0 100 0 0 10 0
   1: 0100007F:D080 0100007F:04D2 06 00000000:00000000 03:0000015A 00000000     0        0 0 3 0
   2: garbage
";

    #[test]
    fn rows_read_as_ss_prints_them() {
        let rows = parse_tcp_table(TABLE);
        assert_eq!(rows.len(), 2, "the garbage row is skipped");
        assert_eq!(rows[0].local, "127.0.0.1:1234".parse().unwrap());
        assert_eq!((rows[0].state, rows[0].rx_queue), ("LISTEN", 3));
        assert_eq!(rows[1].remote.port(), 1234);
        assert_eq!(rows[1].state, "TIME-WAIT");
    }

    #[test]
    fn ipv6_addresses_are_four_host_order_words() {
        let row = "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1";
        let rows = parse_tcp_table(&format!("header\n{row}\n"));
        assert_eq!(rows[0].local, "[::1]:8080".parse().unwrap());
    }

    #[test]
    fn tcp_info_of_a_live_connection() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        use std::os::fd::AsFd;
        let info = tcp_info(c.as_fd()).unwrap();
        assert_eq!(info.total_retrans, 0);
        assert!(info.snd_cwnd > 0);
    }
}

#[cfg(test)]
mod live_tests {
    #[test]
    fn established_connections_are_seen_on_both_ends() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let _c: Vec<_> = (0..3)
            .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        let rows = super::sockets_on(port).unwrap();
        let listen = rows.iter().find(|r| r.state == "LISTEN").unwrap();
        assert_eq!(listen.rx_queue, 3, "three wait for accept: {rows:?}");
        let server_side = rows
            .iter()
            .filter(|r| r.state == "ESTAB" && r.local.port() == port)
            .count();
        assert_eq!(server_side, 3, "{rows:?}");
    }
}
