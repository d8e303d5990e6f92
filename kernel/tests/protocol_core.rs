//! The protocol core, tested in-process with a fake interpreter and the
//! outbox's own channel, as xeus tests its core with `xmock_interpreter`:
//! no sockets, no cargo builds, milliseconds per test.

use jupyter_protocol::JupyterMessage;
use rustpar_kernel::cell_error::CellError;
use rustpar_kernel::dispatch::{Kernel, message};
use rustpar_kernel::history::History;
use rustpar_kernel::interpreter::{Completions, Execution, Interpreter, Timings};
use rustpar_kernel::outputs::{Output, OutputSink, Stream};
use rustpar_kernel::transport::{Channel, Inboxes, Incoming, Outbox};
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// A language of one-word cells:
/// `value X` ends in the value X; `print X` prints X; `fail` fails;
/// `input` asks for a line and prints it; `wait` runs until interrupted and
/// then fails; `pause` runs until interrupted and then succeeds; `hang` never
/// ends by itself.
#[derive(Default)]
struct FakeInterpreter {
    stopped: Mutex<bool>,
    wake: Condvar,
    interrupts: AtomicUsize,
    shut_down: AtomicBool,
}

impl FakeInterpreter {
    fn wait_for_stop(&self) {
        let mut stopped = self.stopped.lock().unwrap();
        while !*stopped {
            stopped = self.wake.wait(stopped).unwrap();
        }
        *stopped = false;
    }
}

impl Interpreter for FakeInterpreter {
    fn language_version(&self) -> String {
        "fake 1.0".into()
    }

    fn execute(&self, code: &str, sink: Arc<dyn OutputSink>) -> Execution {
        let (word, rest) = code.trim().split_once(' ').unwrap_or((code.trim(), ""));
        let outcome = match word {
            "value" => Ok(Some(Map::from_iter([("text/plain".to_owned(), Value::from(rest))]))),
            "print" => {
                sink.emit(Output::Text { stream: Stream::Stdout, text: format!("{rest}\n") });
                Ok(None)
            }
            "fail" => Err(CellError::Returned { name: "Error".into(), message: "the cell failed".into(), details: Vec::new() }),
            "input" => match sink.request_input("name? ", false) {
                Ok(line) => {
                    sink.emit(Output::Text { stream: Stream::Stdout, text: format!("got {line}\n") });
                    Ok(None)
                }
                Err(error) => Err(CellError::Input(error.to_string())),
            },
            "wait" => {
                self.wait_for_stop();
                Err(CellError::Interrupted("stopped".into()))
            }
            "pause" => {
                self.wait_for_stop();
                Ok(None)
            }
            "hang" => loop {
                std::thread::park();
            },
            _ => Ok(None),
        };
        Execution { outcome, timings: Timings::default() }
    }

    fn complete(&self, code: &str, cursor: usize) -> Completions {
        Completions { matches: vec![format!("{}_done", &code[..cursor])], start: 0, end: cursor }
    }

    fn inspect(&self, code: &str, _cursor: usize) -> Option<Map<String, Value>> {
        (!code.is_empty()).then(|| Map::from_iter([("text/plain".to_owned(), Value::from(format!("docs of {code}")))]))
    }

    fn interrupt(&self) {
        self.interrupts.fetch_add(1, Ordering::SeqCst);
        *self.stopped.lock().unwrap() = true;
        self.wake.notify_all();
    }

    fn shut_down(&self) {
        self.shut_down.store(true, Ordering::SeqCst);
    }
}

/// A kernel served on a thread of its own, with a client's ends of its channels.
struct Harness {
    interpreter: Arc<FakeInterpreter>,
    shell: UnboundedSender<Incoming>,
    control: UnboundedSender<Incoming>,
    stdin: UnboundedSender<Incoming>,
    outgoing: UnboundedReceiver<(Channel, JupyterMessage)>,
    /// Anything read from `outgoing` and not yet asked for.
    seen: Vec<(Channel, JupyterMessage)>,
    served: std::thread::JoinHandle<bool>,
}

const WAIT: Duration = Duration::from_secs(5);

