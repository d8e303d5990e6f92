//! The folder where a session's cells are built.
//!
//! evcxr builds each cell as a crate in its session folder, next to the
//! compiled prelude and its dependencies. Compiling those takes minutes, so it
//! is done once: the first session saves its folder, right after loading the
//! prelude, as a template, and every later session starts from a copy of it
//! (about 0.1 s). Templates are keyed by everything that changes the build:
//! the kernel, rustc and the prelude's sources. When the key is new (the
//! prelude was edited), the session starts from the newest template anyway,
//! so that cargo rebuilds only what changed; only the newest few are kept.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// evcxr builds in this folder when the variable is set.
const EVCXR_TMPDIR: &str = "EVCXR_TMPDIR";

pub struct SessionDir {
    dir: tempfile::TempDir,
}

impl SessionDir {
    /// Creates an empty session folder and points evcxr at it. Call before
    /// the process starts other threads (it sets an environment variable).
    pub fn create() -> std::io::Result<SessionDir> {
        let dir = tempfile::Builder::new().prefix("rustpar-session-").tempdir()?;
        // SAFETY: called from `main` before any other thread exists.
        unsafe { std::env::set_var(EVCXR_TMPDIR, dir.path()) };
        Ok(SessionDir { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the folder from the template for `prelude`, if there is one;
    /// returns where to save a template when there is none yet (the folder is
    /// then seeded from the newest other template, which cargo brings up to date).
    pub(crate) fn fill_from_template(&self, prelude: &Path, rustc_version: &str) -> Option<PathBuf> {
        let template = template_dir(prelude, rustc_version)?;
        if template.is_dir() && copy_contents(&template, self.path()) {
            return None;
        }
        if let Some(newest) = template.parent().and_then(|builds| templates_newest_first(builds).into_iter().next()) {
            copy_contents(&newest, self.path());
        }
        Some(template)
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
        // Several kernels may race to save the same template: the first rename wins.
        if copy_contents(self.path(), staging.path()) && std::fs::rename(staging.path(), template).is_ok() {
            tracing::info!("saved the prelude build as {}", template.display());
            // `cp -a` kept the session folder's old times: mark when it was saved.
            let _ = std::fs::write(template.join(SAVED_MARKER), "");
            for old in templates_newest_first(parent).into_iter().skip(TEMPLATES_KEPT) {
                let _ = std::fs::remove_dir_all(old);
            }
        }
    }
}

/// Templates are about 100 MB each; older ones only serve as seeds.
const TEMPLATES_KEPT: usize = 3;

/// A file in each template, written when it is saved.
const SAVED_MARKER: &str = ".rustpar-saved";

/// The saved templates under `builds`, the most recently saved first.
fn templates_newest_first(builds: &Path) -> Vec<PathBuf> {
    let mut templates: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(builds)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .map(|entry| entry.path())
        // Templates saved before the marker existed count by their folder's time.
        .filter_map(|path| Some((std::fs::metadata(path.join(SAVED_MARKER)).or_else(|_| std::fs::metadata(&path)).ok()?.modified().ok()?, path)))
        .collect();
    templates.sort_by(|a, b| b.0.cmp(&a.0));
    templates.into_iter().map(|(_, path)| path).collect()
}

/// `$RUSTPAR_CACHE_DIR`, else the user's cache folder, then a key of the
/// kernel version, the rustc version and the prelude's sources.
fn template_dir(prelude: &Path, rustc_version: &str) -> Option<PathBuf> {
    let cache = std::env::var_os("RUSTPAR_CACHE_DIR").map(PathBuf::from).or_else(|| dirs::cache_dir().map(|dir| dir.join("rustpar")))?;
    let mut hasher = DefaultHasher::new();
    (env!("CARGO_PKG_VERSION"), rustc_version, prelude).hash(&mut hasher);
    for source in [prelude.to_path_buf(), prelude.join("../wire")] {
        newest_change(&source).hash(&mut hasher);
    }
    Some(cache.join("prelude-builds").join(format!("{:016x}", hasher.finish())))
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

/// Copies a folder's contents, keeping modification times (cargo's notion of
/// what is up to date).
fn copy_contents(from: &Path, to: &Path) -> bool {
    std::process::Command::new("cp")
        .args(["-a", "--reflink=auto"])
        .arg(from.join("."))
        .arg(to)
        .status()
        .is_ok_and(|status| status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_template_fills_the_next_session() {
        let cache = tempfile::tempdir().unwrap();
        let prelude = tempfile::tempdir().unwrap();
        std::fs::write(prelude.path().join("Cargo.toml"), "[package]").unwrap();
        // SAFETY: tests in this module are the only ones reading this variable.
        unsafe { std::env::set_var("RUSTPAR_CACHE_DIR", cache.path()) };
        let first = SessionDir { dir: tempfile::tempdir().unwrap() };
        let template = first.fill_from_template(prelude.path(), "1.0").expect("no template yet");
        std::fs::write(first.path().join("built"), "yes").unwrap();
        first.save_as_template(&template);
        let second = SessionDir { dir: tempfile::tempdir().unwrap() };
        assert_eq!(second.fill_from_template(prelude.path(), "1.0"), None);
        assert_eq!(std::fs::read_to_string(second.path().join("built")).unwrap(), "yes");
        // Another rustc means another build, started from the newest template.
        let third = SessionDir { dir: tempfile::tempdir().unwrap() };
        let newer = third.fill_from_template(prelude.path(), "2.0").expect("no template for this rustc yet");
        assert_eq!(std::fs::read_to_string(third.path().join("built")).unwrap(), "yes");
        std::fs::write(third.path().join("built"), "again").unwrap();
        third.save_as_template(&newer);
        let builds = template.parent().unwrap();
        assert_eq!(templates_newest_first(builds), [newer.clone(), template.clone()], "the newest first, even though it was copied from an older folder");
        let fourth = SessionDir { dir: tempfile::tempdir().unwrap() };
        assert!(fourth.fill_from_template(prelude.path(), "3.0").is_some());
        assert_eq!(std::fs::read_to_string(fourth.path().join("built")).unwrap(), "again");
    }
}
