//! The state behind every [`Server`](super::Server) handle: configuration, handlers,
//! the session table and the server's threads; how sessions are created and how
//! received packets reach them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::config::Config;
use super::dispatch::{self, Dispatch, Pool};
use super::handlers::{Handlers, Rejection};
use super::handoff::Watchdog;
use super::heartbeat::Heartbeat;
use super::http::listener::Listener;
use super::session::{Budget, CloseHow, Limits, Session};
use super::table::Table;
use super::{Reason, Request, Server, Sid, Transport};
use crate::packet::Packet;
use crate::ProtocolVersion;
use crate::{Error, ErrorKind, Result};

pub(crate) struct Inner {
    config: Config,
    handlers: Handlers,
    pub(crate) table: Table,
    pub(crate) heartbeat: Heartbeat,
    watchdog: Watchdog,
    pool: Arc<Pool>,
    pub(crate) budget: Arc<Budget>,
    pub(crate) listeners: Mutex<Vec<Arc<Listener>>>,
    pub(crate) run: Mutex<RunState>,
    pub(crate) stopped: Condvar,
    /// `Listening` values alive: the last one dropped shuts the server down.
    pub(crate) listenings: AtomicUsize,
    /// Accepted sessions whose disconnect handler has not run yet.
    pub(crate) disconnects_due: AtomicUsize,
    /// The cluster this server is in, set once by `build` (feature `redis`).
    #[cfg(feature = "redis")]
    pub(crate) cluster: std::sync::OnceLock<super::cluster::Cluster>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RunState {
    Running,
    ShuttingDown,
    Stopped,
}

impl Inner {
    pub(crate) fn new(config: Config, handlers: Handlers) -> Inner {
        let stack = config.limits.thread_stack_size;
        Inner {
            budget: Arc::new(Budget::new(config.max_total_buffered)),
            config,
            handlers,
            table: Table::default(),
            heartbeat: Heartbeat::new(),
            watchdog: Watchdog::new(stack),
            pool: Arc::new(Pool::new(stack)),
            listeners: Mutex::new(Vec::new()),
            run: Mutex::new(RunState::Running),
            stopped: Condvar::new(),
            listenings: AtomicUsize::new(0),
            disconnects_due: AtomicUsize::new(0),
            #[cfg(feature = "redis")]
            cluster: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn handlers(&self) -> &Handlers {
        &self.handlers
    }

    pub(crate) fn watchdog(&self) -> &Watchdog {
        &self.watchdog
    }

    pub(crate) fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    pub(crate) fn is_running(&self) -> bool {
        *self.run.lock() == RunState::Running
    }

    // ------------------------------------------------------------------ lookups

    /// A session that can be sent to (open, or connecting: the connect handler may
    /// send to its new session).
    pub(crate) fn find(&self, sid: &str) -> Result<Arc<Session>> {
        match self.table.get(sid) {
            Some(s) if s.accepts_sends() => Ok(s),
            Some(_) => Err(Error::from_kind(ErrorKind::SessionClosed)),
            None => Err(Error::from_kind(ErrorKind::UnknownSession)),
        }
    }

    /// A session by id whatever its state (for its data, readable until its
    /// disconnect handler has returned).
    pub(crate) fn find_any(&self, sid: &str) -> Result<Arc<Session>> {
        self.table
            .get(sid)
            .ok_or_else(|| Error::from_kind(ErrorKind::UnknownSession))
    }

    /// The session a request names, if requests may use it (open, or closing and
    /// still delivering its close).
    pub(crate) fn lookup_for_request(&self, sid: &str) -> Option<Arc<Session>> {
        self.table.get(sid).filter(|s| s.is_visible())
    }

    // ------------------------------------------------------------------ sessions

    fn limits(&self) -> Limits {
        Limits {
            max_buffered: self.config.max_buffered,
            max_poll_packets: self.config.max_poll_packets,
            max_inbox: self.config.max_payload.max(MIN_INBOX),
            deliver_messages: self.handlers.message.is_some(),
            deliver_disconnect: self.handlers.disconnect.is_some(),
            deliver_upgrade: self.handlers.upgrade.is_some(),
        }
    }

    /// Creates a session in the connecting state (invisible to requests, H3) with a
    /// fresh, unique sid. The custom sid generator runs here, under no lock.
    pub(crate) fn create_session(
        &self,
        transport: Transport,
        version: ProtocolVersion,
        b64: bool,
    ) -> Option<Arc<Session>> {
        for _ in 0..16 {
            let sid = match &self.config.sid_generator {
                Some(g) => match dispatch::call("sid generator", "", || g()) {
                    Some(id) => match Sid::from_custom(id) {
                        Some(s) => s,
                        None => {
                            log::error!("the sid generator returned an invalid id");
                            return None;
                        }
                    },
                    None => return None,
                },
                None => Sid::generate()?,
            };
            // In a cluster, the sid names its node (`<node id>_<sid>`).
            #[cfg(feature = "redis")]
            let sid = self.cluster_sid(sid);
            let session = Arc::new(Session::with_version(
                sid,
                transport,
                version,
                b64,
                self.limits(),
            ));
            if self.table.insert_new(&session) {
                return Some(session);
            }
        }
        log::error!("the sid generator keeps returning ids in use");
        None
    }

    /// Runs the connect handler for a new session. `Ok` means accepted; the session is
    /// then open and visible.
    pub(crate) fn run_connect(
        self: &Arc<Self>,
        session: &Arc<Session>,
        request: &Request,
    ) -> Result<(), Rejection> {
        let server = Server::from_inner(self.clone());
        let verdict = match &self.handlers.connect {
            None => Ok(()),
            Some(h) => dispatch::call("connect handler", &session.sid, || {
                h(&server, &session.sid, request)
            })
            .unwrap_or_else(|| Err(Rejection::new())),
        };
        let verdict = verdict.and_then(|()| {
            if session.accept() {
                if self.handlers.disconnect.is_some() {
                    self.disconnects_due.fetch_add(1, Ordering::SeqCst);
                }
                Ok(())
            } else {
                // The handler closed the session it was accepting.
                Err(Rejection::new())
            }
        });
        if verdict.is_err() {
            // Nothing was sent for a refused session; its queue goes with it.
            let _ = session.close(Reason::ServerDisconnect, CloseHow::NORMAL, &self.budget);
            self.table.remove(session);
        }
        verdict
    }

    // ------------------------------------------------------------------ receiving

    /// Hands one received packet to its session: messages go to the inbox (in wire
    /// order), pongs to the heartbeat at once, a close packet closes. If this made the
    /// caller the session's dispatcher, `dispatch` receives the duty. Returns whether
    /// the inbox is full and someone else runs the handlers: the caller, a reader,
    /// should wait for room ([`Session::wait_for_room`]) before reading on.
    pub(crate) fn receive(
        self: &Arc<Self>,
        session: &Arc<Session>,
        packet: Packet,
        dispatch: &mut Option<Dispatch>,
    ) -> bool {
        match packet {
            Packet::Message(m) => {
                let pushed = session.push_message(m);
                if pushed.dispatch {
                    *dispatch = Some(Dispatch::new(self, session));
                }
                pushed.full && dispatch.is_none()
            }
            Packet::Close => {
                if let Some(d) =
                    self.close_here(session, Reason::ClientDisconnect, CloseHow::NORMAL)
                {
                    *dispatch = Some(d);
                }
                false
            }
            Packet::Pong(_) if session.version == ProtocolVersion::V4 => {
                if let Some(gen) = session.pong_received() {
                    self.schedule_ping(session, gen);
                }
                false
            }
            Packet::Ping(data) if session.version == ProtocolVersion::V3 => {
                if let Some(gen) = session.ping_received(data, &self.budget) {
                    self.schedule_ping(session, gen);
                }
                false
            }
            Packet::Ping(_) | Packet::Pong(_) => {
                // The wrong heartbeat direction for the session's version (K7, V3).
                log::debug!(
                    "session {}: a {} client sent a heartbeat packet of the other direction",
                    session.sid,
                    session.version
                );
                if let Some(d) = self.close_here(session, Reason::TransportError, CloseHow::NORMAL)
                {
                    *dispatch = Some(d);
                }
                false
            }
            Packet::Open(_) | Packet::Upgrade | Packet::Noop => false,
        }
    }
}

/// The inbox limit never goes below this, whatever `max_payload` is.
const MIN_INBOX: usize = 64 * 1024;
