//! The cell process: what this binary does when evcxr starts it to run cells.
//!
//! evcxr runs every cell in a child process started from the kernel's own
//! binary, talking to it over stdin (commands) and stdout (results, one line at
//! a time). Before handing control to evcxr's loop, [`run_if_cell_process`]
//! rewires the child's standard streams through pipes that this module reads:
//!
//! - **stdout and stderr** are read by one multiplexer thread. evcxr's own
//!   protocol lines pass untouched; whatever the cell prints is wrapped as a
//!   [`Message::Stdout`] or [`Message::Stderr`] line, chunk by chunk, so that
//!   `print!` without a newline streams too. Before evcxr's "execution
//!   complete" line passes, stderr is drained, so no output of a cell can
//!   arrive after its reply.
//! - **stdin** is fed from the kernel's pipe. When a thread of the cell blocks
//!   reading it, a watcher notices and asks the kernel for a line (evcxr's
//!   input request), which the kernel gets from the notebook or refuses.
//! - **SIGINT** sets the interrupt flag that the prelude's helpers poll, so a
//!   cooperative cell stops without losing the session's variables.

use rustpar_wire::{EVCXR_CONTENT_BEGIN, EVCXR_CONTENT_END, FLUSH_REQUEST_FD_ENV, Failure, Message, SESSION_STATE_ENV, SessionState};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Set by evcxr in the environment of the processes it starts to run cells.
const CELL_PROCESS_ENV: &str = "EVCXR_IS_RUNTIME";
const RUN_COMMAND: &str = "LOAD_AND_RUN ";
const EXECUTION_COMPLETE: &str = "EVCXR_EXECUTION_COMPLETE";
const INPUT_REQUEST: &str = "EVCXR_INPUT_REQUEST";
const EVCXR_LINE: &[u8] = rustpar_wire::EVCXR_MARKER.as_bytes();
/// evcxr's lines for "the cell panicked" and "the cell returned an error through `?`",
/// which evcxr itself keeps to itself.
const PANIC_NOTIFICATION: &str = "EVCXR_PANIC_NOTIFICATION";
const ERROR_OCCURRED: &str = "EVCXR_ERROR_OCCURRED";

/// What the kernel sends instead of a line of input when the notebook client
/// does not accept input: the cell's read then ends at once.
pub(crate) const INPUT_REFUSED: &str = "\u{1}rustpar:input-refused";

/// The session's one-per-process state, which every cell's copy of the
/// prelude reaches through [`SESSION_STATE_ENV`]. A static, because the
/// SIGINT handler raises its interrupt flag.
static SESSION: SessionState = SessionState::new();

/// Turns this process into a cell process when evcxr started it as one (and
/// into evcxr's compiler wrapper when it is that); otherwise returns at once.
pub fn run_if_cell_process() {
    if std::env::var_os(CELL_PROCESS_ENV).is_some()
        && let Err(error) = rewire_standard_streams()
    {
        eprintln!("rustpar: the cell process could not capture its output ({error}); output may arrive late.");
    }
    evcxr::runtime_hook();
}

struct Shared {
    /// The pipe evcxr reads; held while a thread writes a line or processes a
    /// chunk of the cell's stdout.
    to_kernel: Mutex<File>,
    /// evcxr's stderr pipe, which it never waits to drain (unlike stdout):
    /// for lines the kernel may receive at any time.
    notes_to_kernel: Mutex<File>,
    /// The write end of the pipe behind fd 0.
    stdin_writer: Mutex<File>,
    cell_running: AtomicBool,
    input_pending: AtomicBool,
    stdout_reader: RawFd,
}

