//! The Rust evaluator: evcxr on a thread of its own.
//!
//! evcxr's `CommandContext` compiles each cell into a shared object and runs
//! it in a child process (this same binary, see [`cell_process`]) that keeps
//! the session's variables. The context lives on one evaluator thread, which
//! starts it (and loads the prelude) in the background and then serves
//! [`Job`]s in order; [`Interpreter`] calls send a job and wait for its answer.
//!
//! Interrupts do not wait in that queue: [`EvcxrEvaluator::interrupt`] sends
//! SIGINT to the child, which sets the flag the prelude's helpers poll. A
//! cell that does not stop within [`INTERRUPT_GRACE`] has its process killed;
//! evcxr then starts a fresh one and the prelude is attached again.

pub mod cell_process;
mod explain;
mod extra_crates;
mod mpi;
pub mod openblas;
mod output_router;
mod session_dir;
pub mod std_sources;
mod type_hints;
mod warm_up;

pub use session_dir::{SessionDir, template_dir};

use crate::cell_error::CellError;
use crate::config::Config;
use crate::interpreter::{BuildProfile, CellObserver, Completions, Execution, Interpreter, Timings};
use crate::outputs::{Discard, Output, OutputSink, Stream, with_plain_fallback};
use crossbeam_channel::{Receiver, Sender};
use evcxr::{CommandContext, EvalCallbacks, EvalContext};
use extra_crates::ExtraCrates;
use output_router::OutputRouter;
use rustpar_wire::{ATTACH_CODE, ENTER_CELL_CODE, Failure, WARM_UP_CELL};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warm_up::WarmUp;

/// How long a cell has to stop by itself after an interrupt before its process is killed.
pub const INTERRUPT_GRACE: Duration = Duration::from_millis(600);

/// How often, while no request comes, the evaluator looks whether the machine
/// is quiet enough for rust-analyzer's warm-up to go on.
const WARM_UP_CHECK: Duration = Duration::from_millis(250);

/// How long a shutdown waits for the session to end cleanly (its folder
/// removed) before the kernel exits anyway; a folder left behind is swept by
/// the next kernel.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

enum Job {
    Execute {
        code: String,
        sink: Arc<dyn OutputSink>,
        done: Sender<Execution>,
    },
    Complete {
        code: String,
        cursor: usize,
        done: Sender<Completions>,
    },
    Inspect {
        code: String,
        cursor: usize,
        done: Sender<Option<Map<String, Value>>>,
    },
    /// Answered once the session has started.
    Started {
        done: Sender<()>,
    },
    /// Ends the session, removing its build folder and its cell process.
    Shutdown {
        done: Sender<()>,
    },
}

/// The running cell, as interrupts see it.
#[derive(Default)]
struct RunningCell {
    /// Counts cells; an interrupt's timer acts only if the same cell still runs.
    number: AtomicU64,
    running: Mutex<Option<u64>>,
    /// Set when an interrupt killed the cell's process.
    killed: Mutex<Option<u64>>,
    interrupted: Mutex<Option<u64>>,
    child: Mutex<Option<Arc<Mutex<Child>>>>,
    /// Set by a shutdown: a cell process it ends is not started again.
    shutting_down: AtomicBool,
    /// Set once the session has started: cells run from here (or failed to start).
    started: AtomicBool,
    /// Set once rust-analyzer has also warmed up (or the session failed to start).
    warmed_up: AtomicBool,
}

pub struct EvcxrEvaluator {
    jobs: Sender<Job>,
    cell: Arc<RunningCell>,
    rustc_version: String,
    mpi: mpi::MpiRunner,
    /// Ends an `:mpi` cell's wait for the session to start, on interrupt.
    start_wait: Mutex<Option<Sender<()>>>,
    observer: Arc<dyn CellObserver>,
    /// `:release on`: the cells build as for a release.
    release: AtomicBool,
}

impl EvcxrEvaluator {
    /// Starts the evaluator thread, building in `dir` with the prelude and
    /// cache folder of `config`; the context and prelude load in the
    /// background. `observer` hears when each cell starts and ends.
    /// `ahead` says what the session prepares for its first cell.
    pub fn start(dir: SessionDir, config: &Config, rustc_version: String, observer: Arc<dyn CellObserver>, ahead: Ahead) -> EvcxrEvaluator {
        let (jobs, queue) = crossbeam_channel::unbounded();
        let cell = Arc::new(RunningCell::default());
        let worker_cell = cell.clone();
        let worker_observer = observer.clone();
        let template = config.prelude.clone().map(|prelude| {
            let saved = config.cache_dir.as_deref().map(|cache| template_dir(cache, &prelude, &rustc_version));
            (prelude, saved)
        });
        std::thread::Builder::new()
            .name("rustpar-evaluator".into())
            .spawn(move || {
                let shutdown = serve(queue, &worker_cell, &dir, template, &*worker_observer, ahead);
                // The folder goes before the shutdown is confirmed: the process may end right after.
                drop(dir);
                if let Some(done) = shutdown {
                    let _ = done.send(());
                }
            })
            .expect("the kernel can start its evaluator thread");
        let mpi = mpi::MpiRunner::new(config, &rustc_version);
        EvcxrEvaluator { jobs, cell, rustc_version, mpi, start_wait: Mutex::new(None), observer, release: AtomicBool::new(false) }
    }

