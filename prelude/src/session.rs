//! How the prelude meets the kernel (hidden from students).
//!
//! [`attach`] runs once in each new cell process: it installs a panic hook
//! that reports panics to the kernel, so that a panicking cell is an error
//! with its message, and starts threads that flush stdout often (so that
//! `print!` without a newline shows up while the cell runs) and whenever the
//! cell process asks, at the end of each cell (so that nothing printed arrives
//! after the cell's reply).
//!
//! Every cell links its own copy of this crate, statics included. [`state`]
//! is the session's one state, which lives in the cell process; and
//! [`enter_cell`], which the kernel puts before each cell's code, sets up
//! what each copy has of its own: rayon's global pool.

use rustpar_wire::{FLUSH_REQUEST_FD_ENV, Failure, Message, Panic, SessionState, SourceLocation};
use std::io::{Read, Write};
use std::sync::{Once, OnceLock};
use std::time::Duration;

/// The session's state: the cell process's when this code runs in one,
/// otherwise (tests, `:mpi` programs) this copy's own.
pub(crate) fn state() -> &'static SessionState {
    static STATE: OnceLock<&'static SessionState> = OnceLock::new();
    STATE.get_or_init(|| {
        static OWN: SessionState = SessionState::new();
        // SAFETY: only the cell process sets the variable, to the address of
        // its static state, for the code it runs.
        unsafe { SessionState::from_environment() }.unwrap_or(&OWN)
    })
}

/// Prepares this cell's copy of the prelude; the kernel calls it first in
/// every cell. rayon's global pool is one per copy, and rayon aborts the whole
/// process when a task started with `rayon::spawn` panics, unless the pool
/// has a panic handler: this copy's pool gets one before the cell can use it.
#[doc(hidden)]
pub fn enter_cell() {
    crate::sync::tracker::new_cell();
    static POOL: Once = Once::new();
    POOL.call_once(|| {
        // Fails only if the cell's code could use the pool first, which it cannot.
        let _ = rayon::ThreadPoolBuilder::new().panic_handler(report_task_panic).build_global();
    });
}

/// A pool's panic handler: the panic hook has reported the panic already;
/// this tells the kernel that no one else will, so the cell fails with it.
pub(crate) fn report_task_panic(payload: Box<dyn std::any::Any + Send>) {
    if !payload.is::<crate::cancel::Interrupted>() {
        send(&Message::CellFailed(Failure::TaskPanicked));
    }
}

/// Connects this process to the kernel. Idempotent.
#[doc(hidden)]
pub fn attach() {
    static ATTACHED: Once = Once::new();
    ATTACHED.call_once(|| {
        // The kernel runs cells on the thread that attaches (the process's main
        // thread, unnamed from this library's point of view).
        let cell_thread = std::thread::current().id();
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // A thread stopped in a deadlock: the tracker has reported it.
            if info.payload().is::<crate::sync::Deadlocked>() {
                return;
            }
            let interrupted = info.payload().is::<crate::cancel::Interrupted>();
            // Every thread of an interrupted parallel loop stops with a panic:
            // the kernel needs to hear of the interrupt once.
            if interrupted && !crate::cancel::first_report_of_interrupt() {
                return;
            }
            let message = panic_message(info).unwrap_or_else(|| if interrupted { "interrupted".into() } else { "the cell panicked".into() });
            let thread = std::thread::current().name().map(str::to_owned);
            let on_cell_thread = std::thread::current().id() == cell_thread;
            if !on_cell_thread && !interrupted {
                default_hook(info);
            }
            let panic = Panic { message, location: info.location().map(SourceLocation::from), thread, interrupted, off_cell_thread: !on_cell_thread };
            send(&Message::Panic(panic));
        }));
        std::thread::Builder::new()
            .name("rustpar-flush".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(Duration::from_millis(50));
                    let _ = std::io::stdout().flush();
                }
            })
            .expect("the prelude can start its flushing thread");
        let requests = std::env::var(FLUSH_REQUEST_FD_ENV).ok().and_then(|fd| fd.parse::<i32>().ok());
        if let Some(fd) = requests {
            // SAFETY: the cell process opened this pipe for the prelude alone.
            let mut requests = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
            std::thread::Builder::new()
                .name("rustpar-flush-on-request".into())
                .spawn(move || {
                    let mut request = [0u8; 64];
                    while requests.read(&mut request).is_ok_and(|count| count > 0) {
                        send(&Message::Flushed);
                    }
                })
                .expect("the prelude can start its flushing thread");
            // Tells the cell process that flush requests will be answered.
            send(&Message::Flushed);
        }
    });
}

/// The text a panic was given, when it was given text.
pub(crate) fn panic_message(info: &std::panic::PanicHookInfo) -> Option<String> {
    let payload = info.payload();
    payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned())
}

/// Writes one protocol line to the kernel, after whatever the cell printed.
pub(crate) fn send(message: &Message) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.flush();
    let _ = stdout.write_all(message.to_line().as_bytes());
    let _ = stdout.flush();
}
