//! The RTP port range: each call leases one port of it (RTCP shares the
//! port) for as long as its media lasts.
//!
//! Keeping the leases lets a full range refuse a call at once, and a
//! nearly full one find its free ports without trying the taken ones.
//! Without them, a new call tried every port of a full range: thousands of
//! failing socket and bind calls for each INVITE, at exactly the moment
//! the node was already short of CPU.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use rand::rngs::StdRng;
use rand::RngExt;
use tokio::net::UdpSocket;

/// Binds a call tries before it is refused: ports another program holds
/// are not in the leases, so a free-looking port may still be taken.
const ATTEMPTS: usize = 32;

/// The configured range and which of its ports calls hold.
#[derive(Debug, Clone)]
pub struct RtpPorts {
    low: u16,
    high: u16,
    leases: Arc<Mutex<Leases>>,
}

/// Which ports of the range are leased, one bit each, and how many.
#[derive(Debug)]
struct Leases {
    bits: Vec<u64>,
    len: usize,
    count: usize,
}

impl Leases {
    fn is_leased(&self, i: usize) -> bool {
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }

    /// Leases the first free port at or after `from` (wrapping), if any.
    fn take_free(&mut self, from: usize) -> Option<usize> {
        let len = self.len();
        if self.count >= len {
            return None;
        }
        let free = (0..len)
            .map(|k| (from + k) % len)
            .find(|&i| !self.is_leased(i))?;
        self.set(free, true);
        Some(free)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn set(&mut self, i: usize, leased: bool) {
        if leased {
            self.bits[i / 64] |= 1 << (i % 64);
            self.count += 1;
        } else {
            self.bits[i / 64] &= !(1 << (i % 64));
            self.count -= 1;
        }
    }
}

/// A call's hold on one port of the range; dropping it frees the place.
#[derive(Debug)]
pub struct PortLease {
    leases: Arc<Mutex<Leases>>,
    index: usize,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        if leases.is_leased(self.index) {
            leases.set(self.index, false);
        }
    }
}

/// A call's RTP socket with its lease: the port goes back to the range
/// when both are dropped (after [`RtpSocket::into_parts`], when the lease
/// is).
#[derive(Debug)]
pub struct RtpSocket {
    socket: UdpSocket,
    lease: PortLease,
}

impl RtpSocket {
    /// The socket, for a task that drives it elsewhere, and the lease to
    /// drop once the socket is closed.
    pub fn into_parts(self) -> (UdpSocket, PortLease) {
        (self.socket, self.lease)
    }
}

impl std::ops::Deref for RtpSocket {
    type Target = UdpSocket;

    fn deref(&self) -> &UdpSocket {
        &self.socket
    }
}

impl RtpPorts {
    /// The ports `low..=high` (given either way round).
    pub fn new(low: u16, high: u16) -> Self {
        let (low, high) = (low.min(high), low.max(high));
        let len = usize::from(high - low) + 1;
        Self {
            low,
            high,
            leases: Arc::new(Mutex::new(Leases {
                bits: vec![0; len.div_ceil(64)],
                len,
                count: 0,
            })),
        }
    }

    /// Ports in the range: the most calls with media at once.
    pub fn len(&self) -> usize {
        usize::from(self.high - self.low) + 1
    }

    /// Always false: a range holds at least one port.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Ports held by calls now.
    pub fn leased(&self) -> usize {
        self.leases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .count
    }

    /// A socket on a free port of the range, bound to `ip`, with its
    /// lease; `None` at once when every port is leased, or when the free
    /// ones tried were held by other programs. One number is drawn from
    /// `rng` (where the search starts), so a replayed call draws the same
    /// whatever ports are busy.
    pub async fn bind(&self, ip: IpAddr, rng: &mut StdRng) -> Option<RtpSocket> {
        let mut next = rng.random::<u32>() as usize % self.len();
        for _ in 0..ATTEMPTS {
            // The next port not leased, leased at once so that calls
            // binding side by side never pick the same one.
            let index = self
                .leases
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take_free(next)?;
            let lease = PortLease {
                leases: self.leases.clone(),
                index,
            };
            let port = self.low + index as u16;
            if let Ok(socket) = UdpSocket::bind(SocketAddr::new(ip, port)).await {
                return Some(RtpSocket { socket, lease });
            }
            // Held by another program: the lease goes back as it drops,
            // and the search goes on past it.
            next = (index + 1) % self.len();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use rand::SeedableRng;

    use super::*;

    /// A free port of an ephemeral range the test owns: bind port 0, then
    /// use that port alone as the range.
    fn one_free_port() -> u16 {
        let probe = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        probe.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn a_full_range_refuses_at_once_and_a_freed_port_is_leased_again() {
        let port = one_free_port();
        let ports = RtpPorts::new(port, port);
        let mut rng = StdRng::seed_from_u64(1);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let socket = ports.bind(ip, &mut rng).await.unwrap();
        assert_eq!(socket.local_addr().unwrap().port(), port);
        assert_eq!(ports.leased(), 1);
        // Full: refused, and the refused attempt holds nothing.
        assert!(ports.bind(ip, &mut rng).await.is_none());
        assert_eq!(ports.leased(), 1);
        // The socket driven elsewhere, the lease kept: still held.
        let (socket, lease) = socket.into_parts();
        drop(socket);
        assert_eq!(ports.leased(), 1);
        drop(lease);
        assert_eq!(ports.leased(), 0);
        let again = ports.bind(ip, &mut rng).await.unwrap();
        assert_eq!(again.local_addr().unwrap().port(), port);
    }

    #[test]
    fn a_nearly_full_range_finds_its_last_free_port_from_anywhere() {
        let mut leases = Leases {
            bits: vec![0; 2],
            len: 100,
            count: 0,
        };
        for i in (0..100).filter(|&i| i != 73) {
            leases.set(i, true);
        }
        for from in [0, 50, 73, 74, 99] {
            assert_eq!(leases.take_free(from), Some(73));
            leases.set(73, false);
        }
        leases.set(73, true);
        assert_eq!(leases.take_free(5), None, "full");
        assert_eq!(leases.count, 100);
    }

    #[tokio::test]
    async fn a_port_held_by_another_program_is_skipped_in_a_small_range() {
        // Two adjacent ports, one held outside the count.
        let (held, low) = loop {
            let held = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let low = held.local_addr().unwrap().port();
            if low < u16::MAX && std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, low + 1)).is_ok() {
                break (held, low);
            }
        };
        let ports = RtpPorts::new(low, low + 1);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for seed in 0..8 {
            let socket = ports
                .bind(ip, &mut StdRng::seed_from_u64(seed))
                .await
                .unwrap();
            assert_eq!(socket.local_addr().unwrap().port(), low + 1);
        }
        drop(held);
    }
}
