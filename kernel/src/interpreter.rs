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

    /// How the cells are compiled now; `None` where the language has no choice.
    fn build_profile(&self) -> Option<BuildProfile> {
        None
    }

    /// Compiles the cells that follow with `profile`, or says why it cannot.
    fn set_build_profile(&self, _profile: BuildProfile) -> Result<(), String> {
        Err("this kernel's language has one build profile".into())
    }
}

/// How cells are compiled: what `:release on|off` switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildProfile {
    /// The default: opt-level 3 with overflow checks, so that an overflow
    /// panics, but without the debug assertions of evcxr's dev profile,
    /// which run inside ndarray's and rayon's generic code in a cell's loops.
    Checked,
    /// As `cargo build --release`: opt-level 3, without either check.
    Release,
}

impl BuildProfile {
    /// As the execute_reply's metadata names it.
    pub fn name(self) -> &'static str {
        match self {
            BuildProfile::Checked => "checked",
            BuildProfile::Release => "release",
        }
    }

    /// For `:timing`'s line.
    pub fn short(self) -> &'static str {
        match self {
            BuildProfile::Checked => "checked profile (opt-level 3, overflow checks)",
            BuildProfile::Release => "release profile (opt-level 3, no checks)",
        }
    }

    /// For a sentence: "The cells that follow build …".
    pub fn described(self) -> &'static str {
        match self {
            BuildProfile::Checked => {
                "with the course's checked profile (the default): opt-level 3 for this machine's processor with overflow checks, so an arithmetic overflow stops the cell with a panic, and without debug assertions (`:release on` builds like `cargo build --release`)"
            }
            BuildProfile::Release => {
                "like `cargo build --release`: opt-level 3 for this machine's processor, without debug assertions or overflow checks, so an overflowing integer wraps around silently (`:release off` brings the checks back)"
            }
        }
    }
}

/// Hears when each cell starts and ends (compiling, waiting for the session
/// and running included): the spare keeper keeps spare sessions still then.
pub trait CellObserver: Send + Sync {
    fn cell_started(&self);
    fn cell_ended(&self);
    /// Whether background work may run: no cell of any kernel on this
    /// machine runs, and none has for a moment.
    fn machine_is_quiet(&self) -> bool;
}
