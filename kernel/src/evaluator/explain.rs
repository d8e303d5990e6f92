//! Works out what went wrong in a cell, as a [`CellError`]: which kind, a
//! sentence a student understands, and where in the cell it happened.
//! How each kind reads is `cell_error`'s business.

use crate::cell_error::{CellError, Diagnostic, Span};
use rustpar_wire::{Panic, SourceLocation, parse_named_error};

/// rustc's errors, each pointing into the cell. `hidden_line` is the number
/// of a line of the kernel's own in the code that was compiled, if any.
pub(crate) fn compile_error(code: &str, hidden_line: Option<usize>, errors: &[evcxr::CompilationError]) -> CellError {
    let lines: Vec<&str> = code.lines().collect();
    CellError::Compile(errors.iter().map(|error| diagnostic(error, &lines, hidden_line)).collect())
}

fn diagnostic(error: &evcxr::CompilationError, lines: &[&str], hidden_line: Option<usize>) -> Diagnostic {
    let spans = error.spanned_messages().iter().filter_map(|spanned| {
        let span = spanned.span.as_ref()?;
        let line = match hidden_line {
            Some(hidden) if span.start_line == hidden => return None,
            Some(hidden) if span.start_line > hidden => span.start_line - 1,
            _ => span.start_line,
        };
        let text = *line.checked_sub(1).and_then(|index| lines.get(index))?;
        let end_column = (span.end_line == span.start_line).then_some(span.end_column);
        Some(Span { line, text: text.to_owned(), start_column: span.start_column, end_column, label: spanned.label.clone() })
    });
    let helps = error.help().into_iter().map(|help| ("help".to_owned(), help));
    let hint = error.evcxr_extra_hint().map(|hint| ("hint".to_owned(), hint.to_owned())).or_else(|| mixed_locks_hint(error));
    Diagnostic {
        level: error.level().to_owned(),
        code: error.code().map(str::to_owned),
        message: error.message(),
        spans: spans.collect(),
        notes: helps.chain(hint).collect(),
    }
}

/// A hint for code that mixes std's lock types with the prelude's, which
/// are types of their own (they explain deadlocks).
fn mixed_locks_hint(error: &evcxr::CompilationError) -> Option<(String, String)> {
    let guards = ["MutexGuard", "RwLockReadGuard", "RwLockWriteGuard"];
    let labels = error.spanned_messages().iter().map(|spanned| spanned.label.as_str()).collect::<Vec<_>>().join(" ");
    (error.message() == "mismatched types" && guards.iter().any(|guard| labels.contains(guard))).then(|| {
        (
            "hint".to_owned(),
            "The prelude's `Mutex`, `RwLock` and `Condvar` are its own types (they can explain deadlocks), with guards of their own: \
             name the guard without `std::sync::` (`MutexGuard<'_, T>`), or use `std::sync::Mutex` and its guard together."
                .to_owned(),
        )
    })
}

/// The code a panic can point into: the source file rustc compiled, which
/// holds the cell's lines among code of its own (evcxr's wrapper, the items of
/// earlier cells), and the cell as the student wrote it.
pub(crate) struct CompiledCell<'a> {
    /// The source file's name as panics report it (`src/lib.rs`).
    pub file: &'a str,
    pub source: &'a str,
    pub cell: &'a str,
}

/// A panic in the cell's own thread (or propagated to it, as rayon does).
pub(crate) fn panic_error(panic: Option<Panic>, stderr_tail: &str, compiled: &CompiledCell) -> CellError {
    let (message, location) = match panic {
        Some(panic) => (panic.message, panic.location),
        None => (message_of_default_panic(stderr_tail).unwrap_or_else(|| "the cell panicked".into()), None),
    };
    located_panic(message, location.as_ref(), compiled).with_detail(PARTLY_KEPT.into())
}

