//! What a running cell produces, on its way to iopub.
//!
//! The evaluator emits [`Output`]s into an [`OutputSink`] as the cell runs; the
//! dispatcher's sink turns each into a Jupyter message under the request that
//! caused it. Nothing here knows about sockets or about Rust.

use serde_json::{Map, Value};

/// The two text streams of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One output of a running cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Text {
        stream: Stream,
        text: String,
    },
    /// A rich output; `update` replaces the output shown under `display_id`.
    Display {
        data: Map<String, Value>,
        metadata: Map<String, Value>,
        display_id: Option<String>,
        update: bool,
    },
    ClearOutput {
        wait: bool,
    },
}

/// Why a cell could not read a line of input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error(
        "This cell reads standard input, but the notebook client does not accept input \
         (allow_stdin is off, as under nbconvert). Put the value in the code instead."
    )]
    NotAllowed,
    #[error("The notebook client did not answer the request for input.")]
    NoAnswer,
}

/// Where a cell's outputs go while it runs.
pub trait OutputSink: Send + Sync {
    fn emit(&self, output: Output);

    /// Asks the person at the notebook for a line of input.
    fn request_input(&self, prompt: &str, password: bool) -> Result<String, InputError>;
}

/// Makes sure a MIME bundle can be shown anywhere: every bundle gets a
/// text/plain fallback.
pub fn with_plain_fallback(mut data: Map<String, Value>) -> Map<String, Value> {
    if !data.contains_key("text/plain") {
        let kinds: Vec<&str> = data.keys().map(String::as_str).collect();
        let fallback = format!("<{}>", if kinds.is_empty() { "empty output".to_owned() } else { kinds.join(", ") });
        data.insert("text/plain".into(), fallback.into());
    }
    data
}

/// A sink for evaluations whose output nobody sees (user expressions, the kernel's own commands).
pub struct Discard;

impl OutputSink for Discard {
    fn emit(&self, _output: Output) {}

    fn request_input(&self, _prompt: &str, _password: bool) -> Result<String, InputError> {
        Err(InputError::NotAllowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_without_plain_text_get_one() {
        let mut data = Map::new();
        data.insert("image/svg+xml".into(), "<svg/>".into());
        let data = with_plain_fallback(data);
        assert_eq!(data["text/plain"], "<image/svg+xml>");
    }

    #[test]
    fn plain_text_is_kept() {
        let mut data = Map::new();
        data.insert("text/plain".into(), "42".into());
        assert_eq!(with_plain_fallback(data)["text/plain"], "42");
    }
}
