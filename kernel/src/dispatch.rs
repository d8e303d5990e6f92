//! The dispatch table: one row per request type, as in ipykernel.
//!
//! Requests arrive from the transport as [`Incoming`] messages. [`REQUESTS`]
//! says, for each msg_type, how it is served and by which handler: light
//! requests are answered at once, on the channel they came by, so that the
//! shell never waits behind a running cell; the ones that need the evaluator
//! (execute, complete, inspect) queue for the shell thread, which runs them in
//! order between busy and idle. Adding a request is one row and one handler,
//! and the handler's type says which kind of row it fits.

use crate::comms::Comms;
use crate::cpu_meter::CpuMeter;
use crate::history::History;
use crate::interpreter::{BuildProfile, Execution, Interpreter, Timings};
use crate::is_complete::{Completeness, is_complete};
use crate::log_throttle::{self, LogThrottle};
use crate::magics::{self, CoreMeter, Magic};
use crate::outputs::{Discard, InputError, Output, OutputSink, Stream, with_plain_fallback};
use crate::transport::{Channel, Inboxes, Incoming, Outbox};
use jupyter_protocol::{Header, JupyterMessage, JupyterMessageContent, UnknownMessage};
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const PROTOCOL_VERSION: &str = "5.4";

/// Builds a message of any type as the child of `parent`.
pub fn message(parent: Option<&JupyterMessage>, msg_type: &str, content: Value) -> JupyterMessage {
    let content = JupyterMessageContent::UnknownMessage(UnknownMessage { msg_type: msg_type.to_owned(), content });
    let mut message = JupyterMessage::new(content, parent);
    message.header.version = PROTOCOL_VERSION.to_owned();
    message.header.username = "rustpar".to_owned();
    message
}

/// How a request is served.
#[derive(Clone, Copy)]
enum Route {
    /// At once, between busy and idle; the handler's answer, if any, is the
    /// reply's content.
    AtOnce(fn(&Kernel, &JupyterMessage, &Value) -> Option<Value>),
    /// In order on the shell thread, between busy and idle, behind running cells.
    Queued(fn(&Kernel, &JupyterMessage, &Value) -> QueuedReply),
    /// At once, and the kernel stops: the handler says whether to restart.
    Stops(fn(&Kernel, Channel, &JupyterMessage, &Value) -> bool),
}

/// Every request rustpar answers, with its route and handler.
const REQUESTS: &[(&str, Route)] = &[
    ("kernel_info_request", Route::AtOnce(Kernel::kernel_info)),
    ("is_complete_request", Route::AtOnce(Kernel::is_complete)),
    ("history_request", Route::AtOnce(Kernel::history)),
    ("comm_info_request", Route::AtOnce(Kernel::comm_info)),
    ("comm_open", Route::AtOnce(Kernel::comm_open)),
    ("comm_msg", Route::AtOnce(Kernel::comm_message)),
    ("comm_close", Route::AtOnce(Kernel::comm_message)),
    ("interrupt_request", Route::AtOnce(Kernel::interrupt)),
    ("shutdown_request", Route::Stops(Kernel::shutdown)),
    ("execute_request", Route::Queued(Kernel::execute)),
    ("complete_request", Route::Queued(Kernel::complete)),
    ("inspect_request", Route::Queued(Kernel::inspect)),
];

fn route_of(msg_type: &str) -> Option<Route> {
    REQUESTS.iter().find(|(name, _)| *name == msg_type).map(|(_, route)| *route)
}

/// What a queued handler answers: the reply, and whether it failed (which,
/// with stop_on_error, aborts the requests queued behind it).
struct QueuedReply {
    reply: JupyterMessage,
    failed: bool,
}

/// A request waiting for the shell thread, with its handler.
struct QueuedRequest {
    handler: fn(&Kernel, &JupyterMessage, &Value) -> QueuedReply,
    request: JupyterMessage,
}