/// Threads of the cell deadlocked on prelude locks and were stopped.
pub(crate) fn deadlock(message: String) -> CellError {
    let message = message.strip_prefix("Deadlock: ").map(str::to_owned).unwrap_or(message);
    CellError::Deadlock { message, details: vec![PARTLY_KEPT.into()] }
}

const PARTLY_KEPT: &str = "The variables defined before this cell are kept; those the cell was creating are not.";

/// A panic in a task that had no one to hand it to (`rayon::spawn`): the
/// prelude's pool caught it, and the process lives on. `cell_panicked` says
/// whether the cell's own code then panicked too (so lost what it made).
pub(crate) fn task_panic_error(panic: Panic, cell_panicked: bool, compiled: &CompiledCell) -> CellError {
    let kept = if cell_panicked { PARTLY_KEPT } else { "The cell's other work finished, and every variable is kept." };
    located_panic(panic.message, panic.location.as_ref(), compiled)
        .with_detail(
            "The panic happened in a task started with `rayon::spawn`, which has no handle to return it through. \
             The pool caught it and keeps running."
                .into(),
        )
        .with_detail(kept.into())
}

fn located_panic(message: String, location: Option<&SourceLocation>, compiled: &CompiledCell) -> CellError {
    let details = location.map(|location| panic_location(location, compiled)).unwrap_or_default();
    CellError::Panic { message, details }
}

/// Where a panic happened, in the student's terms: a line of the cell, a line
/// of an earlier cell, or a file of a library.
pub(crate) fn panic_location(location: &SourceLocation, compiled: &CompiledCell) -> Vec<String> {
    if location.file != compiled.file {
        return vec![format!("  in {}:{}", library_path(&location.file), location.line)];
    }
    let source: Vec<&str> = compiled.source.lines().collect();
    let Some(index) = (location.line as usize).checked_sub(1).filter(|&index| source.get(index).is_some_and(|line| !line.trim().is_empty())) else {
        return Vec::new();
    };
    let quoted = format!("      {}", source[index].trim());
    match line_in_cell(&source, index, &compiled.cell.lines().collect::<Vec<_>>()) {
        Some(line) => vec![format!("  at line {} of the cell:", line + 1), quoted],
        None => vec!["  in code from an earlier cell:".into(), quoted],
    }
}

/// The cell line that became line `index` of the source: one with the same
/// text, and among several, the one whose neighbours are there too. evcxr
/// puts each statement on a line of its own, so a line that holds several
/// statements is found by the one that ran.
fn line_in_cell(source: &[&str], index: usize, cell: &[&str]) -> Option<usize> {
    let agreement = |candidate: usize| {
        let at = |line: usize| (index + line).checked_sub(candidate).and_then(|at| source.get(at));
        cell.iter().enumerate().filter(|(line, code)| at(*line).is_some_and(|source_line| source_line.trim() == code.trim())).count()
    };
    let wanted = source[index].trim();
    let same =
        (0..cell.len()).filter(|&line| cell[line].trim() == wanted).max_by_key(|&candidate| (agreement(candidate), std::cmp::Reverse(candidate)));
    same.or_else(|| (0..cell.len()).find(|&line| cell[line].contains(wanted)))
}

/// A library's file from its crate's folder on (`ndarray-0.16.1/src/…`), not
/// the whole path into cargo's registry or rustc's sources.
fn library_path(file: &str) -> &str {
    let inside = |marker: &str| file.split_once(marker).map(|(_, rest)| rest.split_once('/').map_or(rest, |(_, path)| path));
    inside("/registry/src/").or_else(|| inside("/rustc/")).unwrap_or(file)
}

/// The message of a panic reported by Rust's default hook:
/// `thread 'main' panicked at src/lib.rs:3:5:` followed by the message.
fn message_of_default_panic(stderr: &str) -> Option<String> {
    let after = stderr.rsplit_once("panicked at ")?.1;
    let message: Vec<&str> = after.lines().skip(1).take_while(|line| !line.starts_with("note: ")).collect();
    Some(message.join("\n").trim().to_owned()).filter(|message| !message.is_empty())
}

