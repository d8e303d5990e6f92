//! rust-analyzer's warm-up, in the background.
//!
//! rust-analyzer learns the standard library and the prelude's crates the
//! first time it is asked about a cell: 5 to 8 s of one core. The session
//! hands it that work as completions over typical code ([`WARM_UP_STEPS`]),
//! one step at a time, to a thread of its own under `SCHED_IDLE`, so that
//! even the session's own requests never wait for it. Until it has finished,
//! rustc names the types of a cell's variables instead (see `type_hints`).
//!
//! The session hands a step only while the machine is quiet (no cell of any
//! kernel runs, nor has for a moment) and no request waits, and cancels the
//! step under way when a request comes or a cell starts anywhere:
//! rust-analyzer keeps what it learned, and the step is handed again later.
//! Between the cells of a notebook run top to bottom it thus never works.

use crossbeam_channel::{Receiver, Sender};
use evcxr::AnalysisJob;
use rustpar_wire::WARM_UP_STEPS;
use std::time::Instant;

pub(crate) struct WarmUp {
    jobs: Sender<AnalysisJob>,
    /// One answer per job: whether it finished (false: cancelled).
    answers: Receiver<bool>,
    /// The worker thread's id, to lift its priority.
    worker: libc::pid_t,
    steps_done: usize,
    in_flight: bool,
    began: Instant,
}

impl WarmUp {
    pub fn start() -> WarmUp {
        let (jobs, queue) = crossbeam_channel::unbounded::<AnalysisJob>();
        let (answer, answers) = crossbeam_channel::unbounded();
        let (id, worker) = crossbeam_channel::bounded(1);
        std::thread::Builder::new()
            .name("rustpar-warm-up".into())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                let _ = id.send(unsafe { libc::gettid() });
                for job in queue {
                    set_policy(0, libc::SCHED_IDLE);
                    if answer.send(job.run()).is_err() {
                        return;
                    }
                }
            })
            .expect("the kernel can start its warm-up thread");
        let worker = worker.recv().unwrap_or(0);
        WarmUp { jobs, answers, worker, steps_done: 0, in_flight: false, began: Instant::now() }
    }

    pub fn is_finished(&self) -> bool {
        self.steps_done == WARM_UP_STEPS.len()
    }

    pub fn is_under_way(&self) -> bool {
        self.in_flight
    }

    /// The code of the step to hand next, when none is under way.
    pub fn next_step(&self) -> Option<&'static str> {
        if self.in_flight { None } else { WARM_UP_STEPS.get(self.steps_done).copied() }
    }

    pub fn hand(&mut self, job: AnalysisJob) {
        self.in_flight = self.jobs.send(job).is_ok();
    }

    /// A step that rust-analyzer could not even begin counts as done: the
    /// session goes on without it.
    pub fn skip_step(&mut self) {
        self.steps_done += 1;
    }

    /// Where the worker says that a step ended.
    pub fn answers(&self) -> Receiver<bool> {
        self.answers.clone()
    }

    /// Records the worker's answer for the step under way.
    pub fn step_ended(&mut self, finished: bool) {
        self.in_flight = false;
        if finished {
            self.steps_done += 1;
            if self.is_finished() {
                tracing::info!("rust-analyzer warmed up in {:?}", self.began.elapsed());
            }
        }
    }

    /// The session is about to cancel the step under way, and waits until it
    /// has stopped: at normal priority it notices at once, even while other
    /// kernels' cells keep both cores busy (lifting the priority takes root
    /// or an RLIMIT_NICE of 20; without, it notices a little later).
    pub fn hurry(&self) {
        if self.in_flight && self.worker != 0 {
            set_policy(self.worker, libc::SCHED_OTHER);
        }
    }
}

/// Sets the scheduling policy of thread `thread` (0: the calling one).
fn set_policy(thread: libc::pid_t, policy: libc::c_int) {
    let parameters = libc::sched_param { sched_priority: 0 };
    // SAFETY: a valid parameter block; `thread` is one of this process's threads.
    if unsafe { libc::sched_setscheduler(thread, policy, &parameters) } != 0 {
        tracing::debug!("could not set the warm-up thread's scheduling policy: {}", std::io::Error::last_os_error());
    }
}
