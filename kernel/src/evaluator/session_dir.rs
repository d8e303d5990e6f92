//! The folder where a session's cells are built.
//!
//! evcxr builds each cell as a crate in its session folder, next to the
//! compiled prelude and its dependencies. Compiling those takes minutes, so it
//! is done once: the first session saves its folder, right after loading the
//! prelude, as a template. Every later session lays its folder out from the
//! template: folders and small files (cargo's fingerprints, the lock file) are
//! copied, and the compiled libraries, about 400 MB that cargo only ever
//! replaces and never edits, are linked, so a session starts in milliseconds
//! and costs a few megabytes of disk.
//!
//! Templates are keyed by everything that changes the build: the kernel,
//! rustc and the prelude's sources. When the key is new (the prelude was
//! edited), the session starts from the newest template anyway, so that cargo
//! rebuilds only what changed; only the newest few are kept, and never one
//! that a running session links to.
//!
//! A session's folder goes away with its kernel; the folders of kernels that
//! were killed, or restarted while their session started, are swept by the
//! next kernel that starts.
//!
//! Session folders share one parent, `rustpar-sessions` in the temporary
//! directory, whose `.cargo/config.toml` ([`DEPENDENCY_PROFILE`]) cargo reads
//! for every session: evcxr writes the session's own `Cargo.toml` and
//! `.cargo/config.toml`, and this is where the kernel can still say how the
//! dependencies are built.

use super::extra_crates::ExtraCrates;
use std::collections::hash_map::DefaultHasher;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// evcxr builds in this folder when the variable is set.
const EVCXR_TMPDIR: &str = "EVCXR_TMPDIR";

const SESSION_PREFIX: &str = "rustpar-session-";

/// The folder of the temporary directory that holds the session folders.
const SESSIONS_FOLDER: &str = "rustpar-sessions";

