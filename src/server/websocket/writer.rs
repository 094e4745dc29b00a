//! The write side of a server WebSocket, shared by every thread that sends to it.
//!
//! Every byte written to the socket after the `101` goes through one [`Writer`], under
//! its lock, one whole frame at a time: application sends, heartbeat pings, the
//! reader's automatic pong and close replies. So frames never interleave.
//!
//! A send never waits for the peer. The writer tries a non-blocking `send(2)`; whatever
//! the kernel does not take at once is kept, in order, and a short-lived flusher
//! thread writes it out, giving up (and failing the session) if the socket makes no
//! progress for the send timeout. A healthy peer never needs a flusher; a peer that
//! stops reading costs one thread until it catches up or times out, and never blocks
//! the sender, other sessions or a broadcast.

use std::collections::VecDeque;
use std::io;
use std::net::Shutdown;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use socket2::SockRef;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use crate::packet::Packet;
use crate::server::http::stream::Stream;
use crate::server::session::{Budget, Sink, WriteError};
use crate::transport::ws;
use crate::ProtocolVersion;

struct State {
    /// Frames (or their unwritten tails) waiting for the socket, oldest first.
    pending: VecDeque<Bytes>,
    pending_bytes: usize,
    flusher: bool,
    /// No frame is taken any more.
    closed: bool,
    /// The socket failed or stalled: the session ends with `transport error`.
    failed: bool,
}

/// The write side of one WebSocket connection.
pub(crate) struct Writer {
    stream: Arc<Stream>,
    state: Mutex<State>,
    /// Whether binary messages go out as `b`+base64 text frames (the `b64` query).
    pub b64: bool,
    /// The session's protocol version (v3 binary frames carry a type byte).
    pub version: ProtocolVersion,
    max_pending: usize,
    send_timeout: Duration,
    /// The server-wide count of waiting outbound bytes, which ours are part of.
    budget: Arc<Budget>,
    /// Itself, for the flusher thread.
    me: Weak<Writer>,
}

const SEND_FLAGS: i32 = libc::MSG_NOSIGNAL;

impl Writer {
    /// A writer for `stream`. `send_timeout` is also set as the socket's `SO_SNDTIMEO`,
    /// which only the flusher's blocking writes observe.
    pub(crate) fn new(
        stream: Arc<Stream>,
        b64: bool,
        version: ProtocolVersion,
        max_pending: usize,
        send_timeout: Duration,
        budget: Arc<Budget>,
    ) -> Arc<Writer> {
        let _ = stream
            .tcp()
            .set_write_timeout(Some(send_timeout.max(Duration::from_millis(1))));
        Arc::new_cyclic(|me| Writer {
            me: me.clone(),
            stream,
            state: Mutex::new(State {
                pending: VecDeque::new(),
                pending_bytes: 0,
                flusher: false,
                closed: false,
                failed: false,
            }),
            b64,
            version,
            max_pending,
            send_timeout,
            budget,
        })
    }

    /// Takes whole frames: refused whole (limits) or taken for good.
    fn push(&self, st: &mut State, bytes: Bytes) -> Result<(), WriteError> {
        if bytes.is_empty() {
            return Ok(());
        }
        if !st.pending.is_empty() {
            if st.pending_bytes + bytes.len() > self.max_pending {
                log::warn!(
                    "websocket peer is not reading: over {} bytes waiting",
                    self.max_pending
                );
                self.fail(st);
                return Err(WriteError::Overflow);
            }
            if self.budget.used().saturating_add(bytes.len()) > self.budget.limit() {
                // Nothing of this frame was written: it can be refused whole.
                return Err(WriteError::OverBudget);
            }
        }
        // Taken: on TLS it is encrypted now, under our lock, so records stay in order.
        let bytes = if self.stream.is_tls() {
            let mut out = Vec::with_capacity(bytes.len() + 64);
            if let Err(e) = self.stream.encrypt(&bytes, &mut out) {
                log::debug!("websocket TLS write failed: {e}");
                self.fail(st);
                return Err(WriteError::Failed);
            }
            Bytes::from(out)
        } else {
            bytes
        };
        self.push_wire(st, bytes)
    }

