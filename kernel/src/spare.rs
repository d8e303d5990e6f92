//! Spare sessions: kernels that are ready before Jupyter starts them.
//!
//! A session takes about ten seconds to start: evcxr builds its first crate
//! and rust-analyzer resolves the standard library and the prelude's crates.
//! So a kernel, once its first cell has run, leaves a *spare* behind: a detached
//! `rustpar-kernel spare` process that starts a session the same way, in the
//! background, and then waits on a Unix socket. It must never skew a timing
//! of the notebook beside it: it runs under SCHED_IDLE, and the kernel that
//! started it stops it while its cells run (see [`cell_running`]).
//!
//! The next kernel that Jupyter starts with the same kernel binary, prelude,
//! working folder and environment (the same [`Slot`]) claims the spare: it
//! sends its connection file, and the spare binds the kernel's sockets and is
//! the kernel from then on, at normal priority. The process Jupyter started
//! stays as its stand-in: it copies the spare's log to its own stderr and
//! ends when the spare does. The spare ends when its stand-in does (Jupyter
//! killed it, or its client is gone): the socket between them is their
//! lifeline both ways. A restarted kernel, or a second notebook, is then
//! ready as soon as its first cell has compiled.
//!
//! One spare waits per slot, and leaves once no kernel of its slot has lived
//! for `RUSTPAR_SPARE_GRACE` seconds (120 by default; see [`SpareConfig`]). Spares are on where
//! the kernel may bring an idle process back to normal priority (root, or an
//! RLIMIT_NICE of 20); `RUSTPAR_SPARE=1` turns them on elsewhere (with a
//! weaker background, see [`Background`]), `RUSTPAR_SPARE=0` off.

use crate::config::{Config, Environment, SpareConfig};
use crate::evaluator::template_dir;
use std::collections::hash_map::DefaultHasher;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a claim waits for the spare's answer: a spare still starting
/// finishes first (at normal priority), which is sooner than a new session.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(60);
/// The spare's answer to a claim it took, and what its offer file says once it can take one.
const READY: &str = "ready";
/// What the offer file says while the spare starts its session.
const WARMING: &str = "warming";

/// The kernels that can hand over to each other's spares: same kernel
/// binary, prelude, rustc, working folder and environment.
pub struct Slot {
    dir: PathBuf,
    key: String,
    pub background: Background,
}

/// Variables that differ between two launches of the same kernel.
fn is_per_launch(name: &OsString) -> bool {
    name.to_string_lossy().starts_with("JPY_")
}

impl Slot {
    /// The slot of a kernel started with `environment` and `config`; `None`
    /// when spares are turned off or there is no private folder for their sockets.
    pub fn of(config: &Config, environment: &Environment, rustc_version: &str) -> Option<Slot> {
        let SpareConfig { wanted, dir, .. } = &config.spare;
        let background = Background::available();
        // A spare that cannot stay idle would slow the timings beside it: it waits only when asked for.
        if !wanted.unwrap_or(background == Background::Idle) {
            return None;
        }
        let dir = dir.clone().or_else(default_dir)?;
        let dir = private_dir(dir)?;
        let exe = std::env::current_exe().ok()?;
        let mut hasher = DefaultHasher::new();
        (&exe, std::fs::metadata(&exe).and_then(|meta| meta.modified()).ok(), std::env::current_dir().ok()).hash(&mut hasher);
        let cache = config.cache_dir.as_deref();
        config.prelude.as_deref().zip(cache).map(|(prelude, cache)| template_dir(cache, prelude, rustc_version)).hash(&mut hasher);
        let mut variables: Vec<_> = environment.iter().filter(|(name, _)| !is_per_launch(name)).collect();
        variables.sort();
        variables.hash(&mut hasher);
        Some(Slot { dir, key: format!("{:016x}", hasher.finish()), background })
    }

    fn file(&self, extension: &str) -> PathBuf {
        self.dir.join(format!("{}.{extension}", self.key))
    }

    /// Hands `connection_file` to the slot's spare; returns the lifeline to
    /// the spare, now the kernel, or `None` when there is no spare ready.
    pub fn claim(&self, connection_file: &Path) -> Option<UnixStream> {
        let mut stream = UnixStream::connect(self.file("sock")).ok()?;
        stream.set_read_timeout(Some(CLAIM_TIMEOUT)).ok()?;
        let request = serde_json::json!({ "connection_file": connection_file.canonicalize().ok()? });
        writeln!(stream, "{request}").ok()?;
        let answer = read_line(&mut stream)?;
        if answer != READY {
            tracing::warn!("the spare session could not take over ({answer}); starting a session of its own");
            return None;
        }
        stream.set_read_timeout(None).ok()?;
        Some(stream)
    }

