//! Closing sessions: the session decides by the close table (§9); here its decision
//! is carried out (timers, the table, the disconnect handler's dispatch).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dispatch::Dispatch;
use super::heartbeat::Timer;
use super::inner::Inner;
use super::session::{CloseHow, Session};
use super::Reason;

/// How long a WebSocket we closed waits for its peer's close frame before its TCP
/// connection is dropped (W10); longer while it still writes what was queued before
/// the close (bounded by the write timeout).
pub(crate) const WS_CLOSE_WAIT: Duration = Duration::from_secs(1);

impl Inner {
    /// Closes a session (idempotent) from any thread: its disconnect handler, if due,
    /// runs on a dispatch thread, never on the caller's.
    pub(crate) fn close(self: &Arc<Self>, session: &Arc<Session>, reason: Reason) {
        self.close_with(session, reason, CloseHow::NORMAL);
    }

    /// As [`close`](Self::close), with the close's details.
    pub(crate) fn close_with(
        self: &Arc<Self>,
        session: &Arc<Session>,
        reason: Reason,
        how: CloseHow,
    ) {
        if let Some(d) = self.close_here(session, reason, how) {
            d.run_elsewhere();
        }
    }

    /// Closes a session; if its disconnect handler is due and nobody runs its events,
    /// the caller gets the duty (a connection thread runs it itself).
    pub(crate) fn close_here(
        self: &Arc<Self>,
        session: &Arc<Session>,
        reason: Reason,
        how: CloseHow,
    ) -> Option<Dispatch> {
        let closed = session.close(reason, how, &self.budget);
        if closed.first || closed.forget {
            // Its pings, pong deadline, close and upgrade timeouts no longer matter.
            self.heartbeat.cancel(session);
        }
        if closed.first {
            log::info!("session {} closed: {reason}", session.sid);
        }
        if closed.forget {
            self.table.remove(session);
        }
        if let Some(gen) = closed.linger {
            self.heartbeat.push(
                session,
                Instant::now() + self.config().close_timeout,
                Timer::CloseTimeout,
                gen,
            );
        }
        // (Cancelling the timers above also cancelled an earlier hard close.)
        if closed.hard_close || session.has_closing_ws() {
            self.schedule_hard_close(session);
        }
        if closed.client_grace {
            self.table.remember_client_close(&session.sid);
        }
        closed.dispatch.then(|| Dispatch::new(self, session))
    }

    /// The disconnect handler of `session` has run (its data is dropped).
    pub(crate) fn disconnect_handled(&self, session: &Arc<Session>) {
        if session.disconnect_handled() {
            self.table.remove(session);
        }
        self.disconnects_due.fetch_sub(1, Ordering::SeqCst);
    }

    /// Starts the hard-close deadline of the session's WebSockets closed just now.
    pub(crate) fn schedule_hard_close(&self, session: &Arc<Session>) {
        self.heartbeat
            .push(session, Instant::now() + WS_CLOSE_WAIT, Timer::HardClose, 0);
    }

    /// A long-poll (or the new WebSocket) delivered the close packet of a closing
    /// session: its close timeout no longer matters; its closed WebSockets still get
    /// their hard close.
    pub(crate) fn close_delivered(&self, session: &Arc<Session>, forget: bool) {
        self.heartbeat.cancel(session);
        if session.has_closing_ws() {
            self.schedule_hard_close(session);
        }
        if forget {
            self.table.remove(session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{Server, Transport};

    #[test]
    fn closed_sessions_leave_no_timers_behind() {
        let server = Server::builder().build().unwrap();
        let inner = server.inner().clone();
        for i in 0..1000 {
            let s = inner
                .create_session(Transport::Polling, crate::ProtocolVersion::V4, false)
                .unwrap();
            assert!(s.accept());
            inner.start_heartbeat(&s);
            if i % 2 == 0 {
                inner.close(&s, Reason::ClientDisconnect);
            } else {
                // An application close of a polling session lingers, with a close
                // timeout; shutting it down forgets it.
                inner.close(&s, Reason::ServerDisconnect);
                inner.close_with(
                    &s,
                    Reason::ServerDisconnect,
                    CloseHow {
                        now: true,
                        ws_code: None,
                    },
                );
            }
        }
        assert_eq!(inner.heartbeat.pending(), 0);
        assert_eq!(server.table_size(), 0);
        let live = inner
            .create_session(Transport::Polling, crate::ProtocolVersion::V4, false)
            .unwrap();
        assert!(live.accept());
        inner.start_heartbeat(&live);
        assert_eq!(inner.heartbeat.pending(), 1);
        server.shutdown();
    }
}
