//! Cluster messaging over Redis (feature `redis`): several server processes, on one
//! machine or many, reach each other's sessions.
//!
//! A server joins a cluster with [`ServerBuilder::cluster`](super::ServerBuilder::cluster).
//! Each node prefixes its sids with its node id (`<node id>_<random>`), so a sid names
//! its owner and routing needs no directory: a directory (a Redis hash of sid → node)
//! would cost a Redis write per session opened and closed, and would be wrong after a
//! crash until someone cleaned it.
//!
//! # Protocol
//! Redis pub/sub, on two channels per node: `<prefix>#all` (heartbeats, broadcasts,
//! leaves: every node subscribes) and `<prefix>#node#<node id>` (sends and disconnects
//! for that node's sids). Messages are a small binary format (see `wire.rs`): a version
//! byte, a kind, the sender's node id, then the kind's fields; an application message
//! travels as its bytes (text or binary), never re-encoded. A node encodes a cluster
//! broadcast once (for Redis), and each receiving node encodes its Engine.IO frame once
//! for all its sessions, as a local broadcast does.
//!
//! # Threads
//! Two per node: a publisher (`eio-cluster-pub`) that owns one Redis connection, takes
//! messages from a bounded queue and sends heartbeats, and a subscriber
//! (`eio-cluster-sub`) that owns the pub/sub connection and applies what arrives through
//! the same paths as local calls (`send`, `broadcast`, `disconnect`): it never runs a
//! handler (a disconnect's handler runs on a dispatch thread). Public methods never
//! touch Redis: they hand their message to the queue and return.

mod config;
mod redis;
mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};

pub use self::config::ClusterConfig;

use super::inner::Inner;
use super::session::Outgoing;
use super::{Message, Reason, Server, Sid};
use crate::packet::Packet;
use crate::{Error, ErrorKind, Result};

/// How long `shutdown` waits for the cluster's threads (the publisher's goodbye
/// included) before leaving them to end on their own.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// The separator between a sid's node id and its random part.
const SID_SEPARATOR: char = '_';

/// What the publisher sends: one or more (channel, payload) pairs, queued as one, so
/// that an operation reaching several nodes is queued whole or not at all.
pub(crate) struct Outbound(Vec<(String, Vec<u8>)>);

/// What each (channel, payload) pair costs against `max_queued_bytes`, beyond its bytes.
const QUEUE_OVERHEAD: usize = 64;

impl Outbound {
    fn cost(&self) -> usize {
        self.0
            .iter()
            .map(|(c, p)| c.len() + p.len() + QUEUE_OVERHEAD)
            .sum()
    }
}

/// What a node knows of another one, from its heartbeats.
struct Peer {
    sessions: u64,
    instance: u64,
    seen: Instant,
}

/// State shared by the cluster's handle and its threads.
pub(crate) struct Shared {
    config: ClusterConfig,
    node_id: String,
    /// Tells this process's node apart from another one with the same id.
    instance: u64,
    /// Bytes waiting in the outgoing queue (see [`Outbound::cost`]).
    queued_bytes: std::sync::atomic::AtomicUsize,
    client: ::redis::Client,
    all_channel: String,
    node_channel: String,
    /// The Redis URL without its password, for the log.
    shown_url: String,
    publisher_up: AtomicBool,
    subscriber_up: AtomicBool,
    /// What the log last said: `None` before the first connection attempt.
    reported_up: Mutex<Option<bool>>,
    peers: Mutex<HashMap<String, Peer>>,
    /// When this node last heard its own heartbeat back (its subscription works).
    self_heard: Mutex<Instant>,
    stop: AtomicBool,
    /// Dropped to wake the threads when stopping.
    stop_tx: Mutex<Option<Sender<()>>>,
    stop_rx: Receiver<()>,
    /// Threads that have ended, for a bounded join.
    ended: Mutex<usize>,
    ended_cv: Condvar,
}

