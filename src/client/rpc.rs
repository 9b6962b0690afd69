//! The XML-RPC client: one HTTP/1.1 POST per call over a kept-alive
//! connection (reconnecting when the server closes, as Python's server does
//! after every call), and the JSON ⇄ XML-RPC value mapping of `rpc call`.

use super::stream;
use crate::conn::Stream;
use crate::error::NetError;
use crate::proto::Decode as _;
use crate::proto::http::{self, ResponseDecoder};
use crate::proto::xmlrpc::{self, Fault};
use dxr::Value;
use flate2::read::GzDecoder;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

/// The largest response accepted.
const MAX_RESPONSE: usize = 64 << 20;

/// An `http://host:port/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (default 80).
    pub port: u16,
    /// Path (default `/RPC2`, as Python's client uses).
    pub path: String,
    /// `https://`: TLS under HTTP (default port 443).
    pub tls: bool,
}

impl Url {
    /// Parses `http://HOST[:PORT][/PATH]`; `http://` may be left out.
    ///
    /// # Errors
    /// A message for anything else (`https`, a bad port).
    pub fn parse(text: &str) -> Result<Url, String> {
        Self::parse_with_path(text, "/RPC2")
    }

    /// Parses `http://HOST[:PORT][/PATH]` with `default_path` when it has none.
    ///
    /// # Errors
    /// A message for anything else (`https`, a bad port).
    pub fn parse_with_path(text: &str, default_path: &str) -> Result<Url, String> {
        let (rest, tls) = match text.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (rest, false),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (rest, true),
            Some((scheme, _)) => {
                return Err(format!(
                    "'{scheme}://' is not supported: only http:// and https:// URLs"
                ));
            }
            None => (text, false),
        };
        let (authority, path) = rest.find('/').map_or((rest, default_path), |i| rest.split_at(i));
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("'{text}': an unclosed [ in the host"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("'{text}' has no host"));
        }
        let port = match port {
            None if tls => 443,
            None => 80,
            Some(p) => p.parse().map_err(|_| format!("'{p}' is not a port number"))?,
        };
        Ok(Url {
            host: host.to_string(),
            port,
            path: path.to_string(),
            tls,
        })
    }

    /// The `Host` header's value.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == if self.tls { 443 } else { 80 } {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Why a call got no result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The server answered with an HTTP error status.
    #[error("the server answered HTTP {status} {reason}")]
    Status {
        /// The status code.
        status: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// The response is not XML-RPC.
    #[error("the server's response is not XML-RPC: {0}")]
    Malformed(String),
    /// The connection failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The TLS handshake failed (untrusted, or not TLS).
    #[error("{0}")]
    Tls(String),
}

/// A client of one server.
pub struct RpcClient {
    url: Url,
    addrs: Vec<SocketAddr>,
    timeout: Option<Duration>,
    conn: Option<Box<dyn super::Wire>>,
    /// Whom an `https://` server must be vouched for by.
    trust: crate::tls::Trust,
}

impl RpcClient {
    /// A client for `url`, resolved now; it connects at the first call.
    ///
    /// # Errors
    /// [`NetError::UnknownHost`] when the host does not resolve.
    pub fn new(url: Url, timeout: Option<Duration>) -> Result<Self, NetError> {
        let addrs = crate::net::resolve(&url.host, url.port)?;
        Ok(RpcClient {
            url,
            addrs,
            timeout,
            conn: None,
            trust: crate::tls::Trust::System,
        })
    }

    /// Trusts `trust` for an `https://` URL (the system's roots otherwise).
    pub fn with_trust(mut self, trust: crate::tls::Trust) -> Self {
        self.trust = trust;
        self
    }

    /// The connection as the URL says: plain, or TLS after its handshake.
    fn wire(&self, c: Stream) -> Result<Box<dyn super::Wire>, CallError> {
        match (self.url.tls, c) {
            (true, Stream::Tcp(tcp)) => crate::tls::client::connect(tcp, &self.url.host, &self.trust)
                .map(|t| Box::new(t) as Box<dyn super::Wire>)
                .map_err(|e| match e {
                    crate::tls::client::HandshakeError::Io(io) => CallError::Io(io),
                    other => CallError::Tls(other.to_string()),
                }),
            (_, plain) => Ok(Box::new(plain)),
        }
    }

    /// Calls `method` with `params`: the result, or the server's fault.
    ///
    /// # Errors
    /// [`CallError`] when no XML-RPC answer came (refused, an HTTP error, garbage).
    pub fn call(&mut self, method: &str, params: &[Value]) -> Result<Result<Value, Fault>, CallError> {
        let body = xmlrpc::call(method, params);
        let mut request = Vec::with_capacity(body.len() + 160);
        let headers = [
            ("Accept-Encoding", "gzip"),
            ("Content-Type", "text/xml"),
            ("User-Agent", concat!("netlab/", env!("CARGO_PKG_VERSION"))),
        ];
        http::write_post(
            &mut request,
            &self.url.host_header(),
            &self.url.path,
            &headers,
            body.as_bytes(),
        );
        let response = self.exchange(&request)?;
        if response.status != 200 {
            return Err(CallError::Status {
                status: response.status,
                reason: response.reason,
            });
        }
        let body = match response.content_encoding.as_deref() {
            Some("gzip") => {
                let mut plain = Vec::new();
                GzDecoder::new(response.body.as_slice())
                    .take(MAX_RESPONSE as u64)
                    .read_to_end(&mut plain)
                    .map_err(|e| CallError::Malformed(format!("bad gzip: {e}")))?;
                plain
            }
            _ => response.body,
        };
        xmlrpc::parse_response(&body).map_err(|m| CallError::Malformed(m.0))
    }

