//! rustpar's Jupyter kernel: Rust cells, evaluated by evcxr, for parallel
//! programming notebooks.
//!
//! A request travels one way through these modules:
//!
//! 1. [`transport`] owns the five ZeroMQ sockets (via `jupyter-zmq-client`),
//!    verifies signatures and hands requests on;
//! 2. [`dispatch`] maps each message type to a handler, publishes busy/idle,
//!    queues cells, aborts after errors, keeps [`history`] and [`comms`];
//! 3. the [`interpreter::Interpreter`] runs the cell — in production the
//!    [`evaluator`], which drives evcxr and its cell process;
//! 4. the cell's [`outputs`] flow back through the dispatcher's sink to iopub.
//!
//! A failed cell is a [`cell_error::CellError`], rendered for Jupyter in that
//! one module. [`config`] reads every `RUSTPAR_*` setting once, at the start of `main`;
//! [`is_complete`] and [`magics`] are small pure helpers of the dispatcher;
//! [`kernelspec`] installs the kernel; [`spare`] keeps a session started
//! ahead of the next kernel. See HOW_IT_WORKS.md for the whole path.

pub mod cell_error;
pub mod comms;
pub mod config;
pub mod cpu_meter;
pub mod dispatch;
pub mod evaluator;
pub mod history;
pub mod interpreter;
pub mod is_complete;
pub mod kernelspec;
pub mod log_throttle;
pub mod magics;
pub mod outputs;
pub mod spare;
pub mod transport;
