//! Counts as people write them: `1 try`, `2 tries`, `1 connection`.

/// `n` and the noun in the form that agrees with it.
///
/// ```
/// use netlab::words::count;
/// assert_eq!(count(1u32, "try", "tries"), "1 try");
/// assert_eq!(count(5u32, "try", "tries"), "5 tries");
/// ```
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The noun that agrees with `n`, for text that places the number itself.
pub fn noun<'a>(n: impl Into<u64>, one: &'a str, many: &'a str) -> &'a str {
    if n.into() == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_many() {
        assert_eq!(count(0u64, "reply", "replies"), "0 replies");
        assert_eq!(count(1u32, "reply", "replies"), "1 reply");
        assert_eq!(noun(2u64, "thread", "threads"), "threads");
    }
}
