//! Where the kernel's log goes: stderr, or, once it is a claimed spare, its
//! stand-in, which copies it to the stderr Jupyter reads.

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

/// The log's destination, shared by the logger (as its writer) and `main`
/// (which points it at the stand-in once a spare is claimed).
#[derive(Clone, Default)]
pub struct LogRelay(Arc<Mutex<Option<UnixStream>>>);

impl LogRelay {
    pub fn send_to_stand_in(&self, lifeline: &UnixStream) {
        if let Ok(stream) = lifeline.try_clone() {
            *self.0.lock().unwrap() = Some(stream);
        }
    }
}

impl Write for LogRelay {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.0.lock().unwrap().as_mut() {
            Some(stand_in) => stand_in.write(bytes),
            None => io::stderr().write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