    /// Whether the session has started (or failed to): a cell would run at once.
    pub fn is_started(&self) -> bool {
        self.cell.started.load(Ordering::SeqCst)
    }

    /// Whether the session has also warmed rust-analyzer up (or failed to start).
    pub fn is_warmed_up(&self) -> bool {
        self.cell.warmed_up.load(Ordering::SeqCst)
    }

    /// Waits for the session to finish starting; false when an interrupt came first.
    fn wait_until_started_or_interrupted(&self) -> bool {
        let (stop, stopped) = crossbeam_channel::bounded(1);
        *self.start_wait.lock().unwrap() = Some(stop);
        let (done, started) = crossbeam_channel::bounded(1);
        let finished = self.jobs.send(Job::Started { done }).is_ok()
            && crossbeam_channel::select! {
                recv(started) -> _ => true,
                recv(stopped) -> _ => false,
            };
        *self.start_wait.lock().unwrap() = None;
        finished
    }

    fn execute_observed(&self, code: &str, sink: Arc<dyn OutputSink>) -> Execution {
        // `:mpi` cells are programs of their own: they do not go through evcxr.
        if let Some(cell) = mpi::MpiCell::parse(code) {
            return match cell {
                // The session starts on one core for seconds: ranks that ran
                // beside it would measure half a machine.
                Ok(cell) if self.wait_until_started_or_interrupted() => self.mpi.execute(&cell, &*sink),
                Ok(_) => Execution { outcome: Err(explain::interrupted_before_start()), timings: Timings::default() },
                Err(error) => Execution { outcome: Err(error), timings: Timings::default() },
            };
        }
        if code.lines().any(|line| line.trim() == ":time_passes") && !self.rustc_version.contains("nightly") {
            return Execution { outcome: Err(explain::time_passes_needs_nightly(&self.rustc_version)), timings: Timings::default() };
        }
        self.ask(|done| Job::Execute { code: code.to_owned(), sink, done }).unwrap_or_else(|| Execution {
            outcome: Err(CellError::EvaluatorCrashed("The evaluator thread has stopped; restart the kernel.".into())),
            timings: Timings::default(),
        })
    }

    fn ask<T>(&self, job: impl FnOnce(Sender<T>) -> Job) -> Option<T> {
        let (done, answer) = crossbeam_channel::bounded(1);
        self.jobs.send(job(done)).ok()?;
        answer.recv().ok()
    }
}

impl Interpreter for EvcxrEvaluator {
    fn language_version(&self) -> String {
        self.rustc_version.clone()
    }

    fn execute(&self, code: &str, sink: Arc<dyn OutputSink>) -> Execution {
        self.observer.cell_started();
        let execution = self.execute_observed(code, sink);
        self.observer.cell_ended();
        execution
    }

    fn complete(&self, code: &str, cursor: usize) -> Completions {
        self.ask(|done| Job::Complete { code: code.to_owned(), cursor, done }).unwrap_or_default()
    }

    fn inspect(&self, code: &str, cursor: usize) -> Option<Map<String, Value>> {
        self.ask(|done| Job::Inspect { code: code.to_owned(), cursor, done }).flatten()
    }

    fn interrupt(&self) {
        if let Some(stop) = self.start_wait.lock().unwrap().take() {
            let _ = stop.send(());
        }
        self.mpi.interrupt();
        let Some(number) = *self.cell.running.lock().unwrap() else { return };
        *self.cell.interrupted.lock().unwrap() = Some(number);
        let Some(child) = self.cell.child.lock().unwrap().clone() else { return };
        let pid = child.lock().unwrap().id() as libc::pid_t;
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let cell = self.cell.clone();
        std::thread::spawn(move || {
            std::thread::sleep(INTERRUPT_GRACE);
            let still_running = *cell.running.lock().unwrap() == Some(number);
            if still_running {
                *cell.killed.lock().unwrap() = Some(number);
                let _ = child.lock().unwrap().kill();
            }
        });
    }

    fn cell_process(&self) -> Option<u32> {
        let child = self.cell.child.lock().unwrap().clone()?;
        let pid = child.lock().unwrap().id();
        Some(pid)
    }

