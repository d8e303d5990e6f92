//! The line protocol between a cell's process and the kernel.
//!
//! evcxr runs every cell in a child process and reads that process's stdout
//! line by line. rustpar adds its own lines to that stream: each starts with
//! [`MARK`] (a byte no text output begins with), a tag, a space and a JSON
//! payload. The child's stdio shim wraps what the cell prints as `stdout` and
//! `stderr` lines; the prelude writes `display`, `clear` and `panic` lines.
//! The kernel turns each line back into a [`Message`].
//!
//! ```
//! use rustpar_wire::Message;
//! let line = Message::Stdout("hi\n".into()).to_line();
//! assert_eq!(Message::parse(&line), Some(Message::Stdout("hi\n".into())));
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod cell_code;
pub mod rank_link;
mod session_state;

pub use cell_code::{ATTACH_CODE, ENTER_CELL_CODE, MPI_EPILOGUE, MPI_PROLOGUE, WARM_UP_CELL, WARM_UP_STEPS, named_error, parse_named_error};
pub use session_state::{SESSION_STATE_ENV, SESSION_STATE_LAYOUT, SessionState};

/// The first byte of every rustpar protocol line.
pub const MARK: char = '\u{1}';

/// The prefix of evcxr's own protocol lines.
pub const EVCXR_MARKER: &str = "EVCXR_";

/// evcxr's lines around a cell's result: `EVCXR_BEGIN_CONTENT <mime type>`,
/// the content, then the end line.
pub const EVCXR_CONTENT_BEGIN: &str = "EVCXR_BEGIN_CONTENT";
pub const EVCXR_CONTENT_END: &str = "EVCXR_END_CONTENT";

/// Environment variable holding the number of a pipe the prelude reads: each
/// byte asks it to flush the cell's stdout and answer [`Message::Flushed`].
pub const FLUSH_REQUEST_FD_ENV: &str = "RUSTPAR_FLUSH_FD";

/// A rich output: MIME bundle, metadata and an optional display id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Display {
    pub data: Map<String, Value>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_id: Option<String>,
    /// True to replace the output shown earlier under `display_id`.
    #[serde(default)]
    pub update: bool,
}

/// Why a cell stopped early, as reported by the prelude's panic hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Panic {
    pub message: String,
    #[serde(default)]
    pub location: Option<SourceLocation>,
    /// The panicking thread's name, when it has one.
    #[serde(default)]
    pub thread: Option<String>,
    /// True when the panic was the prelude's cooperative interrupt.
    #[serde(default)]
    pub interrupted: bool,
    /// True when it happened on a thread other than the one running the cell.
    #[serde(default)]
    pub off_cell_thread: bool,
}

/// Where in the source a panic happened, as rustc recorded it: the file is
/// relative (`src/lib.rs`) for the crate being built and absolute for its
/// dependencies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceLocation {
    pub file: String,
    pub line: u32,
}

impl From<&std::panic::Location<'_>> for SourceLocation {
    fn from(location: &std::panic::Location<'_>) -> SourceLocation {
        SourceLocation { file: location.file().to_owned(), line: location.line() }
    }
}

/// How a cell failed, as seen by the cell process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The cell's code panicked (its variables from before the cell are kept).
    Panicked,
    /// The cell returned an `Err` through `?`.
    ReturnedError,
    /// A task with no one to hand its panic to (`rayon::spawn`) panicked;
    /// the prelude's pool caught it, so the process and its variables live on.
    TaskPanicked,
}

/// One protocol line, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Stdout(String),
    Stderr(String),
    Display(Display),
    ClearOutput {
        wait: bool,
    },
    Panic(Panic),
    CellFailed(Failure),
    /// The cell process has started running the compiled cell.
    CellStarted,
    /// The prelude has flushed the cell's stdout (it says so once when it
    /// attaches, then after each flush the cell process asks for).
    Flushed,
    /// Threads of the cell deadlocked on prelude locks: what happened, in
    /// sentences; the threads are being stopped.
    Deadlock(String),
}

