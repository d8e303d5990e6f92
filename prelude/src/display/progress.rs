//! Progress bars that update in place, from one thread or from many.

use super::DisplayHandle;
use rayon::iter::ParallelIterator;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often, at most, a bar is redrawn while it runs.
const REDRAW_EVERY: Duration = Duration::from_millis(100);
/// Characters in the text version of the bar.
const TEXT_WIDTH: usize = 30;

/// A progress bar shown in the notebook and updated in place. Made by
/// [`progress`]; share it by reference between threads (it is `Sync`), and
/// call [`inc`](Progress::inc) once per finished piece of work. Every call also
/// checks for an interrupt, so a loop that updates a bar can be stopped (in a
/// rayon loop, add `.interruptible()` so that all threads stop at once, or use
/// the `.progress()` adaptor, which does both).
///
/// ```
/// use rustpar::prelude::*;
/// let bar = progress(1000);
/// (0..1000).into_par_iter().interruptible().for_each(|_| bar.inc());
/// assert_eq!(bar.done(), 1000);
/// ```
pub struct Progress {
    total: u64,
    done: AtomicU64,
    started: Instant,
    /// Milliseconds from `started` to the last redraw.
    last_redraw: AtomicU64,
    /// The `done` count shown last; the lock also orders the redraws.
    shown: Mutex<Option<u64>>,
    handle: DisplayHandle,
}

/// A progress bar for `total` pieces of work (0 when the total is unknown: the
/// bar then counts without a percentage). It is shown at once, at 0.
///
/// ```
/// use rustpar::prelude::*;
/// let bar = progress(3);
/// for _ in 0..3 {
///     sleep(std::time::Duration::from_millis(1));
///     bar.inc();
/// }
/// ```
pub fn progress(total: u64) -> Progress {
    let bar = Progress {
        total,
        done: AtomicU64::new(0),
        started: Instant::now(),
        last_redraw: AtomicU64::new(0),
        shown: Mutex::new(None),
        handle: DisplayHandle::new(),
    };
    bar.redraw(true);
    bar
}

impl Progress {
    /// Counts one more piece of work as done (and stops the cell if it was
    /// interrupted).
    ///
    /// ```
    /// let bar = rustpar::prelude::progress(2);
    /// bar.inc();
    /// assert_eq!(bar.done(), 1);
    /// ```
    pub fn inc(&self) {
        self.add(1);
    }

    /// Counts `n` more pieces of work as done.
    ///
    /// ```
    /// let bar = rustpar::prelude::progress(100);
    /// bar.add(40);
    /// assert_eq!(bar.done(), 40);
    /// ```
    pub fn add(&self, n: u64) {
        crate::cancel::check_interrupt();
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if self.total > 0 && done >= self.total && done - n < self.total {
            // This call completed the work: always show the end.
            self.redraw(true);
            return;
        }
        let now = self.started.elapsed().as_millis() as u64;
        if now.saturating_sub(self.last_redraw.load(Ordering::Relaxed)) >= REDRAW_EVERY.as_millis() as u64 {
            self.redraw(false);
        }
    }

    /// How many pieces of work are done.
    ///
    /// ```
    /// assert_eq!(rustpar::prelude::progress(5).done(), 0);
    /// ```
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// The total given to [`progress`].
    ///
    /// ```
    /// assert_eq!(rustpar::prelude::progress(5).total(), 5);
    /// ```
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Time since the bar was made.
    ///
    /// ```
    /// assert!(rustpar::prelude::progress(5).elapsed().as_secs() < 1);
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Shows the current count now (also done when the bar is dropped).
    ///
    /// ```
    /// let bar = rustpar::prelude::progress(0);
    /// bar.add(7);
    /// bar.finish();
    /// ```
    pub fn finish(&self) {
        self.redraw(true);
    }

    /// The bar as text: `[#####-----] 5/10 (50%) 1.2 s, about 1.2 s left`.
    ///
    /// ```
    /// let bar = rustpar::prelude::progress(10);
    /// bar.add(5);
    /// assert!(bar.text().contains("5/10 (50%)"));
    /// ```
    pub fn text(&self) -> String {
        self.text_of(self.done(), self.elapsed())
    }

    fn text_of(&self, done: u64, elapsed: Duration) -> String {
        let bar = self.fraction(done).map_or(String::new(), |f| {
            let filled = ((f * TEXT_WIDTH as f64).round() as usize).min(TEXT_WIDTH);
            format!("[{}{}] ", "#".repeat(filled), "-".repeat(TEXT_WIDTH - filled))
        });
        format!("{bar}{}", self.summary(done, elapsed))
    }

    /// The bar as HTML.
    ///
    /// ```
    /// let bar = rustpar::prelude::progress(4);
    /// bar.inc();
    /// assert!(bar.html().contains("width:25.0%"));
    /// ```
    pub fn html(&self) -> String {
        self.html_of(self.done(), self.elapsed())
    }

    fn html_of(&self, done: u64, elapsed: Duration) -> String {
        let bar = self.fraction(done).map_or(String::new(), |f| {
            format!(
                "<span style=\"display:inline-block;width:240px;height:12px;background:#e0e0e0;border-radius:3px;vertical-align:middle;margin-right:8px\">\
                 <span style=\"display:block;width:{:.1}%;height:100%;background:{};border-radius:3px\"></span></span>",
                f * 100.0,
                if f >= 1.0 { "#2ca02c" } else { "#1f77b4" }
            )
        });
        format!("<div style=\"font-family:monospace\">{bar}{}</div>", super::escape(&self.summary(done, elapsed)))
    }

    fn fraction(&self, done: u64) -> Option<f64> {
        (self.total > 0).then(|| (done as f64 / self.total as f64).min(1.0))
    }

