//! zlib payloads (Python's `zlib.compress` / `zlib.decompress`), inflated
//! with a ceiling: a few KiB that would inflate to gigabytes (a zip bomb)
//! stop at the limit, having cost at most the limit.

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use std::io::{Read, Write};

/// A payload that cannot be inflated within the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZlibError {
    /// Not a zlib stream, or a damaged one.
    #[error("the block is not valid zlib data ({0})")]
    Corrupt(String),
    /// It inflates past the limit.
    #[error("the block inflates past the {limit}-byte limit (--max-frame)")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
}

/// Inflates `data`, refusing to produce more than `limit` bytes.
///
/// # Errors
/// [`ZlibError`] when the data is damaged or inflates past `limit`.
pub fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>, ZlibError> {
    let mut out = Vec::new();
    let ceiling = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    ZlibDecoder::new(data)
        .take(ceiling)
        .read_to_end(&mut out)
        .map_err(|e| ZlibError::Corrupt(e.to_string()))?;
    if out.len() > limit {
        return Err(ZlibError::TooLarge { limit });
    }
    Ok(out)
}

/// Compresses `data` at zlib's default level (as `zlib.compress` does).
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = ZlibEncoder::new(Vec::with_capacity(data.len() / 2 + 16), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let text = "straße ".repeat(1000);
        let packed = deflate(text.as_bytes());
        assert!(packed.len() < text.len() / 10);
        assert_eq!(inflate(&packed, 1 << 20).as_deref(), Ok(text.as_bytes()));
        assert_eq!(inflate(&deflate(b""), 0).as_deref(), Ok(&b""[..]));
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let bomb = deflate(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 128 << 10, "{} bytes", bomb.len());
        assert_eq!(inflate(&bomb, 1 << 20), Err(ZlibError::TooLarge { limit: 1 << 20 }));
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(inflate(b"not zlib", 100), Err(ZlibError::Corrupt(_))));
        let mut cut = deflate(b"hello hello hello");
        cut.truncate(cut.len() - 3);
        assert!(inflate(&cut, 100).is_err());
    }
}