/// An `Err` returned through `?`; evcxr has printed it on stderr.
///
/// An error whose text names its kind first, as `GpuError: No CUDA driver…`
/// (the prelude's errors do), gets that name as its `ename`; the lines after
/// its first (e.g. a compiler's log) become the traceback. Any other error
/// is an `Error` with its last line as the message.
pub(crate) fn returned_error(stderr_tail: &str) -> CellError {
    let lines: Vec<&str> = stderr_tail.trim().lines().collect();
    let named = lines.iter().enumerate().rev().find_map(|(index, line)| Some((index, parse_named_error(line)?)));
    match named {
        Some((index, (name, message))) => CellError::Returned {
            name: name.into(),
            message: message.into(),
            details: lines[index + 1..].iter().map(|line| line.to_string()).collect(),
        },
        None => CellError::Returned {
            name: "Error".into(),
            message: lines.last().copied().unwrap_or("the cell returned an error").into(),
            details: Vec::new(),
        },
    }
}

pub(crate) fn interrupted_keeping_variables() -> CellError {
    CellError::Interrupted("The cell was interrupted. Every variable defined before it is kept.".into())
}

/// evcxr's `:time_passes` asks rustc for `-Z time-passes`, which only a
/// nightly rustc accepts: on another, every later cell would fail to build.
pub(crate) fn time_passes_needs_nightly(rustc_version: &str) -> CellError {
    CellError::Evaluator(format!(
        "`:time_passes` needs a nightly Rust compiler, and this session's is {rustc_version}; nothing was changed. \
         Use `:timing` to see each cell's compile and run times."
    ))
}

/// An interrupt that came while the cell still waited to start.
pub(crate) fn interrupted_before_start() -> CellError {
    CellError::Interrupted("The cell was interrupted before it started; nothing of it ran.".into())
}

pub(crate) fn interrupted_by_restart(lost: &[String]) -> CellError {
    CellError::Interrupted(format!(
        "The cell did not stop when asked (it never checks for interrupts), so the evaluator was \
             restarted. {} Use the prelude's helpers (check_interrupt(), sleep, channels) in long loops \
             to keep your variables.",
        lost_sentence(lost)
    ))
}

/// The cell's process died; `status` is evcxr's account of how.
pub(crate) fn crashed(status: &str, stderr_tail: &str, lost: &[String]) -> CellError {
    let cause = if stderr_tail.contains("has overflowed its stack") {
        "The cell overflowed its stack (is a recursion too deep?).".to_owned()
    } else if stderr_tail.contains("memory allocation of") || status.contains("SIGKILL") {
        "The cell ran out of memory and its process was stopped.".to_owned()
    } else if status.contains("SIGSEGV") || status.contains("SIGBUS") {
        "The cell crashed with an invalid memory access (a segmentation fault, e.g. in unsafe code).".to_owned()
    } else if status.contains("SIGABRT") {
        "The cell aborted its process (std::process::abort or a failed native check).".to_owned()
    } else if let Some(code) = status.rsplit_once("exit status: ").map(|(_, code)| code.trim()) {
        format!("The cell ended its process with exit code {code} (std::process::exit).")
    } else {
        format!("The cell's process ended unexpectedly ({}).", status.trim())
    };
    CellError::EvaluatorCrashed(format!("{cause} The evaluator was restarted with the prelude, your items and :dep crates. {}", lost_sentence(lost)))
}