    fn summary(&self, done: u64, elapsed: Duration) -> String {
        let time = crate::timing::format_duration(elapsed);
        match self.fraction(done) {
            None => format!("{done} done, {time}"),
            Some(f) if f >= 1.0 || done == 0 => format!("{done}/{} ({:.0}%) {time}", self.total, f * 100.0),
            Some(f) => {
                let left = elapsed.mul_f64((1.0 - f) / f);
                format!("{done}/{} ({:.0}%) {time}, about {} left", self.total, f * 100.0, crate::timing::format_duration(left))
            }
        }
    }

    /// Redraws unless another thread is drawing (when not `force`d) or the
    /// count has not changed.
    fn redraw(&self, force: bool) {
        let mut shown = match if force { Ok(self.shown.lock().unwrap_or_else(|e| e.into_inner())) } else { self.shown.try_lock().map_err(|_| ()) } {
            Ok(shown) => shown,
            Err(()) => return,
        };
        let done = self.done();
        if *shown == Some(done) {
            return;
        }
        *shown = Some(done);
        let elapsed = self.elapsed();
        self.last_redraw.store(elapsed.as_millis() as u64, Ordering::Relaxed);
        self.handle.bundle([("text/html", self.html_of(done, elapsed)), ("text/plain", self.text_of(done, elapsed))]);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.redraw(true);
    }
}

/// Adds `.progress()` to every iterator: a bar that advances as the loop
/// goes, and a loop that can be interrupted.
///
/// ```
/// use rustpar::prelude::*;
/// let mut sum = 0;
/// for i in (1..=100).progress() {
///     sum += i;
/// }
/// assert_eq!(sum, 5050);
/// ```
pub trait WithProgress: Iterator + Sized {
    /// This iterator with a progress bar (its length from `size_hint`).
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let squares: Vec<u32> = (0..10).progress().map(|x| x * x).collect();
    /// assert_eq!(squares[3], 9);
    /// ```
    fn progress(self) -> ProgressIter<Self> {
        let (lower, upper) = self.size_hint();
        ProgressIter { iter: self, bar: progress(upper.unwrap_or(lower) as u64), pending: false }
    }
}

impl<I: Iterator> WithProgress for I {}

/// An iterator with a progress bar, from [`WithProgress::progress`]. An item
/// counts as done when the next one is asked for.
///
/// ```
/// use rustpar::prelude::*;
/// let mut it = vec!['a', 'b'].into_iter().progress();
/// assert_eq!(it.next(), Some('a'));
/// assert_eq!(it.bar().done(), 0);
/// assert_eq!(it.next(), Some('b'));
/// assert_eq!(it.bar().done(), 1);
/// ```
pub struct ProgressIter<I> {
    iter: I,
    bar: Progress,
    pending: bool,
}

impl<I> ProgressIter<I> {
    /// The bar this iterator advances.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// assert_eq!((0..4).progress().bar().total(), 4);
    /// ```
    pub fn bar(&self) -> &Progress {
        &self.bar
    }
}

impl<I: Iterator> Iterator for ProgressIter<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        if std::mem::take(&mut self.pending) {
            self.bar.inc();
        } else {
            crate::cancel::check_interrupt();
        }
        let item = self.iter.next();
        match item {
            Some(_) => self.pending = true,
            None => self.bar.finish(),
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

/// Adds `.progress()` to rayon's parallel iterators. The bar knows the total
/// when the iterator knows its length (`par_iter()` on a `Vec`, a range, and
/// `map`s of these), and just counts otherwise. Put it after the expensive
/// step: an item counts as done when it passes through.
///
/// ```
/// use rustpar::prelude::*;
/// let total: u64 = (0..1000u64).into_par_iter().map(|x| x * 2).progress().sum();
/// assert_eq!(total, 999_000);
/// let evens: Vec<u32> = (0..100u32).into_par_iter().filter(|x| x % 2 == 0).progress().collect();
/// assert_eq!(evens.len(), 50); // filter cannot know its length: the bar only counts
/// ```
pub trait ParWithProgress: rayon::iter::ParallelIterator {
    /// This parallel iterator with a progress bar.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let v: Vec<i32> = vec![1, 2, 3].into_par_iter().progress().collect();
    /// assert_eq!(v, [1, 2, 3]);
    /// ```
    fn progress(self) -> impl rayon::iter::ParallelIterator<Item = Self::Item> {
        let bar = progress(self.opt_len().unwrap_or(0) as u64);
        // The fuse stops every thread at the first interrupt (see `cancel`).
        self.panic_fuse().map(move |item| {
            bar.inc();
            item
        })
    }
}

impl<P: rayon::iter::ParallelIterator> ParWithProgress for P {}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn counts_from_many_threads() {
        let bar = progress(10_000);
        (0..10_000).into_par_iter().for_each(|_| bar.inc());
        assert_eq!(bar.done(), 10_000);
        assert!(bar.text().starts_with(&format!("[{}]", "#".repeat(TEXT_WIDTH))), "{}", bar.text());
        assert!(bar.text().contains("10000/10000 (100%)"));
        assert!(bar.html().contains("width:100.0%"));
    }

    #[test]
    fn an_unknown_total_just_counts() {
        let bar = progress(0);
        bar.add(3);
        assert!(bar.text().starts_with("3 done"), "{}", bar.text());
    }

    #[test]
    fn the_iterator_adaptor_counts_finished_items() {
        let mut it = (0..3).progress();
        while it.next().is_some() {}
        assert_eq!(it.bar().done(), 3);
    }

    #[test]
    fn half_way_has_an_estimate() {
        let bar = progress(10);
        bar.add(5);
        assert!(bar.text().contains("5/10 (50%)"));
        assert!(bar.text().contains("left"));
    }
}