fn rewire_standard_streams() -> std::io::Result<()> {
    let to_kernel = dup(1)?;
    let notes_to_kernel = dup(2)?;
    let from_kernel = dup(0)?;
    let (stdout_reader, stdout_writer) = pipe()?;
    let (stderr_reader, stderr_writer) = pipe()?;
    let (stdin_reader, stdin_writer) = pipe()?;
    let (flush_reader, flush_writer) = pipe()?;
    dup2(stdout_writer, 1)?;
    dup2(stderr_writer, 2)?;
    dup2(stdin_reader, 0)?;
    for fd in [stdout_writer, stderr_writer, stdin_reader] {
        close(fd);
    }
    // SAFETY: the kernel binary has started no other thread yet in this process.
    unsafe {
        std::env::set_var(SESSION_STATE_ENV, SESSION.address());
        std::env::set_var(FLUSH_REQUEST_FD_ENV, flush_reader.to_string());
        // evcxr asks for backtraces on every panic; students get the message
        // alone unless they ask for more.
        match std::env::var_os("RUSTPAR_BACKTRACE") {
            Some(value) => std::env::set_var("RUST_BACKTRACE", value),
            None => std::env::remove_var("RUST_BACKTRACE"),
        }
    }
    install_interrupt_handler();
    let shared = Arc::new(Shared {
        to_kernel: Mutex::new(owned_file(to_kernel)),
        notes_to_kernel: Mutex::new(owned_file(notes_to_kernel)),
        stdin_writer: Mutex::new(owned_file(stdin_writer)),
        cell_running: AtomicBool::new(false),
        input_pending: AtomicBool::new(false),
        stdout_reader,
    });
    spawn("rustpar-output", {
        let shared = shared.clone();
        move || multiplex_output(owned_file(stdout_reader), owned_file(stderr_reader), owned_file(flush_writer), &shared)
    });
    spawn("rustpar-stdin", {
        let shared = shared.clone();
        move || forward_kernel_input(owned_file(from_kernel), &shared)
    });
    spawn("rustpar-stdin-watch", move || watch_for_stdin_reads(&shared));
    Ok(())
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().name(name.to_owned()).spawn(body).expect("the cell process can start its helper threads");
}

fn install_interrupt_handler() {
    extern "C" fn on_interrupt(_signal: libc::c_int) {
        SESSION.interrupt.store(true, Ordering::SeqCst);
    }
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_interrupt as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

/// Longest wait for the prelude to flush the cell's stdout at the end of a cell.
const FLUSH_TIMEOUT: Duration = Duration::from_millis(250);

/// The output thread: reads the cell's stdout and stderr pipes and writes
/// protocol lines to the kernel.
struct Multiplexer {
    stdout: File,
    stderr: File,
    stderr_open: bool,
    splitter: StdoutSplitter,
    stderr_text: Utf8Buffer,
    buffer: Vec<u8>,
    /// Asks the prelude to flush (one byte a request).
    flush_requests: File,
    /// Whether the prelude is attached and answers flush requests.
    flusher_present: bool,
}

fn multiplex_output(stdout: File, stderr: File, flush_requests: File, shared: &Shared) {
    let mut multiplexer = Multiplexer {
        stdout,
        stderr,
        stderr_open: true,
        splitter: StdoutSplitter::default(),
        stderr_text: Utf8Buffer::default(),
        buffer: vec![0u8; 64 * 1024],
        flush_requests,
        flusher_present: false,
    };
    while multiplexer.forward_ready(shared, -1) {}
}

impl Multiplexer {
    /// Waits up to `timeout_ms` (-1: for ever) for output and forwards what
    /// one poll finds; false once the cell's stdout is closed.
    fn forward_ready(&mut self, shared: &Shared, timeout_ms: i32) -> bool {
        let mut fds = [
            libc::pollfd { fd: raw(&self.stdout), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: if self.stderr_open { raw(&self.stderr) } else { -1 }, events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) } <= 0 {
            return true;
        }
        let mut to_kernel = shared.to_kernel.lock().unwrap();
        if fds[1].revents != 0 {
            self.drain_stderr(&mut to_kernel);
        }
        if fds[0].revents != 0 {
            let count = match self.stdout.read(&mut self.buffer) {
                Ok(count @ 1..) => count,
                _ => return false,
            };
            for piece in self.splitter.push(&self.buffer[..count]) {
                self.forward(piece, shared, &mut to_kernel);
            }
        }
        true
    }

    /// Forwards one piece; true when it was the prelude's `Flushed` answer.
    fn forward(&mut self, piece: Piece, shared: &Shared, to_kernel: &mut File) -> bool {
        let line = match piece {
            Piece::Text(text) => Message::Stdout(text).to_line(),
            Piece::ProtocolLine(line) => {
                if Message::parse(&line) == Some(Message::Flushed) {
                    self.flusher_present = true;
                    return true;
                }
                if line == EXECUTION_COMPLETE {
                    self.finish_cell(shared, to_kernel);
                } else if line.starts_with(INPUT_REQUEST) {
                    shared.input_pending.store(true, Ordering::SeqCst);
                } else if let Some(failure) = cell_failure(&line) {
                    let _ = to_kernel.write_all(failure.to_line().as_bytes());
                }
                line + "\n"
            }
        };
        let _ = to_kernel.write_all(line.as_bytes());
        false
    }

    /// Before evcxr hears that the cell is complete: everything the cell
    /// printed goes first, including text still in the prelude's buffer.
    fn finish_cell(&mut self, shared: &Shared, to_kernel: &mut File) {
        if self.flusher_present && self.flush_requests.write_all(&[1]).is_ok() {
            let deadline = std::time::Instant::now() + FLUSH_TIMEOUT;
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() || self.forward_pending_stdout(shared, to_kernel, left) {
                    break;
                }
            }
        }
        self.drain_stderr(to_kernel);
        shared.cell_running.store(false, Ordering::SeqCst);
    }

    /// Reads what stdout brings within `wait` (holding the kernel pipe
    /// already); true once the prelude's `Flushed` answer has passed.
    fn forward_pending_stdout(&mut self, shared: &Shared, to_kernel: &mut File, wait: Duration) -> bool {
        let mut fd = [libc::pollfd { fd: raw(&self.stdout), events: libc::POLLIN, revents: 0 }];
        // SAFETY: valid pollfd array.
        if unsafe { libc::poll(fd.as_mut_ptr(), 1, wait.as_millis() as i32) } <= 0 {
            return true;
        }
        let Ok(count @ 1..) = self.stdout.read(&mut self.buffer) else { return true };
        let mut flushed = false;
        for piece in self.splitter.push(&self.buffer[..count]) {
            flushed |= self.forward(piece, shared, to_kernel);
        }
        flushed
    }

    /// Forwards what stderr holds now.
    fn drain_stderr(&mut self, to_kernel: &mut File) {
        loop {
            let mut fd = [libc::pollfd { fd: raw(&self.stderr), events: libc::POLLIN, revents: 0 }];
            // SAFETY: valid pollfd array; zero timeout.
            if !self.stderr_open || unsafe { libc::poll(fd.as_mut_ptr(), 1, 0) } <= 0 || fd[0].revents == 0 {
                break;
            }
            match self.stderr.read(&mut self.buffer) {
                Ok(count @ 1..) => self.stderr_text.push(&self.buffer[..count]),
                _ => self.stderr_open = false,
            }
        }
        let chunk = self.stderr_text.take_valid();
        if !chunk.is_empty() {
            let _ = to_kernel.write_all(Message::Stderr(chunk).to_line().as_bytes());
        }
    }
}