    fn build_profile(&self) -> Option<BuildProfile> {
        Some(if self.release.load(Ordering::SeqCst) { BuildProfile::Release } else { BuildProfile::Checked })
    }

    fn set_build_profile(&self, profile: BuildProfile) -> Result<(), String> {
        self.execute_observed(&profile_commands(profile), Arc::new(Discard)).outcome.map_err(|error| error.evalue().to_string())?;
        self.release.store(profile == BuildProfile::Release, Ordering::SeqCst);
        Ok(())
    }

    fn shut_down(&self) {
        // A running cell holds the evaluator thread, and the shutdown job
        // would wait behind it: end the cell's process group (the cell and
        // what it started) first. The evaluator then ends the session.
        self.cell.shutting_down.store(true, Ordering::SeqCst);
        self.mpi.interrupt();
        if let Some(child) = self.cell.child.lock().unwrap().clone() {
            let group = child.lock().unwrap().id() as libc::pid_t;
            // SAFETY: signalling the process group of our own child, which leads it.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let (done, ended) = crossbeam_channel::bounded(1);
        // A session still starting (its folder laid out, evcxr started) would
        // hold the reply, and a restart, for up to a second: the kernel ends
        // without it. Its cell process ends with its stdin, and the next
        // kernel sweeps its folder.
        if self.jobs.send(Job::Shutdown { done }).is_ok() && self.is_started() {
            let _ = ended.recv_timeout(SHUTDOWN_WAIT);
        }
    }
}

struct Session {
    context: CommandContext,
    outputs: Arc<OutputRouter>,
    /// Code that attaches the prelude to a (re)started cell process.
    attach: Option<String>,
    /// Said on stderr under the first cell: what went wrong at start-up.
    warning: Option<String>,
    /// Where evcxr builds the cells.
    build_dir: PathBuf,
    /// The crates besides the prelude; on-demand ones leave the list once added.
    extra: ExtraCrates,
    /// The on-demand crates added so far, as code names them (`rustpar_linalg`):
    /// where rustc names a type of theirs without its path, it is at their root.
    added_crates: Vec<String>,
    /// The saved build's lock file: its versions are what the saved build holds.
    saved_lock: Option<Vec<u8>>,
    warm_up: WarmUp,
}

/// What a session prepares for its first cell while the machine is quiet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ahead {
    /// rust-analyzer's warm-up (see [`warm_up`]): a kernel's own session,
    /// whose first cell may come at any moment and must not wait for a build.
    RustAnalyzer,
    /// Also the build of [`WARM_UP_CELL`], first: a spare's session, which no
    /// cell waits for (a claim that comes during that build waits for it).
    BuildAndRustAnalyzer,
}

/// The prelude, and where its saved build is (or will be) kept.
type Template = Option<(PathBuf, Option<PathBuf>)>;

/// The evcxr commands that build the cells that follow with `profile`. The
/// dependencies always build as for a release
/// (`session_dir::DEPENDENCY_PROFILE`); these settings are the cell crate's
/// own, and cargo lets its environment override the `[profile.dev]` that
/// evcxr writes. Either way a cell is compiled for this machine's processor
/// (it runs where it is compiled; numba does the same): without it, LLVM
/// vectorised the Monte Carlo π loop into emulated 64-bit multiplies and ran
/// it 1.6 times slower than the scalar loop, and with it 2.3 times faster.
/// Nor does a cell go through rustc's local ThinLTO across its 16 codegen
/// units, which took 0.4 s of a 1 s compile of a cell using rayon, ndarray
/// and a plot, and kept rustc from reusing the previous cell's build: warm,
/// such a cell compiles in 0.56-0.62 s without it and 0.96-1.04 s with,
/// while the course's loops, fib and Monte Carlo π run as fast (within
/// 5 %, this machine's noise); `bench/warm_cell.py` measures both.
fn profile_commands(profile: BuildProfile) -> String {
    let overflow_checks = profile == BuildProfile::Checked;
    format!(
        ":opt 3\n:build_env CARGO_PROFILE_DEV_DEBUG_ASSERTIONS=false\n:build_env CARGO_PROFILE_DEV_OVERFLOW_CHECKS={overflow_checks}\n:build_env {}={CELL_RUSTFLAGS}",
        evcxr::CELL_RUSTFLAGS_ENV
    )
}

/// rustc's flags for a cell's own crate (see [`profile_commands`]).
const CELL_RUSTFLAGS: &str = "-Ctarget-cpu=native -Clto=off";