/// How cargo builds the prelude and every other dependency of a session:
/// as `cargo build --release` would (opt-level 3, no debug assertions, no
/// overflow checks), so that ndarray's and rayon's own checks stay out of
/// the course's timed loops. The cells are the session's own package, which
/// `"*"` leaves out: the kernel chooses their profile (see `:release`).
pub const DEPENDENCY_PROFILE: &str = "\
# Written by rustpar-kernel for the sessions in this folder.
[profile.dev.package.\"*\"]
opt-level = 3
debug-assertions = false
overflow-checks = false
";

/// A file in each session folder, locked while its kernel lives.
const OWNER_FILE: &str = ".rustpar-owner";

/// The prefix of a session folder whose removal has begun.
const REMOVING_PREFIX: &str = ".removing-";

/// Folders of older kernels, made before owner files existed, count as left
/// over after this long.
const UNOWNED_FOLDER_AGE: Duration = Duration::from_secs(24 * 3600);

/// A detached `rm` removes a session folder in well under this.
const REMOVAL_TIME: Duration = Duration::from_secs(60);

pub struct SessionDir {
    /// Removed when the session ends (see the `Drop`).
    dir: PathBuf,
    /// Held (locked) for as long as the session lives.
    owner: File,
    /// A shared lock on the template the folder links to, which keeps it from being pruned.
    template_lock: OnceLock<File>,
    /// When the folder was laid out from that template.
    laid_out_at: OnceLock<SystemTime>,
}

impl SessionDir {
    /// Creates an empty session folder, after removing those of kernels that
    /// are gone, and points evcxr at it. Call before the process starts other
    /// threads (it sets an environment variable).
    pub fn create() -> io::Result<SessionDir> {
        let parent = std::env::temp_dir().join(SESSIONS_FOLDER);
        write_dependency_profile(&parent)?;
        let session = SessionDir::create_in(&parent)?;
        // SAFETY: called from `main` before any other thread exists.
        unsafe { std::env::set_var(EVCXR_TMPDIR, session.path()) };
        // Off the start's path: a killed kernel's folder takes ~70 ms to remove.
        std::thread::spawn(move || sweep_left_over_sessions(&parent));
        Ok(session)
    }

    fn create_in(parent: &Path) -> io::Result<SessionDir> {
        let dir = tempfile::Builder::new().prefix(SESSION_PREFIX).tempdir_in(parent)?;
        let owner = File::create(dir.path().join(OWNER_FILE))?;
        owner.lock()?;
        Ok(SessionDir { dir: dir.keep(), owner, template_lock: OnceLock::new(), laid_out_at: OnceLock::new() })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Lays the folder out from the template at `template` (see
    /// [`template_dir`]) if it is there; otherwise returns it, to be saved
    /// (the folder is then laid out from the newest other template, which
    /// cargo brings up to date).
    pub(crate) fn fill_from_template(&self, template: PathBuf) -> Option<PathBuf> {
        if self.link_template(&template) {
            return None;
        }
        if let Some(builds) = template.parent() {
            templates_newest_first(builds).iter().any(|newest| self.link_template(newest));
        }
        Some(template)
    }

    fn link_template(&self, template: &Path) -> bool {
        // A template being pruned is locked, and then is no template at all.
        let Ok(marker) = File::open(template.join(SAVED_MARKER)) else { return false };
        if marker.try_lock_shared().is_err() || lay_out(template, self.path()).is_err() {
            return false;
        }
        let _ = self.template_lock.set(marker);
        let _ = self.laid_out_at.set(SystemTime::now());
        true
    }

    /// Saves the folder, with the prelude built, as the template at `template`.
    pub(crate) fn save_as_template(&self, template: &Path) {
        let Some(parent) = template.parent() else { return };
        let Ok(staging) = tempfile::Builder::new().prefix(".incoming-").tempdir_in({
            let _ = std::fs::create_dir_all(parent);
            parent
        }) else {
            return;
        };
        // The copy holds the libraries themselves, not links into a template
        // that may be pruned.
        if !copy_dereferencing_links(self.path(), staging.path()) {
            return;
        }
        let _ = std::fs::remove_file(staging.path().join(OWNER_FILE));
        if let Some(laid_out_at) = self.laid_out_at.get() {
            for stale in incremental_caches_unused_since(self.path(), *laid_out_at) {
                let _ = std::fs::remove_dir_all(staging.path().join(stale));
            }
        }
        // `cp -a` kept the session folder's old times: mark when it was saved.
        if std::fs::write(staging.path().join(SAVED_MARKER), "").is_err() {
            return;
        }
        // Several kernels may race to save the same template: the first rename wins.
        if std::fs::rename(staging.path(), template).is_ok() {
            tracing::info!("saved the prelude build as {}", template.display());
            for old in templates_newest_first(parent).into_iter().skip(TEMPLATES_KEPT) {
                remove_unless_in_use(&old);
            }
        }
    }
}

/// rustc's incremental caches (`target/**/incremental/<crate>-<id>`) in
/// `folder` that no build has written to since `since`: those of crates built
/// before (another version of the prelude, another dependency set). Each
/// template would otherwise carry all its predecessors' (550 MB and 1,650
/// files after a day of editing the prelude, copied into every session).
fn incremental_caches_unused_since(folder: &Path, since: SystemTime) -> Vec<PathBuf> {
    let targets = ["target/debug/incremental".to_owned()].into_iter().chain(
        std::fs::read_dir(folder.join("target"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|target| format!("target/{}/debug/incremental", target.file_name().to_string_lossy())),
    );
    let mut stale = Vec::new();
    for incremental in targets {
        for cache in std::fs::read_dir(folder.join(&incremental)).into_iter().flatten().flatten() {
            let written = cache.metadata().and_then(|metadata| metadata.modified());
            if written.is_ok_and(|written| written <= since) {
                stale.push(Path::new(&incremental).join(cache.file_name()));
            }
        }
    }
    stale
}

/// Templates are about 400 MB each; older ones only serve as seeds.
const TEMPLATES_KEPT: usize = 3;

/// A file in each template, written when it is saved; sessions that link to
/// the template hold a shared lock on it.
const SAVED_MARKER: &str = ".rustpar-saved";

fn remove_unless_in_use(template: &Path) {
    let marker = File::open(template.join(SAVED_MARKER));
    if marker.as_ref().is_ok_and(|marker| marker.try_lock().is_err()) {
        return;
    }
    let _ = std::fs::remove_dir_all(template);
}

/// Removes the session folders under `parent` whose kernels are gone: their
/// owner file is no longer locked (or, for folders of older kernels, has
/// never been there and the folder is old).
/// Writes [`DEPENDENCY_PROFILE`] where cargo finds it for every session
/// folder in `parent`, unless it is there already; a rename, so that a
/// session starting beside never reads half a file.
fn write_dependency_profile(parent: &Path) -> io::Result<()> {
    let config = parent.join(".cargo");
    std::fs::create_dir_all(&config)?;
    let path = config.join("config.toml");
    if std::fs::read_to_string(&path).is_ok_and(|written| written == DEPENDENCY_PROFILE) {
        return Ok(());
    }
    let staged = tempfile::NamedTempFile::new_in(&config)?;
    std::fs::write(staged.path(), DEPENDENCY_PROFILE)?;
    staged.persist(&path).map_err(|error| error.error)?;
    Ok(())
}

impl Drop for SessionDir {
    /// Removing the folder (about 2,000 files) took 40 to 70 ms, and a
    /// restart waits for the kernel to end in whole steps of 100 ms (as often
    /// as jupyter_client looks): the folder is renamed out of the way at once
    /// and removed by a detached `rm`. A removal cut short is swept by the
    /// next kernel.
    fn drop(&mut self) {
        // Unlocked, not only closed: a child forked meanwhile (the `rm`
        // that removes the folder, or any other) shares the files until it
        // runs its program.
        let _ = self.owner.unlock();
        if let Some(template) = self.template_lock.take() {
            let _ = template.unlock();
        }
        remove_in_background(&self.dir);
    }
}

/// Renames a session folder out of the way at once and has a detached `rm`
/// remove it, so that no kernel waits for it (or is cut short by its exit).
fn remove_in_background(folder: &Path) {
    let removing = folder.with_file_name(format!("{REMOVING_PREFIX}{}", folder.file_name().unwrap_or_default().to_string_lossy()));
    let renamed = std::fs::rename(folder, &removing).is_ok();
    // Marks when the removal began: the sweep leaves a recent one to its `rm`.
    let _ = File::open(&removing).and_then(|renamed| renamed.set_modified(SystemTime::now()));
    let handed_over = renamed
        && Command::new("rm")
            .arg("-rf")
            .arg("--")
            .arg(&removing)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Out of the kernel's process group, which Jupyter may kill.
            .process_group(0)
            .spawn()
            .is_ok();
    if !handed_over {
        let _ = std::fs::remove_dir_all(folder);
        let _ = std::fs::remove_dir_all(&removing);
    }
}

fn sweep_left_over_sessions(parent: &Path) {
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(REMOVING_PREFIX) {
            // Marked when its removal began: a recent one is still being removed.
            let began = entry.metadata().and_then(|metadata| metadata.modified());
            if began.is_ok_and(|began| began.elapsed().unwrap_or_default() > REMOVAL_TIME) {
                tracing::info!("removing {}, whose removal was cut short", entry.path().display());
                let _ = std::fs::remove_dir_all(entry.path());
            }
            continue;
        }
        if !name.starts_with(SESSION_PREFIX) {
            continue;
        }
        let folder = entry.path();
        let left_over = match File::open(folder.join(OWNER_FILE)) {
            Ok(owner) => owner.try_lock().is_ok(),
            Err(_) => entry.metadata().and_then(|m| m.modified()).is_ok_and(|modified| modified.elapsed().unwrap_or_default() > UNOWNED_FOLDER_AGE),
        };
        if left_over {
            tracing::info!("removing {}, left over by a kernel that is gone", folder.display());
            remove_in_background(&folder);
        }
    }
}

/// The saved templates under `builds`, the most recently saved first.
fn templates_newest_first(builds: &Path) -> Vec<PathBuf> {
    let mut templates: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(builds)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|entry| Some((std::fs::metadata(entry.path().join(SAVED_MARKER)).ok()?.modified().ok()?, entry.path())))
        .collect();
    templates.sort_by_key(|(saved, _)| std::cmp::Reverse(*saved));
    templates.into_iter().map(|(_, path)| path).collect()
}

/// What a template holds, counted: templates of an older count are built again.
/// 2: checked builds of the dependencies as a session has them.
/// 3: without older builds' incremental caches; each extra crate built (and
/// checked) with the prelude alone, as a session adds it.
const TEMPLATE_CONTENTS: u32 = 3;

/// The template's folder under `cache` (the cache folder, see
/// [`Config::cache_dir`](crate::config::Config)): a key of the kernel
/// version, what templates hold, the rustc version, the dependencies' build
/// profile and the prelude's sources.
pub fn template_dir(cache: &Path, prelude: &Path, rustc_version: &str) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    (env!("CARGO_PKG_VERSION"), TEMPLATE_CONTENTS, rustc_version, prelude, DEPENDENCY_PROFILE).hash(&mut hasher);
    let extra = ExtraCrates::of_prelude(prelude);
    for source in [prelude, &prelude.join("../wire")].into_iter().chain(extra.local_folders()) {
        newest_change(source).hash(&mut hasher);
    }
    cache.join("prelude-builds").join(format!("{:016x}", hasher.finish()))
}

/// Adds to the session's lock file the packages of `saved` (a saved build's
/// lock file) that it lacks. Cargo drops from the lock file what a session's
/// dependencies do not use, and a crate added later would then be resolved
/// anew: to its newest version, which the saved build does not hold.
pub fn restore_locked_versions(session: &Path, saved: &[u8]) {
    let lock_file = session.join("Cargo.lock");
    let merged = std::fs::read_to_string(&lock_file).ok().and_then(|current| with_packages_of(&current, std::str::from_utf8(saved).ok()?));
    if let Some(merged) = merged
        && let Err(error) = std::fs::write(&lock_file, merged)
    {
        tracing::warn!("could not restore the saved build's versions in {}: {error}", lock_file.display());
    }
}

/// `current` lock file with the packages of `saved` that it lacks.
fn with_packages_of(current: &str, saved: &str) -> Option<String> {
    let mut current: toml::Table = current.parse().ok()?;
    let saved: toml::Table = saved.parse().ok()?;
    let key = |package: &toml::Value| ["name", "version", "source"].map(|field| package.get(field).and_then(toml::Value::as_str).map(str::to_owned));
    let packages = current.entry("package").or_insert_with(|| toml::Value::Array(Vec::new())).as_array_mut()?;
    let known: std::collections::HashSet<_> = packages.iter().map(key).collect();
    let missing: Vec<toml::Value> = saved.get("package")?.as_array()?.iter().filter(|package| !known.contains(&key(package))).cloned().collect();
    packages.extend(missing);
    toml::to_string(&current).ok()
}

/// The newest modification time of the files a crate is built from.
fn newest_change(crate_dir: &Path) -> Option<SystemTime> {
    fn walk(path: &Path, newest: &mut Option<SystemTime>) {
        let Ok(metadata) = std::fs::metadata(path) else { return };
        if metadata.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                walk(&entry.path(), newest);
            }
        } else if let Ok(modified) = metadata.modified() {
            *newest = (*newest).max(Some(modified));
        }
    }
    let mut newest = None;
    for part in ["Cargo.toml", "src"] {
        walk(&crate_dir.join(part), &mut newest);
    }
    newest
}

