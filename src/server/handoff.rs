//! A slow handler hands its connection to a fresh thread.
//!
//! A connection thread runs the handlers of what it just read (the quick path: no
//! other thread is woken). Before it does, it *parks* the rest of the connection's
//! work (the response to write and the requests after it, or the WebSocket's reader)
//! in the connection's [`Slot`]. When the handlers return, it takes the work back and
//! carries on. If they have not returned after [`HANDOFF_AFTER`], the watchdog thread
//! takes the parked work and starts a new thread for it: the client's pongs, messages
//! and requests are read on time while the old thread finishes the handlers, which
//! then leaves the connection alone.
//!
//! The watchdog ticks every [`TICK`] while handlers run and sleeps otherwise. A
//! connection's slot is registered once, when the connection is accepted, so a
//! message costs two uncontended lock round trips and two atomic increments.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::http::conn::HttpConn;
use super::http::Response;
use super::websocket::Reader;

/// The watchdog's period.
pub(crate) const TICK: Duration = Duration::from_millis(50);

/// How long handlers may hold a connection's thread before the connection moves to
/// another (two to three ticks).
pub(crate) const HANDOFF_AFTER: Duration = Duration::from_millis(100);

const HANDOFF_TICKS: u64 = (HANDOFF_AFTER.as_millis() / TICK.as_millis()) as u64;

/// The rest of a connection's work, parked while its thread runs handlers.
pub(crate) enum Duty {
    /// An HTTP connection, with the response to write next.
    Http(Box<(HttpConn, Response)>),
    /// A WebSocket's reader.
    Ws(Box<Reader>),
}

impl Duty {
    /// Gives the work up: its connection is shut down.
    fn abandon(self) {
        match self {
            Duty::Http(b) => b.0.shutdown(),
            Duty::Ws(reader) => reader.shutdown(),
        }
    }

    /// Carries on with the work on the calling thread.
    fn resume(self) {
        match self {
            Duty::Http(b) => {
                let (conn, resp) = *b;
                conn.resume(resp);
            }
            Duty::Ws(reader) => reader.run(),
        }
    }
}

/// Where one connection parks its work.
#[derive(Default)]
pub(crate) struct Slot {
    /// The tick at which the parked work was parked; 0 when nothing is parked. A hint
    /// for the watchdog's scan; the truth is under the lock.
    hint: AtomicU64,
    parked: Mutex<Parked>,
}

#[derive(Default)]
struct Parked {
    duty: Option<Duty>,
    since: u64,
    /// Increases with every park, so that a thread only takes back its own work.
    ticket: u64,
}

impl Slot {
    /// Parks `duty` at tick `now`; the ticket to take it back with.
    pub(crate) fn park(&self, duty: Duty, now: u64) -> u64 {
        let mut p = self.parked.lock();
        p.ticket += 1;
        p.duty = Some(duty);
        p.since = now;
        self.hint.store(now, Ordering::Relaxed);
        p.ticket
    }

    /// Takes back the work parked with `ticket`; `None` if it moved to another thread.
    pub(crate) fn reclaim(&self, ticket: u64) -> Option<Duty> {
        let mut p = self.parked.lock();
        if p.ticket != ticket {
            return None;
        }
        self.hint.store(0, Ordering::Relaxed);
        p.since = 0;
        p.duty.take()
    }

    /// The parked work, if it has waited since tick `before` or earlier.
    fn take_if_parked_since(
        &self,
        before: u64,
    ) -> Option<(parking_lot::MutexGuard<'_, Parked>, Duty)> {
        let hint = self.hint.load(Ordering::Relaxed);
        if hint == 0 || hint > before {
            return None;
        }
        let mut p = self.parked.try_lock()?;
        if p.since == 0 || p.since > before {
            return None;
        }
        let duty = p.duty.take()?;
        p.since = 0;
        self.hint.store(0, Ordering::Relaxed);
        Some((p, duty))
    }

    /// Drops whatever is parked, closing its connection (server shutdown).
    fn drop_parked(&self) {
        let duty = {
            let mut p = self.parked.lock();
            p.since = 0;
            self.hint.store(0, Ordering::Relaxed);
            p.duty.take()
        };
        if let Some(d) = duty {
            d.abandon();
        }
    }
}

struct Shared {
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    next_id: AtomicU64,
    /// Advances every tick (starting at 1, so that 0 means "not parked").
    tick: AtomicU64,
    started: AtomicU64,
    finished: AtomicU64,
    /// The watchdog waits for the next handler instead of ticking.
    sleeping: AtomicBool,
    stop: Mutex<bool>,
    wake: Condvar,
    stack_size: usize,
}

