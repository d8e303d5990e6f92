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

use super::explain::CompiledCell;
use crate::cell_error::CellError;
use crate::config::{Config, MpiConfig};
use crate::interpreter::{Execution, Timings};
use crate::outputs::OutputSink;
use job::{Flavour, Jobs};
use program::ProgramBuilds;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

pub struct MpiRunner {
    prelude: Option<PathBuf>,
    /// Where `:mpi` programs are built.
    build_root: PathBuf,
    config: MpiConfig,
    /// What the build project depends on besides the prelude and the MPI: kernel and rustc.
    build_key: String,
    /// Found at the first `:mpi` cell: most sessions never run one.
    builds: OnceLock<Option<ProgramBuilds>>,
    flavour: OnceLock<Option<Flavour>>,
    jobs: Jobs,
}

impl MpiRunner {
    /// A runner building against the prelude of `config` (when it was
    /// found).
    pub fn new(config: &Config, rustc_version: &str) -> MpiRunner {
        let build_key = format!("{} {rustc_version}", env!("CARGO_PKG_VERSION"));
        let build_root =
            config.mpi.build_dir.clone().unwrap_or_else(|| config.cache_dir.clone().unwrap_or_else(std::env::temp_dir).join("mpi-builds"));
        MpiRunner {
            prelude: config.prelude.clone(),
            build_root,
            config: config.mpi.clone(),
            build_key,
            builds: OnceLock::new(),
            flavour: OnceLock::new(),
            jobs: Jobs::default(),
        }
    }

    pub fn execute(&self, cell: &MpiCell, sink: &dyn OutputSink) -> Execution {
        let began = Instant::now();
        let failed = |error| Execution { outcome: Err(error), timings: Timings { compile: began.elapsed(), ..Timings::default() } };
        let launcher = &self.config.launcher;
        let Some(flavour) = *self.flavour.get_or_init(|| Flavour::detect(launcher)) else {
            return failed(CellError::mpi(format!(
                "MPI is not installed here: `{}` could not be run. Install Open MPI (`sudo apt-get install openmpi-bin libopenmpi-dev`, \
                 or run `bash install.sh` as root), then restart the kernel.",
                launcher.to_string_lossy()
            )));
        };
        let builds = self.builds.get_or_init(|| Some(ProgramBuilds::new(&self.build_root, self.prelude.as_deref()?, &self.build_key, launcher)));
        let Some(builds) = builds else {
            return failed(CellError::mpi("The rustpar prelude was not found, so :mpi cells cannot be built. Reinstall with `bash install.sh`."));
        };
        let program = match builds.build(cell) {
            Ok(program) => program,
            Err(error) => return failed(error),
        };
        let built = Instant::now();
        let code = cell.lines.join("\n");
        let compiled = CompiledCell { file: "src/main.rs", source: &program.source, cell: &code };
        let outcome = self.jobs.run(&self.config, flavour, &cell.options, &program.path, &compiled, sink);
        Execution { outcome: outcome.map(|()| None), timings: Timings { compile: built - began, run: built.elapsed() } }
    }

    /// Ends the running MPI job, if any.
    pub fn interrupt(&self) {
        self.jobs.interrupt();
    }
}