/// A server's membership in a cluster: the handle kept in the server's state.
pub(crate) struct Cluster {
    shared: Arc<Shared>,
    queue: Sender<Outbound>,
    queue_rx: Receiver<Outbound>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Cluster {
    /// Checks the configuration and prepares the cluster (no connection yet).
    pub(crate) fn new(config: ClusterConfig) -> Result<Cluster> {
        config.validate()?;
        if config.url.starts_with("rediss:") {
            return Err(Error::new(
                ErrorKind::Config,
                "cluster url: rediss:// (TLS) is not supported",
            ));
        }
        let client = ::redis::Client::open(config.url.as_str()).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("cluster url {:?}: {e}", redact(&config.url)),
            )
        })?;
        let node_id = match &config.node_id {
            Some(id) => id.clone(),
            None => random_node_id()?,
        };
        let instance = random_u64()?;
        let all_channel = format!("{}#all", config.channel_prefix);
        let node_channel = format!("{}#node#{node_id}", config.channel_prefix);
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(0);
        // Bounded in bytes (`max_queued_bytes`), by `enqueue`.
        let (queue, queue_rx) = crossbeam_channel::unbounded();
        Ok(Cluster {
            shared: Arc::new(Shared {
                shown_url: redact(&config.url),
                config,
                node_id,
                instance,
                queued_bytes: std::sync::atomic::AtomicUsize::new(0),
                client,
                all_channel,
                node_channel,
                publisher_up: AtomicBool::new(false),
                subscriber_up: AtomicBool::new(false),
                reported_up: Mutex::new(None),
                peers: Mutex::new(HashMap::new()),
                self_heard: Mutex::new(Instant::now()),
                stop: AtomicBool::new(false),
                stop_tx: Mutex::new(Some(stop_tx)),
                stop_rx,
                ended: Mutex::new(0),
                ended_cv: Condvar::new(),
            }),
            queue,
            queue_rx,
            threads: Mutex::new(Vec::new()),
        })
    }

    /// Starts the publisher and subscriber threads.
    pub(crate) fn start(&self, server: Weak<Inner>) -> std::io::Result<()> {
        let mut threads = self.threads.lock();
        let (shared, rx, weak) = (self.shared.clone(), self.queue_rx.clone(), server.clone());
        threads.push(
            std::thread::Builder::new()
                .name("eio-cluster-pub".into())
                .stack_size(THREAD_STACK)
                .spawn(move || redis::publisher(shared, rx, weak))?,
        );
        let shared = self.shared.clone();
        let started = std::thread::Builder::new()
            .name("eio-cluster-sub".into())
            .stack_size(THREAD_STACK)
            .spawn(move || redis::subscriber(shared, server));
        match started {
            Ok(t) => threads.push(t),
            Err(e) => {
                drop(threads);
                self.stop(false);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Stops the threads; the publisher says goodbye to the other nodes first. Waits
    /// at most [`STOP_GRACE`] for them unless `wait` is false.
    pub(crate) fn stop(&self, wait: bool) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.stop_tx.lock().take();
        let threads: Vec<_> = self.threads.lock().drain(..).collect();
        if !wait || threads.is_empty() {
            return;
        }
        let deadline = Instant::now() + STOP_GRACE;
        let mut ended = self.shared.ended.lock();
        while *ended < threads.len() {
            if self
                .shared
                .ended_cv
                .wait_until(&mut ended, deadline)
                .timed_out()
            {
                break;
            }
        }
        let all = *ended >= threads.len();
        drop(ended);
        if all {
            for t in threads {
                let _ = t.join();
            }
        } else {
            log::warn!(
                "cluster: threads still busy with Redis after {STOP_GRACE:?}; leaving them to end"
            );
        }
    }

    pub(crate) fn node_id(&self) -> &str {
        &self.shared.node_id
    }

    /// `Ok` if Redis is reachable, else `ClusterUnavailable`.
    fn check_up(&self) -> Result<()> {
        if self.shared.up() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::ClusterUnavailable,
                format!(
                    "no connection to Redis at {}; the node is reconnecting",
                    self.shared.shown_url
                ),
            ))
        }
    }

    fn check_size(&self, payload: &[u8]) -> Result<()> {
        let max = self.shared.config.max_message_bytes;
        if payload.len() > max {
            return Err(Error::new(
                ErrorKind::InvalidMessage,
                format!(
                    "a cluster message of {} bytes is over max_message_bytes ({max})",
                    payload.len()
                ),
            ));
        }
        Ok(())
    }

    fn enqueue(&self, out: Outbound) -> Result<()> {
        let cost = out.cost();
        let max = self.shared.config.max_queued_bytes;
        let queued = &self.shared.queued_bytes;
        let before = queued.fetch_add(cost, Ordering::SeqCst);
        if before + cost > max {
            queued.fetch_sub(cost, Ordering::SeqCst);
            return Err(Error::new(
                ErrorKind::ClusterUnavailable,
                format!(
                    "the cluster's outgoing queue is full ({before} bytes waiting for Redis; \
                     max_queued_bytes is {max})"
                ),
            ));
        }
        if self.queue.send(out).is_err() {
            queued.fetch_sub(cost, Ordering::SeqCst);
            return Err(Error::from_kind(ErrorKind::Shutdown));
        }
        Ok(())
    }

    fn node_channel(&self, node: &str) -> String {
        format!("{}#node#{node}", self.shared.config.channel_prefix)
    }

    /// Whether `node` is this one or has been heard from within the node timeout.
    fn is_alive(&self, node: &str) -> bool {
        node == self.shared.node_id
            || self
                .shared
                .peers
                .lock()
                .get(node)
                .is_some_and(|p| p.seen.elapsed() < self.shared.config.node_timeout)
    }
}

