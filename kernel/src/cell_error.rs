//! Every way a cell can fail, and the one place each is rendered into the
//! three fields Jupyter shows: `ename`, `evalue` and the red `traceback`.
//!
//! The evaluator decides what went wrong (`evaluator::explain` builds these
//! from evcxr's errors, panics and crashes, the MPI runner from cargo's and
//! mpirun's); how it reads is decided here only, so an `:mpi` cell's compile
//! error looks like any other cell's.

use serde_json::{Value, json};
use std::fmt::Write;

const RED: &str = "\x1b[1;31m";
const BLUE: &str = "\x1b[1;34m";
const RESET: &str = "\x1b[0m";

/// A failed cell.
#[derive(Debug, Clone, PartialEq)]
pub enum CellError {
    /// rustc refused the cell.
    Compile(Vec<Diagnostic>),
    /// The cell, or a task it started, panicked; `details` says where and
    /// what was kept.
    Panic { message: String, details: Vec<String> },
    /// The cell returned an `Err` through `?`. `name` is `Error`, or the name
    /// the error gives itself (`GpuError: …`, as the prelude's errors do).
    Returned { name: String, message: String, details: Vec<String> },
    /// Threads of the cell waited for each other's prelude locks in a
    /// cycle; `message` names them, the locks and the lines.
    Deadlock { message: String, details: Vec<String> },
    /// An interrupt stopped the cell, or it never started.
    Interrupted(String),
    /// The cell's process died and was started again.
    EvaluatorCrashed(String),
    /// The cell asked for input that the client cannot give.
    Input(String),
    /// An `:mpi` cell could not be built, started or finished.
    Mpi { message: String, details: Vec<String> },
    /// The evaluator could not run the cell at all.
    Evaluator(String),
}

/// One of rustc's messages, its positions counted in the cell's own lines.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diagnostic {
    /// `error` or `warning`.
    pub level: String,
    /// rustc's error code, as `E0425`.
    pub code: Option<String>,
    pub message: String,
    pub spans: Vec<Span>,
    /// `(kind, text)` lines after the spans: `help`, `note`, `hint`.
    pub notes: Vec<(String, String)>,
}

/// A place in the cell that a diagnostic points at.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// The cell's line, counted from 1, and its text.
    pub line: usize,
    pub text: String,
    /// Columns counted from 1; `end_column` is just past the marked text,
    /// `None` when the span goes on past this line (it is marked to its end).
    pub start_column: usize,
    pub end_column: Option<usize>,
    pub label: String,
}

impl CellError {
    pub fn ename(&self) -> &str {
        match self {
            CellError::Compile(_) => "CompileError",
            CellError::Panic { .. } => "Panic",
            CellError::Returned { name, .. } => name,
            CellError::Deadlock { .. } => "Deadlock",
            CellError::Interrupted(_) => "Interrupted",
            CellError::EvaluatorCrashed(_) => "EvaluatorCrashed",
            CellError::Input(_) => "InputError",
            CellError::Mpi { .. } => "MpiError",
            CellError::Evaluator(_) => "EvaluatorError",
        }
    }

    /// What happened, in a sentence.
    pub fn evalue(&self) -> &str {
        match self {
            CellError::Compile(diagnostics) => diagnostics.first().map_or("the cell did not compile", |first| &first.message),
            CellError::Panic { message, .. }
            | CellError::Returned { message, .. }
            | CellError::Deadlock { message, .. }
            | CellError::Mpi { message, .. } => message,
            CellError::Interrupted(message) | CellError::EvaluatorCrashed(message) | CellError::Input(message) | CellError::Evaluator(message) => {
                message
            }
        }
    }

    /// The lines JupyterLab shows in red: the message, then its details; for
    /// a compile error, rustc's messages pointing into the cell.
    pub fn traceback(&self) -> Vec<String> {
        let details: &[String] = match self {
            CellError::Compile(diagnostics) => return diagnostics.iter().map(render_diagnostic).collect(),
            CellError::Panic { details, .. }
            | CellError::Returned { details, .. }
            | CellError::Deadlock { details, .. }
            | CellError::Mpi { details, .. } => details,
            _ => &[],
        };
        let mut traceback = vec![format!("\x1b[0;31m{}\x1b[0m: {}", self.ename(), self.evalue())];
        traceback.extend(details.iter().cloned());
        traceback
    }

