//! Which kernels can hand over to each other's spares, where their spare's
//! files are, and the kernel's side of the hand-over: the claim.

use super::Background;
use super::offer::{self, TAKEN};
use crate::config::{Config, Environment};
use std::collections::hash_map::DefaultHasher;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a claim waits for the spare's answer: it binds the kernel's
/// sockets and answers at once, unless it is stopped (then it is woken).
const CLAIM_TIMEOUT: Duration = Duration::from_secs(10);

/// The kernels that can hand over to each other's spares: same kernel
/// binary, prelude build, rustc, working folder and environment.
#[derive(Clone)]
pub struct Slot {
    pub(super) dir: PathBuf,
    key: String,
    pub background: Background,
}

/// Variables that differ between two launches of the same kernel.
fn is_per_launch(name: &OsString) -> bool {
    name.to_string_lossy().starts_with("JPY_")
}

/// The private folder of this user's spares (`RUSTPAR_SPARE_DIR`, else
/// `$XDG_RUNTIME_DIR/rustpar`, else one under the temporary folder), found
/// whether or not this kernel's spares are on; `None` when it cannot be private.
pub fn spare_folder(config: &Config) -> Option<PathBuf> {
    private_dir(config.spare.dir.clone().or_else(default_dir)?)
}

impl Slot {
    /// The slot of a kernel started with `environment` and `config`, whose
    /// sessions start from the prelude build saved at `template`; `None`
    /// when spares are turned off or there is no private folder for them.
    pub fn of(config: &Config, environment: &Environment, template: Option<&Path>) -> Option<Slot> {
        let background = Background::available();
        // A spare that cannot stay idle would slow the timings beside it: it waits only when asked for.
        if !config.spare.wanted.unwrap_or(background == Background::Idle) {
            return None;
        }
        let dir = spare_folder(config)?;
        let exe = std::env::current_exe().ok()?;
        let mut hasher = DefaultHasher::new();
        (&exe, std::fs::metadata(&exe).and_then(|meta| meta.modified()).ok(), std::env::current_dir().ok()).hash(&mut hasher);
        template.hash(&mut hasher);
        let mut variables: Vec<_> = environment.iter().filter(|(name, _)| !is_per_launch(name)).collect();
        variables.sort();
        variables.hash(&mut hasher);
        Some(Slot { dir, key: format!("{:016x}", hasher.finish()), background })
    }

    /// The spares folder the slot's files are in.
    pub fn folder(&self) -> &Path {
        &self.dir
    }

    pub(super) fn file(&self, extension: &str) -> PathBuf {
        self.dir.join(format!("{}.{extension}", self.key))
    }

    /// Hands `connection_file` to the slot's spare, ready or still warming
    /// up; returns the lifeline to the spare, now the kernel, or `None` when
    /// there is no spare to take it. A spare whose session has not started
    /// yet is left for the next kernel: taking it would only add the
    /// hand-over to a cold start.
    pub fn claim(&self, connection_file: &Path) -> Option<UnixStream> {
        if offer::offer_state(&self.file("offer")).is_some_and(|(state, _)| [offer::WAITING, offer::STARTING].contains(&state.as_str())) {
            tracing::info!("the spare session has not started yet; starting a session of its own");
            return None;
        }
        let mut stream = UnixStream::connect(self.file("sock")).ok()?;
        let request = serde_json::json!({ "connection_file": connection_file.canonicalize().ok()? });
        writeln!(stream, "{request}").ok()?;
        // Another kernel's cell may have stopped the spare: wake it until it answers.
        let spare = offer::offer_state(&self.file("offer")).map(|(_, pid)| pid as libc::pid_t);
        let wake = || {
            if let Some(group) = spare {
                // SAFETY: signals the spare's own process group.
                unsafe { libc::kill(-group, libc::SIGCONT) };
            }
        };
        wake();
        stream.set_read_timeout(Some(Duration::from_millis(100))).ok()?;
        let began = Instant::now();
        let (mut answer, mut byte) = (Vec::new(), [0]);
        loop {
            match stream.read(&mut byte) {
                Ok(1) if byte[0] == b'\n' => break,
                Ok(1) => answer.push(byte[0]),
                Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) && began.elapsed() < CLAIM_TIMEOUT => {
                    wake()
                }
                // The spare closed its end, or never answered.
                _ => return None,
            }
        }
        let answer = String::from_utf8_lossy(&answer);
        if answer != TAKEN {
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

    pub(super) fn unused(&self) -> bool {
        File::open(self.file("users")).map_or(true, |users| users.try_lock().is_ok())
    }

    /// Starts a spare for this slot unless one is there already; it runs
    /// with the kernel's original `environment`, detached from the kernel.
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
        std::thread::spawn(move || match command.spawn() {
            Ok(mut spare) => drop(spare.wait()),
            Err(error) => tracing::warn!("could not start a spare session: {error}"),
        });
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::spare) fn slot_in(dir: &Path, environment: &Environment) -> Slot {
        let mut environment = environment.clone();
        environment.push(("RUSTPAR_SPARE_DIR".into(), dir.join("spares").into()));
        environment.push(("RUSTPAR_SPARE".into(), "1".into()));
        Slot::of(&Config::from_environment(&environment), &environment, None).expect("a private folder")
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
        let off: Environment = vec![("RUSTPAR_SPARE".into(), "0".into()), ("RUSTPAR_SPARE_DIR".into(), dir.path().join("spares").into())];
        assert!(Slot::of(&Config::from_environment(&off), &off, None).is_none());
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
}
