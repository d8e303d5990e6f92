//! The `rustpar-kernel` command: run the kernel, or install its kernelspec.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use rustpar_kernel::config::{Config, Environment};
use rustpar_kernel::dispatch::Kernel;
use rustpar_kernel::evaluator::{Ahead, EvcxrEvaluator, SessionDir, Toolchain, cell_process, openblas, std_sources, template_dir};
use rustpar_kernel::history::History;
use rustpar_kernel::interpreter::Interpreter;
use rustpar_kernel::kernelspec::{self, Location};
use rustpar_kernel::spare::offer::{Offer, SpareSession};
use rustpar_kernel::spare::{LogRelay, Slot, SpareKeeper, spare_folder, wake_whole_group_on_continue};
use rustpar_kernel::transport::{self, Inboxes, Outbox};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// rust-analyzer, which evcxr runs in this process to name variable types,
/// allocates a syntax tree node at a time: under glibc's allocator a fifth of
/// a cold start went to malloc and free (`perf`, bench/start_up.py measures
/// the start). rust-analyzer's own binary uses mimalloc for the same reason.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Start a session and wait, detached, for the next kernel to take it over
    /// (kernels start these themselves; see the `spare` module).
    #[command(hide = true)]
    Spare,
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
    // As the process started: a spare runs with it, and it names the kernel's slot.
    let environment: Environment = std::env::vars_os().collect();
    let config = Config::from_environment(&environment);
    let log = LogRelay::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_else(|_| "warn".into()))
        .with_writer(move || writer.clone())
        .init();
    match Cli::parse().command {
        Command::Run { connection_file } => run(&connection_file, &config, environment),
        Command::Spare => wait_as_spare(&config, &environment, &log),
        Command::Install { user: _, sys_prefix, prefix, prelude } => {
            let location = match (sys_prefix, prefix) {
                (true, _) => Location::SysPrefix,
                (false, Some(prefix)) => Location::Prefix(prefix),
                (false, None) => Location::User,
            };
            let prelude = prelude.map(|dir| dir.canonicalize().unwrap_or(dir)).or(config.prelude);
            let dir = kernelspec::install(&location, prelude.as_deref())?;
            println!("Installed the Jupyter kernel \"Rust (parallel)\" ({}) in {}", kernelspec::KERNEL_NAME, dir.display());
            Ok(())
        }
    }
}

/// Completes on SIGTERM, or when `ended` does.
async fn terminated_or(ended: impl Future<Output = ()>) {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut terminate) => tokio::select! {
            _ = terminate.recv() => {}
            () = ended => {}
        },
        Err(_) => ended.await,
    }
}

/// Completes when the client that started this kernel is gone: as ipykernel
/// does, a kernel watches the parent named by `JPY_PARENT_PID`, so that it is
/// not left running, with its session, after its client was killed.
async fn client_gone() {
    let parent = std::env::var("JPY_PARENT_PID").ok().and_then(|pid| pid.parse::<u32>().ok());
    let Some(parent) = parent.filter(|&pid| pid == std::os::unix::process::parent_id()) else { return std::future::pending().await };
    while std::os::unix::process::parent_id() == parent {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tracing::warn!("the client that started this kernel is gone; shutting down");
}

/// Completes when the other end of `lifeline` closes; what comes through it
/// goes to `relay`.
async fn closed(lifeline: UnixStream, mut relay: impl std::io::Write + Send + 'static) {
    let (closed, close) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut &lifeline, &mut relay);
        let _ = closed.send(());
    });
    let _ = close.await;
}