/// Serves jobs until a shutdown, whose confirmation it returns unsent.
fn serve(
    queue: Receiver<Job>,
    cell: &RunningCell,
    dir: &SessionDir,
    template: Template,
    machine: &dyn CellObserver,
    ahead: Ahead,
) -> Option<Sender<()>> {
    let mut session = match Session::start(cell, dir, template) {
        Ok(session) => session,
        Err(message) => {
            cell.started.store(true, Ordering::SeqCst);
            cell.warmed_up.store(true, Ordering::SeqCst);
            let error = CellError::Evaluator(message);
            for job in queue {
                match job {
                    Job::Execute { done, .. } => drop(done.send(Execution { outcome: Err(error.clone()), timings: Timings::default() })),
                    Job::Complete { done, .. } => drop(done.send(Completions::default())),
                    Job::Inspect { done, .. } => drop(done.send(None)),
                    Job::Started { done } => drop(done.send(())),
                    Job::Shutdown { done } => return Some(done),
                }
            }
            return None;
        }
    };
    cell.started.store(true, Ordering::SeqCst);
    let warm_up_answers = session.warm_up.answers();
    // Until the first request: a build for a first cell is no use after it.
    let mut build_ahead = ahead == Ahead::BuildAndRustAnalyzer;
    loop {
        let warmed_up = session.warm_up.is_finished() && !build_ahead;
        if warmed_up {
            // A spare is offered as ready from here: its first cell finds the work done.
            cell.warmed_up.store(true, Ordering::SeqCst);
        }
        // The warm-up works only while the machine is quiet (no cell of any
        // kernel runs, nor has for a moment) and no request waits here: it
        // never competes with a cell, nor delays one (but for the build,
        // which a spare's claim may find under way).
        let check_machine = match warmed_up {
            true => crossbeam_channel::never(),
            false => crossbeam_channel::after(WARM_UP_CHECK),
        };
        crossbeam_channel::select! {
            recv(check_machine) -> _ => match machine.machine_is_quiet() {
                true if build_ahead => {
                    build_ahead = false;
                    session.build_warm_up_cell(cell);
                }
                true => session.hand_warm_up_step(),
                false => session.stop_warm_up(),
            },
            recv(warm_up_answers) -> finished => session.warm_up.step_ended(finished.unwrap_or(false)),
            recv(queue) -> job => {
                if !matches!(job, Ok(Job::Shutdown { .. })) {
                    build_ahead = false;
                    session.stop_warm_up();
                }
                match job {
                    Ok(Job::Execute { code, sink, done }) => drop(done.send(session.execute(&code, sink, cell))),
                    Ok(Job::Complete { code, cursor, done }) => drop(done.send(session.complete(&code, cursor))),
                    Ok(Job::Inspect { code, cursor, done }) => drop(done.send(session.inspect(&code, cursor))),
                    Ok(Job::Started { done }) => drop(done.send(())),
                    Ok(Job::Shutdown { done }) => {
                        session.end();
                        return Some(done);
                    }
                    Err(_) => return None,
                }
            }
        }
    }
}

