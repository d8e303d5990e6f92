//! `rustpar-kernel install`: writes the `rustpar` kernelspec where Jupyter,
//! JupyterLab, nbconvert and VS Code look for kernels.

use anyhow::{Context, Result, bail};
use serde_json::json;
use std::path::{Path, PathBuf};

pub const KERNEL_NAME: &str = "rustpar";

/// Where to install, as `jupyter kernelspec install` names the places.
#[derive(Debug, Clone)]
pub enum Location {
    /// The user's Jupyter data folder (seen by every Jupyter and by VS Code).
    User,
    /// The active Python environment (`$VIRTUAL_ENV`, else python3's prefix).
    SysPrefix,
    Prefix(PathBuf),
}

const LOGOS: [(&str, &[u8]); 3] = [
    ("logo-32x32.png", include_bytes!("../assets/logo-32x32.png")),
    ("logo-64x64.png", include_bytes!("../assets/logo-64x64.png")),
    ("logo-svg.svg", include_bytes!("../assets/logo-svg.svg")),
];

/// Installs the kernelspec and returns its folder.
pub fn install(location: &Location, prelude: Option<&Path>) -> Result<PathBuf> {
    let kernels = match location {
        Location::User => jupyter_zmq_client::user_data_dir().context("finding the user's Jupyter data folder")?.join("kernels"),
        Location::SysPrefix => sys_prefix()?.join("share/jupyter/kernels"),
        Location::Prefix(prefix) => prefix.join("share/jupyter/kernels"),
    };
    let dir = kernels.join(KERNEL_NAME);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let executable = std::env::current_exe().context("finding the kernel's own executable")?;
    let mut env = serde_json::Map::new();
    if let Some(prelude) = prelude {
        env.insert("RUSTPAR_PRELUDE".into(), prelude.display().to_string().into());
    }
    let spec = json!({
        "argv": [executable, "run", "--connection-file", "{connection_file}"],
        "display_name": "Rust (parallel)",
        "language": "rust",
        // Interrupts arrive as messages, so JupyterLab and VS Code both reach
        // the kernel, which stops the cell without killing the session.
        "interrupt_mode": "message",
        "env": env,
        "metadata": { "debugger": false },
    });
    std::fs::write(dir.join("kernel.json"), serde_json::to_string_pretty(&spec)? + "\n")?;
    for (name, bytes) in LOGOS {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(dir)
}

fn sys_prefix() -> Result<PathBuf> {
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        return Ok(PathBuf::from(venv));
    }
    let output = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.prefix)"])
        .output()
        .context("running python3 to find its prefix; use --prefix or --user instead")?;
    let prefix = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if prefix.is_empty() {
        bail!("python3 did not say where its prefix is; use --prefix or --user instead");
    }
    Ok(PathBuf::from(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_names_the_kernel_and_its_interrupt_mode() {
        let prefix = tempfile::tempdir().unwrap();
        let dir = install(&Location::Prefix(prefix.path().into()), Some(Path::new("/opt/prelude"))).unwrap();
        let spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("kernel.json")).unwrap()).unwrap();
        assert_eq!(spec["display_name"], "Rust (parallel)");
        assert_eq!(spec["language"], "rust");
        assert_eq!(spec["interrupt_mode"], "message");
        assert_eq!(spec["argv"][3], "{connection_file}");
        assert_eq!(spec["env"]["RUSTPAR_PRELUDE"], "/opt/prelude");
        assert!(dir.join("logo-64x64.png").is_file());
    }
}