impl Drop for Cluster {
    /// A server dropped without `shutdown` still ends its cluster threads (without
    /// waiting for them: the last handle may be dropped on one of them).
    fn drop(&mut self) {
        self.stop(false);
    }
}

/// The cluster threads run no application code: a small stack is plenty.
const THREAD_STACK: usize = 256 * 1024;

impl Shared {
    fn up(&self) -> bool {
        self.publisher_up.load(Ordering::SeqCst) && self.subscriber_up.load(Ordering::SeqCst)
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Records that one of the two connections came up or went down, and logs when the
    /// node as a whole gains or loses Redis.
    fn set_connection(&self, which: &AtomicBool, up: bool, why: &dyn std::fmt::Display) {
        which.store(up, Ordering::SeqCst);
        let now = self.up();
        let mut reported = self.reported_up.lock();
        if *reported == Some(now) || (up && !now) {
            // Unchanged, or half-way up (the other connection is not there yet).
            return;
        }
        let first = reported.is_none();
        *reported = Some(now);
        drop(reported);
        if now {
            log::info!(
                "cluster: node {} {} Redis at {}",
                self.node_id,
                if first {
                    "connected to"
                } else {
                    "reconnected to"
                },
                self.shown_url
            );
        } else if !self.stopping() {
            log::warn!(
                "cluster: node {} cannot reach Redis at {} ({why}); cluster operations fail \
                 until it is back; reconnecting with back-off up to {:?}",
                self.node_id,
                self.shown_url,
                self.config.max_backoff
            );
        }
    }

    /// Waits `d`, or less if the cluster is stopping. `false` if it is.
    fn sleep(&self, d: Duration) -> bool {
        if self.stopping() {
            return false;
        }
        let _ = self.stop_rx.recv_timeout(d);
        !self.stopping()
    }

    /// The publisher took `out` from the queue.
    fn dequeued(&self, out: &Outbound) {
        self.queued_bytes.fetch_sub(out.cost(), Ordering::SeqCst);
    }

    fn thread_ended(&self) {
        *self.ended.lock() += 1;
        self.ended_cv.notify_all();
    }

    /// A heartbeat from `sender`.
    fn heard(&self, sender: &str, instance: u64, sessions: u64) {
        if sender == self.node_id {
            if instance == self.instance {
                *self.self_heard.lock() = Instant::now();
            } else {
                log::error!(
                    "cluster: another node uses this node's id {sender}; \
                     sends and disconnects for its sids reach both"
                );
            }
            return;
        }
        let mut peers = self.peers.lock();
        let fresh = peers
            .insert(
                sender.to_string(),
                Peer {
                    sessions,
                    instance,
                    seen: Instant::now(),
                },
            )
            .is_none_or(|old| old.instance != instance);
        if fresh {
            log::info!("cluster: node {sender} joined");
        }
    }

    fn left(&self, sender: &str) {
        if self.peers.lock().remove(sender).is_some() {
            log::info!("cluster: node {sender} left");
        }
    }

    /// Forgets the nodes not heard from within the node timeout.
    fn expire_peers(&self) {
        let timeout = self.config.node_timeout;
        self.peers.lock().retain(|id, p| {
            let alive = p.seen.elapsed() < timeout;
            if !alive {
                log::warn!("cluster: node {id} not heard from for {timeout:?}; taken for dead");
            }
            alive
        });
    }
}

/// Applies a message from another node to this node's sessions, through the paths
/// local calls take. Never runs a handler.
fn apply(inner: &Arc<Inner>, wire: wire::Wire) {
    match wire {
        wire::Wire::Broadcast { message, .. } => {
            let out = Outgoing::new(Packet::Message(message));
            inner.send_to_all(&inner.table.all(), &out);
        }
        wire::Wire::Send { sids, message, .. } => {
            let sessions: Vec<_> = sids.iter().filter_map(|s| inner.find(s).ok()).collect();
            if sessions.len() < sids.len() {
                log::debug!(
                    "cluster: {} of {} sids of a cluster send are not open here",
                    sids.len() - sessions.len(),
                    sids.len()
                );
            }
            let out = Outgoing::new(Packet::Message(message));
            inner.send_to_all(&sessions, &out);
        }
        wire::Wire::Disconnect { sids, .. } => {
            for sid in &sids {
                if let Ok(s) = inner.find(sid) {
                    inner.close(&s, Reason::ServerDisconnect);
                }
            }
        }
        wire::Wire::Heartbeat { .. } | wire::Wire::Leave { .. } => {}
    }
}

/// The node id a sid of a cluster node starts with, if it has one.
fn owner(sid: &str) -> Option<&str> {
    let (node, rest) = sid.split_once(SID_SEPARATOR)?;
    (config::valid_node_id(node) && !rest.is_empty()).then_some(node)
}

impl Inner {
    /// The cluster, if the server is in one.
    pub(crate) fn cluster(&self) -> Option<&Cluster> {
        self.cluster.get()
    }

