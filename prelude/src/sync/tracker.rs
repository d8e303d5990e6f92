//! The lock tracker: which thread holds which prelude lock, which waits for
//! which, and in which orders locks are taken, as Linux's lockdep records it.
//!
//! It is one per session: every cell links its own copy of the prelude, so
//! the first copy that needs the tracker makes it and leaves its address in
//! the session's state, where every later copy finds it. A lock made in one
//! cell and taken in another is the same lock to it.
//!
//! What each lock operation costs is kept small: a thread writes what it
//! holds into its own slots (atomics no other thread writes), and the shared
//! tables are touched only when a lock is made, when a thread takes a lock
//! while holding another for the first time in that order, and when it must
//! wait. A watcher thread looks at the waiting threads ten times a second; a
//! cycle of threads each waiting for a lock the next holds is a deadlock,
//! reported once it has lasted the deadlock timeout (or at once when the
//! cell is interrupted), and the waiting threads then stop.

use crate::session::state;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a deadlock lasts before it is reported, unless set otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many locks one thread can hold at once and still be tracked.
const SLOTS: usize = 16;
/// How often the watcher looks at the waiting threads.
const WATCH_EVERY: Duration = Duration::from_millis(100);

pub(crate) type Site = &'static Location<'static>;

/// What a lock is called in reports: its label, or where it was made.
pub(crate) struct LockName {
    pub label: Option<String>,
    pub made_at: Site,
}

/// One thread's locks, written by that thread only.
pub(crate) struct ThreadLocks {
    pub number: u64,
    name: Option<String>,
    held: [AtomicU64; SLOTS],
    held_at: [AtomicPtr<Location<'static>>; SLOTS],
    /// The lock this thread waits for (0: none), since when, from where.
    waiting_for: AtomicU64,
    waiting_since: Mutex<Option<Instant>>,
    waiting_at: AtomicPtr<Location<'static>>,
    /// Set by the watcher: this thread is in a deadlock and must stop.
    pub stop: AtomicBool,
}

/// The session's tracker.
pub(crate) struct Tracker {
    next_lock: AtomicU64,
    next_thread: AtomicU64,
    timeout_ms: AtomicU64,
    threads: Mutex<Vec<Arc<ThreadLocks>>>,
    names: Mutex<HashMap<u64, LockName>>,
    /// First (held, taken) pair seen, and where each was taken.
    orders: Mutex<HashMap<(u64, u64), (Site, Site)>>,
    warned: Mutex<HashSet<(u64, u64)>>,
    reported: AtomicBool,
    lines: Mutex<HashMap<usize, Option<String>>>,
    /// Locks made while this is off are not tracked.
    pub enabled: AtomicBool,
}

/// The session's tracker, made (with its watcher) the first time it is needed.
pub(crate) fn tracker() -> &'static Tracker {
    static THIS_COPY: OnceLock<&'static Tracker> = OnceLock::new();
    THIS_COPY.get_or_init(|| {
        let shared = &state().lock_tracker;
        let existing = shared.load(Ordering::Acquire);
        if !existing.is_null() {
            // SAFETY: set below by a copy of this same build of the prelude, never freed.
            return unsafe { &*(existing as *const Tracker) };
        }
        let made: &'static Tracker = Box::leak(Box::new(Tracker::new()));
        match shared.compare_exchange(std::ptr::null_mut(), made as *const Tracker as *mut (), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                std::thread::Builder::new()
                    .name("rustpar-lock-watcher".into())
                    .spawn(|| watch(tracker()))
                    .expect("the prelude can start its lock watcher");
                made
            }
            // SAFETY: another copy won the race; its tracker is the session's.
            Err(other) => unsafe { &*(other as *const Tracker) },
        }
    })
}

