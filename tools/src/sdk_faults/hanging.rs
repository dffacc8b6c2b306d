//! Endpoints that never answer, for the SDK-boundary faults [`Fault::Hang`](super::Fault::Hang)
//! (the request is never applied) and [`Fault::HangApplied`](super::Fault::HangApplied) (it is
//! passed on to the server named in its [`FORWARD_TO`] header and applied, and its answer is
//! never passed back). Each runs on its own threads (a test's runtime may end before a
//! connection it left hanging), and every hung connection is kept open for the life of the
//! process, so the client waits until its own deadline cuts the call.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock};

/// The header that names the server (`host:port`) a [`Fault::HangApplied`](super::Fault::HangApplied)
/// request is passed on to.
pub const FORWARD_TO: &str = "x-shop-forward-to";

/// Connections held open, never answered.
static HELD: Mutex<Vec<TcpStream>> = Mutex::new(Vec::new());

fn hold(stream: TcpStream) {
    HELD.lock().unwrap_or_else(|p| p.into_inner()).push(stream);
}

/// Serves `handle` on each connection of a new listener, on its own threads; its address.
fn serve(handle: fn(TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a hanging endpoint");
    let addr = listener.local_addr().expect("its address").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || handle(stream));
        }
    });
    addr
}

/// An endpoint that accepts and never reads nor answers: nothing is applied.
pub fn never_answers() -> String {
    static ADDR: OnceLock<String> = OnceLock::new();
    ADDR.get_or_init(|| serve(hold)).clone()
}

/// An endpoint that passes the request on to its [`FORWARD_TO`] server, waits for that server's
/// answer (so the request was applied) and never passes it back.
pub fn applies_and_never_answers() -> String {
    static ADDR: OnceLock<String> = OnceLock::new();
    ADDR.get_or_init(|| serve(forward_then_hold)).clone()
}

fn forward_then_hold(client: TcpStream) {
    if let Some((request, target)) = read_message(&client, true) {
        if let Ok(mut server) = TcpStream::connect(&target) {
            if server.write_all(&request).is_ok() {
                let _ = read_message(&server, false);
            }
        }
    }
    hold(client);
}

/// Reads one HTTP/1.1 message with a `Content-Length` body; its bytes, and (for a request) the
/// [`FORWARD_TO`] header's value.
fn read_message(stream: &TcpStream, request: bool) -> Option<(Vec<u8>, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut bytes = Vec::new();
    let (mut length, mut target) = (0usize, String::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        bytes.extend_from_slice(line.as_bytes());
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = value.parse().ok()?;
            } else if request && name == FORWARD_TO {
                target = value.to_owned();
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    bytes.extend_from_slice(&body);
    Some((bytes, target))
}
