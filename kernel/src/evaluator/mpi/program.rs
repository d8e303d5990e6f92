//! Building an `:mpi` cell into a program that every rank runs.
//!
//! All `:mpi` cells of all kernels share one cargo project under the cache
//! folder, so the prelude and the `mpi` crate are compiled once and a cell
//! costs one small compile and link. The cell's lines go into `main` inside a
//! closure (so `?` works), and the `:mpi` line itself is replaced by the code
//! that starts MPI: line numbers in rustc's errors are the cell's own.

use super::cell::MpiCell;
use crate::cell_error::{CellError, Diagnostic, Span};
use rustpar_wire::{MPI_EPILOGUE, MPI_PROLOGUE};
use serde_json::Value;
use std::ffi::OsStr;
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

const PACKAGE: &str = "rustpar-mpi-cell";

/// The shared cargo project where `:mpi` cells are built.
pub struct ProgramBuilds {
    dir: PathBuf,
    prelude: PathBuf,
    /// The MPI compiler wrapper that rsmpi's build asks for MPI's flags.
    compiler: Option<PathBuf>,
}

/// A built cell: a copy of the program for one run, removed afterwards.
pub struct Program {
    pub path: PathBuf,
    /// The source it was built from: the cell's lines at their own numbers.
    pub source: String,
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl ProgramBuilds {
    /// The project for this prelude, under `root` (on a cluster, a folder
    /// every host sees: `RUSTPAR_MPI_BUILD_DIR`).
    ///
    /// Cells are built with the compiler wrapper that goes with `launcher`
    /// (see [`compiler_wrapper`]), in a project of that MPI's own: a program
    /// built against Open MPI cannot run under MPICH's launcher.
    pub fn new(root: &Path, prelude: &Path, key: &str, launcher: &OsStr) -> ProgramBuilds {
        let compiler = compiler_wrapper(launcher);
        let mut hasher = DefaultHasher::new();
        (key, prelude, compiler.as_ref().and_then(|wrapper| wrapper.canonicalize().ok())).hash(&mut hasher);
        ProgramBuilds { dir: root.join(format!("{:016x}", hasher.finish())), prelude: prelude.to_owned(), compiler }
    }

    fn create_project(dir: &Path, prelude: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir.join("src"))?;
        std::fs::create_dir_all(dir.join("runs"))?;
        let manifest = format!(
            "[package]\nname = \"{PACKAGE}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\nrustpar = {{ path = {prelude:?}, features = [\"mpi\"] }}\n\
             # `#[derive(Equivalence)]` names the crate `::mpi`; the lock file holds the prelude's version.\n\
             mpi = {{ version = \"*\", default-features = false, features = [\"derive\"] }}\n\n\
             [profile.release]\nopt-level = 2\ndebug = false\nincremental = true\n\n\
             [profile.release.package.\"*\"]\nopt-level = 3\n\n[workspace]\n"
        );
        write_if_changed(&dir.join("Cargo.toml"), &manifest)?;
        let workspace_lock = prelude.join("../Cargo.lock");
        if !dir.join("Cargo.lock").exists() && workspace_lock.exists() {
            std::fs::copy(workspace_lock, dir.join("Cargo.lock"))?;
        }
        Ok(())
    }