/// The state every handler shares.
pub struct Kernel {
    interpreter: Arc<dyn Interpreter>,
    outbox: Outbox,
    history: Mutex<History>,
    comms: Mutex<Comms>,
    execution_count: Mutex<u32>,
    timing_shown: AtomicBool,
    /// `:cores on`: the core meter shows under every cell.
    cores_shown: AtomicBool,
    /// `:cores` in a cell without code: the next cell shows it.
    cores_next: AtomicBool,
    input_replies: crossbeam_channel::Receiver<Option<String>>,
    input_answers: crossbeam_channel::Sender<Option<String>>,
    malformed: Mutex<LogThrottle>,
}

impl Kernel {
    pub fn new(interpreter: Arc<dyn Interpreter>, outbox: Outbox, history: History) -> Arc<Kernel> {
        let (input_answers, input_replies) = crossbeam_channel::unbounded();
        Arc::new(Kernel {
            interpreter,
            outbox,
            history: Mutex::new(history),
            comms: Mutex::default(),
            execution_count: Mutex::new(0),
            timing_shown: AtomicBool::new(false),
            cores_shown: AtomicBool::new(false),
            cores_next: AtomicBool::new(false),
            input_replies,
            input_answers,
            malformed: Mutex::default(),
        })
    }

    /// Serves requests until a shutdown request or until `stop` completes;
    /// returns whether a restart was asked for.
    pub async fn serve(self: &Arc<Kernel>, mut inboxes: Inboxes, stop: impl Future<Output = ()>) -> bool {
        self.publish(None, "status", json!({ "execution_state": "starting" }));
        let (queue, work) = crossbeam_channel::unbounded::<QueuedRequest>();
        let worker = self.clone();
        std::thread::Builder::new()
            .name("rustpar-shell".into())
            .spawn(move || worker.run_queue(&work))
            .expect("the kernel can start its shell thread");
        let interrupt_signal = tokio::signal::ctrl_c();
        tokio::pin!(interrupt_signal, stop);
        loop {
            tokio::select! {
                Some(incoming) = inboxes.shell.recv() => {
                    if let Some(restart) = self.dispatch(Channel::Shell, incoming, &queue) {
                        return restart;
                    }
                }
                Some(incoming) = inboxes.control.recv() => {
                    if let Some(restart) = self.dispatch(Channel::Control, incoming, &queue) {
                        return restart;
                    }
                }
                Some(incoming) = inboxes.stdin.recv() => {
                    if let Some(reply) = self.accept(Channel::Stdin, incoming)
                        && reply.header.msg_type == "input_reply" {
                        let value = content_json(&reply).get("value").and_then(Value::as_str).map(str::to_owned);
                        let _ = self.input_answers.send(value);
                    }
                }
                _ = &mut interrupt_signal => {
                    // A client in signal mode: treat SIGINT as an interrupt request.
                    self.stop_running_cell();
                    interrupt_signal.set(tokio::signal::ctrl_c());
                }
                () = &mut stop => {
                    self.interpreter.shut_down();
                    return false;
                }
            }
        }
    }

    /// Serves one request by its route; `Some(restart)` when the kernel stops.
    fn dispatch(&self, channel: Channel, incoming: Incoming, queue: &crossbeam_channel::Sender<QueuedRequest>) -> Option<bool> {
        let request = self.accept(channel, incoming)?;
        let content = content_json(&request);
        match route_of(&request.header.msg_type) {
            Some(Route::AtOnce(handler)) => self.with_status(&request, || {
                if let Some(reply) = handler(self, &request, &content) {
                    self.reply(channel, &request, reply);
                }
            }),
            Some(Route::Queued(_)) if !content["code"].is_string() => {
                self.with_status(&request, || self.reply(channel, &request, bad_request("The request has no `code` string.")));
            }
            Some(Route::Queued(handler)) => drop(queue.send(QueuedRequest { handler, request })),
            Some(Route::Stops(handler)) => return Some(handler(self, channel, &request, &content)),
            None => {
                let msg_type = &request.header.msg_type;
                tracing::warn!("unknown request type {msg_type} on {channel:?}");
                self.with_status(&request, || self.reply(channel, &request, bad_request(&format!("rustpar does not handle {msg_type} messages."))));
            }
        }
        None
    }