    /// Marks a kernel of this slot as alive for as long as the file is held.
    pub fn in_use(&self) -> Option<File> {
        let users = OpenOptions::new().create(true).truncate(false).write(true).open(self.file("users")).ok()?;
        users.lock_shared().ok()?;
        Some(users)
    }

    fn unused(&self) -> bool {
        File::open(self.file("users")).map_or(true, |users| users.try_lock().is_ok())
    }

    /// Starts a spare for this slot, as [`Slot::replenish`] does, once this
    /// kernel's first cell has run.
    pub fn replenish_after_first_cell(self, environment: Environment) {
        *SPARE_TO_START.lock().unwrap() = Some((self, environment));
    }

    /// Starts a spare for this slot unless one is there already; it runs
    /// with the kernel's original `environment`, detached from the kernel,
    /// and stops while this kernel's cells run (see [`cell_running`]).
    pub fn replenish(&self, environment: &Environment) {
        if File::open(self.file("offer")).is_ok_and(|offer| offer.try_lock().is_err()) {
            return;
        }
        let Ok(exe) = std::env::current_exe() else { return };
        let mut command = std::process::Command::new(exe);
        command.arg("spare").env_clear().envs(environment.iter().filter(|(name, _)| !is_per_launch(name)).cloned());
        command.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        // A session of its own: Jupyter's signals to the kernel's group do not
        // reach it, its autogroup is its own (see `Background::Nice`), and
        // its process group can be stopped as one. Should this kernel end
        // while the spare is stopped, the spare is woken (by the death of the
        // thread that started it, which lives until the spare ends).
        // SAFETY: setsid and prctl are async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGCONT) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            })
        };
        let offer = self.file("offer");
        std::thread::spawn(move || match command.spawn() {
            Ok(mut spare) => {
                *STARTED_SPARE.lock().unwrap() = Some(StartedSpare { group: spare.id(), offer, stopped: false });
                let _ = spare.wait();
                *STARTED_SPARE.lock().unwrap() = None;
            }
            Err(error) => tracing::warn!("could not start a spare session: {error}"),
        });
    }
}

/// The spare this kernel started, while it may still be starting: its
/// process group (its pid), the file that says whether it is, and whether
/// this kernel has stopped it.
struct StartedSpare {
    group: u32,
    offer: PathBuf,
    stopped: bool,
}

static STARTED_SPARE: std::sync::Mutex<Option<StartedSpare>> = std::sync::Mutex::new(None);

/// The spare this kernel will start once its first cell has run, so that
/// the spare's start does not slow that cell (see [`Slot::replenish_after_first_cell`]).
static SPARE_TO_START: std::sync::Mutex<Option<(Slot, Environment)>> = std::sync::Mutex::new(None);

/// Told by the evaluator when a cell's code starts (`true`) and stops
/// (`false`) running. While it runs, the spare this kernel started is
/// stopped if it is still starting: even at idle priority, a spare at work
/// on the other core measurably slowed the parallel timings of the notebook
/// beside it; stopped, it takes nothing. It goes on while cells compile and
/// between cells. After the first cell, the kernel starts its spare.
pub fn cell_running(running: bool) {
    if !running && let Some((slot, environment)) = SPARE_TO_START.lock().unwrap().take() {
        slot.replenish(&environment);
    }
    let mut started = STARTED_SPARE.lock().unwrap();
    let Some(spare) = started.as_mut() else { return };
    if running {
        // Once ready, the spare waits for claims, or has become another
        // notebook's kernel, and another spare may be starting in its slot:
        // it is never stopped again.
        if offer_state(&spare.offer) != Some((WARMING.to_owned(), spare.group)) {
            *started = None;
            return;
        }
        spare.stopped = true;
    } else if !std::mem::take(&mut spare.stopped) {
        return;
    }
    // SAFETY: signals the spare's own process group (its session, which it leads).
    unsafe { libc::kill(-(spare.group as libc::pid_t), if running { libc::SIGSTOP } else { libc::SIGCONT }) };
}

/// What an offer file says: the spare's state and its pid.
fn offer_state(offer: &Path) -> Option<(String, u32)> {
    let text = std::fs::read_to_string(offer).ok()?;
    let (state, pid) = text.trim().split_once(' ')?;
    Some((state.to_owned(), pid.parse().ok()?))
}

/// For a spare: when woken (by the kernel that started it, or by that kernel's
/// end), wakes the rest of its process group too (its cargo, rustc and cell process).
pub fn wake_whole_group_on_continue() {
    use std::sync::atomic::{AtomicBool, Ordering};
    /// Set while the group's SIGCONT, which reaches this process too, is on its way.
    static WAKING: AtomicBool = AtomicBool::new(false);
    extern "C" fn wake_group(_: libc::c_int) {
        if !WAKING.swap(true, Ordering::SeqCst) {
            // SAFETY: kill is async-signal-safe.
            unsafe { libc::kill(0, libc::SIGCONT) };
        } else {
            WAKING.store(false, Ordering::SeqCst);
        }
    }
    // SAFETY: installs an async-signal-safe handler.
    unsafe { libc::signal(libc::SIGCONT, wake_group as *const () as libc::sighandler_t) };
}