    /// Sends one request and reads its response, on the kept connection or a new one.
    fn exchange(&mut self, request: &[u8]) -> Result<http::Response, CallError> {
        let conn = match self.conn.take() {
            Some(c) => c,
            None => {
                let c = stream::connect_tcp(&self.addrs, self.timeout)?;
                c.set_read_timeout(self.timeout)?;
                self.wire(c)?
            }
        };
        let mut conn = conn;
        conn.write_all(request)?;
        tracing::debug!(bytes = request.len(), "send");
        let mut decoder = ResponseDecoder::new(MAX_RESPONSE);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match conn.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out waiting for the server").into());
                }
                Err(e) => return Err(e.into()),
            };
            tracing::debug!(bytes = n, "recv");
            let decoded = if n == 0 {
                decoder.eof()
            } else {
                decoder.decode(&mut crate::net::filled(&buf, n))
            };
            match decoded {
                Ok(Some(resp)) => {
                    if resp.keep_alive {
                        self.conn = Some(conn);
                    }
                    return Ok(resp);
                }
                Ok(None) if n == 0 => {
                    return Err(
                        io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed without answering").into(),
                    );
                }
                Ok(None) => {}
                Err(e) => return Err(CallError::Malformed(e.detail)),
            }
        }
    }
}

/// A command-line argument as a value: JSON when it parses (`1` int, `1.5`
/// double, `"x"` string, `[..]` array, `{..}` struct, `true` boolean,
/// `null` nil), a string otherwise.
pub fn arg_value(text: &str) -> Value {
    serde_json::from_str::<serde_json::Value>(text).map_or_else(|_| Value::String(text.to_string()), |j| from_json(&j))
}

/// A JSON value as XML-RPC (integers beyond 32 bits as `i8`).
pub fn from_json(j: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match j {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i32::try_from(i).map_or(Value::Long(i), Value::Integer),
            (None, Some(f)) => Value::Double(f),
            (None, None) => Value::String(n.to_string()),
        },
        J::String(s) => Value::String(s.clone()),
        J::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        J::Object(map) => Value::Struct(map.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()),
    }
}

/// An XML-RPC value as JSON: dateTime as its text, base64 as
/// `{"base64": "..."}`, a double that JSON cannot hold (nan, inf) as text.
pub fn to_json(v: &Value) -> serde_json::Value {
    use base64::Engine as _;
    use serde_json::Value as J;
    match v {
        Value::Integer(i) => J::from(*i),
        Value::Long(i) => J::from(*i),
        Value::Boolean(b) => J::Bool(*b),
        Value::String(s) => J::String(s.clone()),
        Value::Double(d) => {
            serde_json::Number::from_f64(*d).map_or_else(|| J::String(xmlrpc::python_float(*d)), J::Number)
        }
        Value::DateTime(t) => J::String(t.to_string()),
        Value::Base64(b) => serde_json::json!({ "base64": base64::engine::general_purpose::STANDARD.encode(b) }),
        Value::Struct(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Value::Array(items) => J::Array(items.iter().map(to_json).collect()),
        _ => J::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://localhost:7001").expect("url");
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("localhost", 7001, "/RPC2"));
        let u = Url::parse("http://[::1]:8000/").expect("url");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str(), u.host_header()),
            ("::1", 8000, "/", "[::1]:8000".to_string())
        );
        assert_eq!(
            Url::parse("127.0.0.1/x").map(|u| (u.port, u.path)),
            Ok((80, "/x".to_string()))
        );
        assert!(Url::parse("https://h").is_ok_and(|u| u.tls && u.port == 443));
        assert!(Url::parse("ftp://h").is_err());
        assert!(Url::parse("http://h:99999").is_err());
        assert!(Url::parse("http://:1").is_err());
    }

    #[test]
    fn json_arguments_and_results() {
        assert_eq!(arg_value("1"), Value::Integer(1));
        assert_eq!(arg_value("4294967296"), Value::Long(1 << 32));
        assert_eq!(arg_value("1.5"), Value::Double(1.5));
        assert_eq!(arg_value("\"x\""), Value::String("x".into()));
        assert_eq!(arg_value("hello world"), Value::String("hello world".into()));
        assert_eq!(arg_value("true"), Value::Boolean(true));
        assert_eq!(arg_value("null"), Value::Nil);
        assert_eq!(
            arg_value("[1, \"a\"]"),
            Value::Array(vec![Value::Integer(1), Value::String("a".into())])
        );
        assert!(matches!(arg_value("{\"k\": []}"), Value::Struct(m) if m.contains_key("k")));
        assert_eq!(to_json(&Value::Long(1 << 40)), serde_json::json!(1_099_511_627_776_i64));
        assert_eq!(to_json(&Value::Double(f64::NAN)), serde_json::json!("nan"));
        assert_eq!(
            to_json(&Value::Base64(b"hi".to_vec())),
            serde_json::json!({"base64": "aGk="})
        );
    }
}
