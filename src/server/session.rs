//! One Engine.IO session as a state machine: its phase, its outgoing queue, its
//! polling requests, its heartbeat state, its upgrade, its inbox of events for the
//! handlers, and the close table of protocol.md §9.
//!
//! Nothing here does I/O or keeps time. Writes to a WebSocket go through a [`Sink`],
//! which never blocks (the server's frame writer, or a recorder in the unit tests);
//! every method returns what the caller must do next (wake a long-poll, start a
//! timer, forget the sid, run the handlers), so that the races of closing, upgrading
//! and polling are unit-tested here without sockets.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

use super::data::SessionData;
use super::heartbeat::TimerKey;
use super::websocket::writer::encode_frame;
use super::{Reason, Sid, Transport};
use crate::packet::{Message, Packet};
use crate::ProtocolVersion;

/// Why a [`Sink`] did not take a frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// The sink is closed (a close frame went out, or the socket failed earlier).
    Closed,
    /// The socket failed now.
    Failed,
    /// More than the session's limit is waiting for a peer that does not read.
    Overflow,
    /// The server-wide limit on waiting outbound bytes is reached.
    OverBudget,
}

/// The write side of a WebSocket as the session sees it. No method blocks.
pub(crate) trait Sink: Send + Sync {
    /// Whether binary messages go out as `b`+base64 text frames (W4).
    fn b64(&self) -> bool;
    /// The session's protocol version.
    fn version(&self) -> ProtocolVersion;
    /// Takes one or more whole frames, in order.
    fn send(&self, frames: Bytes) -> Result<(), WriteError>;
    /// Optionally the close packet `1`, then a close frame with `code` (if any); nothing
    /// is taken after it. Idempotent.
    fn close(&self, close_packet: bool, code: Option<u16>);
    /// Drops the connection now, whatever is still waiting.
    fn shutdown(&self);
    /// Whether the socket failed or stalled (rather than being closed normally).
    fn failed(&self) -> bool;
    /// Bytes taken but not yet written to the socket.
    fn pending_bytes(&self) -> usize;

    /// Takes one packet as one frame.
    fn send_packet(&self, packet: &Packet) -> Result<(), WriteError> {
        self.send(encode_frame(packet, self.b64(), self.version()))
    }
}

