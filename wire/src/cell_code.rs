//! Code the kernel writes into cells and programs, naming the prelude's items.
//! It lives here, beside the line protocol, so that a rename in the prelude
//! shows up as one place to change.

/// What the kernel runs once in a new cell process, before any cell, to
/// connect the prelude to it (see the prelude's `session` module).
pub const ATTACH_CODE: &str = "rustpar::session::attach();";

/// The line the kernel puts before every cell's code (after its leading
/// `:dep` lines): it prepares that cell's own copy of the prelude (rayon's
/// global pool, in particular, whose spawned tasks must not abort the
/// process when they panic).
pub const ENTER_CELL_CODE: &str = "rustpar::session::enter_cell();";

/// Code like a first cell's, in steps, whose completions make rust-analyzer
/// analyse what first cells need before the first cell asks: the standard
/// library, then ndarray and rayon through the prelude. A cell that arrives
/// meanwhile waits for one step at most.
pub const WARM_UP_STEPS: [&str; 3] = [
    "let numbers = vec![1.0_f64, 2.0];\nnumbers.",
    "let grid = random_array((2, 2), 1);\ngrid.",
    "let numbers = vec![1.0_f64, 2.0];\nlet grid = random_array((2, 2), 1);\nlet total: f64 = numbers.par_iter().sum();\ngrid.",
];

/// A first cell as the course's notebooks write them, built by a spare before
/// it is offered: cargo keeps that build (rustc's incremental cache), so a
/// notebook's first cell that instantiates the same generic code of rayon,
/// ndarray and the plots finds most of it compiled. A block, so that the
/// session keeps none of its variables.
pub const WARM_UP_CELL: &str = "{
    let grid = random_array((3, 3), 1);
    let total: f64 = grid.as_slice().unwrap().par_iter().sum();
    Plot::new(\"warm-up\").line(\"rows\", &[0.0, 1.0, 2.0], &grid.sum_axis(Axis(1)).to_vec()).show();
    total > 0.0
}";

/// Takes the place of an `:mpi` cell's first line, so that the cell's lines
/// keep their numbers: `main` starts MPI and runs the cell in a closure, with
/// `world`, `rank` and `size` in scope.
pub const MPI_PROLOGUE: &str = "#![allow(unused)] use rustpar::prelude::*; use rustpar::mpi::prelude::*; \
    fn main() { let universe = rustpar::mpi::launch::start(); let world = universe.world(); \
    let rank = world.rank(); let size = world.size(); \
    let outcome = (|| -> Result<(), Box<dyn std::error::Error>> {";

/// Follows an `:mpi` cell's last line: the closure's end, then the report of
/// how the rank finished.
pub const MPI_EPILOGUE: &str = "\n#[allow(unreachable_code)] Ok(()) })(); rustpar::mpi::launch::finish(universe, outcome); }\n";

/// An error that names its kind, as the prelude's errors print themselves:
/// `GpuError: No CUDA driver…`. The kernel makes such a name the `ename`.
pub fn named_error(name: &str, message: &str) -> String {
    format!("{name}: {message}")
}

/// `("GpuError", "the message")` from a line written by [`named_error`]: a
/// name in CamelCase ending in `Error`, then `: `.
pub fn parse_named_error(line: &str) -> Option<(&str, &str)> {
    let (name, message) = line.split_once(": ")?;
    let is_name = name.ends_with("Error") && name.starts_with(|c: char| c.is_ascii_uppercase()) && name.chars().all(|c| c.is_ascii_alphanumeric());
    is_name.then_some((name, message.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_errors_are_read_back() {
        let line = named_error("GpuError", "No CUDA driver.");
        assert_eq!(parse_named_error(&line), Some(("GpuError", "No CUDA driver.")));
        for plain in ["error: not a name", "Gpu Error: spaced", "Failed: not an error name", "no colon"] {
            assert_eq!(parse_named_error(plain), None, "{plain}");
        }
    }
}