/// Tells the kernel how a cell failed when evcxr reports it on stdout.
fn cell_failure(line: &str) -> Option<Message> {
    match line {
        PANIC_NOTIFICATION => Some(Message::CellFailed(Failure::Panicked)),
        ERROR_OCCURRED => Some(Message::CellFailed(Failure::ReturnedError)),
        _ => None,
    }
}

fn forward_kernel_input(from_kernel: File, shared: &Shared) {
    for line in BufReader::new(from_kernel).lines() {
        let Ok(line) = line else { break };
        let starts_cell = line.starts_with(RUN_COMMAND);
        if starts_cell {
            SESSION.interrupt.store(false, Ordering::SeqCst);
        }
        if line == INPUT_REFUSED {
            refuse_pending_read(shared);
        } else {
            let _ = writeln!(shared.stdin_writer.lock().unwrap(), "{line}");
        }
        // Only once the command is in the pipe: the watcher takes an empty
        // pipe during a cell to mean evcxr's loop has read its command.
        if starts_cell {
            shared.cell_running.store(true, Ordering::SeqCst);
            let _ = shared.notes_to_kernel.lock().unwrap().write_all(Message::CellStarted.to_line().as_bytes());
        }
        shared.input_pending.store(false, Ordering::SeqCst);
    }
    // The kernel has gone: closing stdin ends evcxr's loop and this process.
    std::process::exit(0);
}

/// Ends the blocked read with end-of-file, leaving a fresh pipe behind fd 0
/// for evcxr's next command. The new pipe goes in first: evcxr's loop reads
/// fd 0 as soon as the cell ends, and must never see the old pipe's end.
fn refuse_pending_read(shared: &Shared) {
    let Ok((reader, writer)) = pipe() else { return };
    let mut stdin_writer = shared.stdin_writer.lock().unwrap();
    let _ = dup2(reader, 0);
    close(reader);
    // Dropping the old write end ends the read already under way on the old pipe.
    *stdin_writer = owned_file(writer);
}