    /// Takes bytes as they go on the wire, in order, without waiting.
    fn push_wire(&self, st: &mut State, bytes: Bytes) -> Result<(), WriteError> {
        if bytes.is_empty() {
            return Ok(());
        }
        if !st.pending.is_empty() {
            self.budget.charge(bytes.len());
            st.pending_bytes += bytes.len();
            st.pending.push_back(bytes);
            return Ok(());
        }
        let sock = SockRef::from(&**self.stream.tcp());
        let mut off = 0;
        loop {
            match sock.send_with_flags(&bytes[off..], SEND_FLAGS | libc::MSG_DONTWAIT) {
                Ok(n) => {
                    off += n;
                    if off == bytes.len() {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let rest = bytes.slice(off..);
                    // Part of the frame may be out already: the rest must follow.
                    self.budget.charge(rest.len());
                    st.pending_bytes += rest.len();
                    st.pending.push_back(rest);
                    if !st.flusher {
                        st.flusher = true;
                        let me = self.me.upgrade().expect("a writer in use is alive");
                        let spawned = thread::Builder::new()
                            .name("eio-ws-flush".into())
                            .stack_size(64 * 1024)
                            .spawn(move || me.flush_loop());
                        if let Err(e) = spawned {
                            log::error!("cannot start a websocket flusher: {e}");
                            st.flusher = false;
                            self.fail(st);
                            return Err(WriteError::Failed);
                        }
                    }
                    return Ok(());
                }
                Err(e) => {
                    log::debug!("websocket write failed: {e}");
                    self.fail(st);
                    return Err(WriteError::Failed);
                }
            }
        }
    }

    /// Writes what is pending with blocking writes, each bounded by the send timeout.
    fn flush_loop(self: Arc<Self>) {
        let sock = SockRef::from(&**self.stream.tcp());
        loop {
            let chunk = {
                let mut st = self.state.lock();
                match st.pending.front() {
                    Some(c) if !st.failed => c.clone(),
                    _ => {
                        st.flusher = false;
                        return;
                    }
                }
            };
            match sock.send_with_flags(&chunk, SEND_FLAGS) {
                Ok(n) => {
                    let mut st = self.state.lock();
                    st.pending_bytes -= n;
                    self.budget.release(n);
                    if n == chunk.len() {
                        st.pending.pop_front();
                    } else if let Some(front) = st.pending.front_mut() {
                        *front = chunk.slice(n..);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) {
                        log::warn!(
                            "websocket peer read nothing for {:?}: closing",
                            self.send_timeout
                        );
                    } else {
                        log::debug!("websocket write failed: {e}");
                    }
                    let mut st = self.state.lock();
                    st.flusher = false;
                    self.fail(&mut st);
                    return;
                }
            }
        }
    }

    fn fail(&self, st: &mut State) {
        st.failed = true;
        st.closed = true;
        st.pending.clear();
        self.budget.release(std::mem::take(&mut st.pending_bytes));
        // Wakes the reader, which ends the session.
        self.stream.shutdown(Shutdown::Both);
    }

    /// Ends the conversation: optionally the Engine.IO close packet `1`, then a close
    /// frame with `code` (if any). Nothing is taken after it. Idempotent.
    pub(crate) fn close(&self, close_packet: bool, code: Option<u16>) {
        let mut st = self.state.lock();
        if st.closed {
            return;
        }
        let mut out = Vec::with_capacity(8);
        if close_packet {
            write_frame(&mut out, OpCode::Data(Data::Text), b"1");
        }
        if let Some(code) = code {
            write_frame(
                &mut out,
                OpCode::Control(tungstenite::protocol::frame::coding::Control::Close),
                &code.to_be_bytes(),
            );
        }
        let _ = self.push(&mut st, Bytes::from(out));
        st.closed = true;
    }

    /// Whether a close frame has been queued (or the writer failed).
    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// TLS records rustls wants to send that no frame carried (an alert, a key
    /// update's reply), in order with the frames.
    pub(crate) fn flush_tls(&self) -> io::Result<()> {
        if !self.stream.is_tls() {
            return Ok(());
        }
        let mut st = self.state.lock();
        if st.failed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let mut out = Vec::new();
        if self.stream.pending_output(&mut out)? {
            self.push_wire(&mut st, Bytes::from(out))
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        }
        Ok(())
    }

    /// Raw bytes from tungstenite (its automatic pong and close replies): whole frames,
    /// dropped once the writer is closed.
    pub(crate) fn send_raw(&self, bytes: &[u8]) -> io::Result<()> {
        let mut st = self.state.lock();
        if st.closed {
            return if st.failed {
                Err(io::ErrorKind::BrokenPipe.into())
            } else {
                Ok(())
            };
        }
        match self.push(&mut st, Bytes::copy_from_slice(bytes)) {
            Ok(()) => Ok(()),
            Err(_) => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }
}

impl Sink for Writer {
    fn b64(&self) -> bool {
        self.b64
    }

    fn version(&self) -> ProtocolVersion {
        self.version
    }

    fn send(&self, frames: Bytes) -> Result<(), WriteError> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(WriteError::Closed);
        }
        self.push(&mut st, frames)
    }

    fn close(&self, close_packet: bool, code: Option<u16>) {
        Writer::close(self, close_packet, code)
    }