/// A spare's place in its slot, held while it waits: the socket a kernel
/// claims it through. Its file says whether the spare is `warming` or
/// `ready`, and its pid.
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

impl<'slot> Offer<'slot> {
    /// Takes the slot's place for a spare; `None` when another spare has it.
    /// Claims are taken from now on: one that comes while the session is
    /// still starting waits for it, and gives the spare its normal priority.
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
        offer.say(WARMING).ok()?;
        Some(offer)
    }

    fn say(&mut self, state: &str) -> io::Result<()> {
        self.lock.set_len(0)?;
        std::io::Seek::rewind(&mut self.lock)?;
        writeln!(self.lock, "{state} {}", std::process::id())
    }

    /// Once the session has started: waits for a kernel's claim and answers
    /// it with what `take_over` says (it binds the kernel's sockets); returns
    /// the lifeline to the claiming kernel, or `None` once no kernel of the
    /// slot has lived for `grace`.
    pub fn wait_for_claim(mut self, grace: Duration, mut take_over: impl FnMut(&Claim) -> Result<(), String>) -> Option<UnixStream> {
        let _ = self.say(READY);
        let mut unused_since = None;
        loop {
            match self.claims.recv_timeout(Duration::from_secs(1)) {
                Ok(mut stream) => {
                    let _ = stream.set_read_timeout(Some(CLAIM_TIMEOUT));
                    let Some(request) = read_line(&mut stream) else { continue };
                    // A kernel that gave up waiting has started a session of its own.
                    if gave_up(&mut stream) {
                        continue;
                    }
                    let answer = match serde_json::from_str::<Claim>(&request) {
                        Ok(claim) => take_over(&claim),
                        Err(error) => Err(format!("unreadable claim: {error}")),
                    };
                    let reply = answer.as_ref().map_or_else(|reason| format!("refused: {reason}"), |()| READY.to_owned());
                    if writeln!(stream, "{reply}").is_ok() && answer.is_ok() && stream.set_read_timeout(None).is_ok() {
                        return Some(stream);
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return None,
            }
            if self.slot.unused() {
                if unused_since.get_or_insert_with(Instant::now).elapsed() >= grace {
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
    }
}

/// How a spare keeps out of the way of the notebooks running beside it while
/// it starts its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Background {
    /// SCHED_IDLE: a CPU runs the spare only when nothing else wants it (not
    /// enough on its own to keep timings clean; see [`cell_running`]).
    /// Leaving it takes root, or an RLIMIT_NICE that allows nice 0.
    Idle,
    /// The lowest nice value for the spare's own session (Linux's autogroup),
    /// which any process may raise again. Weaker: a spare still takes a CPU
    /// that a parallel cell was about to wake a thread on.
    Nice,
}

impl Background {
    /// The best way this process has.
    fn available() -> Background {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: plain system calls on this process.
        let may_leave_idle = unsafe { libc::geteuid() == 0 || (libc::getrlimit(libc::RLIMIT_NICE, &mut limit) == 0 && limit.rlim_cur >= 20) };
        if may_leave_idle { Background::Idle } else { Background::Nice }
    }

    /// Puts this process, and everything it starts from now on, in the background.
    pub fn enter(self) {
        match self {
            // Threads and processes started later inherit the policy; call before they are.
            Background::Idle => set_policy(0, libc::SCHED_IDLE),
            Background::Nice => drop(std::fs::write("/proc/self/autogroup", "19")),
        }
    }

    /// Brings this process and the processes it started (the cell process) back to normal priority.
    pub fn leave(self) {
        match self {
            Background::Idle => {
                let mut processes = vec![std::process::id()];
                let mut next = 0;
                while let Some(&pid) = processes.get(next) {
                    processes.extend(children_of(pid));
                    next += 1;
                }
                for pid in processes {
                    for thread in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
                        if let Some(tid) = thread.file_name().to_str().and_then(|tid| tid.parse().ok()) {
                            set_policy(tid, libc::SCHED_OTHER);
                        }
                    }
                }
            }
            Background::Nice => drop(std::fs::write("/proc/self/autogroup", "0")),
        }
    }
}

fn set_policy(thread: libc::pid_t, policy: libc::c_int) {
    let parameters = libc::sched_param { sched_priority: 0 };
    // SAFETY: a plain system call; an error leaves the thread as it was.
    unsafe { libc::sched_setscheduler(thread, policy, &parameters) };
}

/// The processes that any thread of `pid` started.
fn children_of(pid: u32) -> Vec<u32> {
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten();
    let lists = threads.filter_map(|thread| std::fs::read_to_string(thread.path().join("children")).ok());
    lists.flat_map(|list| list.split_whitespace().filter_map(|child| child.parse().ok()).collect::<Vec<_>>()).collect()
}

/// Where the kernel's log goes: stderr, or, once it is a claimed spare, its
/// stand-in, which copies it to the stderr Jupyter reads.
pub struct LogOutput;

static STAND_IN: OnceLock<UnixStream> = OnceLock::new();

impl LogOutput {
    pub fn send_to_stand_in(lifeline: &UnixStream) {
        if let Ok(stream) = lifeline.try_clone() {
            let _ = STAND_IN.set(stream);
        }
    }
}

impl Write for LogOutput {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match STAND_IN.get() {
            Some(mut stand_in) => stand_in.write(bytes),
            None => io::stderr().write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `$XDG_RUNTIME_DIR/rustpar`, else a folder of the user's own under the temporary folder.
fn default_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(runtime) => Some(PathBuf::from(runtime).join("rustpar")),
        // SAFETY: geteuid cannot fail.
        None => Some(std::env::temp_dir().join(format!("rustpar-spares-{}", unsafe { libc::geteuid() }))),
    }
}

/// `dir`, created if need be, when only this user can reach it: whoever can
/// connect to a spare's socket gets the kernel's connection file read.
fn private_dir(dir: PathBuf) -> Option<PathBuf> {
    let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir);
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    // SAFETY: geteuid cannot fail.
    let own = meta.is_dir() && meta.uid() == unsafe { libc::geteuid() } && meta.mode() & 0o077 == 0;
    own.then_some(dir)
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

    fn slot_in(dir: &Path, environment: &Environment) -> Slot {
        let mut environment = environment.clone();
        environment.push(("RUSTPAR_SPARE_DIR".into(), dir.join("spares").into()));
        Slot::of(&Config::from_environment(&environment), &environment, "1.0").expect("a private folder")
    }

    #[test]
    fn kernels_share_a_slot_when_only_per_launch_variables_differ() {
        let dir = tempfile::tempdir().unwrap();
        let base: Environment = vec![("PATH".into(), "/bin".into())];
        let with = |name: &str, value: &str| {
            let mut environment = base.clone();
            environment.push((name.into(), value.into()));
            slot_in(dir.path(), &environment).key
        };
        assert_eq!(with("JPY_PARENT_PID", "1"), with("JPY_PARENT_PID", "2"));
        assert_ne!(with("RAYON_NUM_THREADS", "1"), with("RAYON_NUM_THREADS", "2"));
        let off = [("RUSTPAR_SPARE".into(), "0".into()), ("RUSTPAR_SPARE_DIR".into(), dir.path().join("spares").into())];
        assert!(Slot::of(&Config::from_environment(&off.to_vec()), &off.to_vec(), "1.0").is_none());
    }

    #[test]
    fn a_folder_others_can_reach_holds_no_spares() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        std::fs::DirBuilder::new().mode(0o777).create(&shared).unwrap();
        std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        assert!(private_dir(shared).is_none());
        assert!(private_dir(dir.path().join("own")).is_some());
    }

    #[test]
    fn a_claim_reaches_the_waiting_spare_and_only_one_spare_waits() {
        let dir = tempfile::tempdir().unwrap();
        let slot = slot_in(dir.path(), &Vec::new());
        let connection = dir.path().join("kernel.json");
        std::fs::write(&connection, "{}").unwrap();
        std::thread::scope(|scope| {
            let offer = Offer::take(&slot).expect("the slot is free");
            assert!(Offer::take(&slot).is_none(), "a second spare must not wait in the same slot");
            // A kernel that gave up waiting before the spare was ready.
            let mut impatient = UnixStream::connect(slot.file("sock")).unwrap();
            writeln!(impatient, "{}", serde_json::json!({ "connection_file": "/gone.json" })).unwrap();
            drop(impatient);
            let spare = scope.spawn(move || {
                let mut claimed = Vec::new();
                let lifeline = offer.wait_for_claim(Duration::from_secs(60), |claim| {
                    claimed.push(claim.connection_file.clone());
                    Ok(())
                });
                (lifeline.is_some(), claimed)
            });
            let lifeline = slot.claim(&connection).expect("the spare answers");
            let (taken, claimed) = spare.join().unwrap();
            assert!(taken);
            assert_eq!(claimed, [connection.canonicalize().unwrap()], "only the kernel still waiting is served");
            assert!(slot.claim(&connection).is_none(), "a claimed spare is gone from the slot");
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
        assert!(offer.wait_for_claim(Duration::ZERO, |_| Ok(())).is_none());
    }
}
