//! The frame around an `:mpi` cell's code, run by every rank.
//!
//! [`start`] initialises MPI, links the rank's stdout and stderr to the
//! kernel (see [`rustpar_wire::rank_link`]) and installs a panic hook that
//! reports the panic and ends the whole job (`MPI_Abort`), so that no rank
//! waits forever for a rank that is gone. [`finish`] reports how the cell
//! ended and sends what is left of the rank's output before MPI shuts down.

use crate::session::{panic_message, send};
use ::mpi::environment::Universe;
use ::mpi::topology::SimpleCommunicator;
use ::mpi::traits::*;
use rustpar_wire::rank_link::{Frame, MPI_OUTPUT_ENV, RankHello};
use rustpar_wire::{Failure, Message, Panic, SourceLocation};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Exit code of a rank whose cell failed.
const FAILED: i32 = 101;

/// How long a rank waits for its output to reach the kernel before it ends.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Starts MPI and connects this rank to the kernel.
pub fn start() -> Universe {
    let universe = ::mpi::initialize().expect("MPI was already started: an :mpi cell starts it for you, so do not call mpi::initialize()");
    let rank = universe.world().rank();
    if let Ok(address) = std::env::var(MPI_OUTPUT_ENV) {
        match OutputLink::connect(&address, rank) {
            Ok(link) => *LINK.lock().unwrap() = Some(link),
            Err(error) => eprintln!("rank {rank} could not send its output to the kernel at {address} ({error}); it goes to mpirun instead"),
        }
    }
    std::panic::set_hook(Box::new(|info| {
        let message = panic_message(info).unwrap_or_else(|| "the rank panicked".into());
        let thread = std::thread::current().name().map(str::to_owned);
        send(&Message::Panic(Panic {
            message,
            location: info.location().map(SourceLocation::from),
            thread,
            interrupted: false,
            off_cell_thread: false,
        }));
        end_output(false);
        SimpleCommunicator::world().abort(FAILED);
    }));
    universe
}

/// Ends the rank: reports an `Err` the cell returned (and then ends the whole
/// job), or says the rank finished; then MPI shuts down.
pub fn finish(universe: Universe, outcome: Result<(), Box<dyn std::error::Error>>) {
    if let Err(error) = outcome {
        eprintln!("{error}");
        send(&Message::CellFailed(Failure::ReturnedError));
        end_output(false);
        universe.world().abort(FAILED);
    }
    end_output(true);
    drop(universe);
}

static LINK: Mutex<Option<OutputLink>> = Mutex::new(None);

fn end_output(finished: bool) {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    if let Some(link) = LINK.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
        link.close(finished);
    }
}

/// This rank's stdout and stderr, rerouted through pipes to a connection to
/// the kernel.
struct OutputLink {
    socket: Arc<Mutex<TcpStream>>,
    /// The original stdout and stderr, put back when the link closes.
    saved: Vec<(i32, OwnedFd)>,
    /// One message per pipe whose last bytes were sent.
    drained: crossbeam_channel::Receiver<()>,
}

impl OutputLink {
    fn connect(address: &str, rank: i32) -> std::io::Result<OutputLink> {
        let mut socket = TcpStream::connect(address)?;
        socket.set_nodelay(true)?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|name| name.trim().to_owned()).unwrap_or_default();
        RankHello { rank, pid: std::process::id(), host }.write_to(&mut socket)?;
        let socket = Arc::new(Mutex::new(socket));
        let (done, drained) = crossbeam_channel::unbounded();
        let mut saved = Vec::new();
        for (fd, frame) in [(1, Frame::Stdout as fn(Vec<u8>) -> Frame), (2, Frame::Stderr)] {
            let (mut reader, writer) = std::io::pipe()?;
            saved.push((fd, redirect(fd, writer.as_raw_fd())?));
            let socket = socket.clone();
            let done = done.clone();
            std::thread::Builder::new().name("rustpar-rank-output".into()).spawn(move || {
                let mut chunk = vec![0u8; 64 * 1024];
                while let Ok(count @ 1..) = reader.read(&mut chunk) {
                    if frame(chunk[..count].to_vec()).write_to(&mut *socket.lock().unwrap()).is_err() {
                        break;
                    }
                }
                let _ = done.send(());
            })?;
        }
        Ok(OutputLink { socket, saved, drained })
    }

    /// Puts stdout and stderr back (which ends the pipes), waits for their
    /// last bytes to be sent, and tells the kernel whether the cell finished.
    fn close(self, finished: bool) {
        for (fd, original) in &self.saved {
            // SAFETY: both descriptors are open; this closes the pipe's writing end.
            unsafe { libc::dup2(original.as_raw_fd(), *fd) };
        }
        // A child process the cell started may still hold a pipe: do not wait for it forever.
        for _ in &self.saved {
            if self.drained.recv_timeout(DRAIN_LIMIT).is_err() {
                break;
            }
        }
        if finished {
            let _ = Frame::Finished.write_to(&mut *self.socket.lock().unwrap());
        }
    }
}

/// Points `fd` at `target`, returning a copy of what `fd` was.
fn redirect(fd: i32, target: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: dup of an open descriptor gives a new one that we own.
    let original = unsafe { libc::dup(fd) };
    if original < 0 || unsafe { libc::dup2(target, fd) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `original` was just created and is owned by nobody else.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(original) })
}
