//! One thread keeps every session's deadlines: the next ping, the pong deadline and
//! the close timeout of a lingering session, the upgrade timeout of a probing WebSocket
//! and the bound on a closing WebSocket. Deadlines are exact (no sweep period).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
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
    at: Instant,
    seq: u64,
    kind: Timer,
    gen: u64,
    socket: Weak<Socket>,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

#[derive(Default)]
struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
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
        let mut t = self.shared.timers.lock();
        t.seq += 1;
        let earliest = t.heap.peek().map(|e| e.0.at);
        let seq = t.seq;
        t.heap.push(Reverse(Entry {
            at,
            seq,
            kind,
            gen,
            socket: Arc::downgrade(socket),
        }));
        if earliest.map_or(true, |e| at < e) {
            self.shared.wake.notify_one();
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
        let due = matches!(timers.heap.peek(), Some(e) if e.0.at <= now);
        if due {
            let Reverse(entry) = timers.heap.pop().expect("peeked");
            drop(timers);
            if let (Some(socket), Some(server)) = (entry.socket.upgrade(), server.upgrade()) {
                server.on_timer(&socket, entry.kind, entry.gen);
            }
            timers = shared.timers.lock();
            continue;
        }
        match timers.heap.peek().map(|e| e.0.at) {
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