impl Harness {
    fn start() -> Harness {
        let interpreter = Arc::new(FakeInterpreter::default());
        let (outbox, outgoing) = Outbox::new();
        let (shell, shell_inbox) = unbounded_channel();
        let (control, control_inbox) = unbounded_channel();
        let (stdin, stdin_inbox) = unbounded_channel();
        let kernel = Kernel::new(interpreter.clone(), outbox, History::open(None));
        let served = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let inboxes = Inboxes { shell: shell_inbox, control: control_inbox, stdin: stdin_inbox };
            runtime.block_on(kernel.serve(inboxes, std::future::pending()))
        });
        Harness { interpreter, shell, control, stdin, outgoing, seen: Vec::new(), served }
    }

    /// Sends a request on shell or control; returns its msg_id.
    fn send(&self, channel: Channel, msg_type: &str, content: Value) -> String {
        let request = message(None, msg_type, content);
        let id = request.header.msg_id.clone();
        let inbox = if channel == Channel::Control { &self.control } else { &self.shell };
        inbox.send(Incoming::Request(Box::new(request))).unwrap();
        id
    }

    fn execute(&self, code: &str) -> String {
        self.send(Channel::Shell, "execute_request", json!({ "code": code, "silent": false }))
    }

    /// The next message for which `wanted` holds, within `WAIT`.
    fn next(&mut self, wanted: impl Fn(Channel, &JupyterMessage) -> bool) -> JupyterMessage {
        if let Some(index) = self.seen.iter().position(|(channel, message)| wanted(*channel, message)) {
            return self.seen.remove(index).1;
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = self.outgoing.blocking_recv_timeout(left).expect("the kernel sent the message in time");
            if wanted(got.0, &got.1) {
                return got.1;
            }
            self.seen.push(got);
        }
    }

    fn reply_to(&mut self, id: &str) -> JupyterMessage {
        self.next(|channel, message| channel != Channel::IoPub && parent_id(message) == Some(id))
    }

    /// The iopub messages of request `id`, up to and with its idle status.
    fn iopub_of(&mut self, id: &str) -> Vec<JupyterMessage> {
        let mut messages = Vec::new();
        loop {
            let message = self.next(|channel, message| channel == Channel::IoPub && parent_id(message) == Some(id));
            let idle = message.header.msg_type == "status" && content(&message)["execution_state"] == "idle";
            messages.push(message);
            if idle {
                return messages;
            }
        }
    }
}

trait RecvTimeout<T> {
    fn blocking_recv_timeout(&mut self, timeout: Duration) -> Option<T>;
}

impl<T> RecvTimeout<T> for UnboundedReceiver<T> {
    fn blocking_recv_timeout(&mut self, timeout: Duration) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.try_recv() {
                Ok(value) => return Some(value),
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => return None,
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) if Instant::now() >= deadline => return None,
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }
}

fn parent_id(message: &JupyterMessage) -> Option<&str> {
    message.parent_header.as_ref().map(|parent| parent.msg_id.as_str())
}

fn content(message: &JupyterMessage) -> Value {
    serde_json::to_value(&message.content).unwrap()
}

fn types(messages: &[JupyterMessage]) -> Vec<&str> {
    messages.iter().map(|message| message.header.msg_type.as_str()).collect()
}

#[test]
fn a_cell_is_published_between_busy_and_idle_and_counted() {
    let mut kernel = Harness::start();
    let id = kernel.execute("value 42");
    let reply = kernel.reply_to(&id);
    assert_eq!(reply.header.msg_type, "execute_reply");
    assert_eq!(content(&reply)["status"], "ok");
    assert_eq!(content(&reply)["execution_count"], 1);
    let iopub = kernel.iopub_of(&id);
    assert_eq!(types(&iopub), ["status", "execute_input", "execute_result", "status"]);
    assert_eq!(content(&iopub[0])["execution_state"], "busy");
    assert_eq!(content(&iopub[2])["data"]["text/plain"], "42");
    assert_eq!(content(&iopub[2])["execution_count"], 1);
    let second = kernel.execute("print hi");
    assert_eq!(content(&kernel.reply_to(&second))["execution_count"], 2);
    let iopub = kernel.iopub_of(&second);
    assert_eq!(types(&iopub), ["status", "execute_input", "stream", "status"]);
    assert_eq!(content(&iopub[2])["text"], "hi\n");
}

#[test]
fn silent_cells_publish_nothing_and_do_not_count() {
    let mut kernel = Harness::start();
    let id = kernel.send(Channel::Shell, "execute_request", json!({ "code": "value 1", "silent": true }));
    assert_eq!(content(&kernel.reply_to(&id))["execution_count"], 0);
    assert_eq!(types(&kernel.iopub_of(&id)), ["status", "status"]);
    let id = kernel.send(Channel::Shell, "execute_request", json!({ "code": "value 1", "store_history": false }));
    assert_eq!(content(&kernel.reply_to(&id))["execution_count"], 0);
}

