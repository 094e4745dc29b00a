//! Where the application's handlers run.
//!
//! Each session has an inbox of events (its messages in wire order, then its
//! disconnect) and at most one thread running them at a time: the *dispatcher*. The
//! thread that pushes an event into an idle inbox becomes the dispatcher:
//!
//! - a connection thread that read the event (a WebSocket frame, a POST) runs the
//!   handlers itself, at once: no other thread is woken on this path. If a handler
//!   takes long, the connection moves to a fresh thread (see [`handoff`]) so that the
//!   client's pongs and requests are still read;
//! - any other thread (the heartbeat, an application thread calling
//!   [`Server::disconnect`](super::Server::disconnect), `send` closing a session whose
//!   client does not read, a broadcast, `shutdown`) never runs a handler: the session
//!   goes to the dispatch pool, threads started on demand that run handlers only.
//!
//! [`handoff`]: super::handoff

use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::handoff::{Duty, Slot};
use super::inner::Inner;
use super::session::{Event, Session};
use super::Server;

thread_local! {
    /// Set while this thread runs a handler of the server's.
    static IN_HANDLER: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread is running one of the server's handlers (or another
/// callback of the application's).
pub(crate) fn in_handler() -> bool {
    IN_HANDLER.with(Cell::get)
}

/// Runs an application callback: marks the thread, and catches a panic (logged with
/// `what`). `None` if it panicked.
pub(crate) fn call<R>(what: &str, sid: &str, f: impl FnOnce() -> R) -> Option<R> {
    let was = IN_HANDLER.with(|h| h.replace(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    IN_HANDLER.with(|h| h.set(was));
    match r {
        Ok(v) => Some(v),
        Err(_) => {
            if sid.is_empty() {
                log::error!("the {what} panicked");
            } else {
                log::error!("the {what} panicked (session {sid})");
            }
            None
        }
    }
}

/// The duty to run a session's events, held by the thread that took it. Dropped
/// without being run, it hands the session to the dispatch pool.
#[must_use = "a session's events must be run, or handed on"]
pub(crate) struct Dispatch {
    inner: Arc<Inner>,
    session: Option<Arc<Session>>,
}

impl Dispatch {
    pub(crate) fn new(inner: &Arc<Inner>, session: &Arc<Session>) -> Dispatch {
        Dispatch {
            inner: inner.clone(),
            session: Some(session.clone()),
        }
    }

    /// Runs the events on this thread, which has nothing else to do.
    pub(crate) fn run_here(mut self) {
        if let Some(s) = self.session.take() {
            self.inner.run_events(&s);
        }
    }

    /// Runs the events on this thread, a connection's: meanwhile `duty` (the rest of the
    /// connection's work) waits in `slot`, and moves to a new thread if the handlers
    /// take long. Returns the duty if this thread still has it.
    pub(crate) fn run_inline(mut self, slot: Option<&Arc<Slot>>, duty: Duty) -> Option<Duty> {
        let session = self.session.take()?;
        let Some(slot) = slot else {
            self.inner.run_events(&session);
            return Some(duty);
        };
        let watchdog = self.inner.watchdog();
        let ticket = slot.park(duty, watchdog.now());
        watchdog.started();
        self.inner.run_events(&session);
        watchdog.finished();
        slot.reclaim(ticket)
    }

    /// Hands the events to the dispatch pool.
    pub(crate) fn run_elsewhere(mut self) {
        if let Some(s) = self.session.take() {
            self.inner.pool().schedule(&self.inner, s);
        }
    }
}

impl Drop for Dispatch {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            self.inner.pool().schedule(&self.inner, s);
        }
    }
}

impl Inner {
    /// Runs the session's events until its inbox is empty (the caller is its
    /// dispatcher).
    pub(crate) fn run_events(self: &Arc<Self>, session: &Arc<Session>) {
        let server = Server::from_inner(self.clone());
        let handlers = self.handlers();
        while let Some(event) = session.next_event() {
            match event {
                Event::Message(m) => {
                    if let Some(h) = &handlers.message {
                        call("message handler", &session.sid, || {
                            h(&server, &session.sid, m)
                        });
                    }
                }
                Event::Upgrade(transport) => {
                    if let Some(h) = &handlers.upgrade {
                        call("upgrade handler", &session.sid, || {
                            h(&server, &session.sid, transport)
                        });
                    }
                }
                Event::Disconnect(reason) => {
                    if let Some(h) = &handlers.disconnect {
                        call("disconnect handler", &session.sid, || {
                            h(&server, &session.sid, reason)
                        });
                    }
                    session.data.drop_value();
                    self.disconnect_handled(session);
                }
            }
        }
    }
}

/// Threads that run the handlers of sessions whose events did not come from one of
/// their connections (closes by the server, the heartbeat or the application).
pub(crate) struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
    stack_size: usize,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Arc<Session>>,
    threads: usize,
    idle: usize,
    stop: bool,
}

/// The most dispatch threads at once. More are started only while every one is busy
/// with a handler; beyond, sessions wait their turn.
pub(crate) const MAX_POOL_THREADS: usize = 256;

/// How long an idle dispatch thread waits for work before it ends.
const POOL_IDLE: Duration = Duration::from_secs(5);

impl Pool {
    pub(crate) fn new(stack_size: usize) -> Pool {
        Pool {
            state: Mutex::new(PoolState::default()),
            work: Condvar::new(),
            stack_size,
        }
    }

    /// Queues a session whose dispatch the caller owns.
    pub(crate) fn schedule(self: &Arc<Self>, inner: &Arc<Inner>, session: Arc<Session>) {
        let mut st = self.state.lock();
        st.queue.push_back(session);
        if st.idle >= st.queue.len() {
            self.work.notify_one();
            return;
        }
        if st.threads >= MAX_POOL_THREADS {
            return;
        }
        st.threads += 1;
        let (pool, weak) = (self.clone(), Arc::downgrade(inner));
        let spawned = thread::Builder::new()
            .name("eio-dispatch".into())
            .stack_size(self.stack_size)
            .spawn(move || pool.work_loop(&weak));
        if let Err(e) = spawned {
            st.threads -= 1;
            // The session stays queued: the next schedule tries again.
            log::error!("cannot start a dispatch thread: {e}");
        }
    }

    /// Lets the threads end once the queue is empty.
    pub(crate) fn stop(&self) {
        self.state.lock().stop = true;
        self.work.notify_all();
    }

    fn work_loop(&self, inner: &Weak<Inner>) {
        loop {
            let session = {
                let mut st = self.state.lock();
                loop {
                    if let Some(s) = st.queue.pop_front() {
                        break s;
                    }
                    if st.stop {
                        st.threads -= 1;
                        return;
                    }
                    st.idle += 1;
                    let timed_out = self.work.wait_for(&mut st, POOL_IDLE).timed_out();
                    st.idle -= 1;
                    if timed_out && st.queue.is_empty() {
                        st.threads -= 1;
                        return;
                    }
                }
            };
            // A server dropped meanwhile has no handlers left to run.
            if let Some(inner) = inner.upgrade() {
                inner.run_events(&session);
            }
        }
    }
}
