//! Reading an `:mpi` cell: its options line and its body.

use crate::cell_error::CellError;
use clap::Parser;
use std::path::PathBuf;

/// The options of an `:mpi` line, as clap parses them.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(
    name = ":mpi",
    no_binary_name = true,
    disable_help_flag = true,
    about = "Runs the rest of the cell on N MPI ranks under mpirun.",
    after_help = "Example: `:mpi -n 4 --timeout 30`. Arguments after `--` go to mpirun as they are."
)]
pub struct MpiOptions {
    /// How many ranks (copies of the cell) to start.
    #[arg(short = 'n', long = "np", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub ranks: u32,
    /// A file listing the hosts to run on (mpirun's hostfile).
    #[arg(long, value_name = "FILE")]
    pub hostfile: Option<PathBuf>,
    /// Hosts to run on, separated by commas (mpirun's --host).
    #[arg(long, value_name = "HOSTS")]
    pub host: Option<String>,
    /// Stop the whole job after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Extra arguments for mpirun.
    #[arg(last = true, value_name = "MPIRUN ARGS")]
    pub mpirun_args: Vec<String>,
}

impl MpiOptions {
    /// True when the job stays on this machine.
    pub fn is_local(&self) -> bool {
        self.hostfile.is_none() && self.host.is_none()
    }

    fn command_help() -> String {
        <MpiOptions as clap::CommandFactory>::command().render_help().to_string()
    }
}

/// A cell whose first line is `:mpi ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct MpiCell {
    pub options: MpiOptions,
    /// The cell's lines, with the `:mpi` line left empty so that line numbers
    /// still match the cell.
    pub lines: Vec<String>,
    /// The index of the `:mpi` line in `lines`.
    pub magic_line: usize,
}

impl MpiCell {
    /// `None` when the cell is not an `:mpi` cell; an error when its options
    /// cannot be read.
    pub fn parse(code: &str) -> Option<Result<MpiCell, CellError>> {
        let lines: Vec<String> = code.lines().map(str::to_owned).collect();
        let magic_line = lines.iter().position(|line| !line.trim().is_empty())?;
        let arguments = lines[magic_line].trim().strip_prefix(":mpi")?;
        if !(arguments.is_empty() || arguments.starts_with(char::is_whitespace)) {
            return None;
        }
        Some(Self::read_options(arguments).map(|options| {
            let mut lines = lines;
            lines[magic_line].clear();
            MpiCell { options, lines, magic_line }
        }))
    }

    fn read_options(arguments: &str) -> Result<MpiOptions, CellError> {
        let words =
            shlex::split(arguments).ok_or_else(|| CellError::mpi("The :mpi line has an unclosed quote. Example: `:mpi -n 4 --timeout 30`."))?;
        MpiOptions::try_parse_from(words).map_err(|error| {
            let message = error.render().to_string();
            let first = message.lines().next().unwrap_or("the :mpi options could not be read").trim_start_matches("error: ");
            CellError::mpi(format!("{first}. Write the options like this: `:mpi -n 4 --timeout 30`.")).with_detail(MpiOptions::command_help())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_body_are_read() {
        let cell = MpiCell::parse("\n:mpi -n 4 --timeout 2.5 --host a,b -- --mca btl self\nprintln!(\"{rank}\");").unwrap().unwrap();
        assert_eq!(cell.options.ranks, 4);
        assert_eq!(cell.options.timeout, Some(2.5));
        assert_eq!(cell.options.host.as_deref(), Some("a,b"));
        assert_eq!(cell.options.mpirun_args, ["--mca", "btl", "self"]);
        assert!(!cell.options.is_local());
        assert_eq!(cell.magic_line, 1);
        assert_eq!(cell.lines, ["", "", "println!(\"{rank}\");"]);
    }

    #[test]
    fn other_cells_are_not_mpi_cells() {
        assert!(MpiCell::parse("let x = 1;\n:mpi -n 2").is_none());
        assert!(MpiCell::parse(":mpix").is_none());
        assert!(MpiCell::parse("").is_none());
    }

    #[test]
    fn bad_options_say_how_to_write_them() {
        let error = MpiCell::parse(":mpi -n zero\n").unwrap().unwrap_err();
        assert_eq!(error.ename(), "MpiError");
        assert!(error.evalue().contains("-n"), "{}", error.evalue());
        assert!(error.evalue().contains(":mpi -n 4"), "{}", error.evalue());
        assert!(MpiCell::parse(":mpi\n").unwrap().is_err(), "the number of ranks is required");
    }
}