    /// Passes requests on; answers malformed ones with an error reply.
    fn accept(&self, channel: Channel, incoming: Incoming) -> Option<JupyterMessage> {
        match incoming {
            Incoming::Request(request) => Some(*request),
            Incoming::Malformed { header, identities, reason } => {
                log_throttle::warn(&mut self.malformed.lock().unwrap(), "malformed requests", || {
                    format!("malformed {} on {channel:?}: {reason}", header.msg_type)
                });
                let parent = parent_of(header, identities);
                let error = bad_request(&format!("The {} message could not be read: {reason}", parent.header.msg_type));
                self.reply(channel, &parent, error);
                None
            }
        }
    }

    fn kernel_info(&self, _request: &JupyterMessage, _content: &Value) -> Option<Value> {
        let link = |text: &str, url: &str| json!({ "text": text, "url": url });
        Some(json!({
            "status": "ok",
            "protocol_version": PROTOCOL_VERSION,
            "implementation": "rustpar",
            "implementation_version": env!("CARGO_PKG_VERSION"),
            "language_info": {
                "name": "rust",
                "version": self.interpreter.language_version(),
                "mimetype": "text/rust",
                "file_extension": ".rs",
                "pygments_lexer": "rust",
                "codemirror_mode": "rust",
                "nbconvert_exporter": "rust",
            },
            "banner": "rustpar: Rust for parallel programming notebooks (evcxr inside). The prelude is loaded: `use rustpar::prelude::*;`.",
            "help_links": [
                link("The Rust Programming Language", "https://doc.rust-lang.org/book/"),
                link("Rust standard library", "https://doc.rust-lang.org/std/"),
                link("rayon (data parallelism)", "https://docs.rs/rayon/"),
                link("ndarray (arrays)", "https://docs.rs/ndarray/"),
            ],
            "debugger": false,
        }))
    }

    fn is_complete(&self, _request: &JupyterMessage, content: &Value) -> Option<Value> {
        let code = content.get("code").and_then(Value::as_str).unwrap_or_default();
        Some(match is_complete(code) {
            Completeness::Complete => json!({ "status": "complete" }),
            Completeness::Incomplete { indent } => json!({ "status": "incomplete", "indent": indent }),
            Completeness::Invalid => json!({ "status": "invalid" }),
        })
    }

    fn history(&self, _request: &JupyterMessage, content: &Value) -> Option<Value> {
        let history = self.history.lock().unwrap().answer(content);
        Some(json!({ "status": "ok", "history": history }))
    }

    fn comm_info(&self, _request: &JupyterMessage, content: &Value) -> Option<Value> {
        let target = content.get("target_name").and_then(Value::as_str);
        Some(json!({ "status": "ok", "comms": self.comms.lock().unwrap().info(target) }))
    }

    fn comm_open(&self, request: &JupyterMessage, content: &Value) -> Option<Value> {
        if let Some(close) = self.comms.lock().unwrap().open(content) {
            self.publish(Some(request), "comm_close", close);
        }
        None
    }

    fn comm_message(&self, request: &JupyterMessage, content: &Value) -> Option<Value> {
        self.comms.lock().unwrap().receive(&request.header.msg_type, content);
        None
    }

    fn interrupt(&self, _request: &JupyterMessage, _content: &Value) -> Option<Value> {
        self.stop_running_cell();
        Some(json!({ "status": "ok" }))
    }

    /// Stops the running cell, and ends a wait for input.
    fn stop_running_cell(&self) {
        self.interpreter.interrupt();
        let _ = self.input_answers.send(None);
    }

