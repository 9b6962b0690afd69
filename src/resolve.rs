//! Name resolution through the system resolver: `getaddrinfo`, the host's
//! own names, and the reverse lookup `gethostbyaddr` does.
//!
//! `getaddrinfo` with no hints returns one entry per (address, socket type):
//! `127.0.0.1` gives three, for stream, datagram and raw sockets. That is the
//! list Python's `socket.getaddrinfo(NAME, SERVICE)` shows, in the same order.

use crate::error::{NetError, UsageError};
use dns_lookup::{AddrInfoHints, LookupError};
use serde::Serialize;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// One `getaddrinfo` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// `AF_INET` or `AF_INET6`.
    pub family: String,
    /// `SOCK_STREAM`, `SOCK_DGRAM` or `SOCK_RAW`.
    pub socktype: String,
    /// The protocol number (6 TCP, 17 UDP, 0 raw).
    pub proto: i32,
    /// The address.
    pub address: IpAddr,
    /// The port (0 when no SERVICE was given).
    pub port: u16,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sa = SocketAddr::new(self.address, self.port);
        write!(f, "{:<9} {:<11} {:<3} {sa}", self.family, self.socktype, self.proto)
    }
}

/// Which address family to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

fn family_name(af: i32) -> String {
    match af {
        nix::libc::AF_INET => "AF_INET".into(),
        nix::libc::AF_INET6 => "AF_INET6".into(),
        other => format!("AF_{other}"),
    }
}

fn socktype_name(ty: i32) -> String {
    match ty {
        nix::libc::SOCK_STREAM => "SOCK_STREAM".into(),
        nix::libc::SOCK_DGRAM => "SOCK_DGRAM".into(),
        nix::libc::SOCK_RAW => "SOCK_RAW".into(),
        other => format!("SOCK_{other}"),
    }
}

fn unknown(host: &str, err: &LookupError) -> NetError {
    NetError::UnknownHost {
        host: host.to_string(),
        reason: std::io::Error::from(err_copy(err)).to_string(),
    }
}

fn err_copy(err: &LookupError) -> LookupError {
    LookupError::new(err.error_num())
}

/// Every `getaddrinfo(name, service)` result, with no hints but the family.
///
/// # Errors
/// [`NetError::UnknownHost`] when the name does not resolve; a
/// [`UsageError`] naming the service when the resolver knows no such
/// service (`/etc/services`), both inside the `io::Error`.
pub fn getaddrinfo(name: &str, service: Option<&str>, family: Option<Family>) -> std::io::Result<Vec<Entry>> {
    let address = match family {
        None => nix::libc::AF_UNSPEC,
        Some(Family::V4) => nix::libc::AF_INET,
        Some(Family::V6) => nix::libc::AF_INET6,
    };
    // Zeroed hints, like Python's: no AI_ADDRCONFIG, every socket type.
    let hints = AddrInfoHints {
        flags: 0,
        address,
        socktype: 0,
        protocol: 0,
    };
    let results = dns_lookup::getaddrinfo(Some(name), service, Some(hints)).map_err(|e| {
        if e.error_num() == nix::libc::EAI_SERVICE {
            let service = service.unwrap_or_default();
            return UsageError(format!(
                "'{service}' is not a service this system knows (a port number, or a name from /etc/services such as http)"
            ))
            .into();
        }
        std::io::Error::from(unknown(name, &e))
    })?;
    let mut entries = Vec::new();
    for info in results {
        let info = info.map_err(|e| {
            std::io::Error::from(NetError::UnknownHost {
                host: name.into(),
                reason: e.to_string(),
            })
        })?;
        entries.push(Entry {
            family: family_name(info.address),
            socktype: socktype_name(info.socktype),
            proto: info.protocol,
            address: info.sockaddr.ip(),
            port: info.sockaddr.port(),
        });
    }
    Ok(entries)
}

/// This machine's host name and fully qualified name, like Python's
/// `socket.gethostname()` and `socket.getfqdn()`.
///
/// # Errors
/// When the host name cannot be read.
pub fn host_names() -> std::io::Result<(String, String)> {
    let host = dns_lookup::get_hostname()?;
    let hints = AddrInfoHints {
        flags: nix::libc::AI_CANONNAME,
        address: 0,
        socktype: 0,
        protocol: 0,
    };
    let canonical = dns_lookup::getaddrinfo(Some(&host), None, Some(hints))
        .ok()
        .and_then(|mut it| it.next())
        .and_then(Result::ok)
        .and_then(|info| info.canonname);
    let fqdn = canonical.filter(|c| c.contains('.')).unwrap_or_else(|| host.clone());
    Ok((host, fqdn))
}

/// What a reverse lookup found, shaped like `gethostbyaddr`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reverse {
    /// The primary name.
    pub name: String,
    /// Other names (the system resolver's `getnameinfo` reports none).
    pub aliases: Vec<String>,
    /// The addresses looked up.
    pub addresses: Vec<IpAddr>,
}

/// The name of `ip`, as `gethostbyaddr` would give it.
///
/// # Errors
/// [`NetError::UnknownHost`] when the address has no name.
pub fn reverse(ip: IpAddr) -> Result<Reverse, NetError> {
    let sa = SocketAddr::new(ip, 0);
    let (name, _) = dns_lookup::getnameinfo(&sa, nix::libc::NI_NAMEREQD).map_err(|e| unknown(&ip.to_string(), &e))?;
    Ok(Reverse {
        name,
        aliases: Vec::new(),
        addresses: vec![ip],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ipv4_gives_three_socket_types() {
        let got = getaddrinfo("127.0.0.1", None, None).expect("resolve");
        let kinds: Vec<_> = got.iter().map(|e| (e.socktype.as_str(), e.proto)).collect();
        assert_eq!(kinds, [("SOCK_STREAM", 6), ("SOCK_DGRAM", 17), ("SOCK_RAW", 0)]);
        assert_eq!(
            got[0].to_string().split_whitespace().collect::<Vec<_>>(),
            ["AF_INET", "SOCK_STREAM", "6", "127.0.0.1:0"]
        );
    }

    #[test]
    fn service_and_family() {
        let got = getaddrinfo("localhost", Some("80"), Some(Family::V4)).expect("resolve");
        assert!(!got.is_empty());
        assert!(got.iter().all(|e| e.family == "AF_INET" && e.port == 80));
    }

    #[test]
    fn unknown_names_and_services() {
        let exit = |r: std::io::Result<Vec<Entry>>| {
            r.err()
                .map(|e| crate::exit::classify([&e as &(dyn std::error::Error + 'static)]))
        };
        assert_eq!(
            exit(getaddrinfo("nonexistent.invalid", None, None)),
            Some(crate::exit::Exit::UnknownHost)
        );
        assert_eq!(
            exit(getaddrinfo("localhost", Some("nosuchservice"), None)),
            Some(crate::exit::Exit::Usage)
        );
    }
}
