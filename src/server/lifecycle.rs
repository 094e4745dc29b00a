//! Starting and stopping: listeners, shutdown, and what it waits for.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dispatch;
use super::http::listener::Listener;
use super::inner::{Inner, RunState};
use super::session::CloseHow;
use super::Reason;

/// How long `shutdown` waits for connection threads still writing a response.
const CONNECTION_GRACE: Duration = Duration::from_secs(2);

/// How long `shutdown` waits for the disconnect handlers to have run.
const HANDLERS_GRACE: Duration = Duration::from_secs(5);

impl Inner {
    /// Starts the threads every server has (the heartbeat, the watchdog).
    pub(crate) fn start_threads(self: &Arc<Self>) -> std::io::Result<()> {
        self.heartbeat.start(Arc::downgrade(self))?;
        self.watchdog().start()
    }

    pub(crate) fn add_listener(&self, l: Arc<Listener>) {
        self.listeners.lock().push(l);
    }

    pub(crate) fn shutdown(self: &Arc<Self>) {
        let from_handler = dispatch::in_handler();
        {
            let mut st = self.run.lock();
            if *st != RunState::Running {
                if !from_handler {
                    while *st != RunState::Stopped {
                        self.stopped.wait(&mut st);
                    }
                }
                return;
            }
            *st = RunState::ShuttingDown;
        }
        log::info!("shutting down");
        let listeners: Vec<Arc<Listener>> = self.listeners.lock().clone();
        for l in &listeners {
            l.stop_accepting();
        }
        let now = CloseHow {
            now: true,
            ws_code: None,
        };
        for s in self.table.all() {
            self.close_with(&s, Reason::ServerDisconnect, now);
        }
        // Connections whose thread runs a handler: closed under it.
        self.watchdog().drop_parked();
        for l in &listeners {
            l.close_connections(if from_handler {
                None
            } else {
                Some(CONNECTION_GRACE)
            });
        }
        if !from_handler {
            let deadline = Instant::now() + HANDLERS_GRACE;
            while self.disconnects_due.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let left = self.disconnects_due.load(Ordering::SeqCst);
            if left > 0 {
                log::warn!("shutdown: {left} disconnect handler(s) still to run");
            }
        }
        #[cfg(feature = "redis")]
        self.stop_cluster(!from_handler);
        self.heartbeat.stop();
        self.watchdog().stop();
        self.pool().stop();
        self.listeners.lock().clear();
        *self.run.lock() = RunState::Stopped;
        self.stopped.notify_all();
    }

    pub(crate) fn wait_stopped(&self) {
        let mut st = self.run.lock();
        while *st != RunState::Stopped {
            self.stopped.wait(&mut st);
        }
    }
}
