//! The parallel prelude of rustpar notebooks.
//!
//! Every rustpar session starts with `use rustpar::prelude::*;` in effect, so
//! a notebook can use what this crate gathers without any `:dep`. One module
//! per idea of the course:
//!
//! - [`cancel`]: cooperative interrupts, so that stopping a cell keeps the
//!   session's variables;
//! - [`display`]: rich outputs (HTML, Markdown, SVG, PNG) that appear at once
//!   and can be updated in place.
//!
//! ```
//! use rustpar::prelude::*;
//! let total: u64 = (1..=10).sum();
//! check_interrupt(); // returns at once unless the cell was interrupted
//! assert_eq!(total, 55);
//! ```

pub mod cancel;
pub mod display;
pub mod session;

/// Everything a notebook cell gets from `use rustpar::prelude::*;`.
pub mod prelude {
    pub use crate::cancel::{check_interrupt, interrupted, sleep};
    pub use crate::display::{DisplayHandle, clear_output, html, markdown, png, svg};
}
