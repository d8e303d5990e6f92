//! Routes what the cell process prints to the running cell's sink.
//!
//! evcxr hands the cell process's stdout lines to a channel; one pump thread
//! decodes them ([`rustpar_wire::Message`]) and emits them, while keeping the
//! facts the evaluator needs to judge the cell: did it panic, with what
//! message, and what did it last print on stderr.

use crate::outputs::{Output, OutputSink, Stream};
use crossbeam_channel::{Receiver, Sender, select};
use rustpar_wire::{Failure, Message, Panic};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the cell process reported about the current cell besides its output.
#[derive(Debug, Default)]
pub(crate) struct CellReport {
    pub failure: Option<Failure>,
    pub panic: Option<Panic>,
    /// The panic of a task that had no one to report it to (`rayon::spawn`),
    /// kept apart: the cell's own code may panic later because of it.
    pub task_panic: Option<Panic>,
    /// The last panic off the cell's thread: the one a pool's panic handler
    /// reports, even when the cell's own thread panicked since (a task that
    /// panics drops its channel's sender while it unwinds, before the handler runs).
    last_off_cell_panic: Option<Panic>,
    /// The last lines the cell printed to stderr (an error's message).
    pub stderr_tail: String,
    /// When the compiled cell started to run.
    pub started: Option<Instant>,
    /// The deadlock the prelude's lock tracker reported, which stopped the cell.
    pub deadlock: Option<String>,
}

const STDERR_TAIL_LIMIT: usize = 4096;

pub(crate) struct OutputRouter {
    /// The sink of the latest cell; output printed by threads that outlive a
    /// cell still reaches the notebook, under that cell.
    sink: Mutex<Option<Arc<dyn OutputSink>>>,
    report: Mutex<CellReport>,
    flush_requests: Sender<Sender<()>>,
}

impl OutputRouter {
    pub fn start(stdout: Receiver<String>, stderr: Receiver<String>) -> Arc<OutputRouter> {
        let (flush_requests, flushes) = crossbeam_channel::unbounded();
        let router = Arc::new(OutputRouter { sink: Mutex::new(None), report: Mutex::default(), flush_requests });
        let pump = router.clone();
        std::thread::Builder::new()
            .name("rustpar-outputs".into())
            .spawn(move || pump.pump(stdout, stderr, flushes))
            .expect("the kernel can start its output thread");
        router
    }

    /// Directs output to a new cell's sink and forgets the last cell's report.
    pub fn begin_cell(&self, sink: Arc<dyn OutputSink>) {
        *self.sink.lock().unwrap() = Some(sink);
        *self.report.lock().unwrap() = CellReport::default();
    }

    /// Waits until every line evcxr has received so far has been emitted, then
    /// returns the cell's report.
    pub fn finish_cell(&self) -> CellReport {
        let (done, wait) = crossbeam_channel::bounded(1);
        if self.flush_requests.send(done).is_ok() {
            let _ = wait.recv();
        }
        std::mem::take(&mut *self.report.lock().unwrap())
    }

    fn pump(&self, stdout: Receiver<String>, stderr: Receiver<String>, flushes: Receiver<Sender<()>>) {
        loop {
            select! {
                recv(stdout) -> line => match line {
                    Ok(line) => self.route_line(&line),
                    Err(_) => return,
                },
                recv(stderr) -> line => match line {
                    Ok(line) => self.route_note(line),
                    Err(_) => return,
                },
                recv(flushes) -> done => {
                    for line in stdout.try_iter() {
                        self.route_line(&line);
                    }
                    for line in stderr.try_iter() {
                        self.route_note(line);
                    }
                    if let Ok(done) = done {
                        let _ = done.send(());
                    }
                }
            }
        }
    }

    /// Lines on evcxr's stderr channel: the cell process's notes, or text of
    /// its own (e.g. a crash report printed before its stderr was captured).
    fn route_note(&self, line: String) {
        self.route(Message::parse(&line).unwrap_or(Message::Stderr(line + "\n")));
    }

    fn route_line(&self, line: &str) {
        self.route(Message::parse(line).unwrap_or_else(|| Message::Stdout(format!("{line}\n"))));
    }

    fn route(&self, message: Message) {
        let output = match message {
            Message::Stdout(text) => Output::Text { stream: Stream::Stdout, text },
            Message::Stderr(text) => {
                self.remember_stderr(&text);
                Output::Text { stream: Stream::Stderr, text }
            }
            Message::Display(display) => {
                Output::Display { data: display.data, metadata: display.metadata, display_id: display.display_id, update: display.update }
            }
            Message::ClearOutput { wait } => Output::ClearOutput { wait },
            Message::Panic(panic) => {
                let mut report = self.report.lock().unwrap();
                if panic.off_cell_thread {
                    report.last_off_cell_panic = Some(panic.clone());
                }
                report.panic = Some(panic);
                return;
            }
            Message::CellFailed(Failure::TaskPanicked) => {
                // The panic hook reported the task's panic before, from its thread.
                let mut report = self.report.lock().unwrap();
                if report.task_panic.is_none() {
                    report.task_panic = report.last_off_cell_panic.clone().or_else(|| report.panic.clone());
                }
                return;
            }
            Message::CellFailed(failure) => return self.report.lock().unwrap().failure = Some(failure),
            Message::CellStarted => return self.report.lock().unwrap().started = Some(Instant::now()),
            Message::Deadlock(text) => return self.report.lock().unwrap().deadlock = Some(text),
            // Consumed by the cell process; never forwarded.
            Message::Flushed => return,
        };
        if let Some(sink) = self.sink.lock().unwrap().as_ref() {
            sink.emit(output);
        }
    }

    fn remember_stderr(&self, text: &str) {
        let tail = &mut self.report.lock().unwrap().stderr_tail;
        tail.push_str(text);
        if tail.len() > STDERR_TAIL_LIMIT {
            let cut = tail.len() - STDERR_TAIL_LIMIT;
            let cut = (cut..tail.len()).find(|&i| tail.is_char_boundary(i)).unwrap_or(tail.len());
            tail.drain(..cut);
        }
    }
}
