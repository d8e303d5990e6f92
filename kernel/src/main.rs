//! The `rustpar-kernel` command: run the kernel, or install its kernelspec.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use rustpar_kernel::dispatch::Kernel;
use rustpar_kernel::evaluator::{EvcxrEvaluator, SessionDir, Toolchain, cell_process};
use rustpar_kernel::history::{self, History};
use rustpar_kernel::kernelspec::{self, Location};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "rustpar-kernel", version, about = "A Jupyter kernel for parallel Rust notebooks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the kernel (Jupyter starts it this way, from the kernelspec).
    Run {
        /// The connection file Jupyter wrote for this kernel.
        #[arg(short = 'f', long)]
        connection_file: PathBuf,
    },
    /// Install the `rustpar` kernelspec so Jupyter and VS Code find the kernel.
    Install {
        /// Into the user's Jupyter folder (the default).
        #[arg(long, conflicts_with_all = ["sys_prefix", "prefix"])]
        user: bool,
        /// Into the active Python environment ($VIRTUAL_ENV, else python3's prefix).
        #[arg(long, conflicts_with = "prefix")]
        sys_prefix: bool,
        /// Into PREFIX/share/jupyter/kernels.
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<PathBuf>,
        /// The prelude crate to load in every session (default: the one next to this kernel's sources).
        #[arg(long, value_name = "DIR")]
        prelude: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    // When evcxr starts this binary to run cells, it never gets past here.
    cell_process::run_if_cell_process();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RUSTPAR_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Run { connection_file } => run(&connection_file),
        Command::Install { user: _, sys_prefix, prefix, prelude } => {
            let location = match (sys_prefix, prefix) {
                (true, _) => Location::SysPrefix,
                (false, Some(prefix)) => Location::Prefix(prefix),
                (false, None) => Location::User,
            };
            let prelude = prelude.or_else(rustpar_kernel::evaluator::prelude_dir).map(|dir| dir.canonicalize().unwrap_or(dir));
            let dir = kernelspec::install(&location, prelude.as_deref())?;
            println!("Installed the Jupyter kernel \"Rust (parallel)\" ({}) in {}", kernelspec::KERNEL_NAME, dir.display());
            Ok(())
        }
    }
}

/// Completes when the kernel should end without a shutdown request: on
/// SIGTERM, or when the client that started it is gone (as ipykernel does, a
/// kernel watches the parent named by `JPY_PARENT_PID`, so that it is not
/// left running, with its session, after its client was killed).
async fn stop_requested() {
    let parent = std::env::var("JPY_PARENT_PID").ok().and_then(|pid| pid.parse::<u32>().ok());
    let watched = parent.filter(|&pid| pid == std::os::unix::process::parent_id());
    let parent_gone = async {
        let Some(parent) = watched else { return std::future::pending().await };
        while std::os::unix::process::parent_id() == parent {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        tracing::warn!("the client that started this kernel is gone; shutting down");
    };
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut terminate) => tokio::select! {
            _ = terminate.recv() => {}
            () = parent_gone => {}
        },
        Err(_) => parent_gone.await,
    }
}

fn run(connection_file: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(connection_file)
        .with_context(|| format!("reading the connection file {}", connection_file.display()))?;
    let info: jupyter_protocol::ConnectionInfo =
        serde_json::from_str(&text).with_context(|| format!("{} is not a Jupyter connection file", connection_file.display()))?;
    // Before any thread starts: they point evcxr and rust-analyzer at folders.
    let toolchain = Toolchain::probe();
    rustpar_kernel::evaluator::type_hints::look_for_std_sources(toolchain.sysroot.as_deref());
    let session_dir = SessionDir::create().context("creating the session's build folder")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let session_id = uuid::Uuid::new_v4().to_string();
        let (outbox, inboxes) = rustpar_kernel::transport::serve(&info, &session_id).await?;
        let evaluator = Arc::new(EvcxrEvaluator::start(session_dir, toolchain.version));
        let kernel = Kernel::new(evaluator, outbox, History::open(history::default_path()));
        kernel.serve(inboxes, stop_requested()).await;
        // Let the last replies leave before the process ends.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        anyhow::Ok(())
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    Ok(())
}