    /// Answered at once, whatever a cell is doing: the interpreter ends a
    /// running cell rather than waiting for it.
    fn shutdown(&self, channel: Channel, request: &JupyterMessage, content: &Value) -> bool {
        let restart = content.get("restart").and_then(Value::as_bool).unwrap_or(false);
        self.with_status(request, || {
            self.interpreter.shut_down();
            self.reply(channel, request, json!({ "status": "ok", "restart": restart }));
            self.publish(Some(request), "shutdown_reply", json!({ "status": "ok", "restart": restart }));
        });
        restart
    }

    /// The shell thread: runs queued requests in order.
    fn run_queue(self: Arc<Kernel>, queue: &crossbeam_channel::Receiver<QueuedRequest>) {
        for QueuedRequest { handler, request } in queue {
            let content = content_json(&request);
            let stop_on_error = content.get("stop_on_error").and_then(Value::as_bool).unwrap_or(true);
            let aborted = self.with_status(&request, || {
                let answer = handler(&self, &request, &content);
                // What was queued behind a failed cell is aborted, not what the
                // client sends after seeing the failure: take it before replying.
                let aborted: Vec<QueuedRequest> = if answer.failed && stop_on_error { queue.try_iter().collect() } else { Vec::new() };
                self.outbox.send(Channel::Shell, answer.reply);
                aborted
            });
            for queued in aborted {
                self.abort(&queued.request);
            }
        }
    }

    fn complete(&self, request: &JupyterMessage, content: &Value) -> QueuedReply {
        let (code, cursor) = code_and_cursor(content);
        let found = self.interpreter.complete(code, cursor);
        let reply = json!({
            "status": "ok",
            "matches": found.matches,
            "cursor_start": byte_to_char(code, found.start),
            "cursor_end": byte_to_char(code, found.end),
            "metadata": {},
        });
        QueuedReply { reply: message(Some(request), "complete_reply", reply), failed: false }
    }

    fn inspect(&self, request: &JupyterMessage, content: &Value) -> QueuedReply {
        let (code, cursor) = code_and_cursor(content);
        let found = self.interpreter.inspect(code, cursor);
        let reply = json!({ "status": "ok", "found": found.is_some(), "data": found.unwrap_or_default(), "metadata": {} });
        QueuedReply { reply: message(Some(request), "inspect_reply", reply), failed: false }
    }

    /// Answers a request queued behind a failed cell, as ipykernel does when
    /// stop_on_error is set.
    fn abort(&self, request: &JupyterMessage) {
        self.with_status(request, || {
            let count = *self.execution_count.lock().unwrap();
            self.reply(Channel::Shell, request, json!({ "status": "aborted", "execution_count": count, "user_expressions": {}, "payload": [] }));
        });
    }

