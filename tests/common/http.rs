//! Speaking raw HTTP/1.1 to the embedded server over loopback sockets, for
//! the tests that need to see (or send) exactly what is on the wire:
//! `tests/server.rs` and `tests/faults_server.rs`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a raw exchange waits for the server before failing.
pub const RAW_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `request` over a raw socket and reads until the server closes the
/// connection; returns what arrived and how reading ended (`Ok` for a clean
/// close). A failed write is fine: the server may answer and close before
/// an oversized request is all sent, and the answer is what counts.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> (Vec<u8>, io::Result<()>) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(RAW_TIMEOUT))
        .expect("set timeout");
    let _ = stream.write_all(request);
    read_to_close(&mut stream)
}

/// [`exchange`] for answers that may end in a reset after they arrived
/// (the server closed with unread request bytes); panics on a hang or on
/// an error before any answer.
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let (data, ended) = exchange(addr, request);
    answer_or_panic(data, ended)
}

/// Reads `stream` until the server closes it; returns what arrived and how
/// reading ended.
pub fn read_to_close(stream: &mut TcpStream) -> (Vec<u8>, io::Result<()>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (data, Ok(())),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (data, Err(e)),
        }
    }
}

/// [`read_to_close`], tolerating a reset once an answer arrived.
pub fn read_until_close(stream: &mut TcpStream) -> Vec<u8> {
    let (data, ended) = read_to_close(stream);
    answer_or_panic(data, ended)
}

fn answer_or_panic(data: Vec<u8>, ended: io::Result<()>) -> Vec<u8> {
    match ended {
        Ok(()) => data,
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !data.is_empty() => data,
        Err(e) => panic!(
            "reading the answer: {e} after {:?}",
            String::from_utf8_lossy(&data)
        ),
    }
}

/// The first line of a response.
pub fn status_line(data: &[u8]) -> String {
    String::from_utf8_lossy(data)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Splits a raw response into (head, body) at the first blank line.
pub fn split_response(data: &[u8]) -> (String, &[u8]) {
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has a complete head");
    (
        String::from_utf8_lossy(&data[..end]).into_owned(),
        &data[end + 4..],
    )
}

/// The head of a response (everything before the first blank line).
pub fn head_of(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    text.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Asserts a `status` answer that closes the connection.
pub fn assert_rejected(data: &[u8], status: u16, what: &str) {
    let line = status_line(data);
    assert!(
        line.starts_with(&format!("HTTP/1.1 {status} ")),
        "{what}: expected {status}, got {line:?}"
    );
    let head = head_of(data).to_ascii_lowercase();
    assert!(
        head.contains("connection: close"),
        "{what}: no Connection: close in {head:?}"
    );
}
