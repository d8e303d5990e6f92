//! Channels: threads that talk by sending messages instead of sharing memory.
//!
//! A channel has a sending side ([`Sender`]) and a receiving side
//! ([`Receiver`]); both can be cloned, so many producers can feed many
//! consumers (MPMC). A [`bounded`] channel holds at most a fixed number of
//! messages: a sender that finds it full waits, which slows a fast producer
//! down to the pace of its consumers (*back-pressure*). An [`unbounded`]
//! channel never makes senders wait. [`select!`] waits on several channels
//! at once. The channels are [crossbeam](https://docs.rs/crossbeam-channel)'s.
//!
//! A channel closes when all the senders are dropped: receivers then get the
//! messages left and then an error (`for x in rx.iter()` just ends).
//!
//! Waiting forever on a channel cannot be stopped from the notebook; the
//! `_checked` methods of [`RecvChecked`] and [`SendChecked`], and
//! [`pipeline`], wait in short slices and stop the cell when it is
//! interrupted.
//!
//! ```
//! use rustpar::prelude::*;
//! let (tx, rx) = bounded(2);
//! thread::scope(|s| {
//!     s.spawn(move || {
//!         for i in 0..5 {
//!             tx.send(i).unwrap(); // waits while 2 messages are queued
//!         }
//!     }); // tx dropped here: the channel closes
//!     let got: Vec<i32> = rx.iter().collect();
//!     assert_eq!(got, [0, 1, 2, 3, 4]);
//! });
//! ```

use crate::cancel::{check_interrupt, interrupted};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use crossbeam_channel::{
    Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryRecvError, TrySendError, after, bounded, never, select, tick,
    unbounded,
};

/// How long one slice of an interruptible wait lasts.
const SLICE: Duration = Duration::from_millis(20);

/// Interrupt-aware receiving: like `recv` and `iter`, but a cell stuck
/// waiting can be stopped with the notebook's stop button.
///
/// ```
/// use rustpar::prelude::*;
/// let (tx, rx) = unbounded();
/// tx.send_checked(1).unwrap();
/// drop(tx);
/// assert_eq!(rx.recv_checked(), Ok(1));
/// assert!(rx.recv_checked().is_err()); // closed and empty
/// ```
pub trait RecvChecked<T> {
    /// Receives the next message, waiting for one; an error once the channel
    /// is closed and empty. Stops the cell if it is interrupted.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let (tx, rx) = bounded(1);
    /// std::thread::spawn(move || tx.send("hi").unwrap());
    /// assert_eq!(rx.recv_checked(), Ok("hi"));
    /// ```
    fn recv_checked(&self) -> Result<T, RecvError>;

    /// The messages, until the channel is closed and empty (an interruptible
    /// `iter()`).
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let (tx, rx) = unbounded();
    /// std::thread::spawn(move || (0..4).for_each(|i| tx.send(i).unwrap()));
    /// assert_eq!(rx.iter_checked().sum::<i32>(), 6);
    /// ```
    fn iter_checked(&self) -> impl Iterator<Item = T> + '_;
}

impl<T> RecvChecked<T> for Receiver<T> {
    fn recv_checked(&self) -> Result<T, RecvError> {
        loop {
            check_interrupt();
            match self.recv_timeout(SLICE) {
                Ok(message) => return Ok(message),
                Err(RecvTimeoutError::Disconnected) => return Err(RecvError),
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn iter_checked(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.recv_checked().ok())
    }
}

/// Interrupt-aware sending: like `send`, but a cell stuck waiting for room
/// in a full channel can be stopped with the notebook's stop button.
///
/// ```
/// use rustpar::prelude::*;
/// let (tx, rx) = bounded(1);
/// tx.send_checked(5).unwrap();
/// drop(rx);
/// assert_eq!(tx.send_checked(6), Err(SendError(6))); // nobody left to receive
/// ```
pub trait SendChecked<T> {
    /// Sends a message, waiting while a bounded channel is full; an error
    /// (with the message back) once every receiver is gone. Stops the cell if
    /// it is interrupted.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let (tx, rx) = bounded(1);
    /// tx.send_checked("ok").unwrap();
    /// assert_eq!(rx.recv(), Ok("ok"));
    /// ```
    fn send_checked(&self, message: T) -> Result<(), SendError<T>>;
}

impl<T> SendChecked<T> for Sender<T> {
    fn send_checked(&self, mut message: T) -> Result<(), SendError<T>> {
        loop {
            check_interrupt();
            match self.send_timeout(message, SLICE) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Disconnected(message)) => return Err(SendError(message)),
                Err(SendTimeoutError::Timeout(back)) => message = back,
            }
        }
    }
}

