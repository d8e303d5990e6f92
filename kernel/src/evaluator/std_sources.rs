//! The standard library's sources as rust-analyzer reads them.
//!
//! rust-analyzer knows the standard library only from its sources (the
//! rust-src component), and it reads all of them in a session's first cells.
//! A third of those lines are the x86 SIMD intrinsics of `core::arch` (about
//! 180,000 lines), which no variable of a course cell has as its type and no
//! completion of a course cell needs; reading them made a cold first prelude cell
//! 1.4 s slower (8.7 against 7.3 s). So rust-analyzer reads a copy of the sources, made once
//! per toolchain in the cache folder (hard links, so it costs no space),
//! where those files are empty; the types of `core::arch` (`__m256d`, ...)
//! stay, defined in the module's own file. rustc compiles every cell against
//! the real standard library: only completions of intrinsics are lost, and a
//! variable rust-analyzer cannot name is named by rustc (`type_hints`).

use std::path::{Path, PathBuf};

/// The folders of the intrinsics, relative to the sources' `library` folder.
/// Their `mod.rs` files stay whole: they define the vector types.
const INTRINSICS: [&str; 2] = ["stdarch/crates/core_arch/src/x86", "stdarch/crates/core_arch/src/x86_64"];
/// Written last into a finished copy.
const COMPLETE: &str = ".rustpar-complete";

/// Points rust-analyzer (`RUST_SRC_PATH`) at the sources it should read: a
/// folder the user set is kept when it holds them; the toolchain's sources are replaced by
/// their copy without intrinsics; where they are not installed, an empty
/// stand-in, since rust-analyzer would otherwise try `rustup component add
/// rust-src` at every start (a download, or a long wait without a network).
/// Call before the process starts other threads (it sets an environment variable).
pub fn point_rust_analyzer(sysroot: Option<&Path>, cache: Option<&Path>, rustc_version: &str) {
    let chosen = std::env::var_os("RUST_SRC_PATH").map(PathBuf::from);
    let library = chosen.clone().or_else(|| sysroot.map(|sysroot| sysroot.join("lib/rustlib/src/rust/library")));
    let sources = match library.filter(|library| library.join("core").is_dir()) {
        Some(_) if chosen.is_some() => return,
        Some(library) => cache.and_then(|cache| without_intrinsics(&library, &cache.join("std-sources").join(rustc_version))),
        None => {
            tracing::warn!(
                "the Rust standard library's sources are not installed: completions know less and rustc names variable types (slower); \
                 install them with `rustup component add rust-src`"
            );
            let stand_in = std::env::temp_dir().join("rustpar-no-std-sources");
            std::fs::create_dir_all(stand_in.join("core")).is_ok().then_some(stand_in)
        }
    };
    if let Some(sources) = sources {
        // SAFETY: called from `main` before any other thread exists.
        unsafe { std::env::set_var("RUST_SRC_PATH", sources) };
    }
}

/// The copy of `library` in `folder` (made if missing); `None` when it
/// cannot be made, and rust-analyzer then reads the real sources.
fn without_intrinsics(library: &Path, folder: &Path) -> Option<PathBuf> {
    let copy = folder.join("library");
    if copy.join(COMPLETE).exists() {
        return Some(copy);
    }
    // Made beside it and renamed, so that kernels starting together never read half a copy.
    let parent = folder.parent()?;
    std::fs::create_dir_all(parent).ok()?;
    let draft = tempfile::tempdir_in(parent).ok()?;
    let made = link_tree(library, draft.path(), library).and_then(|()| std::fs::write(draft.path().join(COMPLETE), ""));
    if let Err(error) = made {
        tracing::warn!("could not copy the standard library's sources for rust-analyzer ({error}); it reads them all");
        return None;
    }
    let draft = draft.keep();
    std::fs::create_dir_all(folder).ok()?;
    match std::fs::rename(&draft, &copy) {
        Ok(()) => Some(copy),
        // Another kernel finished first: use its copy.
        Err(_) => {
            let _ = std::fs::remove_dir_all(&draft);
            copy.join(COMPLETE).exists().then_some(copy)
        }
    }
}

/// Recreates `from` in `to`: files are hard links (copies across file
/// systems), the intrinsics' files are empty.
fn link_tree(from: &Path, to: &Path, library: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            std::fs::create_dir(&target)?;
            link_tree(&source, &target, library)?;
        } else if is_intrinsics_file(source.strip_prefix(library).unwrap_or(&source)) {
            std::fs::write(&target, "")?;
        } else if std::fs::hard_link(&source, &target).is_err() {
            std::fs::copy(&source, &target)?;
        }
    }
    Ok(())
}

fn is_intrinsics_file(relative: &Path) -> bool {
    relative.file_name().is_some_and(|name| name != "mod.rs")
        && relative.parent().is_some_and(|folder| INTRINSICS.iter().any(|dir| folder == Path::new(dir)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_keeps_everything_but_the_intrinsics() {
        let root = tempfile::tempdir().unwrap();
        let library = root.path().join("library");
        let x86 = library.join("stdarch/crates/core_arch/src/x86");
        std::fs::create_dir_all(&x86).unwrap();
        std::fs::create_dir_all(library.join("core/src")).unwrap();
        std::fs::write(library.join("core/src/lib.rs"), "pub mod arch;").unwrap();
        std::fs::write(x86.join("mod.rs"), "pub struct __m128;").unwrap();
        std::fs::write(x86.join("sse.rs"), "pub fn _mm_add_ps() {}").unwrap();

        let folder = root.path().join("cache/std-sources/1.0.0");
        let copy = without_intrinsics(&library, &folder).unwrap();
        let read = |path: &str| std::fs::read_to_string(copy.join(path)).unwrap();
        assert_eq!(read("core/src/lib.rs"), "pub mod arch;");
        assert_eq!(read("stdarch/crates/core_arch/src/x86/mod.rs"), "pub struct __m128;");
        assert_eq!(read("stdarch/crates/core_arch/src/x86/sse.rs"), "");
        // A second kernel finds the finished copy.
        std::fs::remove_file(x86.join("sse.rs")).unwrap();
        assert_eq!(without_intrinsics(&library, &folder), Some(copy));
    }
}
