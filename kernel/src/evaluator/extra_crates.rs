//! Crates that sessions get besides the prelude, as its Cargo.toml lists them
//! under `[package.metadata.rustpar]`.
//!
//! rust-analyzer reads every crate of a session's dependencies before the
//! session's first cell, so large crates stay out of the prelude's
//! dependencies and are built into the saved prelude build instead:
//!
//! - `precompiled` crates are added by a notebook's own `:dep` line (nalgebra);
//! - `on-demand` crates are added by the kernel, with their `use` line, just
//!   before the first cell that names one of their items (`GpuArray`,
//!   `tokio`), so that notebooks use them as if they were in the prelude while
//!   sessions that never name them never pay for them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A crate the kernel adds when a cell first names it.
#[derive(Debug, Clone, PartialEq)]
pub struct OnDemandCrate {
    pub name: String,
    /// The `:dep` line and, when the crate has one, its `use` line.
    pub setup: String,
    /// The crate's folder, when it is a local crate (its sources key the saved build).
    pub folder: Option<PathBuf>,
    names: HashSet<String>,
}

/// The extra crates of one prelude.
#[derive(Debug, Default, Clone)]
pub struct ExtraCrates {
    /// `:dep` specifications that notebooks write themselves.
    pub precompiled: Vec<String>,
    pub on_demand: Vec<OnDemandCrate>,
}

impl ExtraCrates {
    /// Reads the lists of the prelude in `prelude`; none when its manifest has none.
    pub fn of_prelude(prelude: &Path) -> ExtraCrates {
        let manifest = std::fs::read_to_string(prelude.join("Cargo.toml")).ok().and_then(|text| text.parse::<toml::Table>().ok());
        let lists = manifest.as_ref().and_then(|m| m.get("package")?.get("metadata")?.get("rustpar")?.as_table());
        let Some(lists) = lists else { return ExtraCrates::default() };
        let precompiled = lists
            .get("precompiled")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|dep| dep.as_str().map(str::to_owned))
            .collect();
        let on_demand = lists
            .get("on-demand")
            .and_then(toml::Value::as_table)
            .into_iter()
            .flatten()
            .filter_map(|(name, entry)| {
                let crate_ = on_demand_crate(prelude, name, entry);
                if crate_.is_none() {
                    tracing::warn!("the prelude's on-demand crate `{name}` needs a `dependency` table and a `names` list; it is left out");
                }
                crate_
            })
            .collect();
        ExtraCrates { precompiled, on_demand }
    }

    /// Every `:dep` specification, for building them all into a saved prelude build.
    pub fn all_deps(&self) -> impl Iterator<Item = String> + '_ {
        self.precompiled.iter().cloned().chain(self.on_demand.iter().map(|crate_| crate_.dep_line().to_owned()))
    }

    /// The local crates' folders, whose sources the saved build depends on.
    pub fn local_folders(&self) -> impl Iterator<Item = &Path> {
        self.on_demand.iter().filter_map(|crate_| crate_.folder.as_deref())
    }

    /// Takes out the on-demand crates that `cell` names, in the manifest's order.
    pub fn take_named_by(&mut self, cell: &str) -> Vec<OnDemandCrate> {
        if self.on_demand.is_empty() {
            return Vec::new();
        }
        let words: HashSet<&str> = cell.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|word| !word.is_empty()).collect();
        let (named, rest) =
            std::mem::take(&mut self.on_demand).into_iter().partition(|crate_| crate_.names.iter().any(|name| words.contains(name.as_str())));
        self.on_demand = rest;
        named
    }
}

impl OnDemandCrate {
    fn dep_line(&self) -> &str {
        self.setup.lines().next().unwrap_or_default().trim_start_matches(":dep ")
    }
}