fn read_connection_file(path: &Path) -> Result<jupyter_protocol::ConnectionInfo> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the connection file {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a Jupyter connection file", path.display()))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

/// Makes the session's build folder. Call before the process starts other
/// threads: it points evcxr, rust-analyzer and OpenBLAS through the environment.
fn prepare_session(config: &Config, toolchain: &Toolchain) -> Result<SessionDir> {
    std_sources::point_rust_analyzer(toolchain.sysroot.as_deref(), config.cache_dir.as_deref(), &toolchain.version);
    openblas::choose_kernels();
    SessionDir::create().context("creating the session's build folder")
}

/// Serves the kernel's sockets until a shutdown request or until `stop` completes.
async fn serve_kernel((outbox, inboxes): (Outbox, Inboxes), evaluator: Arc<EvcxrEvaluator>, config: &Config, stop: impl Future<Output = ()>) {
    let kernel = Kernel::new(evaluator, outbox.clone(), History::open(config.history.clone()));
    kernel.serve(inboxes, stop).await;
    outbox.flushed(Duration::from_millis(200)).await;
}

fn new_session_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The slot of this kernel's spares: the template key is the saved prelude
/// build its sessions start from.
fn slot_of(config: &Config, environment: &Environment, toolchain: &Toolchain) -> Option<Slot> {
    let template =
        config.prelude.as_deref().zip(config.cache_dir.as_deref()).map(|(prelude, cache)| template_dir(cache, prelude, &toolchain.version));
    Slot::of(config, environment, template.as_deref())
}

fn run(connection_file: &Path, config: &Config, environment: Environment) -> Result<()> {
    let info = read_connection_file(connection_file)?;
    let toolchain = Toolchain::probe();
    let slot = slot_of(config, &environment, &toolchain);
    if let Some(lifeline) = slot.as_ref().and_then(|slot| slot.claim(connection_file)) {
        return stand_in(lifeline);
    }
    let session_dir = prepare_session(config, &toolchain)?;
    // Found even where this kernel's own spares are off: its cells stop the others'.
    let folder = slot.as_ref().map(|slot| slot.folder().to_owned()).or_else(|| spare_folder(config));
    let keeper = Arc::new(SpareKeeper::new(folder.as_deref()));
    let _in_use = slot.as_ref().and_then(Slot::in_use);
    if let Some(slot) = slot {
        keeper.start_after_next_cell(slot, environment);
    }
    let evaluator = Arc::new(EvcxrEvaluator::start(session_dir, config, toolchain.version, keeper.clone(), Ahead::RustAnalyzer));
    let runtime = runtime()?;
    let served = runtime.block_on(async {
        let sockets = transport::serve(&info, &new_session_id()).await?;
        serve_kernel(sockets, evaluator, config, terminated_or(client_gone())).await;
        anyhow::Ok(())
    });
    keeper.kernel_ending();
    served?;
    runtime.shutdown_timeout(Duration::from_millis(200));
    Ok(())
}

/// The process Jupyter started, once a spare has taken over: it relays the
/// spare's log and lives as long as the spare does, or ends it by ending.
fn stand_in(lifeline: UnixStream) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        tokio::select! {
            () = closed(lifeline, std::io::stderr()) => {}
            () = terminated_or(client_gone()) => {}
        }
    });
    Ok(())
}

/// A spare's session: started when the machine is quiet, or when claimed.
struct WaitingSession<'a> {
    to_start: Option<(SessionDir, &'a Config, String, Arc<SpareKeeper>)>,
    evaluator: Option<Arc<EvcxrEvaluator>>,
}

impl SpareSession for WaitingSession<'_> {
    fn start(&mut self) {
        if let Some((session_dir, config, version, keeper)) = self.to_start.take() {
            self.evaluator = Some(Arc::new(EvcxrEvaluator::start(session_dir, config, version, keeper, Ahead::BuildAndRustAnalyzer)));
        }
    }

    fn has_started(&self) -> bool {
        self.evaluator.as_ref().is_some_and(|evaluator| evaluator.is_started())
    }

    fn is_ready(&self) -> bool {
        self.evaluator.as_ref().is_some_and(|evaluator| evaluator.is_warmed_up())
    }
}

/// A spare: starts a session in the background, waits for a kernel to
/// claim it (ready or not), then serves that kernel's sockets.
fn wait_as_spare(config: &Config, environment: &Environment, log: &LogRelay) -> Result<()> {
    let toolchain = Toolchain::probe();
    let Some(slot) = slot_of(config, environment, &toolchain) else { return Ok(()) };
    let session_dir = prepare_session(config, &toolchain)?;
    slot.background.enter();
    wake_whole_group_on_continue();
    // Another spare may already wait in this slot.
    let Some(offer) = Offer::take(&slot) else { return Ok(()) };
    let keeper = Arc::new(SpareKeeper::new(Some(slot.folder())));
    let mut session = WaitingSession { to_start: Some((session_dir, config, toolchain.version, keeper.clone())), evaluator: None };
    let runtime = runtime()?;
    let mut sockets = None;
    let lifeline = offer.wait_for_claim(config.spare.grace, &mut session, |claim| {
        let info = read_connection_file(&claim.connection_file).map_err(|error| format!("{error:#}"))?;
        sockets = Some(runtime.block_on(transport::serve(&info, &new_session_id())).map_err(|error| format!("{error:#}"))?);
        Ok(())
    });
    let evaluator = session.evaluator;
    let (Some(lifeline), Some(sockets), Some(evaluator)) = (lifeline, sockets, evaluator.clone()) else {
        if let Some(evaluator) = evaluator {
            evaluator.shut_down();
        }
        return Ok(());
    };
    slot.background.leave();
    log.send_to_stand_in(&lifeline);
    tracing::info!("a spare session took this kernel over");
    let _in_use = slot.in_use();
    keeper.start_after_next_cell(slot, environment.clone());
    runtime.block_on(serve_kernel(sockets, evaluator, config, terminated_or(closed(lifeline, std::io::sink()))));
    keeper.kernel_ending();
    runtime.shutdown_timeout(Duration::from_millis(200));
    Ok(())
}