    /// Runs one cell.
    fn execute(&self, request: &JupyterMessage, content: &Value) -> QueuedReply {
        let code = content["code"].as_str().unwrap_or_default();
        let silent = content.get("silent").and_then(Value::as_bool).unwrap_or(false);
        let store_history = !silent && content.get("store_history").and_then(Value::as_bool).unwrap_or(true);
        let count = {
            let mut count = self.execution_count.lock().unwrap();
            if store_history {
                *count += 1;
            }
            *count
        };
        if !silent {
            self.publish(Some(request), "execute_input", json!({ "code": code, "execution_count": count }));
        }
        let sink = Arc::new(CellSink {
            outbox: self.outbox.clone(),
            parent: request.clone(),
            silent,
            allow_stdin: content.get("allow_stdin").and_then(Value::as_bool).unwrap_or(false),
            answers: self.input_replies.clone(),
        });
        let (code_to_run, magics) = magics::split(code);
        let has_code = !code_to_run.trim().is_empty();
        // Pages for the notebook's pager (the execute_reply's payload), as IPython's `?` gives.
        let mut pages = Vec::new();
        let mut cores_here = self.cores_next.swap(false, Ordering::SeqCst) && has_code;
        for magic in &magics {
            match magic {
                Magic::Cores(setting) => {
                    let said = match setting {
                        CoreMeter::On => {
                            self.cores_shown.store(true, Ordering::SeqCst);
                            "on: every cell now shows what the cores do while it runs"
                        }
                        CoreMeter::Off => {
                            self.cores_shown.store(false, Ordering::SeqCst);
                            "off"
                        }
                        CoreMeter::Once if has_code => {
                            cores_here = true;
                            "on for this cell"
                        }
                        CoreMeter::Once => {
                            self.cores_next.store(true, Ordering::SeqCst);
                            "on for the next cell"
                        }
                    };
                    if !has_code {
                        sink.emit(Output::Text { stream: Stream::Stdout, text: format!("The core meter is {said}.\n") });
                    }
                }
                Magic::Timing => {
                    let shown = !self.timing_shown.fetch_xor(true, Ordering::SeqCst);
                    let state = if shown { "on: each cell now shows its compile and run times" } else { "off" };
                    sink.emit(Output::Text { stream: Stream::Stdout, text: format!("Timing is {state}.\n") });
                }
                Magic::DeadlockTimeout(Ok(timeout)) => {
                    // The tracker lives in the cell process: the prelude sets it there.
                    let code = format!("rustpar::sync::deadlock_timeout(std::time::Duration::from_millis({}));", timeout.as_millis());
                    let said = match self.interpreter.execute(&code, Arc::new(Discard)).outcome {
                        Ok(_) => format!("Deadlocks are now reported after {:.1} s.\n", timeout.as_secs_f64()),
                        Err(error) => format!("The deadlock timeout could not be set: {}\n", error.evalue()),
                    };
                    sink.emit(Output::Text { stream: Stream::Stdout, text: said });
                }
                Magic::DeadlockTimeout(Err(why)) => sink.emit(Output::Text { stream: Stream::Stderr, text: format!("{why}\n") }),
                Magic::Release(Some(release)) => {
                    let profile = if *release { BuildProfile::Release } else { BuildProfile::Checked };
                    let said = match self.interpreter.set_build_profile(profile) {
                        Ok(()) => format!("The cells that follow build {}.\n", profile.described()),
                        Err(why) => format!("The build profile could not be changed: {why}\n"),
                    };
                    sink.emit(Output::Text { stream: Stream::Stdout, text: said });
                }
                Magic::Release(None) => {
                    let said = match self.interpreter.build_profile() {
                        Some(profile) => format!("Cells build {}.\n", profile.described()),
                        None => "This kernel has one build profile.\n".to_owned(),
                    };
                    sink.emit(Output::Text { stream: Stream::Stdout, text: said });
                }
                Magic::Help => {
                    let evcxr_help = self.interpreter.execute(":help", Arc::new(Discard)).outcome.ok().flatten();
                    let evcxr_help = evcxr_help.as_ref().and_then(|data| data.get("text/plain")).and_then(Value::as_str).unwrap_or_default();
                    sink.emit(Output::Text { stream: Stream::Stdout, text: magics::help(evcxr_help) });
                }
                Magic::Doc(name) => match self.interpreter.inspect(name, name.len()) {
                    Some(data) => pages.push(json!({ "source": "page", "data": data, "start": 0 })),
                    None => sink.emit(Output::Text {
                        stream: Stream::Stderr,
                        text: format!("No documentation found for `{name}`: check its spelling, or write its path (`std::collections::HashMap`).\n"),
                    }),
                },
            }
        }
        let (execution, usage) = if !has_code && !magics.is_empty() {
            (Execution { outcome: Ok(None), timings: Timings::default() }, None)
        } else {
            let shown = (cores_here || self.cores_shown.load(Ordering::SeqCst)) && !silent;
            let interpreter = self.interpreter.clone();
            let meter = CpuMeter::start(Arc::new(move || interpreter.cell_process()), shown.then(|| sink.clone() as Arc<dyn OutputSink>));
            let execution = self.interpreter.execute(&code_to_run, sink.clone());
            let usage = meter.finish(execution.timings.run);
            (execution, usage)
        };
        let timings = execution.timings;
        if self.timing_shown.load(Ordering::SeqCst) && has_code {
            let cores = usage.as_ref().map(|usage| format!(", on {:.1} cores", usage.cores_used())).unwrap_or_default();
            let profile = self.interpreter.build_profile().map(|profile| format!(", {}", profile.short())).unwrap_or_default();
            sink.emit(Output::Text {
                stream: Stream::Stdout,
                text: format!("⏱ compiled in {:.2} s, ran in {:.3} s{cores}{profile}\n", timings.compile.as_secs_f64(), timings.run.as_secs_f64()),
            });
        }
        let mut metadata = json!({ "rustpar": { "compile_ms": millis(timings.compile), "run_ms": millis(timings.run) } });
        if let Some(profile) = self.interpreter.build_profile() {
            metadata["rustpar"]["profile"] = json!(profile.name());
        }
        if let Some(usage) = &usage
            && let (Some(rustpar), Value::Object(figures)) = (metadata["rustpar"].as_object_mut(), usage.metadata())
        {
            rustpar.extend(figures);
        }
        let (reply, output_text) = match execution.outcome {
            Ok(value) => {
                let output_text = value.as_ref().and_then(|data| data.get("text/plain")).and_then(Value::as_str).map(str::to_owned);
                if let Some(data) = value
                    && !silent
                {
                    self.publish(Some(request), "execute_result", json!({ "execution_count": count, "data": data, "metadata": {} }));
                }
                let user_expressions = self.user_expressions(content);
                (json!({ "status": "ok", "execution_count": count, "user_expressions": user_expressions, "payload": pages }), output_text)
            }
            Err(error) => {
                if !silent {
                    self.publish(Some(request), "error", error.to_content());
                }
                metadata["rustpar"]["failed"] = error.ename().into();
                let mut reply = error.to_content();
                reply["status"] = "error".into();
                reply["execution_count"] = count.into();
                reply["user_expressions"] = json!({});
                reply["payload"] = json!([]);
                (reply, None)
            }
        };
        let failed = reply["status"] == "error";
        if store_history {
            self.history.lock().unwrap().record(count, code, output_text.as_deref());
        }
        QueuedReply { reply: message(Some(request), "execute_reply", reply).with_metadata(metadata), failed }
    }

