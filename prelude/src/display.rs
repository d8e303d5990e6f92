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

use crate::session::send;
use rustpar_wire::{Display, Message};
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// Shows a MIME bundle (`[("text/html", "<b>hi</b>")]`); the building block of
/// every other display call.
pub fn bundle<'a>(parts: impl IntoIterator<Item = (&'a str, String)>) {
    emit(parts, None, false);
}

fn emit<'a>(parts: impl IntoIterator<Item = (&'a str, String)>, display_id: Option<String>, update: bool) {
    let data: Map<String, Value> = parts.into_iter().map(|(mime, content)| (mime.to_owned(), Value::from(content))).collect();
    send(&Message::Display(Display { data, metadata: Map::new(), display_id, update }));
}

/// Shows HTML.
pub fn html(html: impl Into<String>) {
    bundle([("text/html", html.into())]);
}

/// Shows Markdown (rendered by the notebook).
pub fn markdown(text: impl Into<String>) {
    let text = text.into();
    bundle([("text/markdown", text.clone()), ("text/plain", text)]);
}

/// Shows an SVG image.
pub fn svg(svg: impl Into<String>) {
    bundle([("image/svg+xml", svg.into())]);
}

/// Shows a PNG image from its bytes.
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

/// An output that can be replaced in place.
pub struct DisplayHandle {
    id: String,
    shown: std::cell::Cell<bool>,
}

impl Default for DisplayHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl DisplayHandle {
    /// A handle with a fresh display id; nothing is shown until the first call.
    pub fn new() -> DisplayHandle {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = format!("rustpar-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        DisplayHandle { id, shown: std::cell::Cell::new(false) }
    }

    /// The display id the notebook knows this output by.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Shows a bundle the first time, then replaces it.
    pub fn bundle<'a>(&self, parts: impl IntoIterator<Item = (&'a str, String)>) {
        emit(parts, Some(self.id.clone()), self.shown.replace(true));
    }

    pub fn html(&self, html: impl Into<String>) {
        self.bundle([("text/html", html.into())]);
    }

    pub fn markdown(&self, text: impl Into<String>) {
        let text = text.into();
        self.bundle([("text/markdown", text.clone()), ("text/plain", text)]);
    }

    pub fn text(&self, text: impl Into<String>) {
        self.bundle([("text/plain", text.into())]);
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char } else { '=' });
        }
    }
    out
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
