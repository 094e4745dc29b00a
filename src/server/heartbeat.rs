//! One thread keeps every session's deadlines: the next ping, the pong deadline and
//! the close timeout of a lingering session, the upgrade timeout of a probing WebSocket
//! and the bound on a closing WebSocket. Deadlines are exact (no sweep period).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::socket::Socket;
use super::Inner;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    Ping,
    PongDeadline,
    CloseTimeout,
    /// A probing WebSocket that has not completed the upgrade in time (gen: probe id).
    UpgradeTimeout,
    /// A closed WebSocket whose peer has not closed its side in time.
    HardClose,
}

struct Entry {
    kind: Timer,
    gen: u64,
    socket: Weak<Socket>,
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

    pub(crate) fn start(&self, server: Weak<Inner>) {
        let shared = self.shared.clone();
        let t = thread::Builder::new()
            .name("eio-heartbeat".into())
            .spawn(move || run(shared, server))
            .expect("cannot start the heartbeat thread");
        *self.thread.lock() = Some(t);
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

    pub(crate) fn push(&self, socket: &Arc<Socket>, at: Instant, kind: Timer, gen: u64) {
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
                    socket: Arc::downgrade(socket),
                },
            );
            if earliest.map_or(true, |e| at < e) {
                self.shared.wake.notify_one();
            }
            key
        };
        socket.remember_timer(key);
    }

    /// How many timers are pending.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.shared.timers.lock().map.len()
    }

    /// Removes every pending timer of a session (it has closed).
    pub(crate) fn cancel(&self, socket: &Socket) {
        let keys = socket.take_timers();
        if keys.is_empty() {
            return;
        }
        let mut t = self.shared.timers.lock();
        for k in keys {
            t.map.remove(&k);
        }
    }

    /// The next ping of the session.
    pub(crate) fn schedule(&self, socket: &Arc<Socket>, at: Instant, gen: u64) {
        self.push(socket, at, Timer::Ping, gen)
    }

    pub(crate) fn schedule_pong_deadline(&self, socket: &Arc<Socket>, at: Instant, gen: u64) {
        self.push(socket, at, Timer::PongDeadline, gen)
    }

    pub(crate) fn schedule_close(&self, socket: &Arc<Socket>, at: Instant, gen: u64) {
        self.push(socket, at, Timer::CloseTimeout, gen)
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
                if let (Some(socket), Some(server)) = (entry.socket.upgrade(), server.upgrade()) {
                    server.on_timer(&socket, entry.kind, entry.gen);
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

impl Drop for Heartbeat {
    /// A server dropped without `shutdown` still ends its heartbeat thread.
    fn drop(&mut self) {
        self.stop();
    }
}
