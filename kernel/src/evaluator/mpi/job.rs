//! Running a built `:mpi` cell under `mpirun` and hearing from its ranks.
//!
//! The kernel listens on a TCP port whose address the ranks find in their
//! environment; each rank connects and sends what it prints (see
//! [`rustpar_wire::rank_link`]). Lines are shown tagged with their rank;
//! the prelude's protocol lines (plots, tables) become rich outputs. The job
//! ends when mpirun exits; a timeout or an interrupt ends it sooner:
//! SIGTERM to mpirun's process group, then SIGKILL to whatever is left.

use super::cell::MpiOptions;
use crate::cell_error::CellError;
use crate::config::MpiConfig;
use crate::evaluator::explain::{CompiledCell, panic_location, returned_error};
use crate::outputs::{Output, OutputSink, Stream};
use crossbeam_channel::{Receiver, Sender};
use rustpar_wire::rank_link::{Frame, MPI_OUTPUT_ENV, RankHello};
use rustpar_wire::{Failure, Message, Panic};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long mpirun has to end its ranks after SIGTERM before everything is killed.
const TERMINATE_GRACE: Duration = Duration::from_millis(800);
/// How long the ranks' last output may take to arrive after mpirun exits.
const LAST_OUTPUT_WAIT: Duration = Duration::from_millis(500);
const TAIL_LINES: usize = 12;

/// Which MPI's mpirun this is: they spell options differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    OpenMpi,
    Mpich,
}

impl Flavour {
    /// Asks `launcher --version`; `None` when there is no such launcher.
    pub fn detect(launcher: &std::ffi::OsStr) -> Option<Flavour> {
        let output = Command::new(launcher).arg("--version").stdin(Stdio::null()).output().ok()?;
        let text = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
        Some(if text.contains("Open MPI") || text.contains("OpenRTE") { Flavour::OpenMpi } else { Flavour::Mpich })
    }

    fn arguments(self, options: &MpiOptions, program: &Path) -> Vec<String> {
        let mut arguments = vec!["-n".to_owned(), options.ranks.to_string()];
        let mut add = |words: &[&str]| arguments.extend(words.iter().map(|word| word.to_string()));
        match self {
            Flavour::OpenMpi => {
                // A notebook asks for more ranks than cores to watch what happens; Open MPI refuses by default.
                if options.is_local() {
                    add(&["--oversubscribe"]);
                }
                if let Some(hostfile) = &options.hostfile {
                    add(&["--hostfile", &hostfile.to_string_lossy()]);
                }
                if let Some(hosts) = &options.host {
                    add(&["--host", hosts]);
                }
                add(&["-x", MPI_OUTPUT_ENV]);
            }
            // Hydra passes the whole environment on by itself.
            Flavour::Mpich => {
                if let Some(hostfile) = &options.hostfile {
                    add(&["-f", &hostfile.to_string_lossy()]);
                }
                if let Some(hosts) = &options.host {
                    add(&["-hosts", hosts]);
                }
            }
        }
        arguments.extend(options.mpirun_args.iter().cloned());
        arguments.push(program.to_string_lossy().into_owned());
        arguments
    }
}

/// Why a job was ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Interrupt,
    Timeout,
}

enum Event {
    Hello(usize, RankHello),
    Frame(usize, Frame),
    Closed(usize),
    Mpirun(Stream, String),
    Exited(ExitStatus),
    Stop(Stop),
}

/// The job that runs now, as interrupts see it.
#[derive(Default)]
pub struct Jobs {
    running: Mutex<Option<Sender<Event>>>,
}

impl Jobs {
    /// Ends the running job, if any.
    pub fn interrupt(&self) {
        if let Some(events) = self.running.lock().unwrap().as_ref() {
            let _ = events.send(Event::Stop(Stop::Interrupt));
        }
    }