    /// A new session's sid, with this node's id in front when in a cluster.
    pub(crate) fn cluster_sid(&self, sid: Sid) -> Sid {
        match self.cluster() {
            Some(c) => Sid::prefixed(c.node_id(), &sid),
            None => sid,
        }
    }

    /// Stops the cluster's threads (from `shutdown`).
    pub(crate) fn stop_cluster(&self, wait: bool) {
        if let Some(c) = self.cluster() {
            c.stop(wait);
        }
    }
}

/// # Cluster (feature `redis`)
///
/// With [`ServerBuilder::cluster`](super::ServerBuilder::cluster), servers in several
/// processes reach each other's sessions through Redis. These methods never wait on
/// the network: an operation that needs another node puts one message on a bounded
/// queue ([`ClusterConfig::max_queued_bytes`]) and returns; the node's publisher thread sends
/// it. They fail at once, sending nothing, with
/// [`ErrorKind::ClusterUnavailable`] while the node has no working connection to
/// Redis (it reconnects by itself) or when the queue is full, and with
/// [`ErrorKind::Shutdown`] once the server is shutting down.
///
/// Delivery to other nodes is **at most once**: a message queued just before Redis
/// went away, or published while another node was reconnecting (Redis pub/sub keeps
/// nothing for absent subscribers), is lost for that node, without an error. Messages
/// from one node reach another in the order they were sent. This node's own sessions
/// are always served at once, from the calling thread, exactly as the local methods
/// do.
impl Server {
    fn cluster_state(&self) -> Result<&Cluster> {
        if !self.inner.is_running() {
            return Err(Error::from_kind(ErrorKind::Shutdown));
        }
        self.inner.cluster().ok_or_else(|| {
            Error::new(
                ErrorKind::ClusterUnavailable,
                "the server is not in a cluster (ServerBuilder::cluster)",
            )
        })
    }

