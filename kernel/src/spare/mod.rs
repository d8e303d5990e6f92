//! Spare sessions: kernels that are ready before Jupyter starts them.
//!
//! A session takes seconds to start: evcxr builds its first crate and
//! rust-analyzer resolves the standard library and the prelude's crates. So a
//! kernel, once its first cell has run, leaves a *spare* behind: a detached
//! `rustpar-kernel spare` process that starts a session the same way, in the
//! background, and waits on a Unix socket ([`offer`]).
//!
//! The next kernel that Jupyter starts with the same kernel binary, prelude,
//! working folder and environment (the same [`Slot`]) claims the spare, ready
//! or with its session started and rust-analyzer still warming up: it sends
//! its connection file, and the spare binds the kernel's sockets at once and
//! is the kernel from then on, at normal priority. A spare whose session has
//! not started yet is left alone: the kernel starts cold, which is never
//! slower.
//! The process Jupyter started stays as its stand-in: it copies the spare's
//! log to its own stderr ([`LogRelay`]) and ends when the spare does. The
//! spare ends when its stand-in does: the socket between them is their
//! lifeline both ways.
//!
//! A spare must never cost the notebooks beside it anything ([`quiet`]): it
//! starts its session only while no rustpar cell runs on the machine, is
//! stopped while any does (compiling included) and for a second after, and runs in the
//! [`Background`] otherwise. A spare still starting leaves once no kernel of
//! its slot has lived for 5 s; a ready one waits idle, without CPU, for
//! `RUSTPAR_SPARE_GRACE` seconds (120 by default; see [`SpareConfig`]).
//! Spares are on where the kernel may bring an idle process back to normal
//! priority (root, or an RLIMIT_NICE of 20); `RUSTPAR_SPARE=1` turns them on
//! elsewhere (with a weaker background), `RUSTPAR_SPARE=0` off.
//!
//! [`SpareConfig`]: crate::config::SpareConfig

mod background;
mod log_relay;
pub mod offer;
pub mod quiet;
mod slot;

pub use background::{Background, wake_whole_group_on_continue};
pub use log_relay::LogRelay;
pub use offer::Offer;
pub use slot::{Slot, spare_folder};

use crate::config::Environment;
use crate::interpreter::CellObserver;
use std::sync::Mutex;

/// The kernel's side of spares: it keeps every warming spare on the machine
/// still while this kernel's cells run, and starts this kernel's spare once
/// its first cell has ended (so that the spare's start does not slow that
/// cell). The evaluator hears of it only as a [`CellObserver`].
pub struct SpareKeeper {
    cells: Option<quiet::Cells>,
    to_start: Mutex<Option<(Slot, Environment)>>,
}

impl SpareKeeper {
    /// A keeper that stops the spares in `folder` (the machine's spares
    /// folder, found even where this kernel's spares are off) while cells run.
    pub fn new(folder: Option<&std::path::Path>) -> SpareKeeper {
        SpareKeeper { cells: folder.and_then(quiet::Cells::in_folder), to_start: Mutex::new(None) }
    }

    /// After the next cell, starts a spare for `slot` with the kernel's
    /// original `environment`.
    pub fn start_after_next_cell(&self, slot: Slot, environment: Environment) {
        *self.to_start.lock().unwrap() = Some((slot, environment));
    }

    /// This kernel ends, and cannot wake the spares later: wakes them now
    /// unless a cell of another kernel runs.
    pub fn kernel_ending(&self) {
        if let Some(cells) = &self.cells {
            cells.kernel_ending();
        }
    }
}

impl CellObserver for SpareKeeper {
    fn cell_started(&self) {
        if let Some(cells) = &self.cells {
            cells.cell_started();
        }
    }

    fn cell_ended(&self) {
        if let Some(cells) = &self.cells {
            cells.cell_ended();
        }
        if let Some((slot, environment)) = self.to_start.lock().unwrap().take() {
            slot.replenish(&environment);
        }
    }

    fn machine_is_quiet(&self) -> bool {
        self.cells.as_ref().is_none_or(quiet::Cells::machine_is_quiet)
    }
}
