//! The kernel's five ZeroMQ sockets.
//!
//! Sockets, signing and verification come from `jupyter-zmq-client`; this
//! module binds them, reads each into [`Incoming`] requests, and writes the
//! messages the dispatcher hands back. It knows nothing of what a message
//! means. A message whose signature does not verify is logged and dropped.

use crate::log_throttle::{self, LogThrottle};
use anyhow::{Context, Result};
use jupyter_protocol::{ConnectionInfo, Header, IoPubWelcome, JupyterMessage, JupyterMessageContent, UnknownMessage};
use jupyter_zmq_client::{
    Connection, RawMessage, RouterRecvConnection, RouterSendConnection, SubscriptionEvent, create_kernel_control_connection,
    create_kernel_heartbeat_connection, create_kernel_iopub_xpub_connection, create_kernel_shell_connection, create_kernel_stdin_connection,
    parse_subscription_message,
};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use zeromq::SocketRecv;

/// The sockets a request can arrive on and a reply leave by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Shell,
    Control,
    Stdin,
    IoPub,
}

/// A request that arrived, or why it could not be read.
#[derive(Debug)]
pub enum Incoming {
    Request(Box<JupyterMessage>),
    /// Well signed, but its content is not a JSON object: answerable, since
    /// its header and sender are known.
    Malformed {
        header: Header,
        identities: Vec<bytes::Bytes>,
        reason: String,
    },
}

/// Messages on their way out, to be written in order per socket.
#[derive(Clone)]
pub struct Outbox {
    sender: UnboundedSender<(Channel, JupyterMessage)>,
    /// Messages sent here that have not left their socket yet.
    unsent: Arc<AtomicUsize>,
}

impl Outbox {
    /// An outbox and the receiving end of what is sent through it.
    pub fn new() -> (Outbox, UnboundedReceiver<(Channel, JupyterMessage)>) {
        let (sender, messages) = unbounded_channel();
        (Outbox { sender, unsent: Arc::default() }, messages)
    }

