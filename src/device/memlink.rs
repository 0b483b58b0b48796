//! An in-memory Ethernet link: two [`MemDevice`] ends joined by a pair of queues.
//!
//! For unit tests of the stack above the device: frames sent on one end are received on the other, in
//! order, with nothing lost. Simulations that need loss, delay or corruption take the frames from the
//! stacks themselves and model the link in virtual time.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Device, DeviceCaps};

type Queue = Arc<Mutex<VecDeque<Vec<u8>>>>;

/// One end of an in-memory link.
pub struct MemDevice {
    caps: DeviceCaps,
    inbound: Queue,
    outbound: Queue,
}

/// Two devices joined back to back.
pub fn pair(caps: DeviceCaps) -> (MemDevice, MemDevice) {
    let a: Queue = Arc::default();
    let b: Queue = Arc::default();
    (
        MemDevice {
            caps,
            inbound: a.clone(),
            outbound: b.clone(),
        },
        MemDevice {
            caps,
            inbound: b,
            outbound: a,
        },
    )
}

impl MemDevice {
    /// Frames waiting to be received on this end.
    pub fn pending(&self) -> usize {
        self.inbound.lock().len()
    }
}

impl Device for MemDevice {
    fn caps(&self) -> DeviceCaps {
        self.caps
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let Some(frame) = self.inbound.lock().pop_front() else {
            return Ok(None);
        };
        let n = frame.len().min(buf.len());
        buf[..n].copy_from_slice(&frame[..n]);
        Ok(Some(n))
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.outbound.lock().push_back(frame.to_vec());
        Ok(())
    }

    fn poll_fd(&self) -> Option<crate::sys::SharedFd> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cross_in_order() {
        let (mut a, mut b) = pair(DeviceCaps::default());
        a.send(b"one").unwrap();
        a.send(b"two").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(b.recv(&mut buf).unwrap(), Some(3));
        assert_eq!(&buf[..3], b"one");
        assert_eq!(b.recv(&mut buf).unwrap(), Some(3));
        assert_eq!(&buf[..3], b"two");
        assert_eq!(b.recv(&mut buf).unwrap(), None);
        assert_eq!(a.pending(), 0);
    }
}
