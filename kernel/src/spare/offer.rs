//! A spare's side of the hand-over: its place in the slot, and the claims it
//! answers. The offer file, locked while the spare holds the place, says what
//! the spare is doing (`waiting` to start its session, `starting` it,
//! `warming` rust-analyzer up with the session started, `ready` or `claimed`)
//! and its pid.

use super::{Slot, quiet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The spare's answer to a claim it took.
pub(super) const TAKEN: &str = "taken";
pub(super) const WAITING: &str = "waiting";
pub(super) const STARTING: &str = "starting";
const WARMING: &str = "warming";
const READY: &str = "ready";
const CLAIMED: &str = "claimed";
/// How long a spare still starting waits once no kernel of its slot lives:
/// long enough for the next notebook of an nbconvert run to claim it.
const WARMING_GRACE: Duration = Duration::from_secs(5);
/// How often the spare looks at its slot and at the machine's cells.
const TICK: Duration = Duration::from_millis(200);
/// How long a claim may take to read and bind: the claiming kernel has sent it.
const CLAIM_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A spare's place in its slot, held while it waits: the socket a kernel
/// claims it through.
pub struct Offer<'slot> {
    slot: &'slot Slot,
    lock: File,
    claims: crossbeam_channel::Receiver<UnixStream>,
}

/// What the claiming kernel sends.
#[derive(serde::Deserialize)]
pub struct Claim {
    pub connection_file: PathBuf,
}

/// What a spare is told to do with its session while it waits.
pub trait SpareSession {
    /// Starts the session (called once: when the machine is quiet, or when a
    /// kernel claims the spare first).
    fn start(&mut self);
    /// Whether the session has started: a claiming kernel's cell runs at once.
    fn has_started(&self) -> bool;
    /// Whether it has also warmed up.
    fn is_ready(&self) -> bool;
}

impl<'slot> Offer<'slot> {
    /// Takes the slot's place for a spare; `None` when another spare has it.
    pub fn take(slot: &'slot Slot) -> Option<Offer<'slot>> {
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(slot.file("offer")).ok()?;
        lock.try_lock().ok()?;
        let socket = slot.file("sock");
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket).ok()?;
        let (forward, claims) = crossbeam_channel::bounded(0);
        let background = slot.background;
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                background.leave();
                if forward.send(stream).is_err() {
                    return;
                }
            }
        });
        let mut offer = Offer { slot, lock, claims };
        offer.say(WAITING).ok()?;
        Some(offer)
    }

    fn say(&mut self, state: &str) -> io::Result<()> {
        self.lock.set_len(0)?;
        std::io::Seek::rewind(&mut self.lock)?;
        writeln!(self.lock, "{state} {}", std::process::id())
    }

    /// Waits for a kernel's claim, starting `session` once no cell runs on
    /// the machine (or at the claim, if that comes first), and answers the
    /// claim with what `take_over` says (it binds the kernel's sockets).
    /// Returns the lifeline to the claiming kernel, or `None` once no kernel
    /// of the slot has lived for a while: `grace` when the session is ready,
    /// 5 s while it is still starting.
    pub fn wait_for_claim(
        mut self,
        grace: Duration,
        session: &mut dyn SpareSession,
        mut take_over: impl FnMut(&Claim) -> Result<(), String>,
    ) -> Option<UnixStream> {
        let (mut started, mut warming, mut ready) = (false, false, false);
        let mut unused_since = None;
        loop {
            if !started && quiet::is_quiet(&self.slot.dir) {
                session.start();
                started = true;
                let _ = self.say(STARTING);
            }
            if started && !warming && session.has_started() {
                warming = true;
                let _ = self.say(WARMING);
            }
            if warming && !ready && session.is_ready() {
                ready = true;
                let _ = self.say(READY);
            }
            match self.claims.recv_timeout(TICK) {
                Ok(mut stream) => {
                    let _ = stream.set_read_timeout(Some(CLAIM_READ_TIMEOUT));
                    let Some(request) = read_line(&mut stream) else { continue };
                    // A kernel that gave up waiting has started a session of its own.
                    if gave_up(&mut stream) {
                        continue;
                    }
                    if !started {
                        session.start();
                    }
                    let answer = match serde_json::from_str::<Claim>(&request) {
                        Ok(claim) => take_over(&claim),
                        Err(error) => Err(format!("unreadable claim: {error}")),
                    };
                    // Said first, so that no kernel's cell stops it from now on.
                    let _ = self.say(CLAIMED);
                    let reply = answer.as_ref().map_or_else(|reason| format!("refused: {reason}"), |()| TAKEN.to_owned());
                    if writeln!(stream, "{reply}").is_ok() && answer.is_ok() && stream.set_read_timeout(None).is_ok() {
                        return Some(stream);
                    }
                    return None;
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return None,
            }
            if self.slot.unused() {
                let waited = unused_since.get_or_insert_with(Instant::now).elapsed();
                if waited >= if ready { grace } else { WARMING_GRACE } {
                    return None;
                }
            } else {
                unused_since = None;
            }
        }
    }
}

impl Drop for Offer<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.slot.file("sock"));
        let _ = self.lock.set_len(0);
    }
}

/// The pid of the spare holding `offer`, and what it says it does.
pub(super) fn offer_state(offer: &Path) -> Option<(String, u32)> {
    let text = std::fs::read_to_string(offer).ok()?;
    let (state, pid) = text.trim().split_once(' ')?;
    Some((state.to_owned(), pid.parse().ok()?))
}