    /// Runs `program` on the ranks `options` ask for, streaming their output into `sink`.
    pub fn run(
        &self,
        config: &MpiConfig,
        flavour: Flavour,
        options: &MpiOptions,
        program: &Path,
        compiled: &CompiledCell,
        sink: &dyn OutputSink,
    ) -> Result<(), CellError> {
        let listener = TcpListener::bind(if options.is_local() { "127.0.0.1:0" } else { "0.0.0.0:0" })
            .map_err(|error| CellError::mpi(format!("The kernel could not open a port for the ranks' output ({error}).")))?;
        let port = listener.local_addr().map(|address| address.port()).unwrap_or_default();
        let address =
            if options.is_local() { format!("127.0.0.1:{port}") } else { format!("{}:{port}", config.address.clone().unwrap_or_else(this_host)) };

        let mut mpirun = Command::new(&config.launcher);
        mpirun.args(flavour.arguments(options, program)).env(MPI_OUTPUT_ENV, &address).stdin(Stdio::null());
        mpirun.stdout(Stdio::piped()).stderr(Stdio::piped());
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // Open MPI refuses root unless told twice; notebooks in containers often run as root.
            mpirun.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        }
        // Its own process group, so that ending the job reaches every local process of it.
        std::os::unix::process::CommandExt::process_group(&mut mpirun, 0);
        let mut child = mpirun
            .spawn()
            .map_err(|error| CellError::mpi(format!("mpirun could not be started ({error}). Check that `mpirun --version` works in a terminal.")))?;
        let group = child.id() as libc::pid_t;

        let (events, incoming) = crossbeam_channel::unbounded();
        let finished = std::sync::Arc::new(AtomicBool::new(false));
        spawn_listener(listener, events.clone(), finished.clone());
        for (stream, pipe) in [
            (Stream::Stdout, child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>)),
            (Stream::Stderr, child.stderr.take().map(|p| Box::new(p) as _)),
        ] {
            let Some(pipe) = pipe else { continue };
            let events = events.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = events.send(Event::Mpirun(stream, line));
                }
            });
        }
        {
            let events = events.clone();
            std::thread::spawn(move || {
                if let Ok(status) = child.wait() {
                    let _ = events.send(Event::Exited(status));
                }
            });
        }
        *self.running.lock().unwrap() = Some(events.clone());
        let deadline = options.timeout.map(|secs| Instant::now() + Duration::from_secs_f64(secs.max(0.0)));
        let outcome = Collector::new(sink).collect(&incoming, options.ranks as usize, deadline, group);
        *self.running.lock().unwrap() = None;
        finished.store(true, Ordering::SeqCst);
        outcome.verdict(options, compiled)
    }
}