/// The outbound bytes waiting across every session of a server (polling queues and
/// WebSocket frames a slow peer has not taken), against a server-wide limit.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    limit: usize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Budget {
        Budget {
            used: AtomicUsize::new(0),
            limit,
        }
    }

    /// Takes `n` bytes if they fit under the limit.
    pub(crate) fn try_charge(&self, n: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            if used.saturating_add(n) > self.limit {
                return false;
            }
            match self.used.compare_exchange_weak(
                used,
                used + n,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// Takes `n` bytes whatever the limit (the protocol's own few bytes: pings).
    pub(crate) fn charge(&self, n: usize) {
        self.used.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn release(&self, n: usize) {
        if n > 0 {
            self.used.fetch_sub(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
}

/// An outgoing packet, shared by every recipient of a broadcast: its WebSocket frames
/// are encoded once, on first use.
pub(crate) struct Outgoing {
    pub packet: Arc<Packet>,
    /// Its frames by `b64` and version (v4 plain, v4 b64, v3 plain, v3 b64).
    frames: [OnceLock<Bytes>; 4],
}

impl Outgoing {
    pub(crate) fn new(packet: Packet) -> Outgoing {
        Outgoing {
            packet: Arc::new(packet),
            frames: Default::default(),
        }
    }

    pub(crate) fn frame(&self, b64: bool, version: ProtocolVersion) -> Bytes {
        let i = usize::from(b64) + 2 * usize::from(version == ProtocolVersion::V3);
        self.frames[i]
            .get_or_init(|| encode_frame(&self.packet, b64, version))
            .clone()
    }
}

/// What a session's handlers are given, in order, one at a time.
#[derive(Debug)]
pub(crate) enum Event {
    Message(Message),
    /// The session's transport changed (an upgrade completed).
    Upgrade(Transport),
    Disconnect(Reason),
}

/// What each queued event costs against the inbox limit, beyond its bytes.
const EVENT_OVERHEAD: usize = 64;

impl Event {
    fn cost(&self) -> usize {
        EVENT_OVERHEAD
            + match self {
                Event::Message(m) => m.len(),
                Event::Upgrade(_) | Event::Disconnect(_) => 0,
            }
    }
}

/// A session's fixed limits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Outbound bytes a session may have waiting (polling queue, or WebSocket frames).
    pub max_buffered: usize,
    /// Packets per long-poll response.
    pub max_poll_packets: usize,
    /// Received bytes (plus a per-event overhead) that may wait for a busy handler
    /// before the session's reader stops reading.
    pub max_inbox: usize,
    /// Whether a message handler exists: without one, messages are not queued.
    pub deliver_messages: bool,
    /// Whether a disconnect handler exists: without one, no disconnect event is queued.
    pub deliver_disconnect: bool,
    /// Whether an upgrade handler exists: without one, no upgrade event is queued.
    pub deliver_upgrade: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The connect handler is running: invisible to requests (H3).
    Connecting,
    Open,
    /// Closed by the application: kept until the client has collected what was queued
    /// and the close packet (C3), over polling or over the WebSocket it is upgrading to.
    Closing,
    Closed,
}

struct State {
    phase: Phase,
    reason: Option<Reason>,
    transport: Transport,
    /// Packets waiting for a long-poll (polling sessions).
    queue: VecDeque<Arc<Packet>>,
    queued_bytes: usize,
    /// The id of the long-poll waiting now (0: none).
    get_pending: u64,
    next_get: u64,
    /// A long-poll displaced by a duplicate: it answers `1` (D1).
    displaced_get: u64,
    post_in_flight: bool,
    /// Bumped to make every scheduled heartbeat timer of the session stale.
    hb_gen: u64,
    ping_outstanding: bool,
    /// The WebSocket the session uses (WebSocket-only, or upgraded).
    ws: Option<Arc<dyn Sink>>,
    /// A WebSocket opened to upgrade, with its id.
    probe: Option<(u64, Arc<dyn Sink>)>,
    next_probe: u64,
    /// The probe was answered (`3probe`): polling is paused until the upgrade ends.
    upgrading: bool,
    /// WebSockets closed by us, waiting for their peer's close (W10) until the hard-close
    /// deadline.
    closing_ws: Vec<Arc<dyn Sink>>,
    /// Events for the handlers, in wire order.
    inbox: VecDeque<Event>,
    inbox_bytes: usize,
    /// A thread is running this session's handlers (at most one at a time).
    dispatching: bool,
    /// A reader waits for room in the inbox.
    reader_waiting: bool,
    /// The disconnect event has been handled, or none is due: the sid may be forgotten
    /// once the session is closed.
    disconnect_done: bool,
}

/// A session.
pub(crate) struct Session {
    pub sid: Sid,
    /// The protocol version, fixed at the handshake (V1).
    pub version: ProtocolVersion,
    /// v3 polling: binary messages go out as `b4`+base64 in text payloads (V5), fixed
    /// at the handshake by its `b64` query.
    pub b64: bool,
    limits: Limits,
    state: Mutex<State>,
    /// Wakes a long-poll (packets, close, upgrade) and a reader waiting for inbox room.
    wake: Condvar,
    /// The application's data for the session.
    pub data: SessionData,
    /// The session's pending heartbeat timers, so that closing can remove them.
    timers: Mutex<Vec<TimerKey>>,
}

/// Why a packet was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum EnqueueError {
    Closed,
    /// More than `max_buffered` would wait for this session.
    Overflow,
    /// The server-wide outbound limit is reached.
    OverBudget,
    /// A text message containing U+001E cannot travel over v4 polling.
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
            WriteError::OverBudget => EnqueueError::OverBudget,
        }
    }
}

/// How a session is being closed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CloseHow {
    /// At once, even an application close (server shutdown: close code 1001).
    pub now: bool,
    /// The WebSocket close code the peer earned (1002, 1007, 1009), if any.
    pub ws_code: Option<u16>,
}

impl CloseHow {
    pub(crate) const NORMAL: CloseHow = CloseHow {
        now: false,
        ws_code: None,
    };
}

