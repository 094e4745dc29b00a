//! The WebSocket transport: WebSocket-only sessions, the polling → WebSocket upgrade
//! (probe, pause, `5`), and the reader that runs on the connection's own thread.
//!
//! The connection thread that received the upgrade request becomes the WebSocket's
//! reader: it parses frames with tungstenite (a 4 KiB read buffer, messages over
//! `max_payload` refused from the frame header) and hands packets to the handlers.
//! Every write goes through the session's [`Writer`], so senders, the heartbeat and
//! the reader's own replies never wait for the peer nor interleave their frames.

pub(crate) mod handshake;
pub(crate) mod writer;

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::protocol::{Role as WsRole, WebSocket, WebSocketConfig};

use self::writer::Writer;
use super::dispatch::Dispatch;
use super::handoff::Duty;
use super::http::listener::ConnGuard;
use super::http::stream::Stream;
use super::http::Exchange;
use super::inner::Inner;
use super::session::{CloseHow, Session, Sink, Upgraded};
use super::Reason;
use crate::packet::Packet;

/// The frames tungstenite reads come from the socket; the replies it writes (pongs,
/// close replies) go through the session's writer, whole frames under its lock.
struct Duplex {
    stream: Arc<Stream>,
    writer: Arc<Writer>,
}

impl Read for Duplex {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        // TLS records rustls wants to send in answer (alerts, key updates) go out in
        // order with the frames, through the writer.
        self.writer.flush_tls()?;
        Ok(n)
    }
}

impl Write for Duplex {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.send_raw(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the reader is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Probing an upgrade of a polling session (probe id).
    Probe(u64),
    /// The session's transport.
    Transport,
}

/// How a reader's conversation ended.
enum End {
    /// The peer closed (close frame, EOF or reset), or the server closed the socket.
    Peer,
    /// The peer broke a rule: close the session with this reason and close code.
    Violation(Reason, u16),
    /// The probe was abandoned or the session is gone: nothing more to report.
    Quiet,
}

/// Takes over the connection of an accepted WebSocket handshake (no sid): writes the
/// `101`, the open packet and what the connect handler queued, then reads until the
/// session ends.
pub(crate) fn serve_handshake(
    inner: &Arc<Inner>,
    session: &Arc<Session>,
    ex: &mut Exchange<'_>,
    accept: &str,
    extra_headers: &[(&str, String)],
    open: &Packet,
) {
    let b64 = wants_b64(ex);
    let (stream, leftover, guard) = ex.take_connection();
    if let Err(e) = write_101(&stream, accept, extra_headers) {
        log::debug!("session {}: writing the 101 failed: {e}", session.sid);
        drop(guard);
        if let Some(d) = inner.close_here(session, Reason::TransportError, CloseHow::NORMAL) {
            d.run_here();
        }
        return;
    }
    let writer = new_writer(inner, &stream, b64, session.version);
    if !session.attach_ws(writer.clone(), open, &inner.budget) {
        // The connect handler closed the session it was accepting.
        writer.close(true, Some(1000));
        return;
    }
    inner.start_heartbeat(session);
    Reader::new(
        inner,
        session,
        stream,
        leftover,
        writer,
        Role::Transport,
        guard,
    )
    .run();
}

/// Takes over the connection of an upgrade request for a polling session. `Err` if
/// the session cannot upgrade now (W5): answer E3, nothing has been written.
pub(crate) fn serve_upgrade(
    inner: &Arc<Inner>,
    session: &Arc<Session>,
    ex: &mut Exchange<'_>,
    accept: &str,
) -> Result<(), ()> {
    let b64 = wants_b64(ex);
    let stream = ex.stream_handle();
    let writer = new_writer(inner, &stream, b64, session.version);
    let Some(id) = session.attach_probe(writer.clone()) else {
        return Err(());
    };
    let (stream, leftover, guard) = ex.take_connection();
    inner.schedule_upgrade_timeout(session, id);
    if let Err(e) = write_101(&stream, accept, &[]) {
        log::debug!("session {}: writing the 101 failed: {e}", session.sid);
        if let Some(gen) = session.abort_probe(id) {
            inner.schedule_ping(session, gen);
        }
        return Ok(());
    }
    log::debug!("session {}: probing websocket {id}", session.sid);
    Reader::new(
        inner,
        session,
        stream,
        leftover,
        writer,
        Role::Probe(id),
        guard,
    )
    .run();
    Ok(())
}

/// A WebSocket for a session that already has or is opening one (W5): `101`, then at
/// once a close frame 1000, and the connection ends once the peer answers (at most
/// [`CLOSE_WAIT`]). The session is not touched. WebSocket clients report this as a
/// close, where a refused handshake would be an error.
pub(crate) fn refuse_second(ex: &mut Exchange<'_>, accept: &str) {
    let (stream, _, guard) = ex.take_connection();
    log::debug!("a second websocket for a session that has one: closed at once");
    let close = [0x88, 0x02, 0x03, 0xe8];
    if write_101(&stream, accept, &[]).is_ok() && stream.write_all(&close).is_ok() {
        drain(&stream);
    }
    stream.shutdown(Shutdown::Both);
    drop(guard);
}

fn wants_b64(ex: &Exchange<'_>) -> bool {
    ex.request.query("b64").is_some_and(|v| !v.is_empty())
}

fn new_writer(
    inner: &Arc<Inner>,
    stream: &Arc<Stream>,
    b64: bool,
    version: crate::ProtocolVersion,
) -> Arc<Writer> {
    let config = inner.config();
    Writer::new(
        stream.clone(),
        b64,
        version,
        config.max_buffered,
        config.limits.write_timeout,
        inner.budget.clone(),
    )
}

fn write_101(stream: &Stream, accept: &str, extra: &[(&str, String)]) -> io::Result<()> {
    // Reads block from now on: the heartbeat and the upgrade timeout bound them.
    stream.tcp().set_read_timeout(None)?;
    let head = handshake::switching_protocols(accept, extra);
    stream.write_all(&head)
}

/// A WebSocket's reader: everything its connection thread needs, so that it can move
/// to another thread while its own runs a slow handler.
pub(crate) struct Reader {
    inner: Arc<Inner>,
    session: Arc<Session>,
    ws: WebSocket<Duplex>,
    stream: Arc<Stream>,
    writer: Arc<Writer>,
    role: Role,
    /// The connection's registration with the listener (its slot for parking).
    guard: Option<ConnGuard>,
}

impl Reader {
    fn new(
        inner: &Arc<Inner>,
        session: &Arc<Session>,
        stream: Arc<Stream>,
        leftover: Vec<u8>,
        writer: Arc<Writer>,
        role: Role,
        guard: Option<ConnGuard>,
    ) -> Box<Reader> {
        let max = inner.config().max_payload;
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(0)
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        let duplex = Duplex {
            stream: stream.clone(),
            writer: writer.clone(),
        };
        Box::new(Reader {
            inner: inner.clone(),
            session: session.clone(),
            ws: WebSocket::from_partially_read(duplex, leftover, WsRole::Server, Some(config)),
            stream,
            writer,
            role,
            guard,
        })
    }