impl Tracker {
    fn new() -> Tracker {
        Tracker {
            next_lock: AtomicU64::new(1),
            next_thread: AtomicU64::new(1),
            timeout_ms: AtomicU64::new(DEFAULT_TIMEOUT.as_millis() as u64),
            threads: Mutex::default(),
            names: Mutex::default(),
            orders: Mutex::default(),
            warned: Mutex::default(),
            reported: AtomicBool::new(false),
            lines: Mutex::default(),
            enabled: AtomicBool::new(true),
        }
    }

    /// A new lock's number (0: untracked).
    pub fn register(&self, label: Option<String>, made_at: Site) -> u64 {
        if !self.enabled.load(Ordering::Relaxed) {
            return 0;
        }
        let id = self.next_lock.fetch_add(1, Ordering::Relaxed);
        self.names.lock().unwrap().insert(id, LockName { label, made_at });
        id
    }

    pub fn forget(&self, id: u64) {
        self.names.lock().unwrap().remove(&id);
    }

    pub fn set_timeout(&self, timeout: Duration) {
        self.timeout_ms.store(timeout.as_millis().max(1) as u64, Ordering::Relaxed);
    }

    fn new_thread(&self) -> Arc<ThreadLocks> {
        let current = std::thread::current();
        let thread = Arc::new(ThreadLocks {
            number: self.next_thread.fetch_add(1, Ordering::Relaxed),
            name: current.name().map(str::to_owned),
            held: Default::default(),
            held_at: Default::default(),
            waiting_for: AtomicU64::new(0),
            waiting_since: Mutex::new(None),
            waiting_at: AtomicPtr::new(std::ptr::null_mut()),
            stop: AtomicBool::new(false),
        });
        let mut threads = self.threads.lock().unwrap();
        // Threads that have ended hold nothing and wait for nothing: drop them.
        threads.retain(|thread| Arc::strong_count(thread) > 1);
        threads.push(thread.clone());
        thread
    }

    /// Records that `thread` took `id` at `at` while holding others: a new
    /// order, and a warning if the opposite order was seen before.
    fn note_order(&self, held: u64, held_at: Site, taken: u64, taken_at: Site) {
        // Each thread tells the tracker of an order once.
        if !KNOWN_ORDERS.with(|known| known.borrow_mut().insert((held, taken))) {
            return;
        }
        let opposite = {
            let mut orders = self.orders.lock().unwrap();
            orders.entry((held, taken)).or_insert((held_at, taken_at));
            orders.get(&(taken, held)).copied()
        };
        let Some((other_first, other_then)) = opposite else { return };
        let pair = (held.min(taken), held.max(taken));
        if !self.warned.lock().unwrap().insert(pair) {
            return;
        }
        let (a, b) = (self.describe(held), self.describe(taken));
        let text = format!(
            "Two code paths take the same two locks in opposite orders, so they can deadlock (this run did not): \
             one took {a} ({}) and then {b} ({}); another took {b} ({}) and then {a} ({}). \
             Take locks in one order everywhere (for example, always the account with the smaller number first).",
            self.place(held_at),
            self.place(taken_at),
            self.place(other_first),
            self.place(other_then),
        );
        crate::display::bundle([("text/markdown", format!("**Warning: lock order.** {text}")), ("text/plain", format!("Warning: {text}"))]);
    }

    /// `account a` for a labelled lock, else where it was made.
    fn describe(&self, id: u64) -> String {
        match self.names.lock().unwrap().get(&id) {
            Some(LockName { label: Some(label), .. }) => format!("`{label}`"),
            Some(LockName { made_at, .. }) => format!("the lock made at {}", self.place(made_at)),
            None => "a lock".to_owned(),
        }
    }

    /// A site as a student finds it: the cell's line of code, or a library's file and line.
    fn place(&self, site: Site) -> String {
        match self.line_text(site) {
            Some(text) => format!("`{}`", text.trim()),
            None => format!("{}:{}", site.file(), site.line()),
        }
    }