/// Lays `to` out from the template `from`: folders are made, files copied
/// with their modification times (cargo's notion of what is up to date), and
/// the dependencies' compiled libraries linked. On failure `to` is emptied
/// again, but for its owner file.
fn lay_out(from: &Path, to: &Path) -> io::Result<()> {
    let laid_out = lay_out_folder(from, to, Path::new(""));
    if laid_out.is_err() {
        for entry in std::fs::read_dir(to).into_iter().flatten().flatten().filter(|entry| entry.file_name() != OWNER_FILE) {
            let _ = std::fs::remove_dir_all(entry.path()).or_else(|_| std::fs::remove_file(entry.path()));
        }
    }
    laid_out
}

fn lay_out_folder(from: &Path, to: &Path, relative: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(from.join(relative))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == OWNER_FILE || name == SAVED_MARKER {
            continue;
        }
        let (source, relative) = (entry.path(), relative.join(&name));
        let target = to.join(&relative);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
            lay_out_folder(from, to, &relative)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else if is_shared_library(&relative) {
            std::os::unix::fs::symlink(&source, &target)?;
        } else {
            std::fs::copy(&source, &target)?;
            File::options().write(true).open(&target)?.set_modified(entry.metadata()?.modified()?)?;
        }
    }
    Ok(())
}

