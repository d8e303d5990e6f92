//! Spares keep still while any rustpar cell on the machine runs, and for a
//! moment after.
//!
//! Even at idle priority, a spare at work on the other core measurably slowed
//! the parallel timings of a notebook beside it, and its compiles slowed
//! cells' compiles; stopped (SIGSTOP), it takes nothing. Every kernel holds a
//! shared lock on `cells.lock` in the spares folder while one of its cells
//! runs, and stops the warming spares when it takes it. When a cell ends, the
//! kernel marks the time on the lock file and, [`QUIET_BEFORE_WAKING`] later,
//! wakes the spares if no cell has run since, holding the lock alone while it
//! does, so that a cell starting meanwhile stops them after the wake-up and
//! not before. Cells run back to back (a notebook run from top to bottom, a
//! student's quick edits) thus never share the machine with a working spare.
//! One exception: a spare whose cargo holds cargo's package cache is left
//! running, at idle priority, since stopped it would keep that lock and the
//! cell's own cargo could wait for it for good.

use super::offer;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const LOCK_FILE: &str = "cells.lock";

/// How long the machine's cells must have been quiet before spares work again.
pub const QUIET_BEFORE_WAKING: Duration = Duration::from_secs(1);

/// One kernel's share of the machine's running cells: its handle on the
/// lock file, opened once, shared while a cell of this kernel runs.
pub struct Cells {
    folder: PathBuf,
    lock: File,
}

impl Cells {
    /// `None` when the lock file cannot be opened (the spares are then left alone).
    pub fn in_folder(folder: &Path) -> Option<Cells> {
        let path = folder.join(LOCK_FILE);
        let lock = match OpenOptions::new().create_new(true).write(true).open(&path) {
            // No cell has ended yet: the machine has been quiet for long.
            Ok(new) => new.set_modified(SystemTime::UNIX_EPOCH).map(|()| new),
            Err(_) => OpenOptions::new().write(true).open(&path),
        };
        Some(Cells { folder: folder.to_owned(), lock: lock.ok()? })
    }

    pub fn cell_started(&self) {
        if self.lock.lock_shared().is_ok() {
            stop_warming_spares(&self.folder);
        }
    }

    pub fn cell_ended(&self) {
        let _ = self.lock.set_modified(SystemTime::now());
        let _ = self.lock.unlock();
        let folder = self.folder.clone();
        std::thread::spawn(move || {
            std::thread::sleep(QUIET_BEFORE_WAKING);
            wake_spares_if_quiet(&folder, QUIET_BEFORE_WAKING);
        });
    }

    /// Whether no cell of any kernel runs now, and none has ended in the last
    /// [`QUIET_BEFORE_WAKING`]: background work may run.
    pub fn machine_is_quiet(&self) -> bool {
        is_quiet(&self.folder)
    }

    /// Wakes the spares now unless a cell runs: this kernel ends, and
    /// cannot wake them later.
    pub fn kernel_ending(&self) {
        wake_spares_if_quiet(&self.folder, Duration::ZERO);
    }
}

/// Whether no cell of any kernel runs now, and none has ended in the last
/// [`QUIET_BEFORE_WAKING`].
pub fn is_quiet(folder: &Path) -> bool {
    match File::open(folder.join(LOCK_FILE)) {
        Ok(lock) => lock.try_lock().is_ok() && quiet_for(&lock) >= QUIET_BEFORE_WAKING,
        // No kernel has looked at cells here yet.
        Err(_) => true,
    }
}

/// How long ago the machine's last cell ended, as the lock file's time says.
fn quiet_for(lock: &File) -> Duration {
    let ended = lock.metadata().and_then(|metadata| metadata.modified());
    ended.ok().and_then(|ended| ended.elapsed().ok()).unwrap_or(Duration::MAX)
}

fn wake_spares_if_quiet(folder: &Path, quiet: Duration) {
    let Ok(lock) = File::open(folder.join(LOCK_FILE)) else { return };
    // Held alone while waking: a cell that starts meanwhile stops them after.
    if lock.try_lock().is_ok() && quiet_for(&lock) >= quiet {
        signal_warming_spares(folder, libc::SIGCONT);
    }
}

fn signal_warming_spares(folder: &Path, signal: libc::c_int) {
    for spare in offer::warming_spares(folder) {
        signal_group(spare, signal);
    }
}

