//! Rich outputs that appear at once, as many per cell as you like.
//!
//! Each call sends one output to the notebook immediately, in order with what
//! the cell prints. A [`DisplayHandle`] replaces its output in place, which is
//! how progress indicators and live charts work.
//!
//! ```
//! use rustpar::prelude::*;
//! html("<b>bold</b>");
//! markdown("# A title");
//! let status = DisplayHandle::new();
//! status.markdown("step 1 of 2");
//! status.markdown("step 2 of 2"); // replaces the line above
//! ```

mod progress;
mod table;

pub use progress::{ParWithProgress, Progress, ProgressIter, WithProgress, progress};
pub use table::{Row, Table, Tabular, table};
pub(crate) use table::{escape, format_number};

use crate::session::send;
use base64::Engine as _;
use rustpar_wire::{Display, EVCXR_CONTENT_BEGIN, EVCXR_CONTENT_END, Message};
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};

/// Shows a MIME bundle: several renderings of one output, of which the
/// notebook picks the richest it can show. The building block of every other
/// display call.
///
/// ```
/// rustpar::prelude::bundle([
///     ("text/html", "<i>rich</i>".to_string()),
///     ("text/plain", "plain".to_string()),
/// ]);
/// ```
pub fn bundle<'a>(parts: impl IntoIterator<Item = (&'a str, String)>) {
    emit(parts, None, false);
}

fn emit<'a>(parts: impl IntoIterator<Item = (&'a str, String)>, display_id: Option<String>, update: bool) {
    let data: Map<String, Value> = parts.into_iter().map(|(mime, content)| (mime.to_owned(), Value::from(content))).collect();
    send(&Message::Display(Display { data, metadata: Map::new(), display_id, update }));
}

/// Shows HTML.
///
/// ```
/// rustpar::prelude::html("<b>bold</b> and <i>italic</i>");
/// ```
pub fn html(html: impl Into<String>) {
    bundle([("text/html", html.into())]);
}

/// Shows Markdown (rendered by the notebook).
///
/// ```
/// rustpar::prelude::markdown("**Result:** 42");
/// ```
pub fn markdown(text: impl Into<String>) {
    let text = text.into();
    bundle([("text/markdown", text.clone()), ("text/plain", text)]);
}

/// Shows an SVG image.
///
/// ```
/// rustpar::prelude::svg(r#"<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><circle cx="10" cy="10" r="8"/></svg>"#);
/// ```
pub fn svg(svg: impl Into<String>) {
    bundle([("image/svg+xml", svg.into())]);
}

/// Shows a PNG image from its bytes (the notebook receives them as base64).
///
/// ```
/// // A 1×1 transparent PNG; usually the bytes come from std::fs::read.
/// let pixel: [u8; 67] = [
///     0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
///     0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00,
///     0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D,
///     0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
/// ];
/// rustpar::prelude::png(&pixel);
/// ```
pub fn png(bytes: &[u8]) {
    bundle([("image/png", base64(bytes))]);
}

/// Clears the cell's output; with `wait`, only when the next output arrives
/// (which avoids flicker in animations).
///
/// ```
/// rustpar::prelude::clear_output(true);
/// ```
pub fn clear_output(wait: bool) {
    send(&Message::ClearOutput { wait });
}

/// Shows a value that ends a cell as the cell's result, in its `Debug` form.
///
/// evcxr compiles a cell's last expression as `value.evcxr_display()` and,
/// when the type has no such method, compiles the whole cell again to show
/// `{:?}` instead: every cell that ends in a plain value was compiled twice.
/// This method, for every `Debug` type, makes the first compile the only one.
/// Types with a display of their own (plots, tables, timings) keep it: their
/// own method wins over a trait's.
///
/// ```
/// use rustpar::prelude::*;
/// vec![1, 2, 3].evcxr_display(); // what a cell ending in `vec![1, 2, 3]` does
/// ```
pub trait ShowResult {
    /// Writes the value in evcxr's format for a cell's result.
    fn evcxr_display(&self);
}

impl<T: std::fmt::Debug + ?Sized> ShowResult for T {
    fn evcxr_display(&self) {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, "{EVCXR_CONTENT_BEGIN} text/plain\n{self:?}\n{EVCXR_CONTENT_END}\n");
        let _ = stdout.flush();
    }
}

/// An output that can be replaced in place: the first call shows it, every
/// later call replaces what it shows. It can be shared between threads.
///
/// ```
/// use rustpar::prelude::*;
/// let status = DisplayHandle::new();
/// for step in 1..=3 {
///     status.text(format!("step {step} of 3"));
/// }
/// ```
pub struct DisplayHandle {
    id: String,
    shown: AtomicBool,
}

impl Default for DisplayHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl DisplayHandle {
    /// A handle with a fresh display id; nothing is shown until the first call.
    ///
    /// ```
    /// let handle = rustpar::prelude::DisplayHandle::new();
    /// assert!(handle.id().starts_with("rustpar-"));
    /// ```
    pub fn new() -> DisplayHandle {
        // One counter per session (each cell has its own copy of this crate);
        // the pid tells a restarted cell process's ids from the last one's.
        let number = crate::session::state().next_display_id.fetch_add(1, Ordering::Relaxed);
        let id = format!("rustpar-{}-{number}", std::process::id());
        DisplayHandle { id, shown: AtomicBool::new(false) }
    }

    /// The display id the notebook knows this output by.
    ///
    /// ```
    /// let a = rustpar::prelude::DisplayHandle::new();
    /// let b = rustpar::prelude::DisplayHandle::new();
    /// assert_ne!(a.id(), b.id());
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Shows a bundle the first time, then replaces it.
    ///
    /// ```
    /// let handle = rustpar::prelude::DisplayHandle::new();
    /// handle.bundle([("text/html", "<b>1</b>".to_string()), ("text/plain", "1".to_string())]);
    /// ```
    pub fn bundle<'a>(&self, parts: impl IntoIterator<Item = (&'a str, String)>) {
        emit(parts, Some(self.id.clone()), self.shown.swap(true, Ordering::Relaxed));
    }

    /// Shows (then replaces) HTML.
    ///
    /// ```
    /// rustpar::prelude::DisplayHandle::new().html("<b>working…</b>");
    /// ```
    pub fn html(&self, html: impl Into<String>) {
        self.bundle([("text/html", html.into())]);
    }

    /// Shows (then replaces) Markdown.
    ///
    /// ```
    /// rustpar::prelude::DisplayHandle::new().markdown("**working…**");
    /// ```
    pub fn markdown(&self, text: impl Into<String>) {
        let text = text.into();
        self.bundle([("text/markdown", text.clone()), ("text/plain", text)]);
    }

    /// Shows (then replaces) plain text.
    ///
    /// ```
    /// rustpar::prelude::DisplayHandle::new().text("working…");
    /// ```
    pub fn text(&self, text: impl Into<String>) {
        self.bundle([("text/plain", text.into())]);
    }
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(super::base64(b"Man"), "TWFu");
        assert_eq!(super::base64(b"Ma"), "TWE=");
        assert_eq!(super::base64(b"M"), "TQ==");
    }
}