    /// Compiles the cell; a compile error points into the cell.
    pub fn build(&self, cell: &MpiCell) -> Result<Program, CellError> {
        // Prepared here, not when the kernel starts: most sessions never run an :mpi cell.
        Self::create_project(&self.dir, &self.prelude).map_err(|error| self.unusable(error))?;
        let lock = File::create(self.dir.join(".build-lock")).map_err(|error| self.unusable(error))?;
        // Kernels share the project: one build (and copy of its result) at a time.
        lock.lock().map_err(|error| self.unusable(error))?;
        let source = source(cell);
        write_if_changed(&self.dir.join("src/main.rs"), &source).map_err(|error| self.unusable(error))?;
        let mut cargo = Command::new("cargo");
        if let Some(compiler) = &self.compiler {
            cargo.env("MPICC", compiler);
        }
        let output = cargo
            .args(["build", "--release", "--message-format=json-diagnostic-rendered-ansi"])
            .current_dir(&self.dir)
            .env("CARGO_TARGET_DIR", self.dir.join("target"))
            .stdin(Stdio::null())
            .output()
            .map_err(|error| CellError::mpi(format!("cargo could not be started ({error}). Check that `cargo` works in a terminal.")))?;
        let report = BuildReport::read(&String::from_utf8_lossy(&output.stdout), cell);
        if !report.errors.is_empty() {
            return Err(CellError::Compile(report.errors));
        }
        let built = report.executable.filter(|_| output.status.success()).ok_or_else(|| {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(25).collect::<Vec<_>>().into_iter().rev().collect();
            CellError::mpi(
                "The MPI program could not be built. Check that MPI's development files and libclang are installed \
                 (`sudo apt-get install libopenmpi-dev libclang-dev`, or `bash install.sh` as root).",
            )
            .with_detail(tail.join("\n"))
        })?;
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let copy = self.dir.join("runs").join(format!("cell-{}-{}", std::process::id(), RUNS.fetch_add(1, Ordering::Relaxed)));
        std::fs::copy(&built, &copy).map_err(|error| self.unusable(error))?;
        Ok(Program { path: copy, source })
    }

    fn unusable(&self, error: std::io::Error) -> CellError {
        CellError::mpi(format!("The MPI build folder {} cannot be used ({error}).", self.dir.display()))
    }
}

/// The program's source: the cell inside `main`.
fn source(cell: &MpiCell) -> String {
    let mut source = String::new();
    for (index, line) in cell.lines.iter().enumerate() {
        source.push_str(if index == cell.magic_line { MPI_PROLOGUE } else { line });
        source.push('\n');
    }
    source.push_str(MPI_EPILOGUE);
    source
}

/// What cargo said about a build, from its JSON messages.
#[derive(Debug, Default)]
struct BuildReport {
    /// rustc's errors about the cell, pointing into it.
    errors: Vec<Diagnostic>,
    executable: Option<PathBuf>,
}

impl BuildReport {
    fn read(messages: &str, cell: &MpiCell) -> BuildReport {
        let mut report = BuildReport::default();
        for message in messages.lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()) {
            let of_cell = message["package_id"].as_str().is_some_and(|id| id.contains(PACKAGE));
            match message["reason"].as_str() {
                Some("compiler-message") if of_cell && message["message"]["level"] == "error" => {
                    report.errors.push(diagnostic(&message["message"], cell));
                }
                Some("compiler-artifact") if of_cell => {
                    report.executable = message["executable"].as_str().map(PathBuf::from);
                }
                _ => {}
            }
        }
        report
    }
}

/// One of rustc's JSON diagnostics, its spans in the cell: `src/main.rs`
/// holds the cell's lines at their own numbers, the `:mpi` line excepted.
fn diagnostic(message: &Value, cell: &MpiCell) -> Diagnostic {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let number = |value: &Value| value.as_u64().unwrap_or_default() as usize;
    let spans = message["spans"].as_array().into_iter().flatten().filter(|span| span["file_name"] == "src/main.rs").filter_map(|span| {
        let line = number(&span["line_start"]);
        let code = line.checked_sub(1).filter(|&index| index != cell.magic_line).and_then(|index| cell.lines.get(index))?;
        let end_column = (span["line_end"] == span["line_start"]).then(|| number(&span["column_end"]));
        Some(Span { line, text: code.clone(), start_column: number(&span["column_start"]), end_column, label: text(&span["label"]) })
    });
    let notes = message["children"].as_array().into_iter().flatten().filter(|child| child["level"] == "help" || child["level"] == "note");
    Diagnostic {
        level: text(&message["level"]),
        code: message["code"]["code"].as_str().map(str::to_owned),
        message: text(&message["message"]),
        spans: spans.collect(),
        notes: notes.map(|child| (text(&child["level"]), text(&child["message"]))).collect(),
    }
}

/// Writes `contents` unless the file already holds them (cargo rebuilds
/// whatever is newer than its last build).
fn write_if_changed(path: &Path, contents: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    File::create(path)?.write_all(contents.as_bytes())
}