    fn shutdown(&self) {
        self.stream.shutdown(Shutdown::Both);
    }

    fn failed(&self) -> bool {
        self.state.lock().failed
    }

    fn pending_bytes(&self) -> usize {
        self.state.lock().pending_bytes
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.budget.release(self.state.get_mut().pending_bytes);
    }
}

/// Appends one unmasked, final frame (a server's frame) to `out`.
fn write_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let header = FrameHeader {
        opcode,
        ..FrameHeader::default()
    };
    // Writing to a Vec cannot fail.
    let _ = header.format(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// The WebSocket frame that carries `packet` (W1, W2, W4; V9 on v3): binary messages as
/// binary frames of their raw bytes (after the type byte `04` on v3), or `b`+base64
/// text when `b64`; everything else as the version's text form.
pub(crate) fn encode_frame(packet: &Packet, b64: bool, version: ProtocolVersion) -> Bytes {
    let mut out = Vec::with_capacity(ws::text_len(packet, version) + 10);
    match ws::frame_for(packet, b64, version) {
        ws::VersionFrame::Binary { prefix, data } => {
            let header = FrameHeader {
                opcode: OpCode::Data(Data::Binary),
                ..FrameHeader::default()
            };
            let _ = header.format((prefix.len() + data.len()) as u64, &mut out);
            out.extend_from_slice(prefix);
            out.extend_from_slice(data);
        }
        ws::VersionFrame::Text => {
            // The text form is written straight after the header: no interim String.
            let header = FrameHeader {
                opcode: OpCode::Data(Data::Text),
                ..FrameHeader::default()
            };
            let _ = header.format(ws::text_len(packet, version) as u64, &mut out);
            ws::text_into(packet, version, &mut out);
        }
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    use crate::ProtocolVersion::{V3, V4};

    #[test]
    fn v3_binary_frames_carry_the_type_byte() {
        let f = encode_frame(&Packet::binary(vec![1u8, 2, 3, 4]), false, V3);
        assert_eq!(&f[..], b"\x82\x05\x04\x01\x02\x03\x04");
        let f = encode_frame(&Packet::binary(vec![1u8, 2, 3, 4]), true, V3);
        assert_eq!(&f[..], b"\x81\x0ab4AQIDBA==");
        let f = encode_frame(&Packet::text("hi"), false, V3);
        assert_eq!(&f[..], b"\x81\x034hi");
    }

    #[test]
    fn frames_are_unmasked_and_final() {
        let f = encode_frame(&Packet::text("hi"), false, V4);
        assert_eq!(&f[..], b"\x81\x034hi");
        let f = encode_frame(&Packet::binary(vec![1u8, 2, 3]), false, V4);
        assert_eq!(&f[..], b"\x82\x03\x01\x02\x03");
        let f = encode_frame(&Packet::binary(vec![1u8, 2, 3]), true, V4);
        assert_eq!(&f[..], b"\x81\x05bAQID");
        let big = "x".repeat(70_000);
        let f = encode_frame(&Packet::text(big), false, V4);
        assert_eq!(&f[..2], b"\x81\x7f");
        assert_eq!(f.len(), 10 + 70_001);
    }

    #[test]
    fn close_writes_packet_then_close_frame() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        let w = Writer::new(
            Arc::new(Stream::plain(Arc::new(s))),
            false,
            V4,
            1 << 20,
            Duration::from_secs(1),
            Arc::new(Budget::new(usize::MAX)),
        );
        w.close(true, Some(1000));
        assert!(w.is_closed());
        assert_eq!(w.send(Bytes::from_static(b"x")), Err(WriteError::Closed));
        let mut buf = [0u8; 7];
        use std::io::Read;
        (&c).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"\x81\x011\x88\x02\x03\xe8");
    }

    #[test]
    fn a_peer_that_does_not_read_never_blocks_the_sender() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        let budget = Arc::new(Budget::new(usize::MAX));
        let w = Writer::new(
            Arc::new(Stream::plain(Arc::new(s))),
            false,
            V4,
            64 << 20,
            Duration::from_millis(300),
            budget.clone(),
        );
        let frame = encode_frame(&Packet::text("y".repeat(64 * 1024)), false, V4);
        let start = std::time::Instant::now();
        for _ in 0..200 {
            w.send(frame.clone()).unwrap();
        }
        // 13 MB cannot all fit in the socket buffers: some waits, none blocked us.
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(w.pending_bytes() > 0);
        // The peer never reads: the flusher gives up after the send timeout.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !w.failed() {
            assert!(
                std::time::Instant::now() < deadline,
                "stalled peer not detected"
            );
            thread::sleep(Duration::from_millis(20));
        }
        // What was waiting is no longer counted server-wide.
        assert_eq!(budget.used(), 0);
        drop(c);
    }
}