    pub fn send(&self, channel: Channel, message: JupyterMessage) {
        self.unsent.fetch_add(1, Ordering::SeqCst);
        // Fails only when the kernel is shutting down, when nothing need be sent.
        if self.sender.send((channel, message)).is_err() {
            self.unsent.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Waits until every message sent so far has left its socket, or `limit`
    /// has passed: the last replies must leave before the process ends, and a
    /// client restarting the kernel waits for that end.
    pub async fn flushed(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.unsent.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// The receiving ends for the dispatcher, one per request channel.
pub struct Inboxes {
    pub shell: UnboundedReceiver<Incoming>,
    pub control: UnboundedReceiver<Incoming>,
    pub stdin: UnboundedReceiver<Incoming>,
}

/// Binds every socket of `info` and starts the tasks that serve them.
pub async fn serve(info: &ConnectionInfo, session_id: &str) -> Result<(Outbox, Inboxes)> {
    let (shell_out, shell_in) = create_kernel_shell_connection(info, session_id).await.context("binding the shell socket")?.split();
    let (control_out, control_in) = create_kernel_control_connection(info, session_id).await.context("binding the control socket")?.split();
    let (stdin_out, stdin_in) = create_kernel_stdin_connection(info, session_id).await.context("binding the stdin socket")?.split();
    let iopub = create_kernel_iopub_xpub_connection(info, session_id).await.context("binding the iopub socket")?;
    let mut heartbeat = create_kernel_heartbeat_connection(info).await.context("binding the heartbeat socket")?;

    tokio::spawn(async move { while heartbeat.single_heartbeat().await.is_ok() {} });
    let inboxes =
        Inboxes { shell: read_requests(shell_in, "shell"), control: read_requests(control_in, "control"), stdin: read_requests(stdin_in, "stdin") };

    let (outbox, mut outgoing) = Outbox::new();
    let (iopub_sender, iopub_messages) = unbounded_channel();
    tokio::spawn(publish(iopub, iopub_messages, outbox.unsent.clone()));
    let mut writers = [(Channel::Shell, shell_out), (Channel::Control, control_out), (Channel::Stdin, stdin_out)].map(|(channel, connection)| {
        let (to_socket, messages) = unbounded_channel();
        tokio::spawn(write_replies(connection, messages, outbox.unsent.clone()));
        (channel, to_socket)
    });
    tokio::spawn(async move {
        while let Some((channel, message)) = outgoing.recv().await {
            let queue = match channel {
                Channel::IoPub => &iopub_sender,
                _ => &writers.iter_mut().find(|(socket, _)| *socket == channel).expect("every reply channel has a writer").1,
            };
            let _ = queue.send(message);
        }
    });
    Ok((outbox, inboxes))
}

fn read_requests(mut connection: RouterRecvConnection, name: &'static str) -> UnboundedReceiver<Incoming> {
    let (sender, receiver) = unbounded_channel();
    tokio::spawn(async move {
        let mut dropped = LogThrottle::default();
        loop {
            let frames = match connection.socket.recv().await {
                Ok(frames) => frames,
                Err(error) => {
                    tracing::error!("the {name} socket failed: {error}");
                    return;
                }
            };
            match RawMessage::from_multipart(frames, &connection.mac) {
                Ok(raw) => match decode(raw) {
                    Ok(incoming) => {
                        if sender.send(incoming).is_err() {
                            return;
                        }
                    }
                    Err(reason) => log_throttle::warn(&mut dropped, &format!("messages dropped on {name}"), || {
                        format!("dropped an unreadable message on {name}: {reason}")
                    }),
                },
                Err(error) => log_throttle::warn(&mut dropped, &format!("messages dropped on {name}"), || {
                    format!("dropped a message on {name} that is not a signed Jupyter message: {error}")
                }),
            }
        }
    });
    receiver
}

/// Reads the four JSON parts of a verified message.
fn decode(raw: RawMessage) -> Result<Incoming, String> {
    let part = |index: usize| -> Result<serde_json::Value, String> {
        serde_json::from_slice(&raw.jparts[index]).map_err(|error| format!("part {index} is not JSON: {error}"))
    };
    let header: Header = serde_json::from_value(part(0)?).map_err(|error| format!("bad header: {error}"))?;
    let identities = raw.zmq_identities.clone();
    // Handlers read the content as JSON, so a request with optional fields
    // left out (as some clients send) is still served.
    let content = match part(3) {
        Ok(Value::Object(content)) => Value::Object(content),
        Ok(_) => return Ok(Incoming::Malformed { header, identities, reason: "its content is not a JSON object".into() }),
        Err(reason) => return Ok(Incoming::Malformed { header, identities, reason }),
    };
    let metadata = part(2).unwrap_or_default();
    Ok(Incoming::Request(Box::new(JupyterMessage {
        zmq_identities: identities,
        parent_header: part(1).ok().and_then(|parent| serde_json::from_value(parent).ok()),
        content: JupyterMessageContent::UnknownMessage(UnknownMessage { msg_type: header.msg_type.clone(), content }),
        header,
        metadata,
        buffers: raw.jparts.get(4..).map(<[_]>::to_vec).unwrap_or_default(),
        channel: None,
    })))
}

async fn write_replies(mut connection: RouterSendConnection, mut messages: UnboundedReceiver<JupyterMessage>, unsent: Arc<AtomicUsize>) {
    while let Some(message) = messages.recv().await {
        if let Err(error) = connection.send(message).await {
            tracing::warn!("could not send a reply: {error}");
        }
        unsent.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Publishes iopub messages and greets every new subscriber (JEP 65).
async fn publish(mut iopub: Connection<zeromq::XPubSocket>, mut messages: UnboundedReceiver<JupyterMessage>, unsent: Arc<AtomicUsize>) {
    loop {
        tokio::select! {
            message = messages.recv() => {
                let Some(message) = message else { return };
                if let Err(error) = iopub.send(message).await {
                    tracing::warn!("could not publish on iopub: {error}");
                }
                unsent.fetch_sub(1, Ordering::SeqCst);
            }
            subscription = iopub.socket.recv() => {
                if let Ok(SubscriptionEvent::Subscribe(topic)) = subscription.as_ref().map_err(drop).and_then(|frames| parse_subscription_message(frames).ok_or(())) {
                    let welcome = JupyterMessage::new(IoPubWelcome::new(topic), None);
                    if let Err(error) = iopub.send(welcome).await {
                        tracing::warn!("could not welcome an iopub subscriber: {error}");
                    }
                }
            }
        }
    }
}
