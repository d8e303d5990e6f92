//! `:mpi` cells: the cell as an MPI program, run on N ranks by `mpirun`.
//!
//! A cell whose first line is `:mpi -n N [--timeout SECS] [--hostfile FILE]
//! [--host a,b] [-- mpirun args]` does not go to evcxr. [`cell`] reads the
//! options, [`program`] builds the cell with the prelude's `mpi` feature in a
//! cargo project shared by all kernels, and [`job`] starts it with the
//! machine's own `mpirun` and turns what each rank sends back into outputs.

mod cell;
mod job;
mod program;

pub use cell::MpiCell;

use super::cell_errors::CompiledCell;
use crate::interpreter::{CellError, Execution, Timings};
use crate::outputs::OutputSink;
use job::{Flavour, Jobs};
use program::ProgramBuilds;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

pub struct MpiRunner {
    prelude: Option<PathBuf>,
    /// What the build project depends on besides the prelude and the MPI: kernel and rustc.
    build_key: String,
    /// Found at the first `:mpi` cell: most sessions never run one.
    builds: OnceLock<Option<ProgramBuilds>>,
    flavour: OnceLock<Option<Flavour>>,
    jobs: Jobs,
    watcher: super::RunWatcher,
}

impl MpiRunner {
    /// A runner building against `prelude` (when it was found); `watcher`
    /// hears when a job starts and stops running.
    pub fn new(prelude: Option<&Path>, rustc_version: &str, watcher: super::RunWatcher) -> MpiRunner {
        let build_key = format!("{} {rustc_version}", env!("CARGO_PKG_VERSION"));
        MpiRunner {
            prelude: prelude.map(Path::to_owned),
            build_key,
            builds: OnceLock::new(),
            flavour: OnceLock::new(),
            jobs: Jobs::default(),
            watcher,
        }
    }

    pub fn execute(&self, cell: &MpiCell, sink: &dyn OutputSink) -> Execution {
        let began = Instant::now();
        let failed = |error| Execution { outcome: Err(error), timings: Timings { compile: began.elapsed(), ..Timings::default() } };
        let Some(flavour) = *self.flavour.get_or_init(Flavour::detect) else {
            return failed(CellError::new(
                "MpiError",
                format!(
                    "MPI is not installed here: `{}` could not be run. Install Open MPI (`sudo apt-get install openmpi-bin libopenmpi-dev`, \
                     or run `bash install.sh` as root), then restart the kernel.",
                    job::mpirun().to_string_lossy()
                ),
            ));
        };
        let builds = self.builds.get_or_init(|| Some(ProgramBuilds::new(self.prelude.as_deref()?, &self.build_key, &job::mpirun())));
        let Some(builds) = builds else {
            return failed(CellError::new(
                "MpiError",
                "The rustpar prelude was not found, so :mpi cells cannot be built. Reinstall with `bash install.sh`.",
            ));
        };
        let program = match builds.build(cell) {
            Ok(program) => program,
            Err(error) => return failed(error),
        };
        let built = Instant::now();
        (self.watcher)(true);
        let code = cell.lines.join("\n");
        let compiled = CompiledCell { file: "src/main.rs", source: &program.source, cell: &code };
        let outcome = self.jobs.run(flavour, &cell.options, &program.path, &compiled, sink);
        (self.watcher)(false);
        Execution { outcome: outcome.map(|()| None), timings: Timings { compile: built - began, run: built.elapsed() } }
    }

    /// Ends the running MPI job, if any.
    pub fn interrupt(&self) {
        self.jobs.interrupt();
    }
}
