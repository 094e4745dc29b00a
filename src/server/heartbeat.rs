//! One thread keeps every session's deadlines: the next ping, the pong deadline and
//! the close timeout of a closing session, the upgrade timeout of a probing WebSocket
//! and the bound on a closing WebSocket. Deadlines are exact (no sweep period).
//!
//! The heartbeat thread never runs the application's code: a session it closes has
//! its disconnect handler run on a dispatch thread.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::close::WS_CLOSE_WAIT;
use super::inner::Inner;
use super::session::{CloseHow, Session};
use super::Reason;
use crate::ProtocolVersion;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    Ping,
    PongDeadline,
    /// v3: the client's next ping is due by then (V3).
    ClientPingDeadline,
    CloseTimeout,
    /// A probing WebSocket that has not completed the upgrade in time (gen: probe id).
    UpgradeTimeout,
    /// A closed WebSocket whose peer has not closed its side in time.
    HardClose,
}

struct Entry {
    kind: Timer,
    gen: u64,
    session: Weak<Session>,
}

/// A timer's place in the schedule: its deadline, then the order it was set in.
pub(crate) type TimerKey = (Instant, u64);

#[derive(Default)]
struct Timers {
    /// Pending timers, earliest first. A closed session's timers are removed at once
    /// ([`Heartbeat::cancel`]), so the schedule holds live sessions' timers only, however
    /// many sessions come and go.
    map: BTreeMap<TimerKey, Entry>,
    seq: u64,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    timers: Mutex<Timers>,
    wake: Condvar,
}

/// The heartbeat thread's handle.
pub(crate) struct Heartbeat {
    shared: Arc<Shared>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Heartbeat {
    pub(crate) fn new() -> Heartbeat {
        Heartbeat {
            shared: Arc::new(Shared::default()),
            thread: Mutex::new(None),
        }
    }

    pub(crate) fn start(&self, server: Weak<Inner>) -> std::io::Result<()> {
        let shared = self.shared.clone();
        let t = thread::Builder::new()
            .name("eio-heartbeat".into())
            .spawn(move || run(shared, server))?;
        *self.thread.lock() = Some(t);
        Ok(())
    }

    pub(crate) fn stop(&self) {
        self.shared.timers.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.lock().take() {
            if t.thread().id() != thread::current().id() {
                let _ = t.join();
            }
        }
    }

    pub(crate) fn push(&self, session: &Arc<Session>, at: Instant, kind: Timer, gen: u64) {
        let key = {
            let mut t = self.shared.timers.lock();
            t.seq += 1;
            let key = (at, t.seq);
            let earliest = t.map.first_key_value().map(|(k, _)| k.0);
            t.map.insert(
                key,
                Entry {
                    kind,
                    gen,
                    session: Arc::downgrade(session),
                },
            );
            if earliest.is_none_or(|e| at < e) {
                self.shared.wake.notify_one();
            }
            key
        };
        session.remember_timer(key);
    }

    /// How many timers are pending.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.shared.timers.lock().map.len()
    }

    /// Removes every pending timer of a session (it has closed).
    pub(crate) fn cancel(&self, session: &Session) {
        let keys = session.take_timers();
        if keys.is_empty() {
            return;
        }
        let mut t = self.shared.timers.lock();
        for k in keys {
            t.map.remove(&k);
        }
    }
}

fn run(shared: Arc<Shared>, server: Weak<Inner>) {
    let mut timers = shared.timers.lock();
    loop {
        if timers.stop {
            return;
        }
        let now = Instant::now();
        let next = timers.map.first_key_value().map(|(k, _)| k.0);
        match next {
            Some(at) if at <= now => {
                let (_, entry) = timers.map.pop_first().expect("a first entry");
                drop(timers);
                if let (Some(session), Some(server)) = (entry.session.upgrade(), server.upgrade()) {
                    server.on_timer(&session, entry.kind, entry.gen);
                }
                timers = shared.timers.lock();
            }
            Some(at) => {
                shared.wake.wait_until(&mut timers, at);
            }
            None => shared.wake.wait(&mut timers),
        }
    }
}