#[test]
fn user_expressions_are_evaluated_after_the_cell() {
    let mut kernel = Harness::start();
    let id = kernel.send(Channel::Shell, "execute_request", json!({ "code": "print x", "user_expressions": { "a": "value 7", "b": "fail" } }));
    let reply = content(&kernel.reply_to(&id));
    assert_eq!(reply["user_expressions"]["a"]["status"], "ok");
    assert_eq!(reply["user_expressions"]["a"]["data"]["text/plain"], "7");
    assert_eq!(reply["user_expressions"]["b"]["status"], "error");
    assert_eq!(reply["user_expressions"]["b"]["ename"], "Error");
}

#[test]
fn a_failed_cell_aborts_what_was_queued_behind_it() {
    let mut kernel = Harness::start();
    let blocker = kernel.execute("pause");
    let failing = kernel.execute("fail");
    let queued = kernel.execute("value 1");
    let unaffected = kernel.send(Channel::Shell, "execute_request", json!({ "code": "fail", "stop_on_error": false }));
    // Shell requests are dispatched in order: once this is answered, the cells are queued.
    let info = kernel.send(Channel::Shell, "kernel_info_request", json!({}));
    kernel.reply_to(&info);
    kernel.interpreter.interrupt();
    assert_eq!(content(&kernel.reply_to(&blocker))["status"], "ok");
    let failed = content(&kernel.reply_to(&failing));
    assert_eq!((failed["status"].as_str(), failed["ename"].as_str()), (Some("error"), Some("Error")));
    let error = kernel.iopub_of(&failing).into_iter().find(|message| message.header.msg_type == "error").expect("an error output");
    assert_eq!(content(&error)["evalue"], "the cell failed");
    assert_eq!(content(&kernel.reply_to(&queued))["status"], "aborted");
    assert_eq!(content(&kernel.reply_to(&unaffected))["status"], "aborted");
    // Sent after the failure was seen: runs.
    let later = kernel.execute("value 2");
    assert_eq!(content(&kernel.reply_to(&later))["status"], "ok");
}

#[test]
fn input_is_asked_on_stdin_and_refused_where_not_allowed() {
    let mut kernel = Harness::start();
    let id = kernel.send(Channel::Shell, "execute_request", json!({ "code": "input", "allow_stdin": true }));
    let request = kernel.next(|channel, message| channel == Channel::Stdin && parent_id(message) == Some(id.as_str()));
    assert_eq!(request.header.msg_type, "input_request");
    assert_eq!(content(&request)["prompt"], "name? ");
    kernel.stdin.send(Incoming::Request(Box::new(message(Some(&request), "input_reply", json!({ "value": "Ada" }))))).unwrap();
    assert_eq!(content(&kernel.reply_to(&id))["status"], "ok");
    let stream = kernel.iopub_of(&id).into_iter().find(|message| message.header.msg_type == "stream").expect("printed");
    assert_eq!(content(&stream)["text"], "got Ada\n");
    let refused = kernel.send(Channel::Shell, "execute_request", json!({ "code": "input", "allow_stdin": false }));
    assert_eq!(content(&kernel.reply_to(&refused))["ename"], "InputError");
}

#[test]
fn light_requests_are_answered_while_a_cell_runs() {
    let mut kernel = Harness::start();
    let cell = kernel.execute("wait");
    for (msg_type, body) in [
        ("kernel_info_request", json!({})),
        ("is_complete_request", json!({ "code": "fn f() {" })),
        ("comm_info_request", json!({})),
        ("history_request", json!({ "hist_access_type": "tail", "n": 3 })),
    ] {
        let id = kernel.send(Channel::Shell, msg_type, body);
        let reply = kernel.reply_to(&id);
        assert_eq!(reply.header.msg_type, msg_type.replace("_request", "_reply"));
        assert_eq!(content(&reply)["status"], if msg_type == "is_complete_request" { "incomplete" } else { "ok" });
    }
    let info = kernel.send(Channel::Control, "kernel_info_request", json!({}));
    assert_eq!(content(&kernel.reply_to(&info))["language_info"]["name"], "rust");
    kernel.interpreter.interrupt();
    assert_eq!(content(&kernel.reply_to(&cell))["status"], "error");
}