impl Session {
    fn start(cell: &RunningCell, dir: &SessionDir, template: Template) -> Result<Session, String> {
        let clock = Instant::now();
        let (prelude, saved) = template.unzip();
        let template_to_save = saved.flatten().and_then(|template| dir.fill_from_template(template));
        tracing::info!("session folder laid out after {:?}", clock.elapsed());
        let locked_versions = std::fs::read(dir.path().join("Cargo.lock")).ok();
        let mut cell_process = std::process::Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
        // Its own process group: a SIGINT aimed at the kernel's group must not kill the session.
        std::os::unix::process::CommandExt::process_group(&mut cell_process, 0);
        let (eval_context, streams) = EvalContext::with_subprocess_command(cell_process)
            .map_err(|error| format!("Rust could not be started: {error}. Check that `cargo` and `rustc` work in a terminal."))?;
        tracing::info!("evcxr started in {:?} (template {})", clock.elapsed(), if template_to_save.is_some() { "missing" } else { "used" });
        let context = CommandContext::with_eval_context(eval_context);
        *cell.child.lock().unwrap() = Some(context.process_handle());
        let outputs = OutputRouter::start(streams.stdout, streams.stderr);
        let extra = prelude.as_deref().map(ExtraCrates::of_prelude).unwrap_or_default();
        let mut session = Session {
            context,
            outputs,
            attach: None,
            warning: None,
            build_dir: dir.path().to_owned(),
            extra,
            added_crates: Vec::new(),
            saved_lock: locked_versions.clone(),
            warm_up: WarmUp::start(),
        };
        // evcxr picks mold when it is installed and runs every cell's cargo
        // under `mold -run`, whose preloaded library slows each process it
        // starts: about 40 ms more per cell, and mold links a cell no faster
        // than the system linker (bench/warm_cell.py measures both).
        if let Err(error) = session.context.execute(":linker system") {
            tracing::warn!("could not choose the system linker: {error}");
        }
        if let Err(error) = session.context.execute(&profile_commands(BuildProfile::Checked)) {
            tracing::warn!("could not choose the cells' build profile: {error}");
        }
        let Some(prelude) = prelude else {
            tracing::warn!("no prelude found (set RUSTPAR_PRELUDE); sessions start without it");
            return Ok(session);
        };
        // evcxr's first build trimmed the lock file to no dependencies; the
        // template's versions spare cargo a new resolution (and the network).
        if let Some(locked) = locked_versions {
            let _ = std::fs::write(dir.path().join("Cargo.lock"), locked);
        }
        let prelude_dep = format!(":dep rustpar = {{ path = {:?} }}", prelude.display());
        let setup = format!("{prelude_dep}\nuse rustpar::prelude::*;\n{ATTACH_CODE}");
        if let Err(error) = session.context.execute(&setup) {
            // A session without the prelude is still a Rust session: say why and go on.
            session.warning = Some(format!(
                "The rustpar prelude could not be loaded, so this session runs plain Rust ({error}). \
                 Reinstall with `bash install.sh`, or set RUSTPAR_PRELUDE to the prelude's folder.\n"
            ));
            return Ok(session);
        }
        session.attach = Some(ATTACH_CODE.to_owned());
        tracing::info!("prelude loaded after {:?}", clock.elapsed());
        if let Some(template) = template_to_save {
            // Checked builds too, for rustc to name types (`type_hints`).
            let probe = type_hints::probe("let checked = 0;", &["checked".to_owned()]);
            let _ = session.context.check(&probe);
            // The extra crates are built into the template too, but not into
            // every session's dependencies (see `extra_crates`): each with the
            // prelude alone, as a session adds it. Added one after the other,
            // their features would add up (faer turns on `num-complex/std`,
            // which ndarray uses) into builds that no session has, and a
            // session adding one crate would build ndarray and the prelude again.
            let deps: Vec<String> = session.extra.all_deps().collect();
            let mut locked = std::fs::read(dir.path().join("Cargo.lock")).unwrap_or_default();
            for dep in &deps {
                let built = session.context.execute(":clear").and_then(|_| {
                    session.context.execute(&format!("{prelude_dep}\n:dep {dep}"))?;
                    session.context.check(&probe).map(drop)
                });
                if let Err(error) = built {
                    tracing::warn!("could not precompile `{dep}` into the template: {error}");
                }
                // Cargo dropped the versions of the crates this build did not use: kept for the next.
                session_dir::restore_locked_versions(dir.path(), &locked);
                locked = std::fs::read(dir.path().join("Cargo.lock")).unwrap_or(locked);
            }
            if !deps.is_empty() {
                // Back to the prelude alone, as every session starts.
                if let Err(error) = session.context.execute(":clear").and_then(|_| session.context.execute(&setup)) {
                    tracing::warn!("could not load the prelude again after the extra crates: {error}");
                }
                session_dir::restore_locked_versions(dir.path(), &locked);
            }
            dir.save_as_template(&template);
        }
        tracing::info!("session started after {:?}", clock.elapsed());
        Ok(session)
    }

    /// Stops the warm-up step under way, if any: rust-analyzer keeps what it
    /// learned, and the step is handed again once the machine is quiet.
    fn stop_warm_up(&mut self) {
        if self.warm_up.is_under_way() {
            self.warm_up.hurry();
            self.context.cancel_analysis_jobs();
        }
    }

    /// Hands rust-analyzer's next warm-up step to its thread, when none is under way.
    fn hand_warm_up_step(&mut self) {
        let Some(step) = self.warm_up.next_step() else { return };
        match self.context.completions_job(step, step.len()) {
            Ok(job) => self.warm_up.hand(job),
            Err(error) => {
                tracing::warn!("rust-analyzer could not take a warm-up step: {error}");
                self.warm_up.skip_step();
            }
        }
    }

    /// Builds and runs [`WARM_UP_CELL`] as a cell, its outputs discarded;
    /// not in a session without the prelude, whose warning the first cell shows.
    fn build_warm_up_cell(&mut self, cell: &RunningCell) {
        if self.attach.is_none() {
            return;
        }
        let clock = Instant::now();
        match self.execute(WARM_UP_CELL, Arc::new(Discard), cell).outcome {
            Ok(_) => tracing::info!("built a first cell ahead in {:?}", clock.elapsed()),
            Err(error) => tracing::warn!("could not build a first cell ahead: {}", error.evalue()),
        }
    }