fn watch_for_stdin_reads(shared: &Shared) {
    let cell_may_read = || shared.cell_running.load(Ordering::SeqCst) && !shared.input_pending.load(Ordering::SeqCst);
    // evcxr's loop reads its commands from stdin too, always into the same
    // buffer (the process's stdin buffer). Between cells every read of stdin
    // is evcxr's, which tells us that buffer; during a cell, a read into any
    // other buffer is the cell's. (A thread just woken from evcxr's read can
    // still look blocked in it for a while on a busy machine.)
    let mut evcxr_buffer: Option<String> = None;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if !shared.cell_running.load(Ordering::SeqCst) {
            if let Some(buffer) = stdin_read_buffers().into_iter().next() {
                evcxr_buffer = Some(buffer);
            }
            continue;
        }
        let Some(evcxr_buffer) = &evcxr_buffer else { continue };
        let cell_reads = || stdin_read_buffers().iter().any(|buffer| buffer != evcxr_buffer);
        if !cell_may_read() || !cell_reads() {
            continue;
        }
        // Holding the output lock, so that "execution complete" cannot slip
        // through: the read is the cell's if the cell still runs.
        let mut to_kernel = shared.to_kernel.lock().unwrap();
        if cell_may_read() && bytes_waiting(shared.stdout_reader) == 0 && cell_reads() {
            shared.input_pending.store(true, Ordering::SeqCst);
            let _ = writeln!(to_kernel, "{INPUT_REQUEST}:");
        }
    }
}

/// The buffers of this process's threads blocked in `read(0, buffer, ..)`,
/// from Linux's per-thread `syscall` files.
fn stdin_read_buffers() -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    let read = libc::SYS_read.to_string();
    tasks
        .flatten()
        .filter_map(|task| {
            let call = std::fs::read_to_string(task.path().join("syscall")).ok()?;
            let mut fields = call.split_whitespace();
            (fields.next() == Some(read.as_str()) && fields.next() == Some("0x0")).then(|| fields.next().map(str::to_owned))?
        })
        .collect()
}

/// One piece of the cell's stdout: text the cell printed, or a whole line of
/// evcxr's (or the prelude's) protocol.
#[derive(Debug, PartialEq)]
enum Piece {
    Text(String),
    ProtocolLine(String),
}

/// Splits the cell's stdout into [`Piece`]s as bytes arrive. Protocol lines
/// are held until complete; text is passed on as soon as it is valid UTF-8.
#[derive(Default)]
struct StdoutSplitter {
    pending: Utf8Buffer,
    in_content: bool,
}

impl StdoutSplitter {
    fn push(&mut self, bytes: &[u8]) -> Vec<Piece> {
        self.pending.push(bytes);
        let mut pieces = Vec::new();
        loop {
            let pending = &self.pending.bytes;
            if pending.is_empty() {
                break;
            }
            let is_protocol = self.in_content || pending.starts_with(EVCXR_LINE) || pending[0] == rustpar_wire::MARK as u8;
            if is_protocol {
                let Some(end) = pending.iter().position(|&b| b == b'\n') else { break };
                let line = String::from_utf8_lossy(&self.pending.take(end + 1)[..end]).into_owned();
                if line.starts_with(EVCXR_CONTENT_BEGIN) {
                    self.in_content = true;
                } else if line == EVCXR_CONTENT_END {
                    self.in_content = false;
                }
                pieces.push(Piece::ProtocolLine(line));
                continue;
            }
            // Text ends at a newline, or where a protocol line starts (the
            // cell's unfinished line shares the line with the next one).
            let protocol_start = (1..pending.len()).find(|&i| pending[i] == rustpar_wire::MARK as u8 || pending[i..].starts_with(EVCXR_LINE));
            let newline = pending.iter().position(|&b| b == b'\n').map(|i| i + 1);
            let end = match (newline, protocol_start) {
                (Some(newline), Some(start)) => newline.min(start),
                (newline, start) => newline.or(start).unwrap_or_else(|| pending.len() - unfinished_marker(pending)),
            };
            let text = self.pending.take_valid_prefix(end);
            if text.is_empty() {
                break;
            }
            match pieces.last_mut() {
                Some(Piece::Text(previous)) => previous.push_str(&text),
                _ => pieces.push(Piece::Text(text)),
            }
        }
        pieces
    }
}

/// How many bytes at the end of `text` could be the start of evcxr's marker.
fn unfinished_marker(text: &[u8]) -> usize {
    (1..EVCXR_LINE.len()).rev().find(|&n| text.ends_with(&EVCXR_LINE[..n])).unwrap_or(0)
}