/// What the caller of [`Session::close`] must do.
#[derive(Debug, Default, PartialEq, Eq)]
#[must_use]
pub(crate) struct Closed {
    /// The session was open and is now closing or closed: cancel its timers, log it.
    pub first: bool,
    /// Remove the sid from the table now.
    pub forget: bool,
    /// Start the close timeout with this generation (the session lingers, C3).
    pub linger: Option<u64>,
    /// Start the hard-close deadline of the WebSockets just closed (W10).
    pub hard_close: bool,
    /// Remember the sid for a trailing GET's noop (C2).
    pub client_grace: bool,
    /// The caller now owns the session's dispatch: run it, or hand it on.
    pub dispatch: bool,
}

/// What a long-poll answers.
#[derive(Debug)]
pub(crate) struct PollAnswer {
    pub packets: Vec<Arc<Packet>>,
    /// The close packet of a closing session goes out with this answer: it is closed
    /// now (cancel its close timeout; forget the sid if `forget`).
    pub delivered_close: bool,
    pub forget: bool,
}

/// The result of `5` on a probe.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Upgraded {
    /// The WebSocket is now the transport: restart the heartbeat with this generation.
    /// An upgrade event was queued; `dispatch` if the caller became the session's
    /// dispatcher (it must run or hand on its events).
    Open { gen: u64, dispatch: bool },
    /// The session was closing: what was queued and the close packet went over the new
    /// WebSocket. Start its hard-close deadline; forget the sid if `forget`.
    Closed { forget: bool },
    /// The probe is not current (the session closed or another probe replaced it).
    Stale,
}

/// The result of queueing received packets.
#[derive(Debug, Default, PartialEq, Eq)]
#[must_use]
pub(crate) struct Pushed {
    /// The caller now owns the session's dispatch: run it, or hand it on.
    pub dispatch: bool,
    /// The inbox is full: wait for room ([`Session::wait_for_room`]) before reading on.
    pub full: bool,
}

impl Session {
    #[cfg(test)]
    pub(crate) fn new(sid: Sid, transport: Transport, limits: Limits) -> Session {
        Session::with_version(sid, transport, ProtocolVersion::V4, false, limits)
    }