fn on_demand_crate(prelude: &Path, name: &str, entry: &toml::Value) -> Option<OnDemandCrate> {
    let mut dependency = entry.get("dependency")?.as_table()?.clone();
    let names: HashSet<String> = entry.get("names")?.as_array()?.iter().filter_map(|name| name.as_str().map(str::to_owned)).collect();
    let folder = match dependency.get("path").and_then(toml::Value::as_str) {
        Some(path) => {
            let folder = prelude.join(path);
            let folder = folder.canonicalize().unwrap_or(folder);
            dependency.insert("path".into(), toml::Value::String(folder.display().to_string()));
            Some(folder)
        }
        None => None,
    };
    let mut setup = format!(":dep {name} = {}", toml::Value::Table(dependency));
    if let Some(import) = entry.get("import").and_then(toml::Value::as_str) {
        setup.push_str(&format!("\nuse {import};"));
    }
    Some(OnDemandCrate { name: name.to_owned(), setup, folder, names })
}

#[cfg(test)]
mod tests {
    use super::ExtraCrates;

    const MANIFEST: &str = r#"
[package]
name = "prelude"

[package.metadata.rustpar]
precompiled = ['nalgebra = { version = "0.34" }']

[package.metadata.rustpar.on-demand.gpu-part]
dependency = { path = "../gpu" }
import = "gpu_part::prelude::*"
names = ["GpuArray", "gpu_available"]

[package.metadata.rustpar.on-demand.tokio]
dependency = { version = "1.54.1", default-features = false, features = ["rt"] }
names = ["tokio"]

[package.metadata.rustpar.on-demand.broken]
names = ["no_dependency"]
"#;

    fn read() -> (tempfile::TempDir, ExtraCrates) {
        let root = tempfile::tempdir().unwrap();
        let prelude = root.path().join("prelude");
        std::fs::create_dir_all(&prelude).unwrap();
        std::fs::create_dir_all(root.path().join("gpu")).unwrap();
        std::fs::write(prelude.join("Cargo.toml"), MANIFEST).unwrap();
        let crates = ExtraCrates::of_prelude(&prelude);
        (root, crates)
    }

    #[test]
    fn the_manifest_gives_dep_lines_with_absolute_paths() {
        let (root, crates) = read();
        assert_eq!(crates.precompiled, ["nalgebra = { version = \"0.34\" }"]);
        assert_eq!(crates.on_demand.len(), 2, "the entry without a dependency is left out");
        let gpu_folder = root.path().join("gpu").canonicalize().unwrap();
        let gpu = &crates.on_demand[0];
        assert_eq!(gpu.setup, format!(":dep gpu-part = {{ path = {:?} }}\nuse gpu_part::prelude::*;", gpu_folder.display().to_string()));
        assert_eq!(crates.on_demand[1].setup, r#":dep tokio = { default-features = false, features = ["rt"], version = "1.54.1" }"#);
        assert_eq!(crates.local_folders().collect::<Vec<_>>(), [gpu_folder.as_path()]);
        let all: Vec<String> = crates.all_deps().collect();
        assert_eq!(all.len(), 3);
        assert!(all[1].starts_with("gpu-part = {"), "{all:?}");
    }

    #[test]
    fn a_crate_is_taken_once_by_the_first_cell_that_names_it() {
        let (_root, mut crates) = read();
        assert!(crates.take_named_by("let tokio_like = 1; // GpuArrays").is_empty(), "whole words only");
        let named = crates.take_named_by("if gpu_available() { tokio::spawn(async {}); }");
        assert_eq!(named.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["gpu-part", "tokio"]);
        assert!(crates.take_named_by("tokio::spawn(async {})").is_empty(), "already taken");
    }

    #[test]
    fn a_prelude_without_lists_has_no_extra_crates() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("Cargo.toml"), "[package]\nname = \"p\"\n").unwrap();
        let crates = ExtraCrates::of_prelude(root.path());
        assert!(crates.precompiled.is_empty() && crates.on_demand.is_empty());
    }
}