    /// This node's id in its cluster (the prefix of its sids, before `_`), or `None`
    /// if the server is not in a cluster.
    pub fn cluster_node_id(&self) -> Option<&str> {
        self.inner.cluster().map(Cluster::node_id)
    }

    /// Sends one message to every open session of every node of the cluster. This
    /// node's sessions get it at once (as [`broadcast`](Self::broadcast)); every other
    /// node gets it through Redis and sends it to its own sessions, encoding the frame
    /// once. Returns how many sessions of this node it was sent to.
    ///
    /// ```no_run
    /// # let server = engineio::server::Server::builder().build().unwrap();
    /// match server.cluster_broadcast("the game starts") {
    ///     Ok(here) => println!("sent to {here} sessions here, and to the other nodes"),
    ///     // Redis is away: at least tell the sessions of this node.
    ///     Err(_) => println!("only here: {}", server.broadcast("the game starts")),
    /// }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::ClusterUnavailable`] and [`ErrorKind::Shutdown`] as above (nothing
    /// was sent, here or elsewhere); [`ErrorKind::InvalidMessage`] for a message over
    /// [`ClusterConfig::max_message_bytes`].
    pub fn cluster_broadcast(&self, message: impl Into<Message>) -> Result<usize> {
        let c = self.cluster_state()?;
        c.check_up()?;
        let message = message.into();
        let payload = wire::broadcast(c.node_id(), &message);
        c.check_size(&payload)?;
        c.enqueue(Outbound(vec![(c.shared.all_channel.clone(), payload)]))?;
        Ok(self.broadcast(message))
    }

    /// Sends one message to the sessions in `sids`, wherever they live: this node's at
    /// once (as [`send_many`](Self::send_many)), each other node's in one message to
    /// that node, which encodes the frame once. Sids of nodes not heard from within
    /// [`ClusterConfig::node_timeout`], unknown sids and closed sessions are skipped.
    /// Returns how many sessions of this node it was sent to.
    ///
    /// # Errors
    /// As [`cluster_broadcast`](Self::cluster_broadcast); a call whose sids all live on
    /// this node needs no Redis and cannot fail that way.
    pub fn cluster_send_many<'a>(
        &self,
        sids: impl IntoIterator<Item = &'a str>,
        message: impl Into<Message>,
    ) -> Result<usize> {
        let c = self.cluster_state()?;
        let me = c.node_id();
        let mut local = Vec::new();
        let mut remote: HashMap<&str, Vec<&str>> = HashMap::new();
        for sid in sids {
            match owner(sid) {
                Some(node) if node != me => {
                    if c.is_alive(node) {
                        remote.entry(node).or_default().push(sid);
                    }
                }
                _ => local.push(sid),
            }
        }
        let message = message.into();
        if !remote.is_empty() {
            c.check_up()?;
            let mut out = Vec::with_capacity(remote.len());
            for (node, sids) in &remote {
                let payload = wire::send(me, sids, &message);
                c.check_size(&payload)?;
                out.push((c.node_channel(node), payload));
            }
            c.enqueue(Outbound(out))?;
        }
        Ok(self.send_many(local, message))
    }

