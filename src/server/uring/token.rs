//! What a completion is about: every submission carries a 64-bit
//! `user_data` that comes back in its completion, laid out as
//!
//! ```text
//!  63      56 55                 32 31                              0
//! +----------+---------------------+---------------------------------+
//! |   kind   |     generation      |   slot (connection table key)   |
//! +----------+---------------------+---------------------------------+
//! ```
//!
//! A slot is reused once its connection is gone; the generation tells a
//! late completion for the old connection from one for the new, so it can
//! never touch the wrong client. (Never the socket's fd number: the kernel
//! reuses fds at once.)

/// What an operation was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// The multishot accept on the listener.
    Accept = 1,
    /// A connection's multishot receive.
    Recv = 2,
    /// A connection's send.
    Send = 3,
    /// A cancellation (its own completion is of no interest).
    Cancel = 4,
    /// The one-shot poll on the shutdown pipe.
    Shutdown = 5,
}

/// A decoded `user_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// The operation.
    pub kind: Kind,
    /// The connection's generation (24 bits).
    pub generation: u32,
    /// The connection's slot.
    pub slot: u32,
}

/// Generations wrap at 24 bits.
pub const GENERATION_MASK: u32 = (1 << 24) - 1;

impl Token {
    /// Packs the token into a `user_data`.
    pub fn encode(self) -> u64 {
        (u64::from(self.kind as u8) << 56) | (u64::from(self.generation & GENERATION_MASK) << 32) | u64::from(self.slot)
    }

    /// Unpacks a `user_data`; `None` for a kind this loop never submits.
    pub fn decode(data: u64) -> Option<Token> {
        let kind = match (data >> 56) as u8 {
            1 => Kind::Accept,
            2 => Kind::Recv,
            3 => Kind::Send,
            4 => Kind::Cancel,
            5 => Kind::Shutdown,
            _ => return None,
        };
        Some(Token {
            kind,
            generation: ((data >> 32) as u32) & GENERATION_MASK,
            slot: data as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_survives_the_round_trip() {
        for kind in [Kind::Accept, Kind::Recv, Kind::Send, Kind::Cancel, Kind::Shutdown] {
            for (generation, slot) in [(0, 0), (1, 7), (GENERATION_MASK, u32::MAX), (12_345, 99_999)] {
                let t = Token { kind, generation, slot };
                assert_eq!(Token::decode(t.encode()), Some(t));
            }
        }
    }

    #[test]
    fn generations_wrap_and_unknown_kinds_are_refused() {
        let t = Token {
            kind: Kind::Recv,
            generation: GENERATION_MASK + 3,
            slot: 1,
        };
        assert_eq!(Token::decode(t.encode()).map(|t| t.generation), Some(2));
        assert_eq!(Token::decode(0), None);
        assert_eq!(Token::decode(u64::MAX), None);
    }
}
