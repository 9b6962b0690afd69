//! Exponential backoff as a pure policy: the sequence of waits, no sleeping.
//!
//! The classic UDP client waits `timeout`, then twice as long after every
//! loss, and gives up once the next wait would pass `max_wait`. With 100 ms
//! and 2 s that is 0.1, 0.2, 0.4, 0.8, 1.6 s: five sends, 3.1 s in all.

use std::time::Duration;

/// The waits after each send, as an iterator: `initial`, doubled each time,
/// ending before the first *next* wait greater than `max_wait` (the first
/// send always happens, whatever the limits).
///
/// ```
/// use netlab::client::backoff::Backoff;
/// use std::time::Duration;
/// let waits: Vec<_> = Backoff::new(Duration::from_millis(100), Duration::from_secs(2)).collect();
/// assert_eq!(waits.len(), 5); // 0.1, 0.2, 0.4, 0.8, 1.6 s
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Option<Duration>,
    max_wait: Duration,
}

impl Backoff {
    /// A policy starting at `initial` (a zero start is raised to 1 ms so it doubles).
    pub fn new(initial: Duration, max_wait: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Backoff {
            next: Some(initial),
            max_wait,
        }
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let wait = self.next?;
        self.next = wait.checked_mul(2).filter(|n| *n <= self.max_wait);
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn defaults_give_the_five_classic_waits() {
        let waits: Vec<_> = Backoff::new(Duration::from_millis(100), Duration::from_secs(2)).collect();
        assert_eq!(waits, ms(&[100, 200, 400, 800, 1600]));
        assert_eq!(waits.iter().sum::<Duration>(), Duration::from_millis(3100));
    }

    #[test]
    fn edges() {
        let b = |a, m| Backoff::new(Duration::from_millis(a), Duration::from_millis(m)).collect::<Vec<_>>();
        assert_eq!(b(100, 100), ms(&[100]));
        assert_eq!(b(100, 50), ms(&[100]));
        assert_eq!(b(300, 1200), ms(&[300, 600, 1200]));
        assert_eq!(b(0, 4), ms(&[1, 2, 4]));
        let huge = Backoff::new(Duration::from_secs(u64::MAX / 2), Duration::MAX).count();
        assert!(huge >= 1);
    }
}
