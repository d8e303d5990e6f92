//! The language behind the kernel, as the dispatcher sees it.
//!
//! [`Interpreter`] is the small interface between the protocol and the
//! language: execute, complete, inspect, interrupt. The evcxr evaluator
//! implements it; tests of the dispatcher can use a fake one.

use crate::cell_error::CellError;
use crate::outputs::OutputSink;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// How a cell went: its value (the MIME bundle of its final expression, if
/// any) or its error, and where its time went either way.
#[derive(Debug)]
pub struct Execution {
    pub outcome: Result<Option<Map<String, Value>>, CellError>,
    pub timings: Timings,
}

/// Where a cell's time went.
#[derive(Debug, Default, Clone, Copy)]
pub struct Timings {
    pub compile: Duration,
    pub run: Duration,
}

/// Completion candidates replacing `code[start..end]`.
#[derive(Debug, Default, PartialEq)]
pub struct Completions {
    pub matches: Vec<String>,
    pub start: usize,
    pub end: usize,
}

pub trait Interpreter: Send + Sync + 'static {
    /// The language version shown in kernel_info (e.g. the rustc version).
    fn language_version(&self) -> String;

    /// Runs a cell, emitting its outputs into `sink` as they come. The sink is
    /// kept for output that threads started by the cell print later.
    fn execute(&self, code: &str, sink: Arc<dyn OutputSink>) -> Execution;

    /// Completions at byte offset `cursor`.
    fn complete(&self, code: &str, cursor: usize) -> Completions;

    /// Documentation of the name at byte offset `cursor`, as a MIME bundle.
    fn inspect(&self, code: &str, cursor: usize) -> Option<Map<String, Value>>;

    /// Stops the running cell, if any. Callable from any thread, at any time.
    fn interrupt(&self);

    /// Ends the session cleanly before the kernel exits.
    fn shut_down(&self);

    /// The process that runs cells, whose CPU time the core meter reads.
    fn cell_process(&self) -> Option<u32> {
        None
    }
}

/// Hears when each cell starts and ends (compiling, waiting for the session
/// and running included): the spare keeper keeps spare sessions still then.
pub trait CellObserver: Send + Sync {
    fn cell_started(&self);
    fn cell_ended(&self);
}
