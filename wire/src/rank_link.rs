//! The link from each rank of an `:mpi` cell back to the kernel.
//!
//! mpirun forwards what ranks print, but it cuts long lines and mixes
//! unfinished lines of different ranks, which would break plots and the
//! protocol lines above. So each rank opens a TCP connection to the kernel
//! (its address is in [`MPI_OUTPUT_ENV`]), introduces itself with a
//! [`RankHello`] line, and then sends what it prints as [`Frame`]s: a kind
//! byte, a little-endian `u32` length and the bytes.
//!
//! ```
//! use rustpar_wire::rank_link::{Frame, RankHello};
//! let mut link = Vec::new();
//! RankHello { rank: 1, pid: 42, host: "node1".into() }.write_to(&mut link).unwrap();
//! Frame::Stdout(b"hi\n".to_vec()).write_to(&mut link).unwrap();
//! Frame::Finished.write_to(&mut link).unwrap();
//! let mut reader = std::io::BufReader::new(&link[..]);
//! assert_eq!(RankHello::read_from(&mut reader).unwrap().rank, 1);
//! assert_eq!(Frame::read_from(&mut reader).unwrap(), Some(Frame::Stdout(b"hi\n".to_vec())));
//! assert_eq!(Frame::read_from(&mut reader).unwrap(), Some(Frame::Finished));
//! assert_eq!(Frame::read_from(&mut reader).unwrap(), None);
//! ```

use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, Read, Write};

/// Environment variable holding the `host:port` where the kernel listens for ranks.
pub const MPI_OUTPUT_ENV: &str = "RUSTPAR_MPI_OUTPUT";

/// The first line a rank sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankHello {
    pub rank: i32,
    pub pid: u32,
    pub host: String,
}

impl RankHello {
    pub fn write_to(&self, link: &mut impl Write) -> io::Result<()> {
        let line = serde_json::to_string(self).map_err(io::Error::other)?;
        writeln!(link, "{line}")
    }

    pub fn read_from(link: &mut impl BufRead) -> io::Result<RankHello> {
        let mut line = String::new();
        link.read_line(&mut line)?;
        serde_json::from_str(&line).map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
    }
}

/// What a rank sends after its hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// The rank's cell ended normally; everything it printed has been sent.
    Finished,
}

const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const FINISHED: u8 = 3;

impl Frame {
    pub fn write_to(&self, link: &mut impl Write) -> io::Result<()> {
        let (kind, bytes): (u8, &[u8]) = match self {
            Frame::Stdout(bytes) => (STDOUT, bytes),
            Frame::Stderr(bytes) => (STDERR, bytes),
            Frame::Finished => (FINISHED, &[]),
        };
        let length = u32::try_from(bytes.len()).map_err(io::Error::other)?;
        let mut frame = Vec::with_capacity(5 + bytes.len());
        frame.push(kind);
        frame.extend_from_slice(&length.to_le_bytes());
        frame.extend_from_slice(bytes);
        link.write_all(&frame)
    }

    /// The next frame, or `None` when the rank closed the link.
    pub fn read_from(link: &mut impl Read) -> io::Result<Option<Frame>> {
        let mut header = [0u8; 5];
        match link.read_exact(&mut header) {
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            result => result?,
        }
        let length = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut bytes = vec![0u8; length];
        link.read_exact(&mut bytes)?;
        Ok(Some(match header[0] {
            STDOUT => Frame::Stdout(bytes),
            STDERR => Frame::Stderr(bytes),
            FINISHED => Frame::Finished,
            kind => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown frame kind {kind}"))),
        }))
    }
}
