//! One Engine.IO session: its state, its outgoing queue and its heartbeat state.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::{Reason, Sid, Transport};
use crate::packet::Packet;

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
}

/// A session.
pub(crate) struct Socket {
    pub sid: Sid,
    state: Mutex<State>,
    wake: Condvar,
    /// Held while a handler of this session runs: calls never overlap.
    pub handler_lock: Mutex<()>,
    pub data: Mutex<Option<Box<dyn Any + Send>>>,
}

pub(crate) enum EnqueueError {
    Closed,
    Overflow,
    Unencodable,
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
            }),
            wake: Condvar::new(),
            handler_lock: Mutex::new(()),
            data: Mutex::new(None),
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

    pub(crate) fn enqueue(&self, packet: Arc<Packet>, max: usize) -> Result<(), EnqueueError> {
        let mut st = self.state.lock();
        if !matches!(st.phase, Phase::Open | Phase::Connecting) {
            return Err(EnqueueError::Closed);
        }
        if st.transport == Transport::Polling {
            if let Packet::Message(m) = &*packet {
                if !crate::payload::fits_polling(m) {
                    return Err(EnqueueError::Unencodable);
                }
            }
        }
        let size = packet.encoded_len();
        if st.queued_bytes + size > max {
            return Err(EnqueueError::Overflow);
        }
        st.queued_bytes += size;
        st.queue.push_back(packet);
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
        peer_gone: &dyn Fn() -> bool,
    ) -> PollAnswer {
        let deadline = Instant::now() + timeout;
        let mut st = self.state.lock();
        let answer = loop {
            if st.displaced_get == id {
                break vec![Arc::new(Packet::Close)];
            }
            match st.phase {
                Phase::Closed | Phase::Lingering => {
                    let mut out: Vec<Arc<Packet>> = Vec::new();
                    match st.reason {
                        Some(Reason::ClientDisconnect) => out.push(Arc::new(Packet::Noop)),
                        Some(Reason::ServerDisconnect) => {
                            out.extend(st.queue.drain(..));
                            out.push(Arc::new(Packet::Close));
                        }
                        _ => out.push(Arc::new(Packet::Close)),
                    }
                    st.queued_bytes = 0;
                    if st.phase == Phase::Lingering {
                        st.phase = Phase::Closed;
                    }
                    break out;
                }
                _ => {}
            }
            if !st.queue.is_empty() {
                st.queued_bytes = 0;
                break st.queue.drain(..).collect();
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
}