/// The pids of the spares in `folder` that are starting, warming up or waiting to (not ready, not claimed).
pub(super) fn warming_spares(folder: &Path) -> Vec<u32> {
    let offers = std::fs::read_dir(folder).into_iter().flatten().flatten().filter(|entry| entry.path().extension().is_some_and(|e| e == "offer"));
    offers
        .filter_map(|entry| offer_state(&entry.path()))
        .filter(|(state, _)| [WAITING, STARTING, WARMING].contains(&state.as_str()))
        .map(|(_, pid)| pid)
        .collect()
}

/// Whether the claiming kernel has closed its end (it sends nothing more).
fn gave_up(stream: &mut UnixStream) -> bool {
    let _ = stream.set_nonblocking(true);
    let closed = matches!(stream.read(&mut [0]), Ok(0));
    let _ = stream.set_nonblocking(false);
    closed
}

/// One line, read a byte at a time so that nothing after it is taken.
fn read_line(stream: &mut UnixStream) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0];
    while stream.read(&mut byte).ok()? == 1 {
        if byte[0] == b'\n' {
            return String::from_utf8(line).ok();
        }
        line.push(byte[0]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spare::slot::tests::slot_in;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A session that is ready as soon as it starts.
    #[derive(Default)]
    struct Instant(bool);

    impl SpareSession for Instant {
        fn start(&mut self) {
            self.0 = true;
        }
        fn has_started(&self) -> bool {
            self.0
        }
        fn is_ready(&self) -> bool {
            self.0
        }
    }

    /// A slot in `dir`, and a connection file for a kernel to claim its spare with.
    fn slot_and_connection_file(dir: &Path) -> (Slot, PathBuf) {
        let connection = dir.join("kernel.json");
        std::fs::write(&connection, "{}").unwrap();
        (slot_in(dir, &Vec::new()), connection)
    }

    #[test]
    fn a_claim_reaches_the_waiting_spare_and_only_one_spare_waits() {
        let dir = tempfile::tempdir().unwrap();
        let (slot, connection) = slot_and_connection_file(dir.path());
        std::thread::scope(|scope| {
            let offer = Offer::take(&slot).expect("the slot is free");
            assert!(Offer::take(&slot).is_none(), "a second spare must not wait in the same slot");
            assert_eq!(warming_spares(&slot.dir), [std::process::id()]);
            assert!(slot.claim(&connection).is_none(), "a spare that has not begun its session is left alone");
            // A kernel that gave up waiting before the spare answered.
            let mut impatient = UnixStream::connect(slot.file("sock")).unwrap();
            writeln!(impatient, "{}", serde_json::json!({ "connection_file": "/gone.json" })).unwrap();
            drop(impatient);
            let _kernel = slot.in_use();
            let spare = scope.spawn(move || {
                let mut claimed = Vec::new();
                let lifeline = offer.wait_for_claim(Duration::from_secs(60), &mut Instant::default(), |claim| {
                    claimed.push(claim.connection_file.clone());
                    Ok(())
                });
                (lifeline.is_some(), claimed)
            });
            while offer_state(&slot.file("offer")).is_none_or(|(state, _)| [WAITING, STARTING].contains(&state.as_str())) {
                std::thread::sleep(Duration::from_millis(10));
            }
            let lifeline = slot.claim(&connection).expect("the spare answers");
            let (taken, claimed) = spare.join().unwrap();
            assert!(taken);
            assert_eq!(claimed, [connection.canonicalize().unwrap()], "only the kernel still waiting is served");
            assert!(slot.claim(&connection).is_none(), "a claimed spare is gone from the slot");
            assert!(warming_spares(&slot.dir).is_empty());
            drop(lifeline);
        });
    }

    /// A session that has begun and is up only when the test says so.
    struct Gated(Arc<AtomicBool>);

    impl SpareSession for Gated {
        fn start(&mut self) {}
        fn has_started(&self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
        fn is_ready(&self) -> bool {
            false
        }
    }

    fn wait_for_state(slot: &Slot, wanted: &str) {
        while offer_state(&slot.file("offer")).is_none_or(|(state, _)| state != wanted) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_spare_is_claimed_only_once_its_session_has_started() {
        let dir = tempfile::tempdir().unwrap();
        let (slot, connection) = slot_and_connection_file(dir.path());
        let _kernel = slot.in_use();
        let session_up = Arc::new(AtomicBool::new(false));
        std::thread::scope(|scope| {
            let offer = Offer::take(&slot).unwrap();
            let mut session = Gated(session_up.clone());
            let spare = scope.spawn(move || offer.wait_for_claim(Duration::from_secs(60), &mut session, |_| Ok(())).is_some());
            wait_for_state(&slot, STARTING);
            assert!(slot.claim(&connection).is_none(), "a spare whose session is still starting is left alone");
            session_up.store(true, Ordering::SeqCst);
            wait_for_state(&slot, WARMING);
            let lifeline = slot.claim(&connection).expect("a spare warming up is claimed");
            assert!(spare.join().unwrap());
            drop(lifeline);
        });
    }

    #[test]
    fn a_spare_leaves_when_no_kernel_of_its_slot_lives() {
        let dir = tempfile::tempdir().unwrap();
        let slot = slot_in(dir.path(), &Vec::new());
        let kernel = slot.in_use();
        assert!(!slot.unused());
        drop(kernel);
        assert!(slot.unused());
        let offer = Offer::take(&slot).unwrap();
        let mut session = Instant::default();
        assert!(offer.wait_for_claim(Duration::ZERO, &mut session, |_| Ok(())).is_none());
        assert!(session.0, "an unclaimed spare on a quiet machine starts its session");
    }
}