    /// The text of a cell's line (evcxr compiles the cell as `src/lib.rs` in
    /// its session folder), read once per site.
    fn line_text(&self, site: Site) -> Option<String> {
        if site.file() != "src/lib.rs" {
            return None;
        }
        let key = site as *const Location as usize;
        let mut lines = self.lines.lock().unwrap();
        lines
            .entry(key)
            .or_insert_with(|| {
                let folder = std::env::var_os("EVCXR_TMPDIR")?;
                let source = std::fs::read_to_string(std::path::Path::new(&folder).join("src/lib.rs")).ok()?;
                source.lines().nth(site.line() as usize - 1).map(str::to_owned)
            })
            .clone()
    }

    /// The deadlock `thread` is in now, as a sentence and a drawing, if any.
    fn deadlock_of(&self, start: Option<u64>) -> Option<(String, String, Vec<Arc<ThreadLocks>>)> {
        let threads = self.threads.lock().unwrap().clone();
        let holders: HashMap<u64, &Arc<ThreadLocks>> = threads
            .iter()
            .flat_map(|thread| thread.held.iter().filter_map(move |slot| Some((nonzero(slot.load(Ordering::Acquire))?, thread))))
            .collect();
        let waits = |thread: &ThreadLocks| nonzero(thread.waiting_for.load(Ordering::Acquire));
        for first in threads.iter().filter(|thread| start.is_none_or(|number| thread.number == number)) {
            let mut path: Vec<Arc<ThreadLocks>> = vec![first.clone()];
            let mut current = first.clone();
            while let Some(lock) = waits(&current) {
                let Some(holder) = holders.get(&lock).map(|holder| (*holder).clone()) else { break };
                if Arc::ptr_eq(&holder, first) {
                    return Some(self.explain(&path));
                }
                if path.iter().any(|seen| Arc::ptr_eq(seen, &holder)) || path.len() > threads.len() {
                    break;
                }
                path.push(holder.clone());
                current = holder;
            }
        }
        None
    }

    fn explain(&self, cycle: &[Arc<ThreadLocks>]) -> (String, String, Vec<Arc<ThreadLocks>>) {
        // Numbered in the cycle's order: the session's own numbers mean nothing to a reader.
        let label = |thread: &ThreadLocks| {
            let number = cycle.iter().position(|t| std::ptr::eq(&**t, thread)).map_or(0, |index| index + 1);
            match &thread.name {
                Some(name) => format!("thread {number} (`{name}`)"),
                None => format!("thread {number}"),
            }
        };
        let mut steps = Vec::new();
        let mut edges = Vec::new();
        for thread in cycle {
            let waited = thread.waiting_for.load(Ordering::Acquire);
            let held = cycle
                .iter()
                .cycle()
                .skip_while(|t| !Arc::ptr_eq(t, thread))
                .nth(cycle.len() - 1)
                .map_or(0, |previous| previous.waiting_for.load(Ordering::Acquire));
            let held_at = thread
                .held
                .iter()
                .zip(&thread.held_at)
                .find(|(slot, _)| slot.load(Ordering::Acquire) == held)
                .map(|(_, at)| at.load(Ordering::Acquire));
            let waiting_at = thread.waiting_at.load(Ordering::Acquire);
            let at = |site: *mut Location<'static>| {
                // SAFETY: sites are `&'static Location`s stored as pointers.
                (!site.is_null()).then(|| self.place(unsafe { &*site })).map(|place| format!(" at {place}")).unwrap_or_default()
            };
            steps.push(format!(
                "{} holds {}{} and waits for {}{}",
                label(thread),
                self.describe(held),
                at(held_at.unwrap_or(std::ptr::null_mut())),
                self.describe(waited),
                at(waiting_at)
            ));
            edges.push((label(thread), self.describe(held), self.describe(waited)));
        }
        let text = format!(
            "Deadlock: {}. None of them can go on. Take the locks in the same order in every thread, or hold one lock at a time.",
            steps.join("; ")
        );
        (text, drawing(&edges), cycle.to_vec())
    }
}

