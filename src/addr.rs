//! Addresses as people type them: `HOST`, `HOST:PORT`, `[IPv6]:PORT`, a bare
//! IPv6 address, and names where a server wants an IP (`--bind localhost`).
//!
//! A client's HOST may carry its port (`127.0.0.1:5720`, `[::1]:5720`,
//! `localhost:5720`); `-p` gives it otherwise. A port given both ways is a
//! usage error, even the same one twice (which of the two was meant is a guess). A bare IPv6 address
//! (`::1`, `fe80::1`) has colons of its own and so never carries a port:
//! write `[::1]:5720` for that.

use crate::error::{NetError, UsageError};
use std::net::{IpAddr, SocketAddr};

/// A client's destination as typed: a host (name or address) and maybe a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// The name or address, without brackets.
    pub host: String,
    /// The port it carried, if any.
    pub port: Option<u16>,
}

impl HostPort {
    /// Splits `HOST`, `HOST:PORT`, `[IPv6]:PORT`, `[IPv6]` or a bare IPv6 address.
    ///
    /// # Errors
    /// A [`UsageError`] for an empty host, an unclosed `[`, or a port that is not 0–65535.
    pub fn parse(text: &str) -> Result<HostPort, UsageError> {
        let bad = |why: &str| UsageError(format!("'{text}' is not a HOST or HOST:PORT: {why}"));
        if let Some(inner) = text.strip_prefix('[') {
            let (host, after) = inner.split_once(']').ok_or_else(|| bad("an unclosed ["))?;
            let port = match after {
                "" => None,
                rest => Some(port(rest.strip_prefix(':').ok_or_else(|| bad("text after ]"))?).map_err(|e| bad(&e))?),
            };
            return HostPort::checked(host, port).map_err(|e| bad(&e));
        }
        match text.split_once(':') {
            // More than one colon: a bare IPv6 address, which carries no port.
            Some((_, rest)) if rest.contains(':') => HostPort::checked(text, None).map_err(|e| bad(&e)),
            Some((host, p)) => HostPort::checked(host, Some(port(p).map_err(|e| bad(&e))?)).map_err(|e| bad(&e)),
            None => HostPort::checked(text, None).map_err(|e| bad(&e)),
        }
    }

    fn checked(host: &str, port: Option<u16>) -> Result<HostPort, String> {
        if host.is_empty() {
            return Err("the host is empty".into());
        }
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }

    /// The port to use: the one carried here, `-p`'s, or `default`.
    ///
    /// # Errors
    /// A [`UsageError`] when HOST carried a port and `-p` gave one too (the
    /// contract: a port given both ways is a usage error, even the same one).
    pub fn port_or(&self, flag: Option<u16>, default: u16) -> Result<u16, UsageError> {
        match (self.port, flag) {
            (Some(a), Some(b)) => Err(UsageError(format!(
                "two ports: {a} in '{}:{a}' and {b} after -p; give one",
                self.host
            ))),
            (Some(p), _) | (None, Some(p)) => Ok(p),
            (None, None) => Ok(default),
        }
    }
}

fn port(text: &str) -> Result<u16, String> {
    text.parse().map_err(|_| format!("'{text}' is not a port (0 to 65535)"))
}

/// Where a client goes: `host` (default 127.0.0.1, maybe carrying a port)
/// and `-p` (`flag`), resolved to every address in the resolver's order.
///
/// # Errors
/// A [`UsageError`] for a malformed HOST or two different ports;
/// [`NetError::UnknownHost`] when the name does not resolve (both inside
/// the `io::Error`, where [`crate::exit::classify`] finds them).
pub fn resolve_client(host: Option<&str>, flag: Option<u16>, default: u16) -> std::io::Result<Vec<SocketAddr>> {
    let target = HostPort::parse(host.unwrap_or("127.0.0.1"))?;
    let port = target.port_or(flag, default)?;
    Ok(crate::net::resolve(&target.host, port)?)
}

/// A server's `--bind` value: an IP, or a name resolved to its first IPv4
/// address (as Python's `AF_INET` servers do with `'localhost'`), or else
/// its first address.
///
/// # Errors
/// [`NetError::UnknownHost`] when the name does not resolve.
pub fn bind_ip(text: &str) -> Result<IpAddr, NetError> {
    if let Ok(ip) = text.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(ip);
    }
    let addrs = crate::net::resolve(text, 0)?;
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(SocketAddr::ip)
        .ok_or_else(|| NetError::UnknownHost {
            host: text.to_string(),
            reason: "no addresses".into(),
        })
}

/// Logs a hint when a client's MESSAGE looks like a port typed where nc
/// would take one (`tcp-client localhost 5720`): it is sent as the message.
pub fn hint_digits_message(host: Option<&str>, message: Option<&str>, flag: Option<u16>) {
    let Some(m) = message else { return };
    if flag.is_some() || m.is_empty() || !m.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    let host = host.unwrap_or("127.0.0.1");
    tracing::warn!("'{m}' is sent as the message: a port goes after -p (-p {m}) or in HOST:PORT ({host}:{m})");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(text: &str) -> Option<(String, Option<u16>)> {
        HostPort::parse(text).ok().map(|h| (h.host, h.port))
    }

    #[test]
    fn the_ways_people_type_a_destination() {
        assert_eq!(hp("127.0.0.1"), Some(("127.0.0.1".into(), None)));
        assert_eq!(hp("127.0.0.1:5720"), Some(("127.0.0.1".into(), Some(5720))));
        assert_eq!(hp("localhost:80"), Some(("localhost".into(), Some(80))));
        assert_eq!(hp("[::1]:5720"), Some(("::1".into(), Some(5720))));
        assert_eq!(hp("[::1]"), Some(("::1".into(), None)));
        assert_eq!(hp("::1"), Some(("::1".into(), None)));
        assert_eq!(hp("fe80::1:2"), Some(("fe80::1:2".into(), None)));
        for bad in ["", ":80", "host:99999", "host:x", "[::1", "[::1]x", "[]:80"] {
            assert_eq!(hp(bad), None, "{bad}");
        }
    }

    #[test]
    fn one_port_however_given() {
        let h = HostPort::parse("h:5").expect("parse");
        assert_eq!(h.port_or(None, 1234).ok(), Some(5));
        assert!(h.port_or(Some(5), 1234).is_err(), "the same port twice is still two");
        assert!(h.port_or(Some(6), 1234).is_err());
        let h = HostPort::parse("h").expect("parse");
        assert_eq!(h.port_or(None, 1234).ok(), Some(1234));
        assert_eq!(h.port_or(Some(7), 1234).ok(), Some(7));
    }

    #[test]
    fn bind_takes_ips_and_names() {
        assert_eq!(bind_ip("::").ok(), Some("::".parse().expect("ip")));
        assert_eq!(bind_ip("0.0.0.0").ok(), Some("0.0.0.0".parse().expect("ip")));
        assert_eq!(bind_ip("localhost").ok(), Some("127.0.0.1".parse().expect("ip")));
        assert!(bind_ip("nonexistent.invalid").is_err());
    }
}
