//! Human durations on the command line: `100ms`, `2s`, `1m`, and a bare number
//! meaning seconds (`2`, `0.5`), as `sleep(1)` and Python's `settimeout` read them.

use std::time::Duration;

/// Parses a duration such as `100ms`, `1m30s` or a bare number of seconds.
///
/// # Errors
/// A message fit for a usage error when the text is neither.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("'{text}' is not a duration of zero or more seconds"));
    }
    humantime::parse_duration(text).map_err(|e| format!("'{text}' is not a duration like 100ms, 2s or 1m ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_and_bare_numbers() {
        assert_eq!(parse("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in ["", "fast", "-1", "1 parsec", "NaN", "inf"] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
