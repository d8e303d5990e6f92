//! How a spare keeps out of the way while it starts: a low scheduling class,
//! left when a kernel claims it, and a wake-up that reaches its whole group.

/// How a spare keeps out of the way of the notebooks running beside it while
/// it starts its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Background {
    /// SCHED_IDLE: a CPU runs the spare only when nothing else wants it (not
    /// enough on its own to keep timings clean; see [`super::quiet`]).
    /// Leaving it takes root, or an RLIMIT_NICE that allows nice 0.
    Idle,
    /// The lowest nice value for the spare's own session (Linux's autogroup),
    /// which any process may raise again. Weaker: a spare still takes a CPU
    /// that a parallel cell was about to wake a thread on.
    Nice,
}

impl Background {
    /// The best way this process has.
    pub(super) fn available() -> Background {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: plain system calls on this process.
        let may_leave_idle = unsafe { libc::geteuid() == 0 || (libc::getrlimit(libc::RLIMIT_NICE, &mut limit) == 0 && limit.rlim_cur >= 20) };
        if may_leave_idle { Background::Idle } else { Background::Nice }
    }

    /// Puts this process, and everything it starts from now on, in the background.
    pub fn enter(self) {
        match self {
            // Threads and processes started later inherit the policy; call before they are.
            Background::Idle => set_policy(0, libc::SCHED_IDLE),
            Background::Nice => drop(std::fs::write("/proc/self/autogroup", "19")),
        }
    }

    /// Brings this process and the processes it started (the cell process) back to normal priority.
    pub fn leave(self) {
        match self {
            Background::Idle => {
                let mut processes = vec![std::process::id()];
                let mut next = 0;
                while let Some(&pid) = processes.get(next) {
                    processes.extend(children_of(pid));
                    next += 1;
                }
                for pid in processes {
                    for thread in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
                        if let Some(tid) = thread.file_name().to_str().and_then(|tid| tid.parse().ok()) {
                            set_policy(tid, libc::SCHED_OTHER);
                        }
                    }
                }
            }
            Background::Nice => drop(std::fs::write("/proc/self/autogroup", "0")),
        }
    }
}

fn set_policy(thread: libc::pid_t, policy: libc::c_int) {
    let parameters = libc::sched_param { sched_priority: 0 };
    // SAFETY: a plain system call; an error leaves the thread as it was.
    unsafe { libc::sched_setscheduler(thread, policy, &parameters) };
}

/// The processes that any thread of `pid` started.
fn children_of(pid: u32) -> Vec<u32> {
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten();
    let lists = threads.filter_map(|thread| std::fs::read_to_string(thread.path().join("children")).ok());
    lists.flat_map(|list| list.split_whitespace().filter_map(|child| child.parse().ok()).collect::<Vec<_>>()).collect()
}

/// For a spare: when woken (by the kernel that started it, or by that kernel's
/// end), wakes the rest of its process group too (its cargo, rustc and cell process).
pub fn wake_whole_group_on_continue() {
    use std::sync::atomic::{AtomicBool, Ordering};
    /// Set while the group's SIGCONT, which reaches this process too, is on its way.
    static WAKING: AtomicBool = AtomicBool::new(false);
    extern "C" fn wake_group(_: libc::c_int) {
        if !WAKING.swap(true, Ordering::SeqCst) {
            // SAFETY: kill is async-signal-safe.
            unsafe { libc::kill(0, libc::SIGCONT) };
        } else {
            WAKING.store(false, Ordering::SeqCst);
        }
    }
    // SAFETY: installs an async-signal-safe handler.
    unsafe { libc::signal(libc::SIGCONT, wake_group as *const () as libc::sighandler_t) };
}