    /// Evaluates each user expression as a silent cell of its own.
    fn user_expressions(&self, content: &Value) -> Value {
        let Some(expressions) = content.get("user_expressions").and_then(Value::as_object) else { return json!({}) };
        let quiet: Arc<dyn OutputSink> = Arc::new(Discard);
        let results: Map<String, Value> = expressions
            .iter()
            .map(|(name, expression)| {
                let code = expression.as_str().unwrap_or_default();
                let result = match self.interpreter.execute(code, quiet.clone()).outcome {
                    Ok(value) => json!({ "status": "ok", "data": with_plain_fallback(value.unwrap_or_default()), "metadata": {} }),
                    Err(error) => {
                        let mut result = error.to_content();
                        result["status"] = "error".into();
                        result
                    }
                };
                (name.clone(), result)
            })
            .collect();
        Value::Object(results)
    }

    fn with_status<T>(&self, request: &JupyterMessage, body: impl FnOnce() -> T) -> T {
        self.publish(Some(request), "status", json!({ "execution_state": "busy" }));
        let result = body();
        self.publish(Some(request), "status", json!({ "execution_state": "idle" }));
        result
    }

    fn reply(&self, channel: Channel, request: &JupyterMessage, content: Value) {
        let msg_type = request.header.msg_type.replace("_request", "_reply");
        self.outbox.send(channel, message(Some(request), &msg_type, content));
    }