/// The watchdog thread's handle (one per server).
pub(crate) struct Watchdog {
    shared: Arc<Shared>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

/// Registers connections with a watchdog.
#[derive(Clone)]
pub(crate) struct Registrar(Arc<Shared>);

impl Registrar {
    /// Registers a new connection's slot.
    pub(crate) fn register(&self) -> Registration {
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::default());
        self.0.slots.lock().insert(id, slot.clone());
        Registration {
            id,
            slot,
            shared: self.0.clone(),
        }
    }
}

/// A connection's registration: its slot, unregistered when dropped.
pub(crate) struct Registration {
    id: u64,
    slot: Arc<Slot>,
    shared: Arc<Shared>,
}

impl Registration {
    pub(crate) fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared.slots.lock().remove(&self.id);
    }
}

impl Watchdog {
    pub(crate) fn new(stack_size: usize) -> Watchdog {
        Watchdog {
            shared: Arc::new(Shared {
                slots: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                tick: AtomicU64::new(1),
                started: AtomicU64::new(0),
                finished: AtomicU64::new(0),
                sleeping: AtomicBool::new(false),
                stop: Mutex::new(false),
                wake: Condvar::new(),
                stack_size,
            }),
            thread: Mutex::new(None),
        }
    }

    /// Starts the thread (once).
    pub(crate) fn start(&self) -> std::io::Result<()> {
        let mut t = self.thread.lock();
        if t.is_some() || *self.shared.stop.lock() {
            return Ok(());
        }
        let shared = self.shared.clone();
        *t = Some(
            thread::Builder::new()
                .name("eio-watchdog".into())
                .spawn(move || run(&shared))?,
        );
        Ok(())
    }

    /// What the listener registers new connections with.
    pub(crate) fn registrar(&self) -> Registrar {
        Registrar(self.shared.clone())
    }

    /// The current tick.
    pub(crate) fn now(&self) -> u64 {
        self.shared.tick.load(Ordering::Relaxed)
    }

    /// A connection thread starts running handlers.
    pub(crate) fn started(&self) {
        self.shared.started.fetch_add(1, Ordering::SeqCst);
        if self.shared.sleeping.load(Ordering::SeqCst) {
            let _stop = self.shared.stop.lock();
            self.shared.wake.notify_all();
        }
    }

    /// A connection thread has finished running handlers.
    pub(crate) fn finished(&self) {
        self.shared.finished.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops every parked connection (shutdown): the threads running handlers find
    /// their work gone and leave when the handlers return.
    pub(crate) fn drop_parked(&self) {
        let slots: Vec<Arc<Slot>> = self.shared.slots.lock().values().cloned().collect();
        for s in slots {
            s.drop_parked();
        }
    }

    /// Stops and joins the thread (not when called from it).
    pub(crate) fn stop(&self) {
        *self.shared.stop.lock() = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.lock().take() {
            if t.thread().id() != thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(shared: &Shared) {
    let mut seen = shared.started.load(Ordering::SeqCst);
    loop {
        {
            let mut stop = shared.stop.lock();
            if *stop {
                return;
            }
            let started = shared.started.load(Ordering::SeqCst);
            let busy = started != shared.finished.load(Ordering::SeqCst);
            if busy || started != seen {
                seen = started;
                shared.wake.wait_for(&mut stop, TICK);
            } else {
                // Nothing ran for a whole tick: sleep until a handler starts.
                shared.sleeping.store(true, Ordering::SeqCst);
                if shared.started.load(Ordering::SeqCst) == seen {
                    shared.wake.wait(&mut stop);
                }
                shared.sleeping.store(false, Ordering::SeqCst);
            }
            if *stop {
                return;
            }
        }
        let tick = shared.tick.fetch_add(1, Ordering::Relaxed) + 1;
        if shared.started.load(Ordering::SeqCst) == shared.finished.load(Ordering::SeqCst) {
            continue;
        }
        let Some(before) = tick.checked_sub(HANDOFF_TICKS) else {
            continue;
        };
        let slots = shared.slots.lock();
        for slot in slots.values() {
            let Some((mut parked, duty)) = slot.take_if_parked_since(before) else {
                continue;
            };
            // The duty travels through a cell, so that it is not lost if no thread
            // can be started: it goes back into the slot, under the slot's lock.
            let cell = Arc::new(Mutex::new(Some(duty)));
            let theirs = cell.clone();
            let spawned = thread::Builder::new()
                .name("eio-conn".into())
                .stack_size(shared.stack_size)
                .spawn(move || {
                    let duty = theirs.lock().take();
                    if let Some(d) = duty {
                        d.resume();
                    }
                });
            match spawned {
                Ok(_) => log::debug!("a handler is slow: its connection moved to a new thread"),
                Err(e) => {
                    log::warn!("cannot start a thread for a connection whose handler is slow: {e}");
                    parked.duty = cell.lock().take();
                    if parked.duty.is_some() {
                        parked.since = tick;
                        slot.hint.store(tick, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}