fn nonzero(id: u64) -> Option<u64> {
    (id != 0).then_some(id)
}

/// The payload of the panic that stops a thread caught in a deadlock.
#[derive(Debug, Clone, Copy)]
pub struct Deadlocked;

thread_local! {
    static THIS_THREAD: OnceLock<Arc<ThreadLocks>> = const { OnceLock::new() };
    /// The orders (held, taken) this thread has told the tracker of.
    static KNOWN_ORDERS: std::cell::RefCell<HashSet<(u64, u64), BuildHasherDefault<PairHasher>>> = std::cell::RefCell::default();
}

/// A hasher for pairs of lock numbers, much cheaper than std's default
/// (which resists attacks that lock numbers cannot mount).
#[derive(Default)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(byte.into());
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// This thread's slots in the tracker.
pub(crate) fn this_thread<R>(tracker: &Tracker, f: impl FnOnce(&ThreadLocks) -> R) -> R {
    THIS_THREAD.with(|slot| f(slot.get_or_init(|| tracker.new_thread())))
}

/// Called once the lock `id` is held by this thread.
pub(crate) fn acquired(id: u64, at: Site) {
    let tracker = tracker();
    this_thread(tracker, |thread| {
        let mut free = None;
        for (index, slot) in thread.held.iter().enumerate() {
            let held = slot.load(Ordering::Relaxed);
            if held == 0 {
                free.get_or_insert(index);
            } else if held != id {
                let held_at = thread.held_at[index].load(Ordering::Relaxed);
                // SAFETY: stored from a `&'static Location`.
                tracker.note_order(held, unsafe { &*held_at }, id, at);
            }
        }
        if let Some(index) = free {
            thread.held_at[index].store(at as *const Location as *mut Location, Ordering::Relaxed);
            thread.held[index].store(id, Ordering::Release);
        }
    });
}

/// Called when this thread lets go of the lock `id`.
pub(crate) fn released(id: u64) {
    THIS_THREAD.with(|slot| {
        if let Some(thread) = slot.get()
            && let Some(held) = thread.held.iter().find(|slot| slot.load(Ordering::Relaxed) == id)
        {
            held.store(0, Ordering::Release);
        }
    });
}

/// This thread starts or stops waiting for the lock `id`.
pub(crate) fn waiting(id: u64, at: Site, wait: bool) {
    let tracker = tracker();
    this_thread(tracker, |thread| {
        *thread.waiting_since.lock().unwrap() = wait.then(Instant::now);
        thread.waiting_at.store(at as *const Location as *mut Location, Ordering::Relaxed);
        thread.waiting_for.store(if wait { id } else { 0 }, Ordering::Release);
    });
}

/// Stops this thread, waiting for a lock, when it must: the watcher found it
/// in a deadlock, or the cell was interrupted (a deadlock it is in is then
/// reported first). `tracked`: the lock it waits for is tracked.
pub(crate) fn stop_if_asked(tracked: bool) {
    if !tracked {
        if crate::cancel::interrupted() {
            stop_cooperatively(crate::cancel::Interrupted);
        }
        return;
    }
    let tracker = tracker();
    let (stop, number) = this_thread(tracker, |thread| (thread.stop.load(Ordering::Acquire), thread.number));
    if stop {
        stop_cooperatively(Deadlocked);
    }
    if crate::cancel::interrupted() {
        if let Some(found) = tracker.deadlock_of(Some(number)) {
            report(tracker, found);
            stop_cooperatively(Deadlocked);
        }
        stop_cooperatively(crate::cancel::Interrupted);
    }
}

thread_local! {
    static STOPPING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Stops this thread with `payload`. The locks it lets go of on the way are
/// not poisoned: the stop is the prelude's, not a failure of the code that
/// held them, and the next cell can take them as they are.
pub(crate) fn stop_cooperatively<P: std::any::Any + Send + 'static>(payload: P) -> ! {
    STOPPING.with(|stopping| stopping.set(true));
    std::panic::panic_any(payload)
}