    fn execute(&mut self, code: &str, sink: Arc<dyn OutputSink>, cell: &RunningCell) -> Execution {
        let began = Instant::now();
        if let Some(warning) = self.warning.take() {
            sink.emit(Output::Text { stream: Stream::Stderr, text: warning });
        }
        let variables: Vec<String> = self.context.variables_and_types().map(|(name, _)| name.to_owned()).collect();
        self.outputs.begin_cell(sink.clone());
        let number = cell.number.fetch_add(1, Ordering::SeqCst) + 1;
        *cell.running.lock().unwrap() = Some(number);
        self.add_crates_named_by(code, &*sink);
        let refused_input = std::cell::Cell::new(None);
        let mut callbacks = EvalCallbacks {
            input_reader: &|request| match sink.request_input(&request.prompt, request.is_password) {
                Ok(line) => line,
                Err(error) => {
                    sink.emit(Output::Text { stream: Stream::Stderr, text: format!("{error}\n") });
                    refused_input.set(Some(error));
                    cell_process::INPUT_REFUSED.to_owned()
                }
            },
        };
        // Each cell's own copy of the prelude is prepared before its code runs.
        // It goes after the cell's leading commands (`:dep`), which evcxr reads only there.
        let hidden = (self.attach.is_some() && has_code(code)).then(|| leading_commands(code));
        let to_run = match hidden {
            Some(at) => with_line(code, at, ENTER_CELL_CODE),
            None => code.to_owned(),
        };
        let (ran, result) = self.execute_naming_types(&to_run, &mut callbacks);
        let ran = match hidden {
            Some(at) => without_line(&ran, at),
            None => ran,
        };
        let code = ran.as_str();
        let hidden_line = hidden.map(|at| at + 1);
        *cell.running.lock().unwrap() = None;
        let killed = cell.killed.lock().unwrap().take() == Some(number);
        let interrupted = cell.interrupted.lock().unwrap().take() == Some(number);
        let report = self.outputs.finish_cell();
        let ended = Instant::now();
        let started = report.started.unwrap_or(ended);
        let timings = Timings { compile: started.saturating_duration_since(began), run: ended.saturating_duration_since(started) };
        let outcome = match result {
            Err(evcxr::Error::CompilationErrors(errors)) => Err(explain::compile_error(code, hidden_line, &errors)),
            Err(evcxr::Error::SubprocessTerminated(status)) => {
                if !cell.shutting_down.load(Ordering::SeqCst) {
                    self.reattach_prelude();
                }
                Err(if killed { explain::interrupted_by_restart(&variables) } else { explain::crashed(&status, &report.stderr_tail, &variables) })
            }
            Err(error) => Err(CellError::Evaluator(error.to_string())),
            // The deadlock stopped its threads; whatever failed after is its consequence.
            Ok(_) if let Some(deadlock) = report.deadlock.clone() => Err(explain::deadlock(deadlock)),
            Ok(_) if report.failure == Some(Failure::Panicked) && (interrupted || report.panic.as_ref().is_some_and(|panic| panic.interrupted)) => {
                Err(explain::interrupted_keeping_variables())
            }
            Ok(_) if report.failure == Some(Failure::Panicked) || report.task_panic.is_some() => {
                // The source of the cell that ran, until the next cell is compiled.
                let source = std::fs::read_to_string(self.build_dir.join("src/lib.rs")).unwrap_or_default();
                let compiled = explain::CompiledCell { file: "src/lib.rs", source: &source, cell: code };
                let cell_panicked = report.failure == Some(Failure::Panicked);
                Err(match report.task_panic {
                    Some(task) => explain::task_panic_error(task, cell_panicked, &compiled),
                    None => explain::panic_error(report.panic, &report.stderr_tail, &compiled),
                })
            }
            Ok(_) if report.failure == Some(Failure::ReturnedError) => Err(explain::returned_error(&report.stderr_tail)),
            // The cell went on with an empty line, but it did not get what it asked for.
            Ok(_) if let Some(error) = refused_input.take() => Err(CellError::Input(error.to_string())),
            Ok(outputs) => {
                let mut values = outputs.content_by_mime_type;
                // A cell ending in a call that returns nothing has no value to show.
                if values.len() == 1 && values.get("text/plain").is_some_and(|text| text == "()") {
                    values.clear();
                }
                Ok((!values.is_empty()).then(|| with_plain_fallback(values.into_iter().map(|(mime, text)| (mime, Value::from(text))).collect())))
            }
        };
        Execution { outcome, timings }
    }

