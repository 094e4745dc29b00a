//! The session table: sids to sessions, and the sids their clients closed a moment ago
//! (C2).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use super::session::Session;
use super::Sid;

/// Every session the server holds: open, closing (delivering its close packet), or
/// closed with its disconnect handler still to run (its data stays readable there).
#[derive(Default)]
pub(crate) struct Table {
    sessions: RwLock<HashMap<Sid, Arc<Session>>>,
    recent_client_closes: Mutex<RecentCloses>,
}

impl Table {
    /// Inserts a session under its sid unless the sid is taken.
    pub(crate) fn insert_new(&self, session: &Arc<Session>) -> bool {
        let mut sessions = self.sessions.write();
        if sessions.contains_key(&session.sid) {
            return false;
        }
        sessions.insert(session.sid.clone(), session.clone());
        true
    }

    pub(crate) fn get(&self, sid: &str) -> Option<Arc<Session>> {
        self.sessions.read().get(sid).cloned()
    }

    /// Removes a session (if the table still holds this very session).
    pub(crate) fn remove(&self, session: &Arc<Session>) {
        let mut sessions = self.sessions.write();
        if sessions
            .get(&session.sid)
            .is_some_and(|s| Arc::ptr_eq(s, session))
        {
            sessions.remove(&session.sid);
        }
    }

    /// Every session, whatever its state.
    pub(crate) fn all(&self) -> Vec<Arc<Session>> {
        self.sessions.read().values().cloned().collect()
    }

    /// Every open session.
    pub(crate) fn open(&self) -> Vec<Arc<Session>> {
        self.sessions
            .read()
            .values()
            .filter(|s| s.is_open())
            .cloned()
            .collect()
    }

    pub(crate) fn open_count(&self) -> usize {
        self.sessions
            .read()
            .values()
            .filter(|s| s.is_open())
            .count()
    }

    pub(crate) fn len(&self) -> usize {
        self.sessions.read().len()
    }

    /// Remembers that the client of `sid` closed with no long-poll waiting (C2).
    pub(crate) fn remember_client_close(&self, sid: &Sid) {
        self.recent_client_closes.lock().insert(sid.clone());
    }

    /// Whether a GET for `sid` trails its client's close closely enough to get a noop;
    /// it answers once.
    pub(crate) fn take_recent_client_close(&self, sid: &str) -> bool {
        self.recent_client_closes.lock().take(sid)
    }
}

/// How long after a client's close a trailing GET gets a noop instead of an error.
const CLIENT_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The sids closed by their client within [`CLIENT_CLOSE_GRACE`], oldest first, so
/// that expiry costs O(1) per close however many sessions close per second.
#[derive(Default)]
struct RecentCloses {
    order: VecDeque<(Instant, Sid)>,
    at: HashMap<Sid, Instant>,
}

impl RecentCloses {
    fn expire(&mut self, now: Instant) {
        while let Some((t, _)) = self.order.front() {
            if now.duration_since(*t) < CLIENT_CLOSE_GRACE {
                break;
            }
            let (t, sid) = self.order.pop_front().expect("front exists");
            if self.at.get(&sid) == Some(&t) {
                self.at.remove(&sid);
            }
        }
    }

    fn insert(&mut self, sid: Sid) {
        let now = Instant::now();
        self.expire(now);
        self.at.insert(sid.clone(), now);
        self.order.push_back((now, sid));
    }

    fn take(&mut self, sid: &str) -> bool {
        let now = Instant::now();
        self.expire(now);
        self.at.remove(sid).is_some()
    }
}
