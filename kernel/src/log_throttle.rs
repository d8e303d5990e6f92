//! Keeps a flood of bad messages out of the log Jupyter shows.
//!
//! A client that sends 10,000 malformed frames should not get 10,000 log
//! lines: [`LogThrottle`] lets the first few through in full, then one line
//! at each power of ten with the count so far.

/// How many of a kind are logged in full.
const IN_FULL: u64 = 3;

/// Counts events of one kind and says which to log.
#[derive(Debug, Default)]
pub struct LogThrottle {
    seen: u64,
}

/// What to log for an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Log it in full.
    InFull,
    /// Log a line saying how many there have been so far.
    Count(u64),
    Quiet,
}

impl LogThrottle {
    pub fn note(&mut self) -> Verdict {
        self.seen += 1;
        match self.seen {
            seen if seen <= IN_FULL => Verdict::InFull,
            seen if seen >= 10 && 10u64.pow(seen.ilog10()) == seen => Verdict::Count(seen),
            _ => Verdict::Quiet,
        }
    }
}

/// Logs a warning about an event through `throttle`: `what` in full for the
/// first few, then `kind` with a count.
pub fn warn(throttle: &mut LogThrottle, kind: &str, what: impl FnOnce() -> String) {
    match throttle.note() {
        Verdict::InFull => tracing::warn!("{}", what()),
        Verdict::Count(count) => tracing::warn!("{count} {kind} so far (only the first {IN_FULL} were logged in full)"),
        Verdict::Quiet => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_events_make_seven_lines() {
        let mut throttle = LogThrottle::default();
        let verdicts: Vec<Verdict> = (0..10_000).map(|_| throttle.note()).filter(|verdict| *verdict != Verdict::Quiet).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::InFull,
                Verdict::InFull,
                Verdict::InFull,
                Verdict::Count(10),
                Verdict::Count(100),
                Verdict::Count(1000),
                Verdict::Count(10_000)
            ]
        );
    }
}
