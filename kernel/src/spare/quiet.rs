//! Spares keep still while any rustpar cell on the machine runs.
//!
//! Even at idle priority, a spare at work on the other core measurably slowed
//! the parallel timings of a notebook beside it, and its compiles slowed
//! cells' compiles; stopped (SIGSTOP), it takes nothing. Every kernel holds a
//! shared lock on `cells.lock` in the spares folder while one of its cells
//! runs, and stops the warming spares when it takes it; the kernel whose cell
//! ends last wakes them again, holding the lock alone while it does, so that
//! a cell starting meanwhile stops them after the wake-up and not before.

use super::offer;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

const LOCK_FILE: &str = "cells.lock";

/// One kernel's share of the machine's running cells: its handle on the
/// lock file, opened once, shared while a cell of this kernel runs.
pub struct Cells {
    folder: PathBuf,
    lock: File,
}

impl Cells {
    /// `None` when the lock file cannot be opened (the spares are then left alone).
    pub fn in_folder(folder: &Path) -> Option<Cells> {
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(folder.join(LOCK_FILE)).ok()?;
        Some(Cells { folder: folder.to_owned(), lock })
    }

    pub fn cell_started(&self) {
        if self.lock.lock_shared().is_ok() {
            signal_warming_spares(&self.folder, libc::SIGSTOP);
        }
    }

    pub fn cell_ended(&self) {
        // Only the last cell to end gets the lock alone (a spare's glance at
        // it, in `any_running`, takes microseconds: look again after one).
        // flock replaces this handle's shared lock, whether or not it succeeds.
        for _ in 0..3 {
            if self.lock.try_lock().is_ok() {
                signal_warming_spares(&self.folder, libc::SIGCONT);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let _ = self.lock.unlock();
    }
}

/// Whether a cell of any kernel runs now.
pub fn any_running(folder: &Path) -> bool {
    File::open(folder.join(LOCK_FILE)).is_ok_and(|lock| lock.try_lock().is_err())
}

fn signal_warming_spares(folder: &Path, signal: libc::c_int) {
    for spare in offer::warming_spares(folder) {
        // SAFETY: signals a spare's own process group (its session, which it leads).
        unsafe { libc::kill(-(spare as libc::pid_t), signal) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_of_any_kernel_counts_until_the_last_ends() {
        let folder = tempfile::tempdir().unwrap();
        let (first, second) = (Cells::in_folder(folder.path()).unwrap(), Cells::in_folder(folder.path()).unwrap());
        assert!(!any_running(folder.path()));
        first.cell_started();
        second.cell_started();
        assert!(any_running(folder.path()));
        first.cell_ended();
        assert!(any_running(folder.path()), "the second kernel's cell still runs");
        second.cell_ended();
        assert!(!any_running(folder.path()));
    }
}