/// Accepts the ranks' connections until the job is over.
fn spawn_listener(listener: TcpListener, events: Sender<Event>, finished: std::sync::Arc<AtomicBool>) {
    let _ = listener.set_nonblocking(true);
    std::thread::spawn(move || {
        let mut connections = 0;
        while !finished.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((connection, _)) => {
                    let _ = connection.set_nonblocking(false);
                    let events = events.clone();
                    let id = connections;
                    connections += 1;
                    std::thread::spawn(move || read_rank(id, connection, &events));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
}

fn read_rank(id: usize, connection: TcpStream, events: &Sender<Event>) {
    let mut link = BufReader::new(connection);
    if let Ok(hello) = RankHello::read_from(&mut link) {
        let _ = events.send(Event::Hello(id, hello));
        while let Ok(Some(frame)) = Frame::read_from(&mut link) {
            let _ = events.send(Event::Frame(id, frame));
        }
    }
    let _ = events.send(Event::Closed(id));
}

/// This machine's name, as ranks report theirs.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|name| name.trim().to_owned()).unwrap_or_else(|_| "localhost".into())
}

/// What one rank has said so far.
#[derive(Default)]
struct Rank {
    host: String,
    pid: u32,
    /// Unfinished lines of stdout and stderr.
    pending: [Vec<u8>; 2],
    panic: Option<Panic>,
    failure: Option<Failure>,
    stderr_tail: Vec<String>,
    finished: bool,
    closed: bool,
}

/// Gathers the job's events into outputs and a verdict.
struct Collector<'a> {
    sink: &'a dyn OutputSink,
    /// Connections by id, then by rank once they said hello.
    connections: BTreeMap<usize, i32>,
    ranks: BTreeMap<i32, Rank>,
    mpirun_tail: Vec<String>,
    exit: Option<ExitStatus>,
    stopped: Option<Stop>,
}

impl<'a> Collector<'a> {
    fn new(sink: &'a dyn OutputSink) -> Collector<'a> {
        Collector { sink, connections: BTreeMap::new(), ranks: BTreeMap::new(), mpirun_tail: Vec::new(), exit: None, stopped: None }
    }

    /// Handles the events of a job of `ranks` ranks until it has ended.
    fn collect(mut self, incoming: &Receiver<Event>, ranks: usize, deadline: Option<Instant>, group: libc::pid_t) -> Collector<'a> {
        while self.exit.is_none() {
            // Once the job is being stopped, the deadline has done its work: wait for mpirun's exit.
            let event = match deadline.filter(|_| self.stopped.is_none()) {
                Some(deadline) => incoming.recv_deadline(deadline).unwrap_or(Event::Stop(Stop::Timeout)),
                None => incoming.recv().expect("the job's event channel stays open while it runs"),
            };
            if let Event::Stop(reason) = event {
                if self.stopped.is_none() {
                    self.stopped = Some(reason);
                    self.terminate(group);
                }
                continue;
            }
            self.handle(event);
        }
        // The ranks' links close as they end; wait a moment for their last
        // words, and for ranks not heard from yet: a job that aborts at once
        // (MPICH's launcher is quick to end) can exit before the kernel has
        // read the connection of the rank that explains why.
        let last = Instant::now() + LAST_OUTPUT_WAIT;
        while (self.ranks.len() < ranks || self.ranks.values().any(|rank| !rank.closed))
            && let Ok(event) = incoming.recv_deadline(last)
        {
            self.handle(event);
        }
        self.kill_leftovers();
        for rank in self.ranks.keys().copied().collect::<Vec<_>>() {
            for stream in [Stream::Stdout, Stream::Stderr] {
                self.flush_partial(rank, stream);
            }
        }
        self
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Hello(id, hello) => {
                self.connections.insert(id, hello.rank);
                let rank = self.ranks.entry(hello.rank).or_default();
                (rank.host, rank.pid) = (hello.host, hello.pid);
            }
            Event::Frame(id, frame) => {
                let Some(&rank) = self.connections.get(&id) else { return };
                match frame {
                    Frame::Stdout(bytes) => self.received(rank, Stream::Stdout, &bytes),
                    Frame::Stderr(bytes) => self.received(rank, Stream::Stderr, &bytes),
                    Frame::Finished => self.ranks.entry(rank).or_default().finished = true,
                }
            }
            Event::Closed(id) => {
                if let Some(rank) = self.connections.get(&id) {
                    self.ranks.entry(*rank).or_default().closed = true;
                }
            }
            Event::Mpirun(stream, line) => {
                // mpirun's own words (and output of ranks that could not connect).
                if stream == Stream::Stdout {
                    self.sink.emit(Output::Text { stream, text: format!("{line}\n") });
                } else {
                    push_tail(&mut self.mpirun_tail, line);
                }
            }
            Event::Exited(status) => self.exit = Some(status),
            Event::Stop(_) => {}
        }
    }

    fn received(&mut self, rank: i32, stream: Stream, bytes: &[u8]) {
        let index = stream as usize;
        let state = self.ranks.entry(rank).or_default();
        state.pending[index].extend_from_slice(bytes);
        let Some(end) = state.pending[index].iter().rposition(|&byte| byte == b'\n') else { return };
        let complete: Vec<u8> = state.pending[index].drain(..=end).collect();
        self.emit_lines(rank, stream, &String::from_utf8_lossy(&complete));
    }

    fn flush_partial(&mut self, rank: i32, stream: Stream) {
        let Some(state) = self.ranks.get_mut(&rank) else { return };
        let rest = std::mem::take(&mut state.pending[stream as usize]);
        if !rest.is_empty() {
            self.emit_lines(rank, stream, &(String::from_utf8_lossy(&rest).into_owned() + "\n"));
        }
    }

    /// Shows complete lines: text tagged with the rank, protocol lines as what they mean.
    fn emit_lines(&mut self, rank: i32, stream: Stream, lines: &str) {
        let mut text = String::new();
        for line in lines.lines() {
            match Message::parse(line) {
                Some(message) => {
                    self.flush_text(stream, &mut text);
                    self.handle_message(rank, message);
                }
                None => {
                    if stream == Stream::Stderr {
                        push_tail(&mut self.ranks.entry(rank).or_default().stderr_tail, line.to_owned());
                    }
                    text.push_str(&format!("[rank {rank}] {line}\n"));
                }
            }
        }
        self.flush_text(stream, &mut text);
    }

    fn flush_text(&self, stream: Stream, text: &mut String) {
        if !text.is_empty() {
            self.sink.emit(Output::Text { stream, text: std::mem::take(text) });
        }
    }

    fn handle_message(&mut self, rank: i32, message: Message) {
        let output = match message {
            Message::Display(display) => {
                Output::Display { data: display.data, metadata: display.metadata, display_id: display.display_id, update: display.update }
            }
            Message::ClearOutput { wait } => Output::ClearOutput { wait },
            Message::Stdout(text) => Output::Text { stream: Stream::Stdout, text },
            Message::Stderr(text) => Output::Text { stream: Stream::Stderr, text },
            Message::Panic(panic) => return self.ranks.entry(rank).or_default().panic = Some(panic),
            Message::CellFailed(failure) => return self.ranks.entry(rank).or_default().failure = Some(failure),
            Message::Deadlock(text) => Output::Text { stream: Stream::Stderr, text: format!("{text}\n") },
            Message::CellStarted | Message::Flushed => return,
        };
        self.sink.emit(output);
    }

    /// SIGTERM to mpirun's group now, SIGKILL to it and to the ranks a little later.
    fn terminate(&self, group: libc::pid_t) {
        // SAFETY: signalling the process group the kernel created for this job.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        let local_ranks = self.local_rank_pids();
        std::thread::spawn(move || {
            std::thread::sleep(TERMINATE_GRACE);
            // SAFETY: as above; a group or process that is gone makes these calls fail harmlessly.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            for pid in local_ranks {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        });
    }

    /// Ranks on this machine that outlived mpirun (a rank may have left its group).
    fn kill_leftovers(&self) {
        for pid in self.local_rank_pids() {
            // SAFETY: these processes are this job's ranks; a pid already gone makes kill fail harmlessly.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }

    fn local_rank_pids(&self) -> Vec<libc::pid_t> {
        let here = this_host();
        self.ranks
            .values()
            .filter(|rank| rank.pid != 0 && rank.host == here && Path::new(&format!("/proc/{}", rank.pid)).exists())
            .map(|rank| rank.pid as libc::pid_t)
            .collect()
    }

    /// How the job went, in the error a student reads when it failed.
    fn verdict(self, options: &MpiOptions, compiled: &CompiledCell) -> Result<(), CellError> {
        let error = match self.stopped {
            Some(Stop::Interrupt) => CellError::Interrupted(
                "The MPI job was interrupted and all its ranks were stopped. The notebook's variables are untouched: an :mpi cell runs as a program of its own."
                    .into(),
            ),
            Some(Stop::Timeout) => CellError::mpi(format!(
                "The MPI job ran longer than its --timeout of {} s, so all {} ranks were stopped. Raise the timeout, or look for a rank that waits for a message nobody sends.",
                options.timeout.unwrap_or_default(),
                options.ranks
            )),
            None if self.exit.is_some_and(|status| status.success()) => return Ok(()),
            None => self.rank_failure(options, compiled),
        };
        // A rank's own report says it all; otherwise mpirun's words are the best clue.
        let explained_by_rank = self.ranks.values().any(|rank| rank.panic.is_some() || rank.failure.is_some());
        if self.stopped.is_none() && !explained_by_rank && !self.mpirun_tail.is_empty() {
            return Err(error.with_detail(format!("\x1b[2mmpirun said:\n{}\x1b[0m", self.mpirun_tail.join("\n"))));
        }
        Err(error)
    }

    fn rank_failure(&self, options: &MpiOptions, compiled: &CompiledCell) -> CellError {
        let stopped_job = "the whole job was stopped (mpirun ends every rank when one fails)";
        if let Some((rank, panic)) = self.ranks.iter().find_map(|(rank, state)| Some((rank, state.panic.as_ref()?))) {
            let details = panic.location.as_ref().map(|location| panic_location(location, compiled)).unwrap_or_default();
            return CellError::Mpi { message: format!("Rank {rank} panicked: {}; {stopped_job}.", panic.message), details };
        }
        if let Some((rank, state)) = self.ranks.iter().find(|(_, state)| state.failure == Some(Failure::ReturnedError)) {
            let returned = returned_error(&state.stderr_tail.join("\n"));
            return CellError::mpi(format!("Rank {rank} returned an error: {}; {stopped_job}.", returned.evalue()));
        }
        if self.ranks.is_empty() {
            let said = self.mpirun_tail.iter().find(|line| !line.trim().is_empty() && !line.starts_with("---")).cloned().unwrap_or_default();
            return CellError::mpi(format!("mpirun could not start the {} ranks: {said}", options.ranks));
        }
        let status = self.exit.map(describe_exit).unwrap_or_else(|| "it did not report how".into());
        match self.ranks.iter().find(|(_, state)| !state.finished) {
            Some((rank, _)) => CellError::mpi(format!("Rank {rank} ended before its cell finished (mpirun {status}); {stopped_job}.")),
            None => CellError::mpi(format!("Every rank finished, but mpirun {status}.")),
        }
    }
}

fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => "failed".into(),
    }
}

fn push_tail(tail: &mut Vec<String>, line: String) {
    tail.push(line);
    if tail.len() > TAIL_LINES {
        tail.remove(0);
    }
}