impl Inner {
    /// Called by the heartbeat thread when a deadline passes.
    fn on_timer(self: &Arc<Self>, session: &Arc<Session>, kind: Timer, gen: u64) {
        let config = self.config();
        match kind {
            Timer::Ping => {
                if session.queue_ping(gen, &self.budget) {
                    self.heartbeat.push(
                        session,
                        Instant::now() + config.ping_timeout,
                        Timer::PongDeadline,
                        gen,
                    );
                }
            }
            Timer::PongDeadline => match session.pong_deadline(gen) {
                Some(true) => {
                    log::debug!("session {}: no pong in time", session.sid);
                    self.close(session, Reason::PingTimeout);
                }
                Some(false) => {
                    // Its reader waits for a busy handler: the pong may be unread.
                    self.heartbeat.push(
                        session,
                        Instant::now() + config.ping_timeout,
                        Timer::PongDeadline,
                        gen,
                    );
                }
                None => {}
            },
            Timer::ClientPingDeadline => match session.client_ping_deadline(gen) {
                Some(true) => {
                    log::debug!("session {}: no ping from the client in time", session.sid);
                    self.close(session, Reason::PingTimeout);
                }
                Some(false) => {
                    self.heartbeat.push(
                        session,
                        Instant::now() + config.ping_timeout,
                        Timer::ClientPingDeadline,
                        gen,
                    );
                }
                None => {}
            },
            Timer::CloseTimeout => {
                if session.close_timed_out(gen) {
                    log::debug!(
                        "session {}: close packet not collected in time",
                        session.sid
                    );
                    self.close_with(
                        session,
                        Reason::ServerDisconnect,
                        CloseHow {
                            now: true,
                            ws_code: None,
                        },
                    );
                }
            }
            Timer::UpgradeTimeout => {
                log::debug!("session {}: upgrade timed out", session.sid);
                if let Some(gen) = session.abort_probe(gen) {
                    self.schedule_ping(session, gen);
                }
            }
            Timer::HardClose => {
                let (due, again) = session.hard_close_due();
                for ws in due {
                    ws.shutdown();
                }
                if again {
                    self.heartbeat.push(
                        session,
                        Instant::now() + WS_CLOSE_WAIT,
                        Timer::HardClose,
                        0,
                    );
                }
            }
        }
    }

    /// Schedules the next ping of heartbeat generation `gen`: v4, ours, a ping interval
    /// from now; v3, the client's, due within the advertised interval plus the timeout
    /// (V3).
    pub(crate) fn schedule_ping(&self, session: &Arc<Session>, gen: u64) {
        let config = self.config();
        let (at, kind) = match session.version {
            ProtocolVersion::V4 => (Instant::now() + config.ping_interval, Timer::Ping),
            ProtocolVersion::V3 => (
                Instant::now() + config.ping_interval + config.ping_grace + config.ping_timeout,
                Timer::ClientPingDeadline,
            ),
        };
        self.heartbeat.push(session, at, kind, gen);
    }

    /// Bounds an upgrade: probe `id` must complete within the upgrade timeout.
    pub(crate) fn schedule_upgrade_timeout(&self, session: &Arc<Session>, id: u64) {
        self.heartbeat.push(
            session,
            Instant::now() + self.config().upgrade_timeout,
            Timer::UpgradeTimeout,
            id,
        );
    }

    /// Starts the heartbeat of a session whose handshake response has been written (H8).
    pub(crate) fn start_heartbeat(&self, session: &Arc<Session>) {
        if let Some(gen) = session.heartbeat_gen_if_open() {
            self.schedule_ping(session, gen);
        }
    }
}

impl Drop for Heartbeat {
    /// A server dropped without `shutdown` still ends its heartbeat thread.
    fn drop(&mut self) {
        self.stop();
    }
}