/// The results of a [`pipeline`], as its consumer receives them: an iterator
/// that waits for the next result (and can be interrupted), and ends when
/// every worker has finished.
///
/// ```
/// use rustpar::prelude::*;
/// let n = pipeline(4, 0..10, 2, |x: i32| x, |results: Results<i32>| results.count());
/// assert_eq!(n, 10);
/// ```
pub struct Results<T> {
    receiver: Receiver<T>,
    failed: Arc<AtomicBool>,
}

impl<T> Iterator for Results<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        loop {
            check_interrupt();
            if self.failed.load(Ordering::Relaxed) {
                return None;
            }
            match self.receiver.recv_timeout(SLICE) {
                Ok(message) => return Some(message),
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }
}

/// Sends with back-pressure from a helper thread: waits in slices, and gives
/// up (`false`) when the receivers are gone, a stage failed or the cell is
/// interrupted.
fn feed<T>(sender: &Sender<T>, mut message: T, failed: &AtomicBool) -> bool {
    loop {
        if interrupted() || failed.load(Ordering::Relaxed) {
            return false;
        }
        match sender.send_timeout(message, SLICE) {
            Ok(()) => return true,
            Err(SendTimeoutError::Disconnected(_)) => return false,
            Err(SendTimeoutError::Timeout(back)) => message = back,
        }
    }
}