    /// Queues a message for one session, wherever it lives: on this node as
    /// [`send`](Self::send) does, on another through Redis (delivered at most once;
    /// that node skips a sid that is not open there, without telling).
    ///
    /// ```no_run
    /// # let server = engineio::server::Server::builder().build().unwrap();
    /// # let sid = "n1_AAAAAAAAAAAAAAAAAAAAAA";
    /// // A sid received from another node, for example in a message.
    /// if let Err(e) = server.cluster_send(sid, "hello from afar") {
    ///     eprintln!("not sent: {e}");
    /// }
    /// ```
    ///
    /// # Errors
    /// For a sid of this node (or with no node prefix), those of [`send`](Self::send).
    /// For another node's sid: [`ErrorKind::UnknownSession`] if that node has not been
    /// heard from within [`ClusterConfig::node_timeout`], else as
    /// [`cluster_broadcast`](Self::cluster_broadcast).
    pub fn cluster_send(&self, sid: &str, message: impl Into<Message>) -> Result<()> {
        let c = self.cluster_state()?;
        let node = match owner(sid) {
            Some(node) if node != c.node_id() => node,
            _ => return self.send(sid, message),
        };
        let payload = wire::send(c.node_id(), &[sid], &message.into());
        c.remote(node, payload)
    }

    /// Closes one session, wherever it lives, as [`disconnect`](Self::disconnect) does
    /// (the session ends with [`Reason::ServerDisconnect`]; its disconnect handler runs
    /// on its own node, on a dispatch thread).
    ///
    /// # Errors
    /// As [`cluster_send`](Self::cluster_send) (for a sid of this node, those of
    /// [`disconnect`](Self::disconnect)).
    pub fn cluster_disconnect(&self, sid: &str) -> Result<()> {
        let c = self.cluster_state()?;
        let node = match owner(sid) {
            Some(node) if node != c.node_id() => node,
            _ => return self.disconnect(sid),
        };
        let payload = wire::disconnect(c.node_id(), &[sid]);
        c.remote(node, payload)
    }

    /// How many sessions are open in the whole cluster: this node's now, plus what
    /// every other live node said in its last heartbeat (at most
    /// [`ClusterConfig::heartbeat_interval`] old). A node that dies stops counting once
    /// it has not been heard from for [`ClusterConfig::node_timeout`] (a node that
    /// shuts down says so, and stops counting at once).
    ///
    /// # Errors
    /// [`ErrorKind::ClusterUnavailable`] while Redis is unreachable (the other nodes'
    /// figures are unknown), [`ErrorKind::Shutdown`] once the server is shutting down.
    pub fn cluster_session_count(&self) -> Result<usize> {
        let c = self.cluster_state()?;
        c.check_up()?;
        let timeout = c.shared.config.node_timeout;
        let others: u64 = c
            .shared
            .peers
            .lock()
            .values()
            .filter(|p| p.seen.elapsed() < timeout)
            .map(|p| p.sessions)
            .sum();
        Ok(self.session_count() + usize::try_from(others).unwrap_or(usize::MAX))
    }

    /// The ids of the cluster's live nodes, this one included, sorted: those heard
    /// from within [`ClusterConfig::node_timeout`].
    ///
    /// # Errors
    /// As [`cluster_session_count`](Self::cluster_session_count).
    pub fn cluster_nodes(&self) -> Result<Vec<String>> {
        let c = self.cluster_state()?;
        c.check_up()?;
        let timeout = c.shared.config.node_timeout;
        let mut nodes: Vec<String> = c
            .shared
            .peers
            .lock()
            .iter()
            .filter(|(_, p)| p.seen.elapsed() < timeout)
            .map(|(id, _)| id.clone())
            .collect();
        nodes.push(c.node_id().to_string());
        nodes.sort();
        Ok(nodes)
    }
}

impl Cluster {
    /// Queues `payload` for `node`'s channel.
    fn remote(&self, node: &str, payload: Vec<u8>) -> Result<()> {
        if !self.is_alive(node) {
            return Err(Error::new(
                ErrorKind::UnknownSession,
                format!("the session's node {node} is not in the cluster"),
            ));
        }
        self.check_up()?;
        self.check_size(&payload)?;
        self.enqueue(Outbound(vec![(self.node_channel(node), payload)]))
    }
}

/// `redis://user:secret@host/` becomes `redis://user:***@host/`.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme_end], &rest[at..])
        }
        None => url.to_string(),
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| Error::new(ErrorKind::Io, format!("the OS random source failed: {e}")))?;
    Ok(bytes)
}

fn random_u64() -> Result<u64> {
    Ok(u64::from_le_bytes(random_bytes::<8>()?))
}