    /// A session speaking `version`; `b64` is the v3 base64 payload mode (V5).
    pub(crate) fn with_version(
        sid: Sid,
        transport: Transport,
        version: ProtocolVersion,
        b64: bool,
        limits: Limits,
    ) -> Session {
        Session {
            sid,
            version,
            b64,
            limits,
            state: Mutex::new(State {
                phase: Phase::Connecting,
                reason: None,
                transport,
                queue: VecDeque::new(),
                queued_bytes: 0,
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
                closing_ws: Vec::new(),
                inbox: VecDeque::new(),
                inbox_bytes: 0,
                dispatching: false,
                reader_waiting: false,
                disconnect_done: true,
            }),
            wake: Condvar::new(),
            data: SessionData::default(),
            timers: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.state.lock().phase == Phase::Open
    }

    /// Open, or connecting (the connect handler may send to it).
    pub(crate) fn accepts_sends(&self) -> bool {
        matches!(self.state.lock().phase, Phase::Open | Phase::Connecting)
    }

    /// Open or closing: requests naming the sid are still served (a closing session
    /// hands out what was queued and the close packet).
    pub(crate) fn is_visible(&self) -> bool {
        matches!(self.state.lock().phase, Phase::Open | Phase::Closing)
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.state.lock().phase == Phase::Closing
    }

    pub(crate) fn transport(&self) -> Transport {
        self.state.lock().transport
    }

    /// Connecting → open. `false` if the session was closed meanwhile.
    pub(crate) fn accept(&self) -> bool {
        let mut st = self.state.lock();
        if st.phase == Phase::Connecting {
            st.phase = Phase::Open;
            if self.limits.deliver_disconnect {
                st.disconnect_done = false;
            }
            true
        } else {
            false
        }
    }

    /// Outbound bytes waiting for this session: the polling queue, or the WebSocket
    /// frames its peer has not taken yet.
    pub(crate) fn buffered_bytes(&self) -> usize {
        let st = self.state.lock();
        let ws = st.ws.as_ref().map_or(0, |w| w.pending_bytes());
        st.queued_bytes + ws
    }

    // ------------------------------------------------------------------ sending

    /// Queues a packet for the client (or hands it to the WebSocket). Never blocks.
    pub(crate) fn enqueue(&self, out: &Outgoing, budget: &Budget) -> Result<(), EnqueueError> {
        let mut st = self.state.lock();
        if !matches!(st.phase, Phase::Open | Phase::Connecting) {
            return Err(EnqueueError::Closed);
        }
        if let Some(ws) = st.ws.clone() {
            // Frames are ordered by the writer's own lock; an upgrade flushes the queue
            // to the writer under our lock before `ws` is set, so nothing overtakes it.
            drop(st);
            return Ok(ws.send(out.frame(ws.b64(), ws.version()))?);
        }
        if let Packet::Message(m) = &*out.packet {
            // v3 payloads are length-prefixed: only v4 polling cannot carry U+001E.
            if self.version == ProtocolVersion::V4 && !crate::payload::fits_polling(m) {
                return Err(EnqueueError::Unencodable);
            }
        }
        let size = out.packet.encoded_len();
        if st.queued_bytes + size > self.limits.max_buffered {
            return Err(EnqueueError::Overflow);
        }
        if !budget.try_charge(size) {
            return Err(EnqueueError::OverBudget);
        }
        st.queued_bytes += size;
        st.queue.push_back(out.packet.clone());
        if st.get_pending != 0 {
            self.wake.notify_all();
        }
        Ok(())
    }

    /// Takes up to `n` queued packets, oldest first.
    fn take(st: &mut State, n: usize, budget: &Budget) -> Vec<Arc<Packet>> {
        let n = n.min(st.queue.len());
        let out: Vec<Arc<Packet>> = st.queue.drain(..n).collect();
        let bytes: usize = out.iter().map(|p| p.encoded_len()).sum();
        st.queued_bytes -= bytes;
        budget.release(bytes);
        out
    }

    fn clear_queue(st: &mut State, budget: &Budget) {
        st.queue.clear();
        budget.release(std::mem::take(&mut st.queued_bytes));
    }

    /// Hands everything queued to `ws`, in order.
    fn flush_queue_to(st: &mut State, ws: &dyn Sink, budget: &Budget) {
        for p in st.queue.drain(..) {
            let _ = ws.send_packet(&p);
        }
        budget.release(std::mem::take(&mut st.queued_bytes));
    }

    // ------------------------------------------------------------------ heartbeat

    /// The heartbeat generation if the session is open (to start its first ping).
    pub(crate) fn heartbeat_gen_if_open(&self) -> Option<u64> {
        let st = self.state.lock();
        (st.phase == Phase::Open).then_some(st.hb_gen)
    }

    /// v3 (V3): the client pinged: the pong goes out at once with the same data, and
    /// the next ping is due from now. The heartbeat generation of the next deadline
    /// (`None` while an upgrade suspends the heartbeat, B7: the pong still goes out).
    pub(crate) fn ping_received(&self, data: String, budget: &Budget) -> Option<u64> {
        let mut st = self.state.lock();
        if st.phase != Phase::Open {
            return None;
        }
        let gen = (!st.upgrading).then(|| {
            st.hb_gen += 1;
            st.hb_gen
        });
        let pong = Packet::Pong(data);
        if let Some(ws) = st.ws.clone() {
            drop(st);
            // A failed write shows up in the reader, which ends the session.
            let _ = ws.send_packet(&pong);
            return gen;
        }
        let size = pong.encoded_len();
        budget.charge(size);
        st.queued_bytes += size;
        st.queue.push_back(Arc::new(pong));
        if st.get_pending != 0 {
            self.wake.notify_all();
        }
        gen
    }

    /// v3: the ping deadline of generation `gen` passed. `Some(true)`: no ping came,
    /// close the session; `Some(false)`: its reader waits for a busy handler, so the
    /// ping may be unread: re-arm; `None`: the deadline is stale.
    pub(crate) fn client_ping_deadline(&self, gen: u64) -> Option<bool> {
        let st = self.state.lock();
        if st.phase != Phase::Open || st.hb_gen != gen {
            return None;
        }
        Some(!st.reader_waiting)
    }

    /// Queues a ping if the timer of generation `gen` is current. `true` if it did.
    pub(crate) fn queue_ping(&self, gen: u64, budget: &Budget) -> bool {
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
        budget.charge(1);
        st.queued_bytes += 1;
        st.queue.push_back(Arc::new(Packet::Ping(String::new())));
        if st.get_pending != 0 {
            self.wake.notify_all();
        }
        true
    }

    /// At the pong deadline of generation `gen`: `true` if the pong is overdue. A
    /// session whose reader is held back by a busy handler cannot have read its pong:
    /// it is not overdue, the caller re-arms the deadline (`Some(false)` vs `None`).
    pub(crate) fn pong_deadline(&self, gen: u64) -> Option<bool> {
        let st = self.state.lock();
        if st.phase != Phase::Open || st.hb_gen != gen || !st.ping_outstanding {
            return None;
        }
        Some(!st.reader_waiting)
    }

    /// A pong arrived: if a ping was outstanding, the generation of the next ping.
    pub(crate) fn pong_received(&self) -> Option<u64> {
        let mut st = self.state.lock();
        if st.phase != Phase::Open || !st.ping_outstanding {
            return None;
        }
        st.ping_outstanding = false;
        st.hb_gen += 1;
        Some(st.hb_gen)
    }

    /// Records a timer set for this session, forgetting those already due.
    pub(crate) fn remember_timer(&self, key: TimerKey) {
        let mut timers = self.timers.lock();
        let now = Instant::now();
        timers.retain(|k| k.0 > now);
        timers.push(key);
    }

    /// The session's pending timers, taken.
    pub(crate) fn take_timers(&self) -> Vec<TimerKey> {
        std::mem::take(&mut *self.timers.lock())
    }

    // ------------------------------------------------------------------ polling

    /// Starts a long-poll. `Err(())` if one is already waiting: that one is displaced
    /// (it answers `1`) and the caller must close the session (D1).
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

    /// The answer of long-poll `id` if it has one now; `None` to keep waiting.
    #[cfg(test)]
    pub(crate) fn poll_ready(&self, id: u64, budget: &Budget) -> Option<PollAnswer> {
        let mut st = self.state.lock();
        let answer = Self::poll_answer(&mut st, id, self.limits.max_poll_packets, budget)?;
        if st.get_pending == id {
            st.get_pending = 0;
        }
        Some(answer)
    }

    /// Long-poll `id` ends with nothing to send (G2): a noop.
    pub(crate) fn poll_timed_out(&self, id: u64) -> PollAnswer {
        let mut st = self.state.lock();
        if st.get_pending == id {
            st.get_pending = 0;
        }
        PollAnswer {
            packets: vec![Arc::new(Packet::Noop)],
            delivered_close: false,
            forget: false,
        }
    }

    fn poll_answer(st: &mut State, id: u64, max: usize, budget: &Budget) -> Option<PollAnswer> {
        let packets = |p: Vec<Arc<Packet>>| {
            Some(PollAnswer {
                packets: p,
                delivered_close: false,
                forget: false,
            })
        };
        if st.displaced_get == id {
            return packets(vec![Arc::new(Packet::Close)]);
        }
        match st.phase {
            Phase::Connecting => None,
            Phase::Open | Phase::Closing
                if st.upgrading || st.transport == Transport::WebSocket =>
            {
                // Queued packets stay for the WebSocket (§8 steps 2, 3, 5).
                packets(vec![Arc::new(Packet::Noop)])
            }
            Phase::Open if st.queue.is_empty() => None,
            Phase::Open => packets(Self::take(st, max, budget)),
            Phase::Closing => {
                // What was queued, over as many long-polls as it takes, then `1` (§9).
                let mut out = Self::take(st, max, budget);
                if !st.queue.is_empty() || out.len() == max {
                    return packets(out);
                }
                out.push(Arc::new(Packet::Close));
                st.phase = Phase::Closed;
                Some(PollAnswer {
                    packets: out,
                    delivered_close: true,
                    forget: st.disconnect_done,
                })
            }
            Phase::Closed => {
                let last = match st.reason {
                    Some(Reason::ClientDisconnect) => Packet::Noop,
                    _ => Packet::Close,
                };
                packets(vec![Arc::new(last)])
            }
        }
    }

    /// Waits for long-poll `id`'s answer until `deadline`, asking `peer_gone` every
    /// `check` whether the client is still there. `None` if the client left.
    pub(crate) fn wait_poll(
        &self,
        id: u64,
        deadline: Instant,
        check: std::time::Duration,
        budget: &Budget,
        peer_gone: &dyn Fn() -> bool,
    ) -> Option<PollAnswer> {
        let mut st = self.state.lock();
        loop {
            if let Some(a) = Self::poll_answer(&mut st, id, self.limits.max_poll_packets, budget) {
                if st.get_pending == id {
                    st.get_pending = 0;
                }
                return Some(a);
            }
            let now = Instant::now();
            if now >= deadline {
                drop(st);
                return Some(self.poll_timed_out(id));
            }
            let slice = (deadline - now).min(check);
            if self.wake.wait_for(&mut st, slice).timed_out()
                && parking_lot::MutexGuard::unlocked(&mut st, peer_gone)
            {
                if st.get_pending == id {
                    st.get_pending = 0;
                }
                return None;
            }
        }
    }

    /// Starts a POST. `false` if one is already in flight (D2).
    pub(crate) fn begin_post(&self) -> bool {
        let mut st = self.state.lock();
        !std::mem::replace(&mut st.post_in_flight, true)
    }

    pub(crate) fn end_post(&self) {
        self.state.lock().post_in_flight = false;
    }

    // ------------------------------------------------------------------ receiving

    /// Queues a received message for the message handler, in wire order. Messages of a
    /// closed session (and all messages when there is no handler) are dropped.
    pub(crate) fn push_message(&self, message: Message) -> Pushed {
        if !self.limits.deliver_messages {
            return Pushed::default();
        }
        let mut st = self.state.lock();
        if st.phase != Phase::Open {
            return Pushed::default();
        }
        self.push(&mut st, Event::Message(message))
    }

    fn push(&self, st: &mut State, event: Event) -> Pushed {
        st.inbox_bytes += event.cost();
        st.inbox.push_back(event);
        let dispatch = !std::mem::replace(&mut st.dispatching, true);
        Pushed {
            dispatch,
            full: !dispatch && st.inbox_bytes >= self.limits.max_inbox,
        }
    }

    /// Blocks a reader while the inbox is over its limit (a busy handler): the client
    /// meets back-pressure on its socket. Returns when the handler has caught up (half
    /// the limit) or the session has closed.
    pub(crate) fn wait_for_room(&self) {
        let mut st = self.state.lock();
        while st.dispatching
            && st.inbox_bytes >= self.limits.max_inbox / 2
            && !matches!(st.phase, Phase::Closed)
        {
            st.reader_waiting = true;
            self.wake.wait(&mut st);
        }
        st.reader_waiting = false;
    }

    /// The next event for the handlers; `None` ends the caller's dispatch (the next
    /// event pushed makes its pusher the dispatcher).
    pub(crate) fn next_event(&self) -> Option<Event> {
        let mut st = self.state.lock();
        match st.inbox.pop_front() {
            Some(e) => {
                st.inbox_bytes -= e.cost();
                if st.reader_waiting && st.inbox_bytes < self.limits.max_inbox / 2 {
                    self.wake.notify_all();
                }
                Some(e)
            }
            None => {
                st.dispatching = false;
                None
            }
        }
    }

    /// The disconnect handler has run: `true` if the sid may be forgotten now.
    pub(crate) fn disconnect_handled(&self) -> bool {
        let mut st = self.state.lock();
        st.disconnect_done = true;
        st.phase == Phase::Closed
    }

    // ------------------------------------------------------------------ closing

    /// Closes the session for `reason` (idempotent), by the close table (§9).
    pub(crate) fn close(&self, reason: Reason, how: CloseHow, budget: &Budget) -> Closed {
        let mut st = self.state.lock();
        let mut out = Closed::default();
        match st.phase {
            Phase::Closed => return out,
            Phase::Connecting => {
                // The connect handler closed the session it is accepting: no handler
                // will run for it; the handshake is refused.
                st.phase = Phase::Closed;
                st.reason = Some(reason);
                Self::clear_queue(&mut st, budget);
                return out;
            }
            Phase::Closing => {
                if reason == Reason::ServerDisconnect && !how.now {
                    return out;
                }
                // Given up while delivering the close (shutdown, a failed long-poll):
                // what is left is dropped; the disconnect event was queued already.
                st.phase = Phase::Closed;
                Self::clear_queue(&mut st, budget);
                if let Some((_, probe)) = st.probe.take() {
                    probe.close(false, Some(1000));
                    st.closing_ws.push(probe);
                    out.hard_close = true;
                }
                st.upgrading = false;
                self.wake.notify_all();
                out.forget = st.disconnect_done;
                return out;
            }
            Phase::Open => {}
        }
        out.first = true;
        st.hb_gen += 1;
        st.ping_outstanding = false;
        st.reason = Some(reason);
        if self.limits.deliver_disconnect {
            let pushed = self.push(&mut st, Event::Disconnect(reason));
            out.dispatch = pushed.dispatch;
        }
        self.wake.notify_all();

        if reason == Reason::ServerDisconnect && !how.now {
            // The application closes: deliver what was queued, then `1` (§9, C3).
            if let Some(ws) = st.ws.clone() {
                ws.close(true, Some(1000));
                st.closing_ws.push(ws);
                out.hard_close = true;
                st.phase = Phase::Closed;
            } else if st.upgrading {
                // The client has committed to the upgrade: the close goes over the new
                // WebSocket once `5` arrives (or the upgrade fails and polling resumes).
                st.phase = Phase::Closing;
                out.linger = Some(st.hb_gen);
            } else {
                if let Some((_, probe)) = st.probe.take() {
                    // Refuse the upgrade cleanly: the client stays on polling and
                    // collects the close there.
                    probe.close(false, Some(1000));
                    st.closing_ws.push(probe);
                    out.hard_close = true;
                }
                st.phase = Phase::Closing;
                out.linger = Some(st.hb_gen);
            }
        } else {
            let (close_packet, code) = match reason {
                _ if how.ws_code.is_some() => (false, how.ws_code),
                Reason::ServerDisconnect => (true, Some(1001)),
                Reason::PingTimeout => (true, Some(1000)),
                Reason::ClientDisconnect => (false, Some(1000)),
                Reason::ParseError | Reason::TransportError => (false, Some(1002)),
                Reason::TransportClose => (false, None),
            };
            if let Some(ws) = st.ws.clone() {
                ws.close(close_packet, code);
                st.closing_ws.push(ws);
                out.hard_close = true;
            }
            if let Some((_, probe)) = st.probe.take() {
                probe.close(false, Some(1000));
                st.closing_ws.push(probe);
                out.hard_close = true;
            }
            st.upgrading = false;
            out.client_grace = reason == Reason::ClientDisconnect
                && st.transport == Transport::Polling
                && st.get_pending == 0;
            Self::clear_queue(&mut st, budget);
            st.phase = Phase::Closed;
        }
        out.forget = st.phase == Phase::Closed && st.disconnect_done;
        out
    }

    /// Whether the close timeout of generation `gen` is that of this closing session:
    /// then it must close now.
    pub(crate) fn close_timed_out(&self, gen: u64) -> bool {
        let st = self.state.lock();
        st.phase == Phase::Closing && st.hb_gen == gen
    }

    /// Whether WebSockets closed by us still wait for their peer's close.
    pub(crate) fn has_closing_ws(&self) -> bool {
        !self.state.lock().closing_ws.is_empty()
    }

    /// The WebSockets closed by us and still waiting for their peer, taken, for the
    /// hard-close deadline. Those still writing out what was queued before the close
    /// are kept (`true`: check again later).
    pub(crate) fn hard_close_due(&self) -> (Vec<Arc<dyn Sink>>, bool) {
        let mut st = self.state.lock();
        let (still_writing, due): (Vec<_>, Vec<_>) = st
            .closing_ws
            .drain(..)
            .partition(|w| w.pending_bytes() > 0 && !w.failed());
        let again = !still_writing.is_empty();
        st.closing_ws = still_writing;
        (due, again)
    }

    // ------------------------------------------------------------------ websocket

    /// Gives a WebSocket-only session its socket: the open packet goes first, then
    /// whatever the connect handler queued. `false` if the session has closed.
    pub(crate) fn attach_ws(&self, ws: Arc<dyn Sink>, open: &Packet, budget: &Budget) -> bool {
        let mut st = self.state.lock();
        if st.phase != Phase::Open {
            return false;
        }
        let _ = ws.send_packet(open);
        Self::flush_queue_to(&mut st, &*ws, budget);
        st.ws = Some(ws);
        true
    }

    /// The session's WebSocket, if it has one.
    #[cfg(test)]
    pub(crate) fn ws(&self) -> Option<Arc<dyn Sink>> {
        self.state.lock().ws.clone()
    }

    /// Registers a WebSocket opened to upgrade this polling session; its id, or
    /// `None` if the session cannot upgrade now (W5).
    pub(crate) fn attach_probe(&self, ws: Arc<dyn Sink>) -> Option<u64> {
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
        matches!(&st.probe, Some((p, _)) if *p == id)
    }

    /// `2probe` arrived on probe `id`: answers `3probe`, pauses polling (a waiting GET
    /// answers `6`) and the heartbeat (B7). `false` if the probe is not current.
    pub(crate) fn probe_pinged(&self, id: u64) -> bool {
        let mut st = self.state.lock();
        if st.phase != Phase::Open || !Self::probe_is(&st, id) {
            return false;
        }
        if let Some((_, probe)) = &st.probe {
            let _ = probe.send_packet(&Packet::Pong("probe".into()));
        }
        st.upgrading = true;
        st.hb_gen += 1;
        st.ping_outstanding = false;
        self.wake.notify_all();
        true
    }

    /// `5` arrived on probe `id`: the WebSocket becomes the transport, and every queued
    /// packet is flushed over it in order (X1, X2: with or without `2probe`).
    pub(crate) fn complete_upgrade(&self, id: u64, budget: &Budget) -> Upgraded {
        let mut st = self.state.lock();
        if !matches!(st.phase, Phase::Open | Phase::Closing) || !Self::probe_is(&st, id) {
            return Upgraded::Stale;
        }
        if st.phase == Phase::Closing && !st.upgrading {
            return Upgraded::Stale;
        }
        let Some((_, ws)) = st.probe.take() else {
            return Upgraded::Stale;
        };
        Self::flush_queue_to(&mut st, &*ws, budget);
        st.transport = Transport::WebSocket;
        st.upgrading = false;
        self.wake.notify_all();
        if st.phase == Phase::Closing {
            ws.close(true, Some(1000));
            st.closing_ws.push(ws);
            st.phase = Phase::Closed;
            return Upgraded::Closed {
                forget: st.disconnect_done,
            };
        }
        st.ws = Some(ws);
        st.hb_gen += 1;
        st.ping_outstanding = false;
        let dispatch = self.limits.deliver_upgrade
            && self
                .push(&mut st, Event::Upgrade(Transport::WebSocket))
                .dispatch;
        Upgraded::Open {
            gen: st.hb_gen,
            dispatch,
        }
    }

    /// Drops probe `id` (it failed, closed or timed out): its WebSocket is closed and the
    /// session stays on polling. `Some(gen)` when the heartbeat was paused and must
    /// restart with that generation.
    pub(crate) fn abort_probe(&self, id: u64) -> Option<u64> {
        let mut st = self.state.lock();
        if !Self::probe_is(&st, id) {
            return None;
        }
        let (_, ws) = st.probe.take()?;
        ws.close(false, Some(1000));
        ws.shutdown();
        let was_upgrading = std::mem::replace(&mut st.upgrading, false);
        self.wake.notify_all();
        if was_upgrading && st.phase == Phase::Open {
            st.hb_gen += 1;
            st.ping_outstanding = false;
            return Some(st.hb_gen);
        }
        None
    }
}

#[cfg(test)]
mod tests;
