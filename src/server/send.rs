//! Sending: to one session, to many (a broadcast encodes its packet once), and the
//! limits on what waits for clients that do not read.

use std::sync::Arc;

use super::inner::Inner;
use super::session::{EnqueueError, Outgoing, Session};
use super::Reason;
use crate::{Error, ErrorKind, Result};

/// How many of the biggest holders one send may close to fit under the server-wide
/// limit before it gives up.
const MAX_EVICTIONS_PER_SEND: usize = 8;

impl Inner {
    /// Queues `out` for one session. Never blocks and never runs a handler: a session
    /// this closes has its disconnect handler run on a dispatch thread.
    pub(crate) fn send_packet(
        self: &Arc<Self>,
        session: &Arc<Session>,
        out: &Outgoing,
    ) -> Result<()> {
        let mut evictions = 0;
        loop {
            let err = match session.enqueue(out, &self.budget) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            return Err(match err {
                EnqueueError::Closed => Error::from_kind(ErrorKind::SessionClosed),
                EnqueueError::Unencodable => Error::new(
                    ErrorKind::InvalidMessage,
                    "v4 polling cannot carry a text message containing U+001E",
                ),
                EnqueueError::Failed => {
                    self.close(session, Reason::TransportError);
                    Error::new(ErrorKind::SessionClosed, "the WebSocket write failed")
                }
                EnqueueError::Overflow => {
                    log::warn!(
                        "session {}: more than {} bytes waiting for the client; closing it",
                        session.sid,
                        self.config().max_buffered
                    );
                    self.close(session, Reason::TransportError);
                    Error::new(
                        ErrorKind::SessionClosed,
                        "the client is not collecting its messages",
                    )
                }
                EnqueueError::OverBudget => {
                    if evictions < MAX_EVICTIONS_PER_SEND && self.evict_biggest(session) {
                        evictions += 1;
                        continue;
                    }
                    self.close(session, Reason::TransportError);
                    Error::new(
                        ErrorKind::SessionClosed,
                        "the server's limit on outbound bytes waiting for clients is reached",
                    )
                }
            });
        }
    }

    /// The server-wide outbound limit is reached: closes the session holding the most
    /// waiting bytes, the slowest reader (`transport error`), unless that is `sender`'s
    /// own session. `true` if one was closed, and the send may try again.
    fn evict_biggest(self: &Arc<Self>, sender: &Arc<Session>) -> bool {
        let biggest = self
            .table
            .all()
            .into_iter()
            .map(|s| (s.buffered_bytes(), s))
            .filter(|(n, _)| *n > 0)
            .max_by_key(|(n, _)| *n);
        match biggest {
            Some((bytes, s)) if !Arc::ptr_eq(&s, sender) => {
                log::warn!(
                    "outbound bytes waiting for clients reached {} (max_total_buffered_bytes): \
                     closing session {}, which holds {bytes}",
                    self.budget.used(),
                    s.sid
                );
                self.close(&s, Reason::TransportError);
                true
            }
            _ => {
                log::warn!(
                    "outbound bytes waiting for clients reached {} (max_total_buffered_bytes): \
                     closing session {}",
                    self.budget.limit(),
                    sender.sid
                );
                false
            }
        }
    }

    /// Sends `out` to every session; returns to how many it went. On a loopback or fast
    /// network most of a WebSocket send's cost is the kernel's TCP work, so a large
    /// broadcast is split across the machine's cores (scoped threads, at most 4, for
    /// 1024 recipients or more); a small one stays on the calling thread. The helpers
    /// only write: a session they close has its handler run on a dispatch thread.
    pub(crate) fn send_to_all(
        self: &Arc<Self>,
        sessions: &[Arc<Session>],
        out: &Outgoing,
    ) -> usize {
        const PARALLEL_FROM: usize = 1024;
        let send = |chunk: &[Arc<Session>]| {
            chunk
                .iter()
                .filter(|s| self.send_packet(s, out).is_ok())
                .count()
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4);
        if sessions.len() < PARALLEL_FROM || threads < 2 {
            return send(sessions);
        }
        let chunk = sessions.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let mut parts = sessions.chunks(chunk);
            let mine = parts.next().unwrap_or(&[]);
            let mut sent = 0;
            let mut helpers = Vec::new();
            for c in parts {
                match std::thread::Builder::new()
                    .name("eio-broadcast".into())
                    .stack_size(BROADCAST_STACK)
                    .spawn_scoped(scope, move || send(c))
                {
                    Ok(h) => helpers.push(h),
                    // No thread to spare (a thread limit): do it here.
                    Err(_) => sent += send(c),
                }
            }
            sent += send(mine);
            for h in helpers {
                // A helper only panics if a send does; count nothing for it then.
                sent += h.join().unwrap_or(0);
            }
            sent
        })
    }
}

/// The broadcast helpers' stack: they run no application code (sends never call
/// handlers), so a small one is plenty.
const BROADCAST_STACK: usize = 128 * 1024;