/// The compiled libraries of the dependencies: rustc and the linker replace
/// them (a new file renamed into place) but never write into them, so
/// sessions can share the template's. The session's own crate (evcxr's `ctx`
/// and its `code_N` libraries) is rebuilt by the cells and stays a copy.
fn is_shared_library(relative: &Path) -> bool {
    let library = relative.extension().is_some_and(|ext| ["rlib", "rmeta", "so", "a", "o", "bin"].iter().any(|kind| ext == *kind));
    let sessions_own = relative.components().any(|part| {
        let part = part.as_os_str().to_string_lossy();
        let name = part.strip_prefix("lib").unwrap_or(&part);
        name.starts_with("ctx") || name.starts_with("code_")
    });
    library && !sessions_own
}

/// Copies a folder's contents with the files that links point to, keeping
/// modification times.
fn copy_dereferencing_links(from: &Path, to: &Path) -> bool {
    std::process::Command::new("cp").args(["-a", "-L", "--reflink=auto"]).arg(from.join(".")).arg(to).status().is_ok_and(|status| status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session_in(parent: &Path) -> SessionDir {
        SessionDir::create_in(parent).unwrap()
    }

    #[test]
    fn the_dependency_profile_is_written_once_beside_the_session_folders() {
        let parent = tempfile::tempdir().unwrap();
        write_dependency_profile(parent.path()).unwrap();
        let config = parent.path().join(".cargo/config.toml");
        assert_eq!(std::fs::read_to_string(&config).unwrap(), DEPENDENCY_PROFILE);
        let written = std::fs::metadata(&config).unwrap().modified().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        write_dependency_profile(parent.path()).unwrap();
        assert_eq!(std::fs::metadata(&config).unwrap().modified().unwrap(), written, "an unchanged profile is not written again");
        std::fs::write(&config, "[profile.dev]\n").unwrap();
        write_dependency_profile(parent.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&config).unwrap(), DEPENDENCY_PROFILE, "another kernel's older profile is replaced");
        let session = SessionDir::create_in(parent.path()).unwrap();
        assert_eq!(session.path().parent(), Some(parent.path()), "cargo finds the profile in the session folder's parent");
    }

    #[test]
    fn a_saved_template_lays_out_the_next_sessions() {
        let (cache, prelude, sessions) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(prelude.path().join("Cargo.toml"), "[package]").unwrap();
        let template_for = |rustc_version| template_dir(cache.path(), prelude.path(), rustc_version);
        let first = session_in(sessions.path());
        let template = first.fill_from_template(template_for("1.0")).expect("no template yet");
        let deps = first.path().join("target/debug/deps");
        std::fs::create_dir_all(&deps).unwrap();
        std::fs::write(first.path().join("Cargo.lock"), "locked").unwrap();
        std::fs::write(deps.join("librayon-1.rlib"), "rayon").unwrap();
        std::fs::write(deps.join("libctx.so"), "cell").unwrap();
        let incremental = Path::new("target/x86_64-unknown-linux-gnu/debug/incremental");
        std::fs::create_dir_all(first.path().join(incremental).join("ctx-old/s-1")).unwrap();
        first.save_as_template(&template);
        assert!(template.join(incremental).join("ctx-old").is_dir(), "a session laid out from no template keeps its caches");

        let second = session_in(sessions.path());
        assert_eq!(second.fill_from_template(template_for("1.0")), None);
        let second_deps = second.path().join("target/debug/deps");
        assert!(second_deps.join("librayon-1.rlib").is_symlink(), "a dependency's library is linked");
        assert!(!second_deps.join("libctx.so").is_symlink() && !second.path().join("Cargo.lock").is_symlink(), "the session's own files are copies");
        assert_eq!(std::fs::read_to_string(second_deps.join("librayon-1.rlib")).unwrap(), "rayon");
        assert_eq!(
            std::fs::metadata(second.path().join("Cargo.lock")).unwrap().modified().unwrap(),
            std::fs::metadata(template.join("Cargo.lock")).unwrap().modified().unwrap(),
            "copies keep their times"
        );

        // Another rustc means another build, laid out from the newest
        // template and saved with the libraries themselves.
        let third = session_in(sessions.path());
        let newer = third.fill_from_template(template_for("2.0")).expect("no template for this rustc yet");
        std::fs::write(third.path().join("Cargo.lock"), "again").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        std::fs::create_dir_all(third.path().join(incremental).join("ctx-new/s-2")).unwrap();
        third.save_as_template(&newer);
        assert!(!newer.join("target/debug/deps/librayon-1.rlib").is_symlink());
        assert!(newer.join(incremental).join("ctx-new/s-2").is_dir(), "the caches this session's builds wrote are kept");
        assert!(!newer.join(incremental).join("ctx-old").exists(), "older builds' caches are left out");
        let builds = template.parent().unwrap();
        assert_eq!(templates_newest_first(builds), [newer.clone(), template.clone()]);
        let fourth = session_in(sessions.path());
        assert!(fourth.fill_from_template(template_for("3.0")).is_some());
        assert_eq!(std::fs::read_to_string(fourth.path().join("Cargo.lock")).unwrap(), "again");

        // A template a session links to is not pruned; one nobody uses is.
        drop(fourth);
        remove_unless_in_use(&template);
        assert!(template.is_dir(), "the second and third sessions still link to it");
        drop((second, third));
        remove_unless_in_use(&template);
        assert!(!template.exists());
    }

    #[test]
    fn an_ended_session_leaves_its_folder_at_once_and_nothing_after() {
        let sessions = tempfile::tempdir().unwrap();
        let session = session_in(sessions.path());
        std::fs::write(session.path().join("file"), "x").unwrap();
        let path = session.path().to_owned();
        drop(session);
        assert!(!path.exists());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read_dir(sessions.path()).unwrap().flatten().any(|entry| entry.file_name().to_string_lossy().starts_with(REMOVING_PREFIX)) {
            assert!(std::time::Instant::now() < deadline, "the detached removal did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn only_folders_of_kernels_that_are_gone_are_swept() {
        let sessions = tempfile::tempdir().unwrap();
        let living = session_in(sessions.path());
        // A killed kernel leaves its folder behind, its owner file unlocked.
        let gone_path = sessions.path().join(format!("{SESSION_PREFIX}gone"));
        std::fs::create_dir(&gone_path).unwrap();
        File::create(gone_path.join(OWNER_FILE)).unwrap();
        let cut_short = sessions.path().join(format!("{REMOVING_PREFIX}{SESSION_PREFIX}cut-short"));
        std::fs::create_dir(&cut_short).unwrap();
        File::open(&cut_short).unwrap().set_modified(SystemTime::UNIX_EPOCH).unwrap();
        let being_removed = sessions.path().join(format!("{REMOVING_PREFIX}{SESSION_PREFIX}being-removed"));
        std::fs::create_dir(&being_removed).unwrap();
        let unowned_new = sessions.path().join(format!("{SESSION_PREFIX}new"));
        std::fs::create_dir(&unowned_new).unwrap();
        sweep_left_over_sessions(sessions.path());
        assert!(living.path().is_dir());
        assert!(!gone_path.exists());
        assert!(!cut_short.exists(), "a removal cut short is finished");
        assert!(being_removed.is_dir(), "a removal just begun is left to its `rm`");
        assert!(unowned_new.is_dir(), "a folder without an owner file is swept only when old");
    }

    #[test]
    fn a_lock_file_gets_back_the_saved_versions_it_lacks() {
        let saved = "version = 4\n\n[[package]]\nname = \"ctx\"\nversion = \"0.1.0\"\ndependencies = [\"tokio\"]\n\n\
                     [[package]]\nname = \"tokio\"\nversion = \"1.54.1\"\nsource = \"registry+x\"\n";
        let current = "version = 4\n\n[[package]]\nname = \"ctx\"\nversion = \"0.1.0\"\ndependencies = [\"rayon\"]\n\n\
                       [[package]]\nname = \"rayon\"\nversion = \"1.12.0\"\nsource = \"registry+x\"\n";
        let merged: toml::Table = super::with_packages_of(current, saved).unwrap().parse().unwrap();
        let packages = merged["package"].as_array().unwrap();
        let names: Vec<&str> = packages.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["ctx", "rayon", "tokio"]);
        assert_eq!(packages[0]["dependencies"].as_array().unwrap()[0].as_str(), Some("rayon"), "the session's own entry is kept");
        assert_eq!(merged["version"].as_integer(), Some(4));
    }
}
