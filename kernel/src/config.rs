//! The kernel's settings: every `RUSTPAR_*` variable, read once, from the
//! environment the process started with, at the start of `main`. Nothing
//! else in the kernel reads or writes them. The README lists them.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

/// The environment as the process started with it (the kernel adds to its own).
pub type Environment = Vec<(OsString, OsString)>;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `RUSTPAR_PRELUDE`: the prelude crate every session loads; by default
    /// the one beside the kernel's sources. `None` when it cannot be found.
    pub prelude: Option<PathBuf>,
    /// `RUSTPAR_CACHE_DIR`: saved prelude builds and MPI builds; by default
    /// `rustpar` in the user's cache folder.
    pub cache_dir: Option<PathBuf>,
    /// `RUSTPAR_HISTORY`: the input history file; by default
    /// `rustpar/history.jsonl` in the user's data folder.
    pub history: Option<PathBuf>,
    /// `RUSTPAR_LOG`: what the kernel logs, as a tracing filter (`warn`).
    pub log: String,
    pub mpi: MpiConfig,
    pub spare: SpareConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MpiConfig {
    /// `RUSTPAR_MPIRUN`: the launcher (`mpirun`, from the PATH).
    pub launcher: OsString,
    /// `RUSTPAR_MPI_ADDRESS`: how other hosts reach this one (its host name).
    pub address: Option<String>,
    /// `RUSTPAR_MPI_BUILD_DIR`: where `:mpi` programs are built (under the
    /// cache folder); on a cluster, a folder every host sees.
    pub build_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpareConfig {
    /// `RUSTPAR_SPARE`: `0` turns spares off, anything else on; unset, they
    /// are on where a spare can wait at idle priority.
    pub wanted: Option<bool>,
    /// `RUSTPAR_SPARE_DIR`: the private folder of the spares' sockets
    /// (`$XDG_RUNTIME_DIR/rustpar`).
    pub dir: Option<PathBuf>,
    /// `RUSTPAR_SPARE_GRACE`: how long an unclaimed spare waits once no
    /// kernel of its slot lives, in seconds (120).
    pub grace: Duration,
}

impl Config {
    pub fn from_environment(environment: &Environment) -> Config {
        let get = |name: &str| environment.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        let path = |name: &str| get(name).map(PathBuf::from);
        let text = |name: &str| get(name).and_then(|value| value.into_string().ok());
        let prelude = path("RUSTPAR_PRELUDE").unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../prelude")));
        let seconds = |name: &str| text(name).and_then(|value| value.parse::<f64>().ok()).filter(|secs| *secs >= 0.0);
        Config {
            prelude: prelude.join("Cargo.toml").is_file().then(|| prelude.canonicalize().unwrap_or(prelude)),
            cache_dir: path("RUSTPAR_CACHE_DIR").or_else(|| dirs::cache_dir().map(|dir| dir.join("rustpar"))),
            history: path("RUSTPAR_HISTORY").or_else(|| dirs::data_dir().map(|dir| dir.join("rustpar").join("history.jsonl"))),
            log: text("RUSTPAR_LOG").unwrap_or_else(|| "warn".into()),
            mpi: MpiConfig {
                launcher: get("RUSTPAR_MPIRUN").unwrap_or_else(|| "mpirun".into()),
                address: text("RUSTPAR_MPI_ADDRESS"),
                build_dir: path("RUSTPAR_MPI_BUILD_DIR"),
            },
            spare: SpareConfig {
                wanted: get("RUSTPAR_SPARE").map(|value| value != OsStr::new("0")),
                dir: path("RUSTPAR_SPARE_DIR"),
                grace: seconds("RUSTPAR_SPARE_GRACE").map_or(Duration::from_secs(120), Duration::from_secs_f64),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_environment_given() {
        let environment: Environment = [
            ("RUSTPAR_SPARE", "0"),
            ("RUSTPAR_SPARE_GRACE", "2.5"),
            ("RUSTPAR_MPIRUN", "mpirun.mpich"),
            ("RUSTPAR_CACHE_DIR", "/tmp/cache"),
            ("RUSTPAR_PRELUDE", "/nowhere"),
        ]
        .into_iter()
        .map(|(name, value)| (name.into(), value.into()))
        .collect();
        let config = Config::from_environment(&environment);
        assert_eq!(config.spare.wanted, Some(false));
        assert_eq!(config.spare.grace, Duration::from_millis(2500));
        assert_eq!(config.mpi.launcher, "mpirun.mpich");
        assert_eq!(config.cache_dir, Some(PathBuf::from("/tmp/cache")));
        assert_eq!(config.prelude, None, "a folder without a Cargo.toml is no prelude");
        assert_eq!(config.log, "warn");
        let defaults = Config::from_environment(&Vec::new());
        assert_eq!(defaults.spare.wanted, None);
        assert!(defaults.prelude.is_some(), "the prelude beside the kernel's sources");
    }
}
