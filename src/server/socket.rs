//! One Engine.IO session: its state, its outgoing queue and its heartbeat state.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

use super::websocket::writer::{encode_frame, WriteError, Writer};
use super::{Reason, Sid, Transport};
use crate::packet::Packet;

/// An outgoing packet, shared by every recipient of a broadcast: its WebSocket frames
/// are encoded once, on first use.
pub(crate) struct Outgoing {
    pub packet: Arc<Packet>,
    frame: OnceLock<Bytes>,
    b64_frame: OnceLock<Bytes>,
}

impl Outgoing {
    pub(crate) fn new(packet: Packet) -> Outgoing {
        Outgoing {
            packet: Arc::new(packet),
            frame: OnceLock::new(),
            b64_frame: OnceLock::new(),
        }
    }

    fn frame(&self, b64: bool) -> Bytes {
        let cell = if b64 { &self.b64_frame } else { &self.frame };
        cell.get_or_init(|| encode_frame(&self.packet, b64)).clone()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The connect handler is running: invisible to requests (H3).
    Connecting,
    Open,
    /// Closed by the server while no long-poll was waiting: kept until a long-poll
    /// collects the close packet (C3).
    Lingering,
    Closed,
}

struct State {
    phase: Phase,
    reason: Option<Reason>,
    disconnect_due: Option<Reason>,
    queue: VecDeque<Arc<Packet>>,
    queued_bytes: usize,
    transport: Transport,
    /// The id of the long-poll waiting now (0: none).
    get_pending: u64,
    next_get: u64,
    /// A long-poll displaced by a duplicate: it answers `1`.
    displaced_get: u64,
    post_in_flight: bool,
    /// Bumped to cancel every scheduled timer of the session.
    hb_gen: u64,
    ping_outstanding: bool,
    /// The WebSocket the session uses (WebSocket-only, or upgraded).
    ws: Option<Arc<Writer>>,
    /// A WebSocket opened to upgrade, with its id.
    probe: Option<(u64, Arc<Writer>)>,
    next_probe: u64,
    /// The probe was answered: polling is paused until the upgrade ends.
    upgrading: bool,
}

/// A session.
pub(crate) struct Socket {
    pub sid: Sid,
    state: Mutex<State>,
    wake: Condvar,
    /// Held while a handler of this session runs: calls never overlap.
    pub handler_lock: Mutex<()>,
    pub data: Mutex<Option<Box<dyn Any + Send>>>,
    /// The session's pending heartbeat timers, so that closing can remove them.
    timers: Mutex<Vec<super::heartbeat::TimerKey>>,
}

pub(crate) enum EnqueueError {
    Closed,
    Overflow,
    Unencodable,
    /// The WebSocket write failed.
    Failed,
}

impl From<WriteError> for EnqueueError {
    fn from(e: WriteError) -> EnqueueError {
        match e {
            WriteError::Closed => EnqueueError::Closed,
            WriteError::Failed => EnqueueError::Failed,
            WriteError::Overflow => EnqueueError::Overflow,
        }
    }
}

pub(crate) enum CloseOutcome {
    AlreadyClosed,
    Closed,
    Lingering(u64),
}

/// What a long-poll answers.
pub(crate) enum PollAnswer {
    /// These packets, as one payload.
    Packets(Vec<Arc<Packet>>),
    /// The session ended because the client's connection dropped.
    PeerGone,
}

impl Socket {
    pub(crate) fn new(sid: Sid, transport: Transport) -> Socket {
        Socket {
            sid,
            state: Mutex::new(State {
                phase: Phase::Connecting,
                reason: None,
                disconnect_due: None,
                queue: VecDeque::new(),
                queued_bytes: 0,
                transport,
                get_pending: 0,
                next_get: 0,
                displaced_get: 0,
                post_in_flight: false,
                hb_gen: 0,
                ping_outstanding: false,
                ws: None,
                probe: None,
                next_probe: 0,
                upgrading: false,
            }),
            wake: Condvar::new(),
            handler_lock: Mutex::new(()),
            data: Mutex::new(None),
            timers: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.state.lock().phase == Phase::Open
    }

    pub(crate) fn is_connecting(&self) -> bool {
        self.state.lock().phase == Phase::Connecting
    }

    pub(crate) fn is_lingering(&self) -> bool {
        self.state.lock().phase == Phase::Lingering
    }

    pub(crate) fn transport(&self) -> Transport {
        self.state.lock().transport
    }

    /// Connecting → open. `false` if the session was closed meanwhile.
    pub(crate) fn accept(&self) -> bool {
        let mut st = self.state.lock();
        if st.phase == Phase::Connecting {
            st.phase = Phase::Open;
            true
        } else {
            false
        }
    }

    pub(crate) fn enqueue(&self, out: &Outgoing, max: usize) -> Result<(), EnqueueError> {
        let mut st = self.state.lock();
        if !matches!(st.phase, Phase::Open | Phase::Connecting) {
            return Err(EnqueueError::Closed);
        }
        if let Some(ws) = st.ws.clone() {
            // Frames are ordered by the writer's own lock; no need to hold ours.
            drop(st);
            return Ok(ws.send(out.frame(ws.b64))?);
        }
        if st.transport == Transport::Polling {
            if let Packet::Message(m) = &*out.packet {
                if !crate::payload::fits_polling(m) {
                    return Err(EnqueueError::Unencodable);
                }
            }
        }
        let size = out.packet.encoded_len();
        if st.queued_bytes + size > max {
            return Err(EnqueueError::Overflow);
        }
        st.queued_bytes += size;
        st.queue.push_back(out.packet.clone());
        if st.get_pending != 0 {
            self.wake.notify_all();
        }
        Ok(())
    }

    /// Marks the session closed (or lingering). Cancels its timers and wakes its
    /// long-poll.
    pub(crate) fn begin_close(&self, reason: Reason, linger: bool) -> CloseOutcome {
        let mut st = self.state.lock();
        let was = st.phase;
        match was {
            Phase::Closed => return CloseOutcome::AlreadyClosed,
            Phase::Lingering if linger => return CloseOutcome::AlreadyClosed,
            _ => {}
        }
        st.hb_gen += 1;
        if was != Phase::Lingering {
            st.reason = Some(reason);
            if was != Phase::Connecting {
                st.disconnect_due = Some(reason);
            }
        }
        self.wake.notify_all();
        if linger && was == Phase::Open && st.get_pending == 0 && st.transport == Transport::Polling
        {
            st.phase = Phase::Lingering;
            return CloseOutcome::Lingering(st.hb_gen);
        }
        // A lingering session already fired its handler; now it is just forgotten.
        st.phase = Phase::Closed;
        CloseOutcome::Closed
    }

    /// Lingering → closed at the close timeout.
    pub(crate) fn finish_linger(&self, gen: u64) -> bool {
        let mut st = self.state.lock();
        if st.phase == Phase::Lingering && st.hb_gen == gen {
            st.phase = Phase::Closed;
            true
        } else {
            false
        }
    }

    pub(crate) fn take_disconnect_due(&self) -> Option<Reason> {
        self.state.lock().disconnect_due.take()
    }

    pub(crate) fn disconnect_is_due(&self) -> bool {
        self.state.lock().disconnect_due.is_some()
    }

    pub(crate) fn heartbeat_gen_if_open(&self) -> Option<u64> {
        let st = self.state.lock();
        (st.phase == Phase::Open).then_some(st.hb_gen)
    }

    /// Queues a ping if the timer is current. `true` if it did.
    pub(crate) fn queue_ping(&self, gen: u64) -> bool {
        let mut st = self.state.lock();
        if st.phase != Phase::Open || st.hb_gen != gen {
            return false;
        }
        st.ping_outstanding = true;
        if let Some(ws) = st.ws.clone() {
            drop(st);
            // A failed write shows up in the reader, which ends the session.
            let _ = ws.send(Bytes::from_static(b"\x81\x012"));
            return true;
        }
        let p = Arc::new(Packet::Ping(String::new()));
        st.queued_bytes += 1;
        st.queue.push_back(p);
        if st.get_pending != 0 {
            self.wake.notify_all();
        }
        true
    }

    pub(crate) fn pong_overdue(&self, gen: u64) -> bool {
        let st = self.state.lock();
        st.phase == Phase::Open && st.hb_gen == gen && st.ping_outstanding
    }

    /// A pong arrived: if a ping was outstanding, a new timer generation for the next
    /// ping.
    pub(crate) fn pong_received(&self) -> Option<u64> {
        let mut st = self.state.lock();
        if st.phase != Phase::Open || !st.ping_outstanding {
            return None;
        }
        st.ping_outstanding = false;
        st.hb_gen += 1;
        Some(st.hb_gen)
    }

    /// Starts a long-poll. `Err(())` if one is already waiting: that one is displaced
    /// (it answers `1`) and the caller must close the session.
    pub(crate) fn begin_get(&self) -> Result<u64, ()> {
        let mut st = self.state.lock();
        if st.get_pending != 0 {
            st.displaced_get = st.get_pending;
            self.wake.notify_all();
            return Err(());
        }
        st.next_get += 1;
        st.get_pending = st.next_get;
        Ok(st.get_pending)
    }

    /// Waits for packets for long-poll `id`, at most `timeout`, checking every so often
    /// whether the client is still there.
    pub(crate) fn poll(
        &self,
        id: u64,
        timeout: Duration,
        max_packets: usize,
        peer_gone: &dyn Fn() -> bool,
    ) -> PollAnswer {
        let deadline = Instant::now() + timeout;
        let mut st = self.state.lock();
        let answer = loop {
            if st.displaced_get == id {
                break vec![Arc::new(Packet::Close)];
            }
            if st.phase == Phase::Open && (st.upgrading || st.transport == Transport::WebSocket) {
                // Queued packets stay for the WebSocket (§8 steps 2, 3, 5).
                break vec![Arc::new(Packet::Noop)];
            }
            match st.phase {
                Phase::Closed | Phase::Lingering => {
                    let mut out: Vec<Arc<Packet>> = Vec::new();
                    match st.reason {
                        Some(Reason::ClientDisconnect) => out.push(Arc::new(Packet::Noop)),
                        Some(Reason::ServerDisconnect) => {
                            if st.phase == Phase::Lingering && st.queue.len() >= max_packets {
                                // More than one response's worth: the close packet
                                // comes with a later long-poll.
                                break Self::take(&mut st, max_packets);
                            }
                            let dropped = st.queue.len().saturating_sub(max_packets - 1);
                            if dropped > 0 {
                                log::debug!(
                                    "session {}: {dropped} packets dropped at close",
                                    self.sid
                                );
                            }
                            out.extend(Self::take(&mut st, max_packets - 1));
                            out.push(Arc::new(Packet::Close));
                        }
                        _ => out.push(Arc::new(Packet::Close)),
                    }
                    st.queue.clear();
                    st.queued_bytes = 0;
                    if st.phase == Phase::Lingering {
                        st.phase = Phase::Closed;
                    }
                    break out;
                }
                _ => {}
            }
            if !st.queue.is_empty() {
                break Self::take(&mut st, max_packets);
            }
            let now = Instant::now();
            if now >= deadline {
                break vec![Arc::new(Packet::Noop)];
            }
            let slice = (deadline - now).min(Duration::from_millis(500));
            if self.wake.wait_for(&mut st, slice).timed_out() {
                let gone = parking_lot::MutexGuard::unlocked(&mut st, peer_gone);
                if gone {
                    st.get_pending = 0;
                    return PollAnswer::PeerGone;
                }
            }
        };
        st.get_pending = 0;
        PollAnswer::Packets(answer)
    }

    /// Takes up to `n` queued packets, oldest first.
    fn take(st: &mut State, n: usize) -> Vec<Arc<Packet>> {
        let n = n.min(st.queue.len());
        let out: Vec<Arc<Packet>> = st.queue.drain(..n).collect();
        let bytes: usize = out.iter().map(|p| p.encoded_len()).sum();
        st.queued_bytes = st.queued_bytes.saturating_sub(bytes);
        out
    }

    /// Starts a POST. `false` if one is already in flight (D2).
    pub(crate) fn begin_post(&self) -> bool {
        let mut st = self.state.lock();
        if st.post_in_flight {
            return false;
        }
        st.post_in_flight = true;
        true
    }

    pub(crate) fn end_post(&self) {
        self.state.lock().post_in_flight = false;
    }

    /// Records a timer set for this session, forgetting those already due.
    pub(crate) fn remember_timer(&self, key: super::heartbeat::TimerKey) {
        let mut timers = self.timers.lock();
        let now = Instant::now();
        timers.retain(|k| k.0 > now);
        timers.push(key);
    }

    /// The session's pending timers, taken.
    pub(crate) fn take_timers(&self) -> Vec<super::heartbeat::TimerKey> {
        std::mem::take(&mut *self.timers.lock())
    }

    /// The session's WebSocket writer, if it has one.
    pub(crate) fn ws_writer(&self) -> Option<Arc<Writer>> {
        self.state.lock().ws.clone()
    }

    /// Takes the probing WebSocket, if any (the session is closing).
    pub(crate) fn take_probe(&self) -> Option<Arc<Writer>> {
        let mut st = self.state.lock();
        st.upgrading = false;
        st.probe.take().map(|(_, w)| w)
    }

    /// Gives a WebSocket-only session its socket: the open packet goes first, then
    /// whatever the connect handler queued. `false` if the session has closed.
    pub(crate) fn attach_ws(&self, ws: Arc<Writer>, open: &Packet) -> bool {
        let mut st = self.state.lock();
        if st.phase != Phase::Open {
            return false;
        }
        let _ = ws.send_packet(open);
        for p in st.queue.drain(..) {
            let _ = ws.send_packet(&p);
        }
        st.queued_bytes = 0;
        st.ws = Some(ws);
        true
    }

    /// Registers a WebSocket opened to upgrade this polling session; its id, or
    /// `None` if the session cannot upgrade now (W5).
    pub(crate) fn attach_probe(&self, ws: Arc<Writer>) -> Option<u64> {
        let mut st = self.state.lock();
        if st.phase != Phase::Open || st.transport != Transport::Polling || st.probe.is_some() {
            return None;
        }
        st.next_probe += 1;
        let id = st.next_probe;
        st.probe = Some((id, ws));
        Some(id)
    }

    fn probe_is(st: &State, id: u64) -> bool {
        st.phase == Phase::Open && matches!(&st.probe, Some((p, _)) if *p == id)
    }

    /// `2probe` arrived on probe `id`: pause polling (a waiting GET answers `6`) and
    /// the heartbeat (B7). `false` if the probe is no longer current.
    pub(crate) fn probe_pinged(&self, id: u64) -> bool {
        let mut st = self.state.lock();
        if !Self::probe_is(&st, id) {
            return false;
        }
        st.upgrading = true;
        st.hb_gen += 1;
        st.ping_outstanding = false;
        self.wake.notify_all();
        true
    }

    /// `5` arrived on probe `id`: the WebSocket becomes the transport, and every queued
    /// packet is flushed over it in order. Returns the new heartbeat generation.
    pub(crate) fn complete_upgrade(&self, id: u64) -> Option<u64> {
        let mut st = self.state.lock();
        if !Self::probe_is(&st, id) {
            return None;
        }
        let (_, ws) = st.probe.take()?;
        for p in st.queue.drain(..) {
            let _ = ws.send_packet(&p);
        }
        st.queued_bytes = 0;
        st.ws = Some(ws);
        st.transport = Transport::WebSocket;
        st.upgrading = false;
        st.hb_gen += 1;
        st.ping_outstanding = false;
        self.wake.notify_all();
        Some(st.hb_gen)
    }

    /// Drops probe `id` (it failed, closed or timed out): the session stays on
    /// polling. `Some(gen)` when the heartbeat was paused and must restart with that
    /// generation; `None` otherwise (including when `id` is no longer the probe).
    pub(crate) fn abort_probe(&self, id: u64) -> Option<u64> {
        let mut st = self.state.lock();
        if !matches!(&st.probe, Some((p, _)) if *p == id) {
            return None;
        }
        let (_, ws) = st.probe.take()?;
        ws.close(false, Some(1000));
        ws.shutdown();
        let was_upgrading = std::mem::replace(&mut st.upgrading, false);
        if was_upgrading && st.phase == Phase::Open {
            st.hb_gen += 1;
            st.ping_outstanding = false;
            return Some(st.hb_gen);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Message;

    #[test]
    fn outgoing_frames_are_encoded_once_and_shared() {
        let out = Outgoing::new(Packet::Message(Message::Binary(vec![1u8, 2, 3].into())));
        let a = out.frame(false);
        let b = out.frame(false);
        assert_eq!(a.as_ptr(), b.as_ptr(), "the second recipient re-encoded");
        assert_eq!(&a[..], b"\x82\x03\x01\x02\x03");
        assert_eq!(&out.frame(true)[..], b"\x81\x05bAQID");
    }
}
