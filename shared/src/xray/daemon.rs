//! The X-Ray daemon, as the functions reach it: one UDP datagram per segment document, the
//! daemon's header line (`{"format": "json", "version": 1}`) then the document. Lambda runs the
//! daemon for sampled invocations at `AWS_XRAY_DAEMON_ADDRESS`.
//!
//! Best effort: a non-blocking send on one socket opened at the first send; a failure is counted
//! ([`Daemon::dropped`]) and otherwise ignored, so tracing can never fail or slow a request.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The line every datagram to the daemon starts with.
pub const HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";
/// Where the daemon listens unless `AWS_XRAY_DAEMON_ADDRESS` says otherwise.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:2000";

/// The daemon's UDP address from `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or the two-protocol form
/// `tcp:host:port udp:host:port` (its `udp:` part).
pub fn address_from(value: Option<&str>) -> Option<SocketAddr> {
    let value = value.map(str::trim).filter(|v| !v.is_empty());
    let udp = match value {
        None => DEFAULT_ADDRESS,
        Some(v) => v
            .split_whitespace()
            .find_map(|part| part.strip_prefix("udp:"))
            .unwrap_or(v),
    };
    udp.parse().ok()
}

#[derive(Debug)]
pub struct Daemon {
    address: Option<SocketAddr>,
    socket: OnceLock<Option<UdpSocket>>,
    sent: AtomicU64,
    dropped: AtomicU64,
}

impl Daemon {
    /// The daemon at `address` (`None`: nothing is ever sent, every document is dropped).
    pub fn new(address: Option<SocketAddr>) -> Self {
        Self {
            address,
            socket: OnceLock::new(),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// The daemon `AWS_XRAY_DAEMON_ADDRESS` names (else [`DEFAULT_ADDRESS`]).
    pub fn from_env() -> Self {
        Self::new(address_from(
            std::env::var("AWS_XRAY_DAEMON_ADDRESS").ok().as_deref(),
        ))
    }

    fn socket(&self, to: SocketAddr) -> Option<&UdpSocket> {
        self.socket
            .get_or_init(|| {
                let any: SocketAddr = if to.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0_u16; 8], 0).into()
                };
                let socket = UdpSocket::bind(any).ok()?;
                socket.set_nonblocking(true).ok()?;
                Some(socket)
            })
            .as_ref()
    }

    /// Sends one segment document (JSON); never blocks, never fails.
    pub fn send(&self, document: &str) {
        let sent = self.address.and_then(|to| {
            let socket = self.socket(to)?;
            let mut datagram = String::with_capacity(HEADER.len() + document.len());
            datagram.push_str(HEADER);
            datagram.push_str(document);
            socket.send_to(datagram.as_bytes(), to).ok()
        });
        let counter = if sent.is_some() {
            &self.sent
        } else {
            &self.dropped
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Documents handed to the socket.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Documents that could not be sent (no socket, no address, a full buffer).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_read_in_both_forms_with_the_default_when_unset() {
        let default: SocketAddr = DEFAULT_ADDRESS.parse().expect("addr");
        assert_eq!(address_from(None), Some(default));
        assert_eq!(address_from(Some(" ")), Some(default));
        assert_eq!(
            address_from(Some("169.254.79.129:2000")),
            "169.254.79.129:2000".parse().ok()
        );
        assert_eq!(
            address_from(Some("tcp:127.0.0.1:2000 udp:127.0.0.2:2001")),
            "127.0.0.2:2001".parse().ok()
        );
        assert_eq!(address_from(Some("not an address")), None);
    }

    #[test]
    fn a_document_goes_out_as_one_datagram_after_the_header() {
        let listener = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let daemon = Daemon::new(listener.local_addr().ok());
        daemon.send(r#"{"id":"1"}"#);
        let mut buf = [0_u8; 512];
        let n = listener.recv(&mut buf).expect("a datagram");
        assert_eq!(
            std::str::from_utf8(&buf[..n]).expect("utf-8"),
            "{\"format\": \"json\", \"version\": 1}\n{\"id\":\"1\"}"
        );
        assert_eq!((daemon.sent(), daemon.dropped()), (1, 0));
        let nowhere = Daemon::new(None);
        nowhere.send("{}");
        assert_eq!((nowhere.sent(), nowhere.dropped()), (0, 1));
    }
}