/// Stops the warming spares, except those whose cargo holds cargo's package
/// cache: stopped, it would keep that lock, and every other kernel's cargo
/// (this cell's own, when it starts a session or adds a crate) would wait for
/// it, while the cell keeps the spare stopped. Such a spare goes on at idle
/// priority until the next cell stops it. A cargo that only builds (a
/// spare's first cell built ahead) holds no such lock, and is stopped.
fn stop_warming_spares(folder: &Path) {
    let spares = offer::warming_spares(folder);
    if spares.is_empty() {
        return;
    }
    for &spare in &spares {
        signal_group(spare, libc::SIGSTOP);
    }
    // Looked at once they are stopped, so that no cargo takes the lock in between.
    let holding = groups_holding_the_package_cache();
    for spare in spares.into_iter().filter(|spare| holding.contains(spare)) {
        tracing::debug!("spare {spare} holds cargo's package cache: left running");
        signal_group(spare, libc::SIGCONT);
    }
}

fn signal_group(spare: u32, signal: libc::c_int) {
    // SAFETY: signals a spare's own process group (its session, which it leads).
    unsafe { libc::kill(-(spare as libc::pid_t), signal) };
}

/// The process groups in which a cargo has `$CARGO_HOME/.package-cache`
/// open: cargo opens it to lock the cache alone (to resolve, download or
/// clean) and closes it when it lets go. A build holds only a shared lock on
/// `.package-cache-mutate`, which no other build waits for.
fn groups_holding_the_package_cache() -> Vec<u32> {
    let processes = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    let cargos = processes.filter_map(|process| {
        let stat = std::fs::read_to_string(process.path().join("stat")).ok()?;
        name_and_group(&stat).filter(|(name, _)| *name == "cargo").map(|(_, group)| (process.path(), group))
    });
    cargos.filter(|(process, _)| holds_the_package_cache(process)).map(|(_, group)| group).collect()
}

fn holds_the_package_cache(process: &Path) -> bool {
    let open_files = std::fs::read_dir(process.join("fd")).into_iter().flatten().flatten();
    open_files
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|file| file.file_name().and_then(|name| name.to_str()) == Some(".package-cache"))
}

/// A process's name and process group, from its `/proc/PID/stat` line:
/// `pid (name) state ppid pgrp ...`; the name may hold spaces and parentheses.
fn name_and_group(stat: &str) -> Option<(&str, u32)> {
    let (_, rest) = stat.split_once(" (")?;
    let (name, fields) = rest.rsplit_once(") ")?;
    Some((name, fields.split(' ').nth(2)?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_name_and_group_come_from_its_stat_line() {
        assert_eq!(name_and_group("4242 (cargo) S 4200 4100 4100 0 -1"), Some(("cargo", 4100)));
        assert_eq!(name_and_group("7 (a) b (c)) R 1 9 9 0"), Some(("a) b (c)", 9)));
        assert_eq!(name_and_group("garbage"), None);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        // SAFETY: getpgrp has no preconditions.
        assert_eq!(name_and_group(&own).map(|(_, group)| group), Some(unsafe { libc::getpgrp() } as u32));
    }

    #[test]
    fn a_process_holds_the_package_cache_while_it_has_a_lock_file_open() {
        let cargo_home = tempfile::tempdir().unwrap();
        let own = Path::new("/proc/self");
        assert!(!holds_the_package_cache(own));
        let shared = File::create(cargo_home.path().join(".package-cache-mutate")).unwrap();
        assert!(!holds_the_package_cache(own), "a build's shared lock");
        let lock = File::create(cargo_home.path().join(".package-cache")).unwrap();
        assert!(holds_the_package_cache(own));
        drop((lock, shared));
        assert!(!holds_the_package_cache(own));
    }

    #[test]
    fn a_cell_of_any_kernel_counts_until_the_last_ends() {
        let folder = tempfile::tempdir().unwrap();
        let (first, second) = (Cells::in_folder(folder.path()).unwrap(), Cells::in_folder(folder.path()).unwrap());
        assert!(is_quiet(folder.path()));
        first.cell_started();
        second.cell_started();
        assert!(!is_quiet(folder.path()));
        first.cell_ended();
        assert!(!is_quiet(folder.path()), "the second kernel's cell still runs");
        second.cell_ended();
        assert!(!is_quiet(folder.path()), "a cell has just ended");
        // (and the kernels' wake-ups, which hold the lock for a moment, are done)
        std::thread::sleep(QUIET_BEFORE_WAKING + Duration::from_millis(200));
        assert!(is_quiet(folder.path()));
    }
}