/// 8 letters and digits (about 47 bits).
fn random_node_id() -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    Ok(random_bytes::<8>()?
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sid_names_its_node() {
        assert_eq!(owner("n1_abc"), Some("n1"));
        assert_eq!(owner("Ab3_x_y-z"), Some("Ab3"));
        assert_eq!(owner("abc"), None);
        assert_eq!(owner("_abc"), None);
        assert_eq!(owner("n-1_abc"), None);
        assert_eq!(owner("n1_"), None);
        let id = random_node_id().unwrap();
        assert!(config::valid_node_id(&id) && id.len() == 8, "{id}");
        let sid = Sid::prefixed(&id, &Sid::generate().unwrap());
        assert_eq!(owner(&sid), Some(id.as_str()));
    }

    #[test]
    fn the_outgoing_queue_is_bounded_in_bytes() {
        // No threads: nothing drains the queue.
        let c = Cluster::new(
            ClusterConfig::new("redis://127.0.0.1:1/")
                .max_message_bytes(1024)
                .max_queued_bytes(4096),
        )
        .unwrap();
        let one = || Outbound(vec![("ch".into(), vec![0u8; 900])]);
        let cost = one().cost();
        let fits = 4096 / cost;
        for _ in 0..fits {
            c.enqueue(one()).unwrap();
        }
        let e = c.enqueue(one()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ClusterUnavailable, "{e}");
        assert!(e.to_string().contains("max_queued_bytes"), "{e}");
        // Taken by the publisher: room again.
        let out = c.queue_rx.recv().unwrap();
        c.shared.dequeued(&out);
        c.enqueue(one()).unwrap();
        assert_eq!(c.shared.queued_bytes.load(Ordering::SeqCst), fits * cost);
    }

    #[test]
    fn passwords_stay_out_of_the_log() {
        assert_eq!(
            redact("redis://:hunter2@10.0.0.1:6379/0"),
            "redis://:***@10.0.0.1:6379/0"
        );
        assert_eq!(redact("redis://me:pw@host/"), "redis://me:***@host/");
        assert_eq!(redact("redis://host:1/"), "redis://host:1/");
    }

    #[test]
    fn cluster_methods_fail_cleanly_without_a_cluster() {
        let server = Server::builder().build().unwrap();
        assert_eq!(server.cluster_node_id(), None);
        let e = server.cluster_broadcast("x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ClusterUnavailable);
        assert_eq!(
            server.cluster_session_count().unwrap_err().kind(),
            ErrorKind::ClusterUnavailable
        );
        server.shutdown();
        assert_eq!(
            server.cluster_send("a_b", "x").unwrap_err().kind(),
            ErrorKind::Shutdown
        );
    }

    #[test]
    fn without_redis_local_calls_work_and_cluster_calls_fail_at_once() {
        // A port nothing listens on: the node keeps trying, in the background.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let server = Server::builder()
            .cluster(
                ClusterConfig::new(format!("redis://127.0.0.1:{port}/"))
                    .node_id("solo")
                    .max_backoff(Duration::from_millis(20)),
            )
            .build()
            .unwrap();
        assert_eq!(server.cluster_node_id(), Some("solo"));
        let start = Instant::now();
        for _ in 0..100 {
            let e = server.cluster_broadcast("x").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ClusterUnavailable, "{e}");
        }
        assert!(start.elapsed() < Duration::from_secs(1));
        // A sid of this node needs no Redis: it is simply not there.
        assert_eq!(
            server.cluster_send("solo_abc", "x").unwrap_err().kind(),
            ErrorKind::UnknownSession
        );
        // Another node's: unknown, since that node was never heard from.
        assert_eq!(
            server.cluster_disconnect("other_abc").unwrap_err().kind(),
            ErrorKind::UnknownSession
        );
        assert_eq!(server.cluster_send_many(["solo_x"], "x").unwrap(), 0);
        let e = server.cluster_broadcast("y".repeat(2 << 20)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ClusterUnavailable);
        let start = Instant::now();
        server.shutdown();
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
