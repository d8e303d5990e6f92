//! Who worked when: a timeline of the pieces of work done by several threads.
//!
//! A speedup says *how much* faster; a timeline says *why*. Wrap each piece of
//! work in [`Timeline::record`], from any thread, and [`show`](Timeline::show)
//! draws one row per thread with a bar for each piece: idle gaps (load
//! imbalance, waiting on a lock), pieces running side by side (parallelism)
//! or taking turns (concurrency) become visible.
//!
//! ```
//! use rustpar::prelude::*;
//! let timeline = Timeline::new();
//! (0..8).into_par_iter().for_each(|i| {
//!     timeline.record("task", || (0..10_000u64 * (i + 1)).sum::<u64>());
//! });
//! timeline.show();
//! assert_eq!(timeline.spans().len(), 8);
//! ```

use crate::plot::Plot;
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// One recorded piece of work.
///
/// ```
/// use rustpar::prelude::*;
/// let timeline = Timeline::new();
/// timeline.record("nap", || sleep(std::time::Duration::from_millis(2)));
/// let span = &timeline.spans()[0];
/// assert_eq!((span.worker, span.label.as_str()), (0, "nap"));
/// assert!(span.duration() >= std::time::Duration::from_millis(2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The thread that did it: 0 for the first thread seen by the timeline,
    /// 1 for the next, and so on.
    pub worker: usize,
    /// The label given to [`Timeline::record`].
    pub label: String,
    /// When it started, from the creation of the timeline.
    pub start: Duration,
    /// When it ended, from the creation of the timeline.
    pub end: Duration,
}

impl Span {
    /// How long the piece of work took.
    ///
    /// ```
    /// use rustpar::timeline::Span;
    /// use std::time::Duration;
    /// let span = Span { worker: 0, label: "x".into(), start: Duration::from_millis(3), end: Duration::from_millis(5) };
    /// assert_eq!(span.duration(), Duration::from_millis(2));
    /// ```
    pub fn duration(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }
}

/// Records when each piece of work ran and on which thread; shared by
/// reference between threads (it locks briefly once per piece).
///
/// ```
/// use rustpar::prelude::*;
/// let timeline = Timeline::new();
/// thread::scope(|s| {
///     for name in ["soup", "bread"] {
///         let timeline = &timeline;
///         s.spawn(move || timeline.record(name, || sleep(std::time::Duration::from_millis(3))));
///     }
/// });
/// assert_eq!(timeline.workers(), 2);
/// timeline.show();
/// ```
#[derive(Debug)]
pub struct Timeline {
    origin: Instant,
    recorded: Mutex<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    spans: Vec<Span>,
    /// The threads seen so far; a thread's worker number is its index here.
    threads: Vec<ThreadId>,
}

impl Default for Timeline {
    fn default() -> Timeline {
        Timeline::new()
    }
}

impl Timeline {
    /// An empty timeline whose clock starts now.
    ///
    /// ```
    /// let timeline = rustpar::prelude::Timeline::new();
    /// assert!(timeline.spans().is_empty());
    /// ```
    pub fn new() -> Timeline {
        Timeline { origin: Instant::now(), recorded: Mutex::new(Recorded::default()) }
    }

    fn recorded(&self) -> std::sync::MutexGuard<'_, Recorded> {
        // Only this module holds the lock, never while user code runs.
        self.recorded.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` on the calling thread, records when it started and ended
    /// under `label`, and returns its result.
    ///
    /// ```
    /// let timeline = rustpar::prelude::Timeline::new();
    /// let answer = timeline.record("compute", || 6 * 7);
    /// assert_eq!(answer, 42);
    /// ```
    pub fn record<R>(&self, label: impl Into<String>, work: impl FnOnce() -> R) -> R {
        let start = self.origin.elapsed();
        let result = work();
        let end = self.origin.elapsed();
        let thread = std::thread::current().id();
        let mut recorded = self.recorded();
        let worker = match recorded.threads.iter().position(|&seen| seen == thread) {
            Some(worker) => worker,
            None => {
                recorded.threads.push(thread);
                recorded.threads.len() - 1
            }
        };
        recorded.spans.push(Span { worker, label: label.into(), start, end });
        result
    }