    /// Reads until the conversation ends (on this thread, or on another if a handler
    /// holds this one too long).
    pub(crate) fn run(mut self: Box<Self>) {
        let end = loop {
            let packet = match self.ws.read() {
                Ok(m @ (tungstenite::Message::Text(_) | tungstenite::Message::Binary(_))) => {
                    match crate::transport::ws::from_message_for(m, self.session.version) {
                        Ok(Some(p)) => p,
                        Ok(None) => continue,
                        Err(e) => {
                            log::debug!(
                                "session {}: undecodable websocket packet: {e}",
                                self.session.sid
                            );
                            break End::Violation(Reason::ParseError, 1002);
                        }
                    }
                }
                Ok(tungstenite::Message::Close(_)) => {
                    // Let tungstenite's close reply out before the session closes.
                    let _ = self.ws.flush();
                    break End::Peer;
                }
                Ok(_) => continue, // WebSocket ping/pong: answered by tungstenite (W11).
                Err(e) => break classify(&self.session, e),
            };
            let (inner, session) = (&self.inner, &self.session);
            match self.role {
                Role::Probe(id) => match packet {
                    Packet::Ping(data) if data == "probe" => {
                        if !session.probe_pinged(id) {
                            break End::Quiet;
                        }
                    }
                    Packet::Upgrade => match session.complete_upgrade(id, &inner.budget) {
                        Upgraded::Open { gen, dispatch } => {
                            log::info!("session {} upgraded to websocket", session.sid);
                            inner.schedule_ping(session, gen);
                            self.role = Role::Transport;
                            if dispatch {
                                // The upgrade handler (and whatever follows it).
                                let d = Dispatch::new(inner, session);
                                match self.dispatch_here(d) {
                                    Some(me) => self = me,
                                    None => return,
                                }
                            }
                        }
                        Upgraded::Closed { forget } => {
                            // Closed meanwhile: the close went over this WebSocket.
                            inner.close_delivered(session, forget);
                            self.role = Role::Transport;
                        }
                        Upgraded::Stale => break End::Quiet,
                    },
                    other => {
                        log::debug!(
                            "session {}: unexpected {:?} packet on a probing websocket",
                            session.sid,
                            other.packet_type()
                        );
                        break End::Quiet;
                    }
                },
                Role::Transport => {
                    if !session.is_open() {
                        // Closed by the server: wait for the peer's close, drop the rest.
                        continue;
                    }
                    let mut dispatch = None;
                    let full = inner.receive(session, packet, &mut dispatch);
                    if let Some(d) = dispatch {
                        match self.dispatch_here(d) {
                            Some(me) => self = me,
                            None => return,
                        }
                    } else if full {
                        session.wait_for_room();
                    }
                }
            }
        };
        self.finish(end);
    }