fn lost_sentence(lost: &[String]) -> String {
    match lost {
        [] => "No variables were lost.".into(),
        names => format!("These variables were lost: {}. Run the cells that define them again.", names.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_panic_messages_are_found_in_stderr() {
        let stderr = "thread 'main' panicked at src/lib.rs:3:5:\nthe list is empty\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(message_of_default_panic(stderr).as_deref(), Some("the list is empty"));
    }

    #[test]
    fn panics_point_at_the_line_of_the_cell() {
        // The same text twice in the cell: the neighbours tell which one ran.
        let cell = "let mut total = 0;\nfor x in data {\n    total += x;\n}\nfor x in more {\n    total += x;\n}\ntotal";
        let source = "use rustpar::prelude::*;\nfn earlier() {\n    values.push(x);\n}\nfn run() {\nlet mut total = 0;\nfor x in data {\n    total += x;\n}\nfor x in more {\n    total += x;\n}\ntotal\n}";
        let compiled = CompiledCell { file: "src/lib.rs", source, cell };
        let at = |file: &str, line| panic_location(&SourceLocation { file: file.into(), line }, &compiled);
        assert_eq!(at("src/lib.rs", 8), ["  at line 3 of the cell:", "      total += x;"]);
        assert_eq!(at("src/lib.rs", 11), ["  at line 6 of the cell:", "      total += x;"]);
        assert_eq!(at("src/lib.rs", 3), ["  in code from an earlier cell:", "      values.push(x);"]);
        assert_eq!(at("src/lib.rs", 40), Vec::<String>::new());
        let one_line = CompiledCell { file: "src/lib.rs", source: "fn run() {\nlet r = f();\nr.0\n}", cell: "let r = f(); r.0" };
        let at_one = panic_location(&SourceLocation { file: "src/lib.rs".into(), line: 2 }, &one_line);
        assert_eq!(at_one, ["  at line 1 of the cell:", "      let r = f();"]);
        let registry = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/ndarray-0.16.1/src/arraytraits.rs";
        assert_eq!(at(registry, 12), ["  in ndarray-0.16.1/src/arraytraits.rs:12"]);
        assert_eq!(at("/rustc/0123abc/library/core/src/option.rs", 5), ["  in library/core/src/option.rs:5"]);
    }

    #[test]
    fn crashes_are_named() {
        let lost = ["data".to_owned()];
        let segfault = crashed("Subprocess terminated with status: signal: 11 (SIGSEGV) (core dumped)", "", &lost);
        assert_eq!(segfault.ename(), "EvaluatorCrashed");
        assert!(segfault.evalue().contains("invalid memory access"), "{}", segfault.evalue());
        assert!(segfault.evalue().contains("lost: data"), "{}", segfault.evalue());
        let exit = crashed("Subprocess terminated with status: exit status: 3", "", &[]);
        assert!(exit.evalue().contains("exit code 3"), "{}", exit.evalue());
        let overflow = crashed("signal: 6 (SIGABRT)", "thread 'main' has overflowed its stack", &[]);
        assert!(overflow.evalue().contains("overflowed its stack"));
    }

    #[test]
    fn question_mark_errors_use_the_printed_message() {
        assert_eq!(returned_error("invalid digit found in string\n").evalue(), "invalid digit found in string");
    }

    #[test]
    fn errors_that_name_their_kind_give_the_ename() {
        let error = returned_error("GpuError: No CUDA driver was found on this machine.\n");
        assert_eq!((error.ename(), error.evalue()), ("GpuError", "No CUDA driver was found on this machine."));
        let compile = returned_error("some output\nGpuError: The CUDA source did not compile:\nkernel.cu(3): error: oops\n");
        assert_eq!(compile.ename(), "GpuError");
        assert_eq!(compile.evalue(), "The CUDA source did not compile:");
        assert!(compile.traceback().iter().any(|line| line.contains("kernel.cu(3): error: oops")), "{:?}", compile.traceback());
        for plain in ["No such file or directory (os error 2)", "error: not a name", "Gpu Error: spaced", "Failed: not an error name"] {
            let error = returned_error(plain);
            assert_eq!((error.ename(), error.evalue()), ("Error", plain));
        }
    }
}