/// Receives in a helper thread: `None` when the channel is closed and empty,
/// a stage failed or the cell is interrupted.
fn take<T>(receiver: &Receiver<T>, failed: &AtomicBool) -> Option<T> {
    loop {
        if interrupted() || failed.load(Ordering::Relaxed) {
            return None;
        }
        match receiver.recv_timeout(SLICE) {
            Ok(message) => return Some(message),
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// A producer–consumer pipeline with back-pressure.
///
/// One thread takes the items of `producer` and queues them; `workers` threads
/// each take items from that queue, apply `work`, and queue the results;
/// `consumer` runs on the calling thread and receives the results as an
/// iterator, in the order they are finished (not the order of the items: send
/// an index along if you need it). Both queues hold at most `capacity`
/// messages, so a producer faster than the workers waits for them, and workers
/// faster than the consumer wait for it. Returns what `consumer` returns.
///
/// Interrupting the cell stops every stage. A panic in any stage (producer,
/// worker or consumer) stops the pipeline and is raised again here, with its
/// own message.
///
/// ```
/// use rustpar::prelude::*;
/// let total: u64 = pipeline(
///     8,                      // at most 8 items waiting in each queue
///     1..=100u64,             // the producer: any iterator
///     3,                      // 3 worker threads
///     |x| x * x,              // the work done on each item
///     |results| results.sum(), // the consumer
/// );
/// assert_eq!(total, 338_350);
/// ```
pub fn pipeline<I, O, R>(
    capacity: usize,
    producer: impl IntoIterator<Item = I, IntoIter: Send>,
    workers: usize,
    work: impl Fn(I) -> O + Sync,
    consumer: impl FnOnce(Results<O>) -> R,
) -> R
where
    I: Send,
    O: Send,
{
    if workers == 0 {
        panic!("a pipeline needs at least one worker: pipeline(capacity, producer, 0, ...) would never produce a result");
    }
    let (items_in, items_out) = bounded::<I>(capacity);
    let (results_in, results_out) = bounded::<O>(capacity);
    let producer = producer.into_iter();
    let work = &work;
    // Set when a stage panics, so that the others stop too.
    let failed = Arc::new(AtomicBool::new(false));
    let stop: &AtomicBool = &failed;
    let stage = |body: Box<dyn FnOnce() + Send + '_>| {
        let result = catch_unwind(AssertUnwindSafe(body));
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        result
    };
    let stage = &stage;
    let outcome = std::thread::scope(|s| {
        let mut stages = Vec::with_capacity(workers + 1);
        stages.push(
            std::thread::Builder::new()
                .name("rustpar-producer".into())
                .spawn_scoped(s, move || {
                    stage(Box::new(move || {
                        for item in producer {
                            if !feed(&items_in, item, stop) {
                                break;
                            }
                        }
                    }))
                })
                .expect("the pipeline could not start its producer thread"),
        );
        for i in 0..workers {
            let (items, results) = (items_out.clone(), results_in.clone());
            stages.push(
                std::thread::Builder::new()
                    .name(format!("rustpar-worker-{i}"))
                    .spawn_scoped(s, move || {
                        stage(Box::new(move || {
                            while let Some(item) = take(&items, stop) {
                                if !feed(&results, work(item), stop) {
                                    break;
                                }
                            }
                        }))
                    })
                    .expect("the pipeline could not start a worker thread"),
            );
        }
        // Only the stages hold these now, so the channels close when they end.
        drop((items_out, results_in));
        let consumed = catch_unwind(AssertUnwindSafe(|| consumer(Results { receiver: results_out, failed: failed.clone() })));
        let panics: Vec<Box<dyn Any + Send>> =
            stages.into_iter().filter_map(|stage| stage.join().expect("pipeline stages catch their panics").err()).collect();
        (consumed, panics)
    });
    match outcome {
        (Err(panic), _) => resume_unwind(panic),
        (Ok(_), panics) if !panics.is_empty() => resume_unwind(panics.into_iter().next().expect("not empty")),
        (Ok(result), _) => {
            check_interrupt();
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_item_is_processed_once() {
        let mut got = pipeline(2, 0..1000, 4, |x: u32| x * 2, |results| results.collect::<Vec<_>>());
        got.sort_unstable();
        assert_eq!(got, (0..1000).map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_full_queue_holds_the_producer_back() {
        // The consumer takes nothing until the producer is blocked: at most
        // capacity items wait in each queue, plus one in each worker's hands.
        let produced = AtomicUsize::new(0);
        let producer = (0..100).inspect(|_| {
            produced.fetch_add(1, Ordering::SeqCst);
        });
        let seen = pipeline(
            3,
            producer,
            1,
            |x: i32| x,
            |mut results| {
                std::thread::sleep(Duration::from_millis(200));
                let early = produced.load(Ordering::SeqCst);
                assert!(early <= 3 + 1 + 3 + 1 + 1, "produced {early} items before any was consumed");
                results.next();
                results.count() + 1
            },
        );
        assert_eq!(seen, 100);
    }

    #[test]
    fn a_consumer_that_stops_early_stops_an_endless_producer() {
        let first: Vec<u64> = pipeline(4, 0u64.., 2, |x| x, |results| results.take(5).collect());
        assert_eq!(first.len(), 5);
    }

    #[test]
    fn a_worker_panic_is_raised_with_its_message() {
        let result =
            std::panic::catch_unwind(|| pipeline(1, 0..10, 2, |x: i32| if x == 3 { panic!("bad item {x}") } else { x }, |results| results.count()));
        let payload = result.expect_err("the pipeline panics");
        let message = payload.downcast_ref::<String>().cloned().unwrap_or_default();
        assert_eq!(message, "bad item 3");
    }

    #[test]
    fn a_worker_panic_stops_an_endless_pipeline() {
        let result =
            std::panic::catch_unwind(|| pipeline(2, 0u64.., 2, |x| if x == 100 { panic!("stop at {x}") } else { x }, |results| results.count()));
        let payload = result.expect_err("the pipeline panics");
        assert_eq!(payload.downcast_ref::<String>().map(String::as_str), Some("stop at 100"));
    }

    #[test]
    fn checked_waits_work_like_the_plain_ones() {
        let (tx, rx) = bounded(1);
        let handle = std::thread::spawn(move || {
            for i in 0..3 {
                tx.send_checked(i).unwrap();
            }
        });
        assert_eq!((0..3).map(|_| rx.recv_checked().unwrap()).collect::<Vec<_>>(), [0, 1, 2]);
        handle.join().unwrap();
        assert_eq!(rx.recv_checked(), Err(RecvError));
    }
}