    /// The error as an `error` message's content (and an execute_reply's).
    pub fn to_content(&self) -> Value {
        json!({ "ename": self.ename(), "evalue": self.evalue(), "traceback": self.traceback() })
    }

    /// An `:mpi` cell's failure, told in one sentence.
    pub fn mpi(message: impl Into<String>) -> CellError {
        CellError::Mpi { message: message.into(), details: Vec::new() }
    }

    /// Adds a line to the details (ignored by kinds that have none).
    pub fn with_detail(mut self, line: String) -> CellError {
        if let CellError::Panic { details, .. }
        | CellError::Returned { details, .. }
        | CellError::Deadlock { details, .. }
        | CellError::Mpi { details, .. } = &mut self
        {
            details.push(line);
        }
        self
    }
}

/// A diagnostic as rustc prints one, with the cell as the file.
fn render_diagnostic(diagnostic: &Diagnostic) -> String {
    let code = diagnostic.code.as_ref().map(|code| format!("[{code}]")).unwrap_or_default();
    let mut text = format!("{RED}{}{code}{RESET}: {}\n", diagnostic.level, diagnostic.message);
    for span in &diagnostic.spans {
        let number = span.line.to_string();
        let gutter = " ".repeat(number.len());
        let start = span.start_column.saturating_sub(1);
        let end = span.end_column.map_or(span.text.chars().count(), |column| column.saturating_sub(1));
        let marker = format!("{}{}", " ".repeat(start), "^".repeat(end.saturating_sub(start).max(1)));
        let _ = write!(
            text,
            "{BLUE}{gutter}--> {RESET}cell:{number}:{}\n{BLUE}{gutter} |\n{number} |{RESET} {}\n{BLUE}{gutter} |{RESET} {RED}{marker} {}{RESET}\n",
            span.start_column, span.text, span.label
        );
    }
    for (kind, note) in &diagnostic.notes {
        let _ = writeln!(text, "{BLUE}= {kind}{RESET}: {note}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_errors_point_into_the_cell() {
        let span = Span { line: 2, text: "let y = x + 1;".into(), start_column: 9, end_column: Some(10), label: "not found in this scope".into() };
        let notes = vec![("help".to_owned(), "a local variable with a similar name exists: `z`".to_owned())];
        let diagnostic = Diagnostic {
            level: "error".into(),
            code: Some("E0425".into()),
            message: "cannot find value `x` in this scope".into(),
            spans: vec![span],
            notes,
        };
        let error = CellError::Compile(vec![diagnostic]);
        assert_eq!((error.ename(), error.evalue()), ("CompileError", "cannot find value `x` in this scope"));
        let plain = error.traceback()[0].replace(RED, "").replace(BLUE, "").replace(RESET, "");
        assert_eq!(
            plain,
            "error[E0425]: cannot find value `x` in this scope\n --> cell:2:9\n  |\n2 | let y = x + 1;\n  |         ^ not found in this scope\n\
             = help: a local variable with a similar name exists: `z`\n"
        );
    }

    #[test]
    fn other_errors_lead_with_their_name_and_message() {
        let error = CellError::Returned { name: "GpuError".into(), message: "No CUDA driver.".into(), details: vec!["log".into()] };
        let content = error.to_content();
        assert_eq!((content["ename"].as_str(), content["evalue"].as_str()), (Some("GpuError"), Some("No CUDA driver.")));
        assert_eq!(error.traceback(), ["\x1b[0;31mGpuError\x1b[0m: No CUDA driver.", "log"]);
        assert_eq!(CellError::Input("no stdin".into()).ename(), "InputError");
        assert_eq!(CellError::Interrupted("stopped".into()).with_detail("ignored".into()).traceback().len(), 1);
    }
}