impl Message {
    /// Encodes the message as one line, newline included.
    pub fn to_line(&self) -> String {
        let (tag, payload) = match self {
            Message::Stdout(text) => ("stdout", Value::from(text.as_str())),
            Message::Stderr(text) => ("stderr", Value::from(text.as_str())),
            Message::Display(display) => ("display", to_value(display)),
            Message::ClearOutput { wait } => ("clear", serde_json::json!({ "wait": wait })),
            Message::Panic(panic) => ("panic", to_value(panic)),
            Message::CellFailed(failure) => ("failed", to_value(failure)),
            Message::CellStarted => ("started", Value::Null),
            Message::Flushed => ("flushed", Value::Null),
            Message::Deadlock(text) => ("deadlock", Value::from(text.as_str())),
        };
        // evcxr scans every stdout line for its own markers; spell them with a
        // JSON escape inside payloads so that printed text can never match.
        let payload = payload.to_string().replace(EVCXR_MARKER, "EVCXR\\u005f");
        format!("{MARK}{tag} {payload}\n")
    }

    /// Decodes a line (with or without its newline); `None` when the line is
    /// not a rustpar protocol line.
    pub fn parse(line: &str) -> Option<Message> {
        let (tag, payload) = line.strip_prefix(MARK)?.split_once(' ')?;
        let payload: Value = serde_json::from_str(payload.trim_end_matches('\n')).ok()?;
        Some(match tag {
            "stdout" => Message::Stdout(payload.as_str()?.to_owned()),
            "stderr" => Message::Stderr(payload.as_str()?.to_owned()),
            "display" => Message::Display(serde_json::from_value(payload).ok()?),
            "clear" => Message::ClearOutput { wait: payload.get("wait")?.as_bool()? },
            "panic" => Message::Panic(serde_json::from_value(payload).ok()?),
            "failed" => Message::CellFailed(serde_json::from_value(payload).ok()?),
            "started" => Message::CellStarted,
            "flushed" => Message::Flushed,
            "deadlock" => Message::Deadlock(payload.as_str()?.to_owned()),
            _ => return None,
        })
    }
}

fn to_value(value: &impl Serialize) -> Value {
    serde_json::to_value(value).expect("protocol payloads are plain data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_survives_a_round_trip() {
        let mut data = Map::new();
        data.insert("text/plain".into(), "x\ny".into());
        let messages = [
            Message::Stdout("a\nb".into()),
            Message::Stderr("".into()),
            Message::Display(Display { data, display_id: Some("d1".into()), update: true, ..Default::default() }),
            Message::ClearOutput { wait: true },
            Message::Panic(Panic {
                message: "boom".into(),
                location: Some(SourceLocation { file: "src/lib.rs".into(), line: 7 }),
                thread: Some("main".into()),
                interrupted: false,
                off_cell_thread: true,
            }),
            Message::CellFailed(Failure::ReturnedError),
            Message::Deadlock("thread 1 holds `a`".into()),
            Message::CellFailed(Failure::TaskPanicked),
            Message::CellStarted,
            Message::Flushed,
        ];
        for message in messages {
            let line = message.to_line();
            assert_eq!(line.matches('\n').count(), 1, "one line: {line:?}");
            assert_eq!(Message::parse(&line), Some(message));
        }
    }

    #[test]
    fn printed_evcxr_markers_are_disguised() {
        let line = Message::Stdout("EVCXR_BEGIN_CONTENT text/plain".into()).to_line();
        assert!(!line.contains(EVCXR_MARKER));
        assert_eq!(Message::parse(&line), Some(Message::Stdout("EVCXR_BEGIN_CONTENT text/plain".into())));
    }

    #[test]
    fn ordinary_text_is_not_a_message() {
        assert_eq!(Message::parse("hello"), None);
        assert_eq!(Message::parse("\u{1}unknown {}"), None);
    }
}