    /// Adds the on-demand crates that `cell` names and the session does not
    /// have yet. One that cannot be added is said on stderr; the cell then
    /// runs without it.
    fn add_crates_named_by(&mut self, cell: &str, sink: &dyn OutputSink) {
        for crate_ in self.extra.take_named_by(cell) {
            let clock = Instant::now();
            // Cargo dropped the saved build's versions of crates the session
            // did not use; without them it would pick the newest and build it.
            if let Some(saved) = &self.saved_lock {
                session_dir::restore_locked_versions(&self.build_dir, saved);
            }
            match self.context.execute(&crate_.setup) {
                Ok(_) => {
                    tracing::info!("added `{}` for this cell in {:?}", crate_.name, clock.elapsed());
                    self.added_crates.push(crate_.name.replace('-', "_"));
                }
                Err(error) => sink.emit(Output::Text {
                    stream: Stream::Stderr,
                    text: format!(
                        "This cell uses `{}`, which the kernel could not add to the session ({error}). \
                         Reinstall with `bash install.sh`, or add it yourself with `:dep`.\n",
                        crate_.name
                    ),
                }),
            }
        }
    }

    /// Runs the cell, with the types of its variables written in where
    /// rust-analyzer would be slow or cannot name them (see [`type_hints`]).
    /// Returns the code that ran.
    fn execute_naming_types(&mut self, code: &str, callbacks: &mut EvalCallbacks) -> (String, Result<evcxr::EvalOutputs, evcxr::Error>) {
        // Until rust-analyzer has warmed up, one check by rustc names the types sooner.
        if !self.warm_up.is_finished()
            && let Some(variables) = type_hints::untyped_variables(code).filter(|variables| !variables.is_empty())
        {
            match self.types_named_by_rustc(code, &variables) {
                Err(own_errors) => return (code.to_owned(), Err(evcxr::Error::CompilationErrors(own_errors))),
                Ok(types) if types.len() == variables.len() => {
                    if let Some(ran) = self.execute_with_types(code, types, callbacks) {
                        return ran;
                    }
                }
                Ok(_) => {}
            }
        }
        let mut code = code.to_owned();
        let mut result = self.context.execute_with_callbacks(&code, callbacks);
        // rust-analyzer names no type without the standard library's sources.
        loop {
            let Err(evcxr::Error::Message(message)) = &result else { return (code, result) };
            let Some(variable) = type_hints::unnamed_variable(message) else { return (code, result) };
            let types = match self.types_named_by_rustc(&code, &[variable.to_owned()]) {
                Err(own_errors) => return (code, Err(evcxr::Error::CompilationErrors(own_errors))),
                Ok(types) => types,
            };
            let Some(type_name) = types.first().map(|(_, type_name)| type_name.clone()) else { return (code, result) };
            let message = message.clone();
            (code, result) = match self.execute_with_types(&code, types, callbacks) {
                Some(ran) => ran,
                None => return (code, Err(evcxr::Error::Message(type_hints::with_rustcs_name(&message, &type_name)))),
            };
        }
    }

    /// rustc's names for the types of `variables` that a cell can write, from
    /// one check of the cell; or the cell's own compilation errors.
    fn types_named_by_rustc(&mut self, code: &str, variables: &[String]) -> Result<Vec<(String, String)>, Vec<evcxr::CompilationError>> {
        let clock = Instant::now();
        let Ok(errors) = self.context.check(&type_hints::probe(code, variables)) else { return Ok(Vec::new()) };
        let probed = type_hints::read_probe(errors, variables, &self.build_dir);
        tracing::info!("rustc named {} of {} types in {:?}", probed.types.len(), variables.len(), clock.elapsed());
        tracing::debug!("types named by rustc: {:?}", probed.types);
        if probed.own_errors.is_empty() { Ok(probed.types) } else { Err(probed.own_errors) }
    }

    /// Runs the cell with `types` written into its `let`s; `None` when they
    /// cannot be written so that the cell compiles.
    fn execute_with_types(
        &mut self,
        code: &str,
        mut types: Vec<(String, String)>,
        callbacks: &mut EvalCallbacks,
    ) -> Option<(String, Result<evcxr::EvalOutputs, evcxr::Error>)> {
        let mut crates = type_hints::crates_named(code);
        crates.extend(self.added_crates.iter().cloned());
        // Each round qualifies at least one name, so the rounds end.
        loop {
            let annotated = type_hints::annotate(code, &types)?;
            match self.context.execute_with_callbacks(&annotated, callbacks) {
                // rustc shortens paths (`HashMap`), which then may not resolve in the cell.
                Err(evcxr::Error::CompilationErrors(errors)) => {
                    let mut qualified_any = false;
                    for (_, type_name) in &mut types {
                        if let Some(qualified) = type_hints::qualify(type_name, &errors, &crates)
                            && qualified != *type_name
                        {
                            *type_name = qualified;
                            qualified_any = true;
                        }
                    }
                    if !qualified_any {
                        tracing::debug!(
                            "the types rustc named do not compile in the cell: {:?}",
                            errors.iter().map(|error| error.message()).collect::<Vec<_>>()
                        );
                        return None;
                    }
                }
                ran => return Some((annotated, ran)),
            }
        }
    }