    fn publish(&self, parent: Option<&JupyterMessage>, msg_type: &str, content: Value) {
        let mut message = message(parent, msg_type, content);
        message.zmq_identities.clear();
        self.outbox.send(Channel::IoPub, message);
    }
}

/// Sends a cell's outputs to iopub under its request.
struct CellSink {
    outbox: Outbox,
    parent: JupyterMessage,
    silent: bool,
    allow_stdin: bool,
    answers: crossbeam_channel::Receiver<Option<String>>,
}

impl OutputSink for CellSink {
    fn emit(&self, output: Output) {
        if self.silent {
            return;
        }
        let (msg_type, content) = match output {
            Output::Text { stream, text } => {
                let name = if stream == Stream::Stdout { "stdout" } else { "stderr" };
                ("stream", json!({ "name": name, "text": text }))
            }
            Output::Display { data, metadata, display_id, update } => {
                let transient = display_id.map(|id| json!({ "display_id": id })).unwrap_or_else(|| json!({}));
                let msg_type = if update { "update_display_data" } else { "display_data" };
                (msg_type, json!({ "data": with_plain_fallback(data), "metadata": metadata, "transient": transient }))
            }
            Output::ClearOutput { wait } => ("clear_output", json!({ "wait": wait })),
        };
        let mut message = message(Some(&self.parent), msg_type, content);
        message.zmq_identities.clear();
        self.outbox.send(Channel::IoPub, message);
    }

    fn request_input(&self, prompt: &str, password: bool) -> Result<String, InputError> {
        if !self.allow_stdin {
            return Err(InputError::NotAllowed);
        }
        // Forget answers to earlier, abandoned requests.
        while self.answers.try_recv().is_ok() {}
        let request = message(Some(&self.parent), "input_request", json!({ "prompt": prompt, "password": password }));
        self.outbox.send(Channel::Stdin, request);
        self.answers.recv().ok().flatten().ok_or(InputError::NoAnswer)
    }
}

fn content_json(message: &JupyterMessage) -> Value {
    serde_json::to_value(&message.content).unwrap_or_default()
}

fn bad_request(evalue: &str) -> Value {
    json!({ "status": "error", "ename": "BadRequest", "evalue": evalue, "traceback": [evalue] })
}

/// A stand-in for a request whose content could not be read.
fn parent_of(header: Header, identities: Vec<bytes::Bytes>) -> JupyterMessage {
    let mut parent = message(None, &header.msg_type, json!({}));
    parent.header = header;
    parent.zmq_identities = identities;
    parent
}

/// The code of a completion or inspection, and its cursor as a byte offset.
fn code_and_cursor(content: &Value) -> (&str, usize) {
    let code = content["code"].as_str().unwrap_or_default();
    let cursor = content.get("cursor_pos").and_then(Value::as_u64).map_or(code.len(), |cursor| char_to_byte(code, cursor as usize));
    (code, cursor)
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

/// Jupyter counts cursor positions in Unicode code points; Rust in bytes.
fn char_to_byte(code: &str, chars: usize) -> usize {
    code.char_indices().nth(chars).map_or(code.len(), |(byte, _)| byte)
}

fn byte_to_char(code: &str, byte: usize) -> usize {
    code[..byte.min(code.len())].chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_positions_convert_between_code_points_and_bytes() {
        let code = "let é = 1;";
        assert_eq!(char_to_byte(code, 5), 6);
        assert_eq!(byte_to_char(code, 6), 5);
        assert_eq!(char_to_byte(code, 100), code.len());
    }

    #[test]
    fn messages_carry_the_protocol_version() {
        let message = message(None, "status", json!({ "execution_state": "idle" }));
        assert_eq!(message.header.msg_type, "status");
        assert_eq!(message.header.version, PROTOCOL_VERSION);
    }
}