/// Whether this thread is unwinding from [`stop_cooperatively`].
pub(crate) fn stopping() -> bool {
    std::thread::panicking() && STOPPING.with(std::cell::Cell::get)
}

/// Says the deadlock to the kernel, once per cell, and stops its threads.
fn report(tracker: &Tracker, (text, svg, threads): (String, String, Vec<Arc<ThreadLocks>>)) {
    if !tracker.reported.swap(true, Ordering::AcqRel) {
        crate::display::bundle([("image/svg+xml", svg), ("text/plain", text.clone())]);
        crate::session::send(&rustpar_wire::Message::Deadlock(text));
    }
    for thread in threads {
        thread.stop.store(true, Ordering::Release);
    }
}

/// A new cell may report a deadlock of its own.
pub(crate) fn new_cell() {
    STOPPING.with(|stopping| stopping.set(false));
    let shared = state().lock_tracker.load(Ordering::Acquire);
    if !shared.is_null() {
        // SAFETY: as in `tracker`.
        let tracker = unsafe { &*(shared as *const Tracker) };
        tracker.reported.store(false, Ordering::Release);
    }
}

/// The watcher: reports a deadlock that has lasted the timeout.
fn watch(tracker: &'static Tracker) {
    loop {
        std::thread::sleep(WATCH_EVERY);
        let timeout = Duration::from_millis(tracker.timeout_ms.load(Ordering::Relaxed));
        let threads = tracker.threads.lock().unwrap().clone();
        let long_waiter = threads.iter().find(|thread| {
            !thread.stop.load(Ordering::Acquire) && thread.waiting_since.lock().unwrap().is_some_and(|since| since.elapsed() >= timeout)
        });
        if let Some(waiter) = long_waiter
            && let Some(found) = tracker.deadlock_of(Some(waiter.number))
        {
            let all_long = found.2.iter().all(|thread| thread.waiting_since.lock().unwrap().is_some_and(|since| since.elapsed() >= timeout));
            if all_long {
                report(tracker, found);
            }
        }
    }
}

/// The cycle as a drawing: each thread, the lock it holds, and the lock it waits for.
fn drawing(edges: &[(String, String, String)]) -> String {
    let row = 46.0;
    let height = 30.0 + row * edges.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"620\" height=\"{height:.0}\" font-family=\"sans-serif\" font-size=\"12\">\
         <defs><marker id=\"arrow\" markerWidth=\"8\" markerHeight=\"8\" refX=\"7\" refY=\"4\" orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" fill=\"#b91c1c\"/></marker></defs>\
         <text x=\"10\" y=\"18\" font-weight=\"bold\">Deadlock: each thread waits for a lock the next one holds</text>"
    );
    for (index, (thread, held, waited)) in edges.iter().enumerate() {
        let y = 30.0 + row * index as f64;
        svg.push_str(&format!(
            "<rect x=\"10\" y=\"{y:.0}\" width=\"150\" height=\"30\" rx=\"6\" fill=\"#dbeafe\" stroke=\"#1e40af\"/>\
             <text x=\"85\" y=\"{:.0}\" text-anchor=\"middle\">{}</text>\
             <text x=\"170\" y=\"{:.0}\">holds {}</text>\
             <line x1=\"170\" y1=\"{:.0}\" x2=\"400\" y2=\"{:.0}\" stroke=\"#b91c1c\" stroke-width=\"2\" marker-end=\"url(#arrow)\"/>\
             <text x=\"410\" y=\"{:.0}\" fill=\"#b91c1c\">waits for {}</text>",
            y + 19.0,
            escape(thread),
            y + 12.0,
            escape(held),
            y + 20.0,
            y + 20.0,
            y + 24.0,
            escape(waited),
        ));
    }
    svg.push_str("</svg>");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('`', "")
}
