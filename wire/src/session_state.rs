//! State that is one per session, shared by every cell's copy of the prelude.
//!
//! evcxr builds each cell into a library of its own, and each links its own
//! copy of the prelude, statics included: a counter in the prelude would start
//! at 0 again in every cell. So the cell process (the kernel's binary, which
//! lives for the whole session) owns one [`SessionState`] and publishes its
//! address in [`SESSION_STATE_ENV`]; every copy of the prelude reads that
//! address and works on the same state. The layout is `repr(C)` with atomic
//! fields only, so that the kernel and any build of the prelude agree on it;
//! [`SESSION_STATE_LAYOUT`] changes whenever the fields do.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// Environment variable holding the address of the cell process's [`SessionState`].
pub const SESSION_STATE_ENV: &str = "RUSTPAR_SESSION_STATE";

/// The version of [`SessionState`]'s layout; a prelude that finds another
/// version does not use the state.
pub const SESSION_STATE_LAYOUT: u32 = 2;

#[repr(C)]
pub struct SessionState {
    layout: AtomicU32,
    /// Raised on SIGINT, lowered when the next cell starts.
    pub interrupt: AtomicBool,
    /// Set once an interrupt has been reported to the kernel, so that the
    /// threads of a parallel loop, which all stop, report it once.
    pub interrupt_reported: AtomicBool,
    /// The next display id's number.
    pub next_display_id: AtomicU64,
    /// The prelude's lock tracker, made by the first copy of the prelude
    /// that needs it; every copy links the same build of the prelude, so
    /// they agree on its type, which only the prelude knows.
    pub lock_tracker: AtomicPtr<()>,
}

impl SessionState {
    pub const fn new() -> SessionState {
        SessionState {
            layout: AtomicU32::new(SESSION_STATE_LAYOUT),
            interrupt: AtomicBool::new(false),
            interrupt_reported: AtomicBool::new(false),
            next_display_id: AtomicU64::new(0),
            lock_tracker: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The value of [`SESSION_STATE_ENV`] that leads to this state.
    pub fn address(&'static self) -> String {
        (self as *const SessionState as usize).to_string()
    }

    /// The state whose address is in [`SESSION_STATE_ENV`], if any.
    ///
    /// # Safety
    /// The variable, when set, must hold the address of a `SessionState` that
    /// lives as long as this process: only the cell process sets it, for the
    /// code it runs.
    pub unsafe fn from_environment() -> Option<&'static SessionState> {
        // SAFETY: as the caller promises.
        unsafe { SessionState::at(&std::env::var(SESSION_STATE_ENV).ok()?) }
    }

    /// The state at `address`, as [`address`](SessionState::address) wrote it.
    ///
    /// # Safety
    /// A non-zero address must be that of a `SessionState` that lives as long
    /// as this process.
    pub unsafe fn at(address: &str) -> Option<&'static SessionState> {
        let address: usize = address.parse().ok()?;
        // SAFETY: as the caller promises, a non-zero address is a live state.
        let state = (address != 0).then(|| unsafe { &*(address as *const SessionState) })?;
        (state.layout.load(Ordering::Relaxed) == SESSION_STATE_LAYOUT).then_some(state)
    }
}

impl Default for SessionState {
    fn default() -> SessionState {
        SessionState::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_found_again_through_its_address() {
        static STATE: SessionState = SessionState::new();
        STATE.next_display_id.store(7, Ordering::Relaxed);
        // SAFETY: the address of a static.
        let found = unsafe { SessionState::at(&STATE.address()) }.expect("the state is found");
        assert_eq!(found.next_display_id.load(Ordering::Relaxed), 7);
        assert!(std::ptr::eq(found, &STATE));
    }
}