    /// Runs the session's handlers on this thread; `None` if another thread reads on
    /// meanwhile (a handler took long) or the server shut down.
    fn dispatch_here(self: Box<Self>, d: Dispatch) -> Option<Box<Self>> {
        let slot = self.guard.as_ref().map(|g| g.slot().clone());
        match d.run_inline(slot.as_ref(), Duty::Ws(self)) {
            Some(Duty::Ws(me)) => Some(me),
            Some(Duty::Http(_)) | None => None,
        }
    }

    /// Shuts the connection down (it is being given up).
    pub(crate) fn shutdown(&self) {
        self.stream.shutdown(Shutdown::Both);
    }

    fn finish(self: Box<Self>, end: End) {
        let Reader {
            inner,
            session,
            stream,
            writer,
            role,
            guard,
            ws,
        } = *self;
        drop(ws);
        if let Role::Probe(id) = role {
            // X3: the session carries on over polling.
            if let Some(gen) = session.abort_probe(id) {
                inner.schedule_ping(&session, gen);
            }
            stream.shutdown(Shutdown::Both);
            return;
        }
        let dispatch = match end {
            End::Violation(reason, code) => {
                let d = inner.close_here(
                    &session,
                    reason,
                    CloseHow {
                        now: false,
                        ws_code: Some(code),
                    },
                );
                drain(&stream);
                d
            }
            End::Peer | End::Quiet => {
                let reason = if writer.failed() {
                    Reason::TransportError
                } else {
                    Reason::TransportClose
                };
                inner.close_here(&session, reason, CloseHow::NORMAL)
            }
        };
        stream.shutdown(Shutdown::Both);
        // The connection is over: it no longer counts, whatever the handler does.
        drop(guard);
        if let Some(d) = dispatch {
            d.run_here();
        }
    }
}

/// Maps a tungstenite read error to how the conversation ends (W6–W9).
fn classify(session: &Session, e: tungstenite::Error) -> End {
    use tungstenite::Error as E;
    match e {
        E::ConnectionClosed
        | E::AlreadyClosed
        | E::Io(_)
        | E::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => End::Peer,
        E::Capacity(c) => {
            log::debug!("session {}: websocket message too large: {c}", session.sid);
            End::Violation(Reason::TransportError, 1009)
        }
        E::Utf8(_) => {
            log::debug!("session {}: invalid UTF-8 in a text frame", session.sid);
            End::Violation(Reason::TransportError, 1007)
        }
        other => {
            log::debug!("session {}: websocket protocol error: {other}", session.sid);
            End::Violation(Reason::TransportError, 1002)
        }
    }
}

/// After our close frame: waits (at most [`CLOSE_WAIT`]) for the peer's close frame
/// or EOF, discarding the data frames it still sends.
fn drain(stream: &Stream) {
    let stream = &**stream.tcp();
    let deadline = Instant::now() + CLOSE_WAIT;
    let mut buf = [0u8; 512];
    loop {
        let now = Instant::now();
        if now >= deadline || stream.set_read_timeout(Some(deadline - now)).is_err() {
            return;
        }
        match (&*stream).read(&mut buf) {
            Ok(0) => return,
            // A read that starts with a close frame's first byte: the peer's reply.
            Ok(_) if buf[0] == 0x88 => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// tungstenite's read buffer per connection: 4 KiB instead of its 128 KiB default,
/// which it zero-fills, and which would cost ~160 KB per idle connection.
const READ_BUFFER: usize = 4096;

const CLOSE_WAIT: Duration = Duration::from_secs(1);
