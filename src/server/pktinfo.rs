//! Answering a datagram from the address it arrived on.
//!
//! A UDP socket bound to a wildcard (`0.0.0.0`, `::`) receives on every
//! local address, but a plain `sendto` lets the kernel pick the reply's
//! source by the route: a client that sent to 127.0.0.2 hears from
//! 127.0.0.1, and a `connect()`ed client drops that reply as a stranger's.
//! Every real UDP service (DNS, NTP) asks the kernel where each datagram
//! arrived (`IP_PKTINFO`, `IPV6_RECVPKTINFO`) and names that address as the
//! source of its answer. For a broadcast, the kernel's `ipi_spec_dst` is the
//! receiving interface's own address, never the broadcast address.
//!
//! Both calls stay one system call each (`recvmsg`, `sendmsg`).

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, sendmsg, setsockopt, sockopt,
};
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

/// Where a datagram arrived, to answer from there.
#[derive(Clone, Copy)]
pub enum Arrival {
    /// IPv4: the kernel's pick for the reply's source (`ipi_spec_dst`).
    V4(nix::libc::in_pktinfo),
    /// IPv6 (and IPv4 on a dual-stack socket, as `::ffff:a.b.c.d`).
    V6(nix::libc::in6_pktinfo),
}

impl std::fmt::Debug for Arrival {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.local())
    }
}

impl Arrival {
    /// The local address, for the logs.
    pub fn local(&self) -> std::net::IpAddr {
        match self {
            Arrival::V4(pi) => std::net::Ipv4Addr::from(u32::from_be(pi.ipi_spec_dst.s_addr)).into(),
            Arrival::V6(pi) => std::net::Ipv6Addr::from(pi.ipi6_addr.s6_addr).to_canonical(),
        }
    }
}

/// Whether `socket` is bound to a wildcard address: then it asks the
/// kernel for each datagram's arrival address (and `true` is returned).
///
/// # Errors
/// When the socket options cannot be set.
pub fn enable(socket: &UdpSocket) -> io::Result<bool> {
    let local = socket.local_addr()?;
    if !local.ip().is_unspecified() {
        return Ok(false);
    }
    match local {
        SocketAddr::V4(_) => setsockopt(socket, sockopt::Ipv4PacketInfo, &true)?,
        SocketAddr::V6(_) => setsockopt(socket, sockopt::Ipv6RecvPacketInfo, &true)?,
    }
    Ok(true)
}

/// Room for either control message.
pub fn control_buffer() -> Vec<u8> {
    nix::cmsg_space!(nix::libc::in6_pktinfo)
}

/// `recvmsg`: the datagram into `buf`, its sender, and where it arrived.
///
/// # Errors
/// As `recvmsg(2)` (a receive timeout is `WouldBlock`).
pub fn recv(
    socket: &UdpSocket,
    buf: &mut [u8],
    control: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<Arrival>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(socket.as_raw_fd(), &mut iov, Some(control), MsgFlags::empty())?;
    let from = msg
        .address
        .as_ref()
        .and_then(to_std)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "a datagram without a sender address"))?;
    let mut arrival = None;
    for cmsg in msg.cmsgs()? {
        match cmsg {
            ControlMessageOwned::Ipv4PacketInfo(pi) => arrival = Some(Arrival::V4(pi)),
            ControlMessageOwned::Ipv6PacketInfo(pi) => arrival = Some(Arrival::V6(pi)),
            _ => {}
        }
    }
    Ok((msg.bytes, from, arrival))
}

/// `sendmsg`: `data` to `to`, from the address it arrived on when known.
///
/// # Errors
/// As `sendmsg(2)`.
pub fn send(socket: &UdpSocket, data: &[u8], to: SocketAddr, arrival: Option<Arrival>) -> io::Result<usize> {
    let Some(arrival) = arrival else {
        return socket.send_to(data, to);
    };
    let iov = [IoSlice::new(data)];
    let dest = SockaddrStorage::from(to);
    let sent = match arrival {
        Arrival::V4(pi) => {
            // The interface is left to the routing; the source is fixed.
            let reply = nix::libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: pi.ipi_spec_dst,
                ipi_addr: nix::libc::in_addr { s_addr: 0 },
            };
            sendmsg(
                socket.as_raw_fd(),
                &iov,
                &[ControlMessage::Ipv4PacketInfo(&reply)],
                MsgFlags::empty(),
                Some(&dest),
            )
        }
        Arrival::V6(pi) => sendmsg(
            socket.as_raw_fd(),
            &iov,
            &[ControlMessage::Ipv6PacketInfo(&pi)],
            MsgFlags::empty(),
            Some(&dest),
        ),
    };
    Ok(sent?)
}

fn to_std(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    addr.as_sockaddr_in6().map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram sent to 127.0.0.2 on a socket bound to 0.0.0.0 is
    /// answered from 127.0.0.2.
    #[test]
    fn a_reply_leaves_from_where_the_request_arrived() {
        let server = UdpSocket::bind("0.0.0.0:0").expect("bind");
        assert!(enable(&server).expect("pktinfo"));
        let port = server.local_addr().expect("addr").port();
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
        client.send_to(b"hi", ("127.0.0.2", port)).expect("send");
        let (mut buf, mut control) = (vec![0u8; 64], control_buffer());
        let (n, from, arrival) = recv(&server, &mut buf, &mut control).expect("recv");
        assert_eq!((n, from), (2, client.local_addr().expect("addr")));
        assert_eq!(arrival.map(|a| a.local()), Some("127.0.0.2".parse().expect("ip")));
        send(&server, b"HI", from, arrival).expect("send");
        let (n, replier) = client.recv_from(&mut buf).expect("reply");
        assert_eq!((n, replier), (2, SocketAddr::from(([127, 0, 0, 2], port))));
        let bound = UdpSocket::bind("127.0.0.1:0").expect("bind");
        assert!(!enable(&bound).expect("no pktinfo"));
    }
}