/// The compiler wrapper beside `launcher`, with the same suffix:
/// `mpirun.mpich` goes with `mpicc.mpich`, `/opt/mpi/bin/mpiexec` with
/// `/opt/mpi/bin/mpicc`. `None` leaves the choice to rsmpi (`mpicc` on the PATH).
fn compiler_wrapper(launcher: &OsStr) -> Option<PathBuf> {
    let launcher = which::which(launcher).ok()?;
    let name = launcher.file_name()?.to_str()?;
    let suffix = name.strip_prefix("mpirun").or_else(|| name.strip_prefix("mpiexec"))?;
    let wrapper = launcher.with_file_name(format!("mpicc{suffix}"));
    wrapper.is_file().then_some(wrapper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_lines_keep_their_numbers() {
        let cell = MpiCell::parse("\n:mpi -n 2\nlet x = 1;\nprintln!(\"{x}\");").unwrap().unwrap();
        let source = source(&cell);
        let lines: Vec<&str> = source.lines().collect();
        assert_eq!(lines[0], "");
        assert!(lines[1].starts_with("#![allow(unused)]"));
        assert_eq!(lines[2], "let x = 1;");
        assert_eq!(lines[3], "println!(\"{x}\");");
    }

    #[test]
    fn each_launcher_builds_with_its_own_compiler_wrapper() {
        let bin = tempfile::tempdir().unwrap();
        let make = |name: &str| {
            let path = bin.path().join(name);
            std::fs::write(&path, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
            path
        };
        let (mpich, openmpi, hydra) = (make("mpirun.mpich"), make("mpiexec.openmpi"), make("mpiexec.hydra"));
        make("mpicc.mpich");
        make("mpicc.openmpi");
        assert_eq!(compiler_wrapper(mpich.as_os_str()), Some(bin.path().join("mpicc.mpich")));
        assert_eq!(compiler_wrapper(openmpi.as_os_str()), Some(bin.path().join("mpicc.openmpi")));
        assert_eq!(compiler_wrapper(hydra.as_os_str()), None, "no mpicc.hydra: rsmpi chooses");
        let prelude = Path::new("/prelude");
        let folder = |launcher: &Path| ProgramBuilds::new(Path::new("/builds"), prelude, "key", launcher.as_os_str()).dir;
        assert_ne!(folder(&mpich), folder(&openmpi), "one project per MPI");
        assert_eq!(folder(&mpich), folder(&mpich));
    }

    #[test]
    fn errors_about_the_cell_point_into_it() {
        let messages = [
            r#"{"reason":"compiler-message","package_id":"path+file:///x#rustpar@0.1.0","message":{"level":"error","message":"not ours","rendered":"x"}}"#,
            r#"{"reason":"compiler-message","package_id":"path+file:///c#rustpar-mpi-cell@0.1.0","message":{"level":"warning","message":"w","rendered":"w"}}"#,
            r#"{"reason":"compiler-message","package_id":"path+file:///c#rustpar-mpi-cell@0.1.0","message":{"level":"error","message":"cannot find value `y`","code":{"code":"E0425"},"spans":[{"file_name":"src/main.rs","line_start":3,"line_end":3,"column_start":9,"column_end":10,"label":"not found"},{"file_name":"src/main.rs","line_start":2,"line_end":2,"column_start":1,"column_end":2,"label":"the prologue"}],"children":[{"level":"help","message":"did you mean `x`?"}]}}"#,
            r#"{"reason":"compiler-artifact","package_id":"path+file:///c#rustpar-mpi-cell@0.1.0","executable":"/c/target/release/rustpar-mpi-cell"}"#,
        ]
        .join("\n");
        let cell = MpiCell::parse("\n:mpi -n 2\nlet x = y;").unwrap().unwrap();
        let report = BuildReport::read(&messages, &cell);
        let span = Span { line: 3, text: "let x = y;".into(), start_column: 9, end_column: Some(10), label: "not found".into() };
        let expected = Diagnostic {
            level: "error".into(),
            code: Some("E0425".into()),
            message: "cannot find value `y`".into(),
            spans: vec![span],
            notes: vec![("help".into(), "did you mean `x`?".into())],
        };
        assert_eq!(report.errors, [expected], "the :mpi line's span is left out");
        assert_eq!(report.executable, Some(PathBuf::from("/c/target/release/rustpar-mpi-cell")));
    }
}