    /// Ends the cell process. The kernel's process ends right after, so the
    /// rest is left to the system: freeing rust-analyzer's database took
    /// 0.4 s, which every notebook run by nbconvert waited for.
    fn end(self) {
        let cell_process = self.context.process_handle();
        let mut cell_process = cell_process.lock().unwrap();
        let _ = cell_process.kill();
        let _ = cell_process.wait();
        drop(cell_process);
        std::mem::forget(self);
    }

    /// A fresh cell process has none of the prelude's hooks: attach them again.
    fn reattach_prelude(&mut self) {
        if let Some(attach) = &self.attach
            && let Err(error) = self.context.execute(attach)
        {
            tracing::warn!("could not attach the prelude to the new cell process: {error}");
        }
    }

    fn complete(&mut self, code: &str, cursor: usize) -> Completions {
        let Ok(found) = self.context.completions(code, cursor) else { return Completions::default() };
        let mut matches: Vec<String> = Vec::new();
        for completion in found.completions {
            if !matches.contains(&completion.code) {
                matches.push(completion.code);
            }
        }
        Completions { matches, start: found.start_offset, end: found.end_offset }
    }

    fn inspect(&mut self, code: &str, cursor: usize) -> Option<Map<String, Value>> {
        let end = end_of_word(code, cursor);
        let (plain, html) = self.context.hover_at(code, end).ok()?;
        // rust-analyzer's answer when it knows nothing of the name.
        if plain.trim().is_empty() || plain.trim() == "No documentation found" {
            return None;
        }
        let mut bundle = Map::new();
        bundle.insert("text/plain".into(), plain.into());
        bundle.insert("text/html".into(), html.into());
        Some(bundle)
    }
}

/// Whether a cell holds code, not only commands (`:dep`, `:vars`) and blank lines.
fn has_code(cell: &str) -> bool {
    cell.lines().map(str::trim).any(|line| !line.is_empty() && !line.starts_with(':'))
}

/// How many lines of commands and blank lines a cell starts with.
fn leading_commands(cell: &str) -> usize {
    cell.lines().take_while(|line| line.trim().is_empty() || line.trim().starts_with(':')).count()
}

/// `code` with `line` inserted before its line `at` (counted from 0).
fn with_line(code: &str, at: usize, line: &str) -> String {
    let mut lines: Vec<&str> = code.lines().collect();
    lines.insert(at.min(lines.len()), line);
    lines.join("\n")
}

/// `code` without its line `at` (counted from 0).
fn without_line(code: &str, at: usize) -> String {
    code.lines().enumerate().filter(|&(index, _)| index != at).map(|(_, line)| line).collect::<Vec<_>>().join("\n")
}

/// The byte offset just after the identifier the cursor is in (or after).
fn end_of_word(code: &str, cursor: usize) -> usize {
    let cursor = cursor.min(code.len());
    code[cursor..].char_indices().find(|(_, c)| !(c.is_alphanumeric() || *c == '_')).map_or(code.len(), |(offset, _)| cursor + offset)
}

/// What the kernel asks rustc, once, as it starts: both questions at the same time.
pub struct Toolchain {
    /// rustc's version, e.g. `1.95.0`.
    pub version: String,
    pub sysroot: Option<PathBuf>,
}

impl Toolchain {
    pub fn probe() -> Toolchain {
        let ask = |args: &[&str]| {
            std::process::Command::new("rustc").args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().ok()
        };
        let (version, sysroot) = (ask(&["--version"]), ask(&["--print", "sysroot"]));
        let answer = |child: Option<Child>| child?.wait_with_output().ok().and_then(|output| String::from_utf8(output.stdout).ok());
        Toolchain {
            version: answer(version).and_then(|text| text.split_whitespace().nth(1).map(str::to_owned)).unwrap_or_else(|| "unknown".into()),
            sysroot: answer(sysroot).map(|text| PathBuf::from(text.trim())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{end_of_word, has_code};

    #[test]
    fn cells_of_commands_alone_have_no_code() {
        assert!(!has_code(":dep itoa = \"1\"\n\n:vars"));
        assert!(has_code(":dep itoa = \"1\"\nlet x = 1;"));
        let cell = ":dep itoa = \"1\"\n\nlet x = 1;";
        assert_eq!(super::leading_commands(cell), 2);
        let hidden = super::with_line(cell, 2, "enter();");
        assert_eq!(hidden, ":dep itoa = \"1\"\n\nenter();\nlet x = 1;");
        assert_eq!(super::without_line(&hidden, 2), cell);
    }

    #[test]
    fn inspection_finds_the_whole_word_around_the_cursor() {
        assert_eq!(end_of_word("let v = Vec::new();", 9), 11);
        assert_eq!(end_of_word("HashMap", 0), 7);
        assert_eq!(end_of_word("x", 5), 1);
    }
}