    /// The recorded spans, by start time.
    ///
    /// ```
    /// let timeline = rustpar::prelude::Timeline::new();
    /// timeline.record("a", || ());
    /// timeline.record("b", || ());
    /// assert_eq!(timeline.spans()[1].label, "b");
    /// ```
    pub fn spans(&self) -> Vec<Span> {
        let mut spans = self.recorded().spans.clone();
        spans.sort_by_key(|span| span.start);
        spans
    }

    /// How many threads recorded work.
    ///
    /// ```
    /// let timeline = rustpar::prelude::Timeline::new();
    /// timeline.record("here", || ());
    /// std::thread::scope(|s| { s.spawn(|| timeline.record("there", || ())); });
    /// assert_eq!(timeline.workers(), 2);
    /// ```
    pub fn workers(&self) -> usize {
        self.recorded().threads.len()
    }

    /// The total time each worker spent inside recorded work, by worker
    /// number. Unequal totals mean unequal shares of the work: *load
    /// imbalance*.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let timeline = Timeline::new();
    /// timeline.record("one", || sleep(std::time::Duration::from_millis(2)));
    /// assert!(timeline.busy()[0] >= std::time::Duration::from_millis(2));
    /// ```
    pub fn busy(&self) -> Vec<Duration> {
        let recorded = self.recorded();
        let mut busy = vec![Duration::ZERO; recorded.threads.len()];
        for span in &recorded.spans {
            busy[span.worker] += span.duration();
        }
        busy
    }

    /// When the last piece of work ended (the first started near zero if the
    /// timeline was created just before the work).
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let timeline = Timeline::new();
    /// timeline.record("nap", || sleep(std::time::Duration::from_millis(3)));
    /// assert!(timeline.finished() >= std::time::Duration::from_millis(3));
    /// ```
    pub fn finished(&self) -> Duration {
        self.recorded().spans.iter().map(|span| span.end).max().unwrap_or_default()
    }

    /// The timeline as a chart: one row per worker, one bar per span, a
    /// colour per label (in milliseconds since the timeline was created).
    ///
    /// ```
    /// let timeline = rustpar::prelude::Timeline::new();
    /// timeline.record("step", || ());
    /// assert!(timeline.plot("Steps").svg().contains("worker"));
    /// ```
    pub fn plot(&self, title: &str) -> Plot {
        let spans = self.spans();
        let mut labels: Vec<&str> = Vec::new();
        for span in &spans {
            if !labels.contains(&span.label.as_str()) {
                labels.push(&span.label);
            }
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        labels.iter().fold(Plot::new(title).x_label("time (ms)").y_label("worker"), |plot, &label| {
            let mine: Vec<&Span> = spans.iter().filter(|span| span.label == label).collect();
            plot.spans(
                label,
                mine.iter().map(|span| span.worker).collect::<Vec<_>>(),
                mine.iter().map(|span| ms(span.start)).collect::<Vec<_>>(),
                mine.iter().map(|span| ms(span.end)).collect::<Vec<_>>(),
            )
        })
    }

    /// Shows the timeline as a chart titled "Timeline".
    ///
    /// ```
    /// let timeline = rustpar::prelude::Timeline::new();
    /// timeline.record("step", || ());
    /// timeline.show();
    /// ```
    pub fn show(&self) {
        self.plot("Timeline").show();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_gets_its_own_worker_number_and_busy_time() {
        let timeline = Timeline::new();
        timeline.record("main", || std::thread::sleep(Duration::from_millis(4)));
        std::thread::scope(|s| {
            s.spawn(|| timeline.record("other", || std::thread::sleep(Duration::from_millis(1))));
        });
        let spans = timeline.spans();
        assert_eq!(spans.iter().map(|s| (s.worker, s.label.as_str())).collect::<Vec<_>>(), [(0, "main"), (1, "other")]);
        let busy = timeline.busy();
        assert!(busy[0] >= Duration::from_millis(4) && busy[1] >= Duration::from_millis(1), "{busy:?}");
        assert!(timeline.finished() >= spans[1].end);
        let svg = timeline.plot("Two").svg();
        assert!(svg.contains("main") && svg.contains("other") && svg.contains("worker"));
    }
}