/// Bytes waiting to become text, never cutting a UTF-8 character in two.
#[derive(Default)]
struct Utf8Buffer {
    bytes: Vec<u8>,
}

impl Utf8Buffer {
    fn push(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    fn take(&mut self, end: usize) -> Vec<u8> {
        self.bytes.drain(..end).collect()
    }

    /// Takes the longest decodable prefix of the first `end` bytes (invalid
    /// bytes become U+FFFD; an unfinished character at the end waits).
    fn take_valid_prefix(&mut self, end: usize) -> String {
        let end = match std::str::from_utf8(&self.bytes[..end]) {
            Err(error) if error.error_len().is_none() && end == self.bytes.len() => error.valid_up_to(),
            _ => end,
        };
        String::from_utf8_lossy(&self.take(end)).into_owned()
    }

    fn take_valid(&mut self) -> String {
        self.take_valid_prefix(self.bytes.len())
    }
}

fn raw(file: &File) -> RawFd {
    std::os::fd::AsRawFd::as_raw_fd(file)
}

fn owned_file(fd: RawFd) -> File {
    // SAFETY: every fd passed here was just created by this module and is owned once.
    unsafe { File::from_raw_fd(fd) }
}

fn check(result: libc::c_int) -> std::io::Result<libc::c_int> {
    if result < 0 { Err(std::io::Error::last_os_error()) } else { Ok(result) }
}

fn pipe() -> std::io::Result<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((fds[0], fds[1]))
}

fn dup(fd: RawFd) -> std::io::Result<RawFd> {
    // SAFETY: plain descriptor duplication.
    check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })
}

fn dup2(from: RawFd, to: RawFd) -> std::io::Result<()> {
    // SAFETY: plain descriptor duplication; `to` is a standard stream.
    check(unsafe { libc::dup2(from, to) }).map(drop)
}

fn close(fd: RawFd) {
    // SAFETY: `fd` is owned by this module and not used after.
    unsafe { libc::close(fd) };
}

fn bytes_waiting(fd: RawFd) -> libc::c_int {
    let mut count: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int.
    unsafe { libc::ioctl(fd, libc::FIONREAD, &mut count) };
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<Piece> {
        let mut splitter = StdoutSplitter::default();
        chunks.iter().flat_map(|chunk| splitter.push(chunk)).collect()
    }

    #[test]
    fn text_without_newline_is_passed_on_at_once() {
        assert_eq!(split(&[b"working"]), vec![Piece::Text("working".into())]);
    }

    #[test]
    fn protocol_lines_wait_for_their_newline() {
        assert_eq!(
            split(&[b"EVCXR_EXEC", b"UTION_COMPLETE\nafter"]),
            vec![Piece::ProtocolLine(EXECUTION_COMPLETE.into()), Piece::Text("after".into())]
        );
    }

    #[test]
    fn text_before_a_prelude_line_is_split_off() {
        let line = Message::ClearOutput { wait: false }.to_line();
        let input = format!("abc{line}");
        assert_eq!(split(&[input.as_bytes()]), vec![Piece::Text("abc".into()), Piece::ProtocolLine(line.trim_end().into())]);
    }

    #[test]
    fn an_unfinished_line_does_not_swallow_evcxr_lines() {
        assert_eq!(
            split(&[b"tailEVC", b"XR_BEGIN_CONTENT text/plain\n()\nEVCXR_END_CONTENT\n"]),
            vec![
                Piece::Text("tail".into()),
                Piece::ProtocolLine("EVCXR_BEGIN_CONTENT text/plain".into()),
                Piece::ProtocolLine("()".into()),
                Piece::ProtocolLine(EVCXR_CONTENT_END.into()),
            ]
        );
    }

    #[test]
    fn content_blocks_pass_untouched() {
        assert_eq!(
            split(&[b"EVCXR_BEGIN_CONTENT text/plain\n42\nEVCXR_END_CONTENT\n"]),
            vec![
                Piece::ProtocolLine("EVCXR_BEGIN_CONTENT text/plain".into()),
                Piece::ProtocolLine("42".into()),
                Piece::ProtocolLine(EVCXR_CONTENT_END.into()),
            ]
        );
    }

    #[test]
    fn a_character_cut_between_chunks_is_kept_whole() {
        let bytes = "é".as_bytes();
        assert_eq!(split(&[&bytes[..1], &bytes[1..]]), vec![Piece::Text("é".into())]);
    }
}