#[test]
fn interrupts_reach_the_running_cell_on_control_and_on_shell() {
    let mut kernel = Harness::start();
    for channel in [Channel::Control, Channel::Shell] {
        let cell = kernel.execute("wait");
        // Wait until the shell thread is inside the cell.
        kernel.next(|_, message| message.header.msg_type == "execute_input" && parent_id(message) == Some(cell.as_str()));
        let interrupt = kernel.send(channel, "interrupt_request", json!({}));
        assert_eq!(content(&kernel.reply_to(&interrupt))["status"], "ok");
        assert_eq!(content(&kernel.reply_to(&cell))["ename"], "Interrupted");
    }
    assert_eq!(kernel.interpreter.interrupts.load(Ordering::SeqCst), 2);
}

#[test]
fn a_shutdown_is_answered_while_a_cell_never_ends() {
    for restart in [false, true] {
        let mut kernel = Harness::start();
        let cell = kernel.execute("hang");
        kernel.next(|_, message| message.header.msg_type == "execute_input" && parent_id(message) == Some(cell.as_str()));
        let asked = Instant::now();
        let id = kernel.send(Channel::Control, "shutdown_request", json!({ "restart": restart }));
        let reply = kernel.reply_to(&id);
        assert!(asked.elapsed() < Duration::from_secs(2), "answered after {:?}", asked.elapsed());
        assert_eq!(reply.header.msg_type, "shutdown_reply");
        assert_eq!(content(&reply)["restart"], restart);
        assert!(kernel.interpreter.shut_down.load(Ordering::SeqCst));
        assert_eq!(kernel.served.join().unwrap(), restart, "serve returns, saying whether to restart");
    }
}

#[test]
fn comms_to_unknown_targets_are_closed_and_messages_without_code_refused() {
    let mut kernel = Harness::start();
    let id = kernel.send(Channel::Shell, "comm_open", json!({ "comm_id": "c1", "target_name": "nothing", "data": {} }));
    let iopub = kernel.iopub_of(&id);
    assert_eq!(types(&iopub), ["status", "comm_close", "status"]);
    assert_eq!(content(&iopub[1])["comm_id"], "c1");
    let id = kernel.send(Channel::Shell, "execute_request", json!({ "silent": false }));
    assert_eq!(content(&kernel.reply_to(&id))["ename"], "BadRequest");
    let id = kernel.send(Channel::Shell, "no_such_request", json!({}));
    let reply = kernel.reply_to(&id);
    assert_eq!(reply.header.msg_type, "no_such_reply");
    assert_eq!(content(&reply)["ename"], "BadRequest");
}

#[test]
fn completions_and_inspections_queue_for_the_interpreter() {
    let mut kernel = Harness::start();
    let id = kernel.send(Channel::Shell, "complete_request", json!({ "code": "é.le", "cursor_pos": 4 }));
    let reply = content(&kernel.reply_to(&id));
    assert_eq!(reply["matches"], json!(["é.le_done"]));
    assert_eq!((reply["cursor_start"].as_u64(), reply["cursor_end"].as_u64()), (Some(0), Some(4)), "code points, not bytes");
    let id = kernel.send(Channel::Shell, "inspect_request", json!({ "code": "Vec", "cursor_pos": 1, "detail_level": 0 }));
    let reply = content(&kernel.reply_to(&id));
    assert_eq!((reply["found"].as_bool(), reply["data"]["text/plain"].as_str()), (Some(true), Some("docs of Vec")));
}

#[test]
fn history_remembers_the_cells_in_order() {
    let mut kernel = Harness::start();
    for code in ["value 1", "print two"] {
        let id = kernel.execute(code);
        kernel.reply_to(&id);
    }
    let id = kernel.send(Channel::Shell, "history_request", json!({ "hist_access_type": "tail", "n": 10, "output": false, "raw": true }));
    let history = content(&kernel.reply_to(&id))["history"].clone();
    let inputs: Vec<&str> = history.as_array().unwrap().iter().map(|entry| entry[2].as_str().unwrap()).collect();
    assert_eq!(inputs, ["value 1", "print two"]);
}

#[test]
fn help_lists_the_kernels_commands_and_doc_opens_the_pager() {
    let mut kernel = Harness::start();
    let id = kernel.execute(":help");
    assert_eq!(content(&kernel.reply_to(&id))["status"], "ok");
    let printed: String =
        kernel.iopub_of(&id).iter().filter(|m| m.header.msg_type == "stream").map(|m| content(m)["text"].as_str().unwrap().to_owned()).collect();
    assert!(printed.contains(":mpi -n N") && printed.contains(":timing"), "{printed}");
    let id = kernel.execute("?Vec");
    let reply = content(&kernel.reply_to(&id));
    assert_eq!(reply["payload"][0]["source"], "page");
    assert_eq!(reply["payload"][0]["data"]["text/plain"], "docs of Vec");
}
