//! A WebSocket test client (tungstenite on a plain `TcpStream`) for the server's
//! integration tests: every frame the server sends is visible.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use tungstenite::protocol::frame::coding::CloseCode;
pub use tungstenite::Message as Frame;
use tungstenite::WebSocket;

pub type Ws = WebSocket<TcpStream>;

/// A refused WebSocket handshake: the HTTP status and body.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: String,
    pub connection_close: bool,
}

/// Opens a WebSocket to `/engine.io/?{query}`.
pub fn try_connect(addr: SocketAddr, query: &str) -> Result<Ws, Refused> {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let url = format!("ws://{addr}/engine.io/?{query}");
    match tungstenite::client::client(url.as_str(), stream) {
        Ok((ws, resp)) => {
            assert_eq!(resp.status(), 101);
            Ok(ws)
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => Err(Refused {
            status: resp.status().as_u16(),
            body: resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
            connection_close: resp
                .headers()
                .get("connection")
                .is_some_and(|v| v.to_str().unwrap_or("").eq_ignore_ascii_case("close")),
        }),
        Err(e) => panic!("websocket handshake failed: {e}"),
    }
}

pub fn connect(addr: SocketAddr, query: &str) -> Ws {
    try_connect(addr, query).unwrap_or_else(|r| panic!("refused: {r:?}"))
}

/// A WebSocket-only session: the socket and its sid (read from the open packet).
pub fn open(addr: SocketAddr) -> (Ws, String) {
    let mut ws = connect(addr, "EIO=4&transport=websocket");
    let open = recv_text(&mut ws);
    assert!(open.starts_with("0{"), "{open}");
    let v: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    (ws, v["sid"].as_str().unwrap().to_string())
}

/// The next data or close frame (WebSocket pings and pongs skipped).
pub fn recv(ws: &mut Ws) -> Frame {
    loop {
        match ws.read() {
            Ok(Frame::Ping(_)) | Ok(Frame::Pong(_)) => continue,
            Ok(m) => return m,
            Err(e) => panic!("websocket read failed: {e}"),
        }
    }
}

pub fn recv_text(ws: &mut Ws) -> String {
    match recv(ws) {
        Frame::Text(t) => t.as_str().to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

pub fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Frame::text(text)).unwrap();
}

/// Reads until the server's close frame and returns its code (data frames before it
/// are returned too).
pub fn recv_until_close(ws: &mut Ws) -> (Vec<Frame>, Option<u16>) {
    let mut frames = Vec::new();
    loop {
        match ws.read() {
            Ok(Frame::Close(c)) => return (frames, c.map(|c| u16::from(c.code))),
            Ok(Frame::Ping(_)) | Ok(Frame::Pong(_)) => {}
            Ok(m) => frames.push(m),
            Err(tungstenite::Error::ConnectionClosed) => return (frames, None),
            Err(e) => panic!("websocket read failed before the close frame: {e}"),
        }
    }
}

/// Whether a close code is the one expected (for messages).
pub fn code(c: u16) -> CloseCode {
    CloseCode::from(c)
}

/// W5: a second WebSocket for a session that has (or is opening) one gets `101`, then
/// at once a close frame 1000 and nothing else.
pub fn assert_refused_with_close(addr: SocketAddr, query: &str) {
    let mut ws = connect(addr, query);
    let (frames, code) = recv_until_close(&mut ws);
    assert!(frames.is_empty(), "{frames:?}");
    assert_eq!(code, Some(1000));
}
