//! `-vv`: the TLS records crossing a connection, named as they go. Records
//! are cut across reads (and reads across records), so each direction keeps
//! its place: a header split between two reads is put together, and the rest
//! of a long record is skipped rather than read as a new one.

/// One direction's place in the record stream.
#[derive(Debug, Default)]
pub(super) struct Records {
    /// A record header seen in part (at most 5 bytes).
    head: Vec<u8>,
    /// Bytes of the current record still to come.
    skip: usize,
}

impl Records {
    /// Logs (at debug) each record that starts in `bytes`.
    pub(super) fn feed(&mut self, dir: &str, bytes: &[u8], peer: &str) {
        if tracing::enabled!(tracing::Level::DEBUG) {
            for line in self.read(bytes) {
                tracing::debug!(peer, "TLS {dir} {line}");
            }
        }
    }

    /// The records that start in `bytes`, one line each.
    fn read(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        let mut rest = bytes;
        loop {
            let skipped = self.skip.min(rest.len());
            self.skip -= skipped;
            rest = rest.get(skipped..).unwrap_or_default();
            while self.head.len() < 5 {
                let Some((b, more)) = rest.split_first() else {
                    return lines;
                };
                self.head.push(*b);
                rest = more;
            }
            let &[kind, _, _, hi, lo] = self.head.as_slice() else {
                return lines; // five bytes, by the loop above
            };
            let len = usize::from(hi) << 8 | usize::from(lo);
            let seen = rest.get(..len).unwrap_or(rest);
            lines.push(format!("{} ({} bytes)", what(kind, seen), len + 5));
            self.head.clear();
            self.skip = len;
        }
    }
}

/// One record, by type: the handshake messages it carries while they are
/// readable (plaintext), an alert's name.
fn what(kind: u8, body: &[u8]) -> String {
    match kind {
        22 => {
            let mut names = Vec::new();
            let mut rest = body;
            while let [t, a, b, c, more @ ..] = rest {
                names.push(message(*t));
                let len = usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c);
                rest = more.get(len..).unwrap_or_default();
            }
            format!("handshake: {}", names.join(", "))
        }
        20 => "ChangeCipherSpec (compatibility)".into(),
        21 => match body {
            [_, 0, ..] => "alert: close_notify".into(),
            [_, d, ..] => format!("alert {d}"),
            _ => "alert".into(),
        },
        23 => "encrypted record (handshake messages, then data)".into(),
        _ => "not a TLS record".into(),
    }
}

/// A handshake message type's name (RFC 8446 §4, RFC 5246 §7.4).
fn message(t: u8) -> &'static str {
    match t {
        1 => "ClientHello",
        2 => "ServerHello",
        4 => "NewSessionTicket",
        8 => "EncryptedExtensions",
        11 => "Certificate",
        12 => "ServerKeyExchange",
        13 => "CertificateRequest",
        14 => "ServerHelloDone",
        15 => "CertificateVerify",
        16 => "ClientKeyExchange",
        20 => "Finished",
        _ => "unknown message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u8, body: &[u8]) -> Vec<u8> {
        let len = u16::try_from(body.len()).unwrap().to_be_bytes();
        [&[kind, 3, 3], &len[..], body].concat()
    }

    #[test]
    fn a_record_cut_anywhere_is_named_once() {
        let hello = [2u8, 0, 0, 2, 9, 9, 11, 0, 0, 1, 7, 14, 0, 0, 0];
        let stream = [record(22, &hello), record(23, &[0u8; 300]), record(21, &[1, 0])].concat();
        let whole = Records::default().read(&stream);
        assert_eq!(
            whole,
            [
                "handshake: ServerHello, Certificate, ServerHelloDone (20 bytes)",
                "encrypted record (handshake messages, then data) (305 bytes)",
                "alert: close_notify (7 bytes)",
            ]
        );
        for cut in 1..stream.len() {
            let mut r = Records::default();
            let (a, b) = stream.split_at(cut);
            let lines = [r.read(a), r.read(b)].concat();
            assert_eq!(lines.len(), 3, "cut at {cut}: {lines:?}");
            assert_eq!(lines[1], whole[1], "cut at {cut}");
        }
    }

    #[test]
    fn a_read_that_starts_mid_record_is_not_a_new_record() {
        let mut r = Records::default();
        let big = record(23, &[22u8; 1000]);
        assert_eq!(r.read(&big[..10]).len(), 1);
        assert!(r.read(&big[10..500]).is_empty(), "the middle of a record names nothing");
        assert_eq!(r.read(&[&big[500..], &record(20, &[1])[..]].concat()).len(), 1);
    }
}
