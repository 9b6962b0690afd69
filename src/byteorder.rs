//! Byte order: a 32-bit integer as little-endian, big-endian and network
//! order bytes, like Python's `struct.pack('<i' / '>i' / '!i', n)` (and
//! `'!I'` for the unsigned values above 2^31 - 1, as a frame length is).
//! Network order *is* big-endian; `htonl` is a no-op on big-endian machines.

/// The three packings of one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packed {
    /// `struct.pack('<i', n)`.
    pub little: [u8; 4],
    /// `struct.pack('>i', n)`.
    pub big: [u8; 4],
    /// `struct.pack('!i', n)`: the same bytes as big-endian.
    pub network: [u8; 4],
}

/// Packs `value` three ways.
///
/// ```
/// use netlab::byteorder::{hex, pack};
/// assert_eq!(hex(&pack(1234).little), "d2 04 00 00");
/// assert_eq!(hex(&pack(1234).network), "00 00 04 d2");
/// ```
pub fn pack(value: i32) -> Packed {
    Packed {
        little: value.to_le_bytes(),
        big: value.to_be_bytes(),
        network: value.to_be_bytes(),
    }
}

/// Reads a 32-bit value as people write one: signed (`-2`, from −2^31),
/// unsigned up to 2^32 − 1 (`4294967295`, as `struct '!I'` takes), or hex
/// (`0x4d2`, up to 8 digits). Values above `i32::MAX` keep their bits.
///
/// # Errors
/// A usage message for anything that is not a 32-bit integer.
pub fn parse_value(text: &str) -> Result<i32, String> {
    let t = text.trim();
    let bad = || format!("'{text}' is not a 32-bit integer (-2147483648 to 4294967295, or hex like 0x4d2)");
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u32::from_str_radix(hex, 16)
            .map(|v| i32::from_be_bytes(v.to_be_bytes()))
            .map_err(|_| bad());
    }
    if let Ok(v) = t.parse::<i32>() {
        return Ok(v);
    }
    t.parse::<u32>()
        .map(|v| i32::from_be_bytes(v.to_be_bytes()))
        .map_err(|_| bad())
}

/// Bytes as lowercase hex pairs separated by spaces: `00 00 04 d2`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// Reads 4 bytes of hex (`00 00 04 d2`, `000004d2` or `0x000004d2`) in network order.
///
/// # Errors
/// A usage message when the text is not exactly 4 bytes of hex.
pub fn unpack(text: &str) -> Result<i32, String> {
    let trimmed = text.trim();
    let digits: String = trimmed
        .strip_prefix("0x")
        .unwrap_or(trimmed)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    if digits.len() != 8 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("'{text}' is not 4 bytes of hex like '00 00 04 d2'"));
    }
    u32::from_str_radix(&digits, 16)
        .map(|v| i32::from_be_bytes(v.to_be_bytes()))
        .map_err(|e| format!("'{text}': {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classic_demo() {
        let p = pack(1234);
        assert_eq!(hex(&p.little), "d2 04 00 00");
        assert_eq!(hex(&p.big), "00 00 04 d2");
        assert_eq!(hex(&p.network), "00 00 04 d2");
        assert_eq!(hex(&pack(-1).little), "ff ff ff ff");
    }

    #[test]
    fn values_signed_unsigned_and_hex() {
        assert_eq!(parse_value("1234"), Ok(1234));
        assert_eq!(parse_value("-2"), Ok(-2));
        assert_eq!(parse_value("4294967295"), Ok(-1));
        assert_eq!(parse_value("2147483648"), Ok(i32::MIN));
        assert_eq!(parse_value("0x4d2"), Ok(1234));
        assert_eq!(parse_value("0xFFFFFFFF"), Ok(-1));
        for bad in ["4294967296", "-2147483649", "0x100000000", "12a", "", "0x"] {
            assert!(parse_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unpack_reads_network_order() {
        assert_eq!(unpack("00 00 04 d2"), Ok(1234));
        assert_eq!(unpack("000004D2"), Ok(1234));
        assert_eq!(unpack("0xffffffff"), Ok(-1));
        assert!(unpack("00 04 d2").is_err());
        assert!(unpack("zz 00 04 d2").is_err());
        for v in [0, 1, -1, i32::MIN, i32::MAX, 1234] {
            assert_eq!(unpack(&hex(&pack(v).network)), Ok(v));
        }
    }
}
