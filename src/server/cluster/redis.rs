//! The cluster's two threads and their Redis connections: the publisher (the outgoing
//! queue and heartbeats) and the subscriber (what other nodes send). Each reconnects
//! by itself, waiting 50 ms, then twice as long each time up to `max_backoff`.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};

use super::config::REDIS_TIMEOUT;
use super::wire::{self, Wire};
use super::{apply, Outbound, Shared};
use crate::server::inner::Inner;

/// The first wait before reconnecting.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// How long the subscriber waits for a message before it checks whether it should
/// stop, and whether other nodes (or its own subscription) went silent.
const SUBSCRIBER_TICK: Duration = Duration::from_millis(100);

/// Counts the thread as ended however it ends.
struct EndGuard(Arc<Shared>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.thread_ended();
    }
}

fn connect(shared: &Shared) -> ::redis::RedisResult<::redis::Connection> {
    let con = shared.client.get_connection_with_timeout(REDIS_TIMEOUT)?;
    con.set_write_timeout(Some(REDIS_TIMEOUT))?;
    con.set_read_timeout(Some(REDIS_TIMEOUT))?;
    Ok(con)
}

/// The wait before the next reconnection: [`FIRST_BACKOFF`], then twice as long each
/// time, up to `max_backoff`; back to the first after a success.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(FIRST_BACKOFF)
    }

    fn reset(&mut self) {
        self.0 = FIRST_BACKOFF;
    }

    /// Waits the current delay, then doubles it; `false` if the cluster stopped
    /// meanwhile.
    fn wait(&mut self, shared: &Shared) -> bool {
        if !shared.sleep(self.0) {
            return false;
        }
        self.0 = (self.0 * 2).min(shared.config.max_backoff);
        true
    }
}

/// Connects to Redis for `role` ("publisher" or "subscriber"), retrying with `backoff`
/// and marking `up` down while it fails; `None` if the cluster stops meanwhile.
fn connect_retrying(
    shared: &Shared,
    up: &AtomicBool,
    role: &str,
    backoff: &mut Backoff,
) -> Option<::redis::Connection> {
    while !shared.stopping() {
        match connect(shared) {
            Ok(con) => return Some(con),
            Err(e) => {
                log::debug!(
                    "cluster: {role} cannot connect to {}: {e}",
                    shared.shown_url
                );
                shared.set_connection(up, false, &e);
                if !backoff.wait(shared) {
                    break;
                }
            }
        }
    }
    None
}

fn publish(
    con: &mut ::redis::Connection,
    channel: &str,
    payload: &[u8],
) -> ::redis::RedisResult<()> {
    ::redis::cmd("PUBLISH")
        .arg(channel)
        .arg(payload)
        .query::<i64>(con)
        .map(drop)
}

/// This node's heartbeat: its id, its instance, and how many sessions it has open.
fn heartbeat(shared: &Shared, server: &Weak<Inner>) -> Option<Vec<u8>> {
    let sessions = server.upgrade()?.table.open_count() as u64;
    Some(wire::heartbeat(&shared.node_id, shared.instance, sessions))
}

/// The publisher: sends what the queue holds, and a heartbeat every interval. When
/// Redis fails it drops what is queued (delivery is at most once) and reconnects; on
/// stopping it tells the other nodes that this one leaves.
pub(super) fn publisher(shared: Arc<Shared>, queue: Receiver<Outbound>, server: Weak<Inner>) {
    let _end = EndGuard(shared.clone());
    let interval = shared.config.heartbeat_interval;
    let mut backoff = Backoff::new();
    while let Some(mut con) =
        connect_retrying(&shared, &shared.publisher_up, "publisher", &mut backoff)
    {
        backoff.reset();
        let mut failure = None;
        // Announce this node at once, so that the others count it before its first
        // interval has passed.
        match heartbeat(&shared, &server) {
            Some(hb) => {
                if let Err(e) = publish(&mut con, &shared.all_channel, &hb) {
                    failure = Some(e);
                }
            }
            None => return,
        }
        if failure.is_none() {
            shared.set_connection(&shared.publisher_up, true, &"connected");
        }
        let mut next_beat = Instant::now() + interval;
        while failure.is_none() && !shared.stopping() {
            let wait = next_beat.saturating_duration_since(Instant::now());
            select! {
                recv(queue) -> out => {
                    let Ok(out) = out else { return };
                    shared.dequeued(&out);
                    for (channel, payload) in &out.0 {
                        if let Err(e) = publish(&mut con, channel, payload) {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                recv(shared.stop_rx) -> _ => {}
                default(wait) => {
                    let Some(hb) = heartbeat(&shared, &server) else { return };
                    if let Err(e) = publish(&mut con, &shared.all_channel, &hb) {
                        failure = Some(e);
                    }
                    next_beat = Instant::now() + interval;
                }
            }
        }
        match failure {
            Some(e) => {
                shared.set_connection(&shared.publisher_up, false, &e);
                let dropped = queue.try_iter().map(|out| shared.dequeued(&out)).count();
                if dropped > 0 {
                    log::warn!(
                        "cluster: {dropped} cluster message(s) dropped: Redis went away before they were sent"
                    );
                }
            }
            None => {
                // Stopping: say goodbye, so that the others stop counting this node's
                // sessions at once.
                let _ = publish(&mut con, &shared.all_channel, &wire::leave(&shared.node_id));
                shared
                    .publisher_up
                    .store(false, std::sync::atomic::Ordering::SeqCst);
                return;
            }
        }
        // A failed connection: reconnect after the back-off.
        if !backoff.wait(&shared) {
            break;
        }
    }
}

/// The subscriber: applies what other nodes publish to this node's sessions, keeps the
/// table of live nodes, and reconnects when Redis fails or its subscription goes
/// silent (its own heartbeats stop coming back).
pub(super) fn subscriber(shared: Arc<Shared>, server: Weak<Inner>) {
    let _end = EndGuard(shared.clone());
    let mut backoff = Backoff::new();
    while let Some(mut con) =
        connect_retrying(&shared, &shared.subscriber_up, "subscriber", &mut backoff)
    {
        let failure = {
            let mut pubsub = con.as_pubsub();
            match pubsub
                .subscribe(&[&shared.all_channel, &shared.node_channel])
                .and_then(|()| pubsub.set_read_timeout(Some(SUBSCRIBER_TICK)))
            {
                Err(e) => e.to_string(),
                Ok(()) => {
                    backoff.reset();
                    let since = Instant::now();
                    *shared.self_heard.lock() = since;
                    shared.set_connection(&shared.subscriber_up, true, &"subscribed");
                    match listen(&shared, &server, &mut pubsub, since) {
                        Some(why) => why,
                        None => return,
                    }
                }
            }
        };
        shared.set_connection(&shared.subscriber_up, false, &failure);
        if !backoff.wait(&shared) {
            break;
        }
    }
}

/// Reads and applies messages until the connection fails (returns why) or the
/// cluster stops (returns `None`).
fn listen(
    shared: &Shared,
    server: &Weak<Inner>,
    pubsub: &mut ::redis::PubSub<'_>,
    since: Instant,
) -> Option<String> {
    let timeout = shared.config.node_timeout;
    let mut last_check = Instant::now();
    loop {
        if shared.stopping() {
            return None;
        }
        match pubsub.get_message() {
            Ok(msg) => {
                let payload = msg.get_payload_bytes();
                // Our own broadcasts, sends and disconnects were served here already.
                if wire::sender(payload) == Some(shared.node_id.as_str())
                    && payload.get(1) != Some(&b'H')
                {
                    continue;
                }
                match wire::decode(payload) {
                    Ok(Wire::Heartbeat {
                        sender,
                        instance,
                        sessions,
                    }) => shared.heard(&sender, instance, sessions),
                    Ok(Wire::Leave { sender }) => shared.left(&sender),
                    Ok(w) => {
                        let inner = server.upgrade()?;
                        apply(&inner, w);
                    }
                    Err(e) => log::debug!(
                        "cluster: a message on {} could not be decoded: {e:?}",
                        msg.get_channel_name()
                    ),
                }
            }
            Err(e) if e.is_timeout() => {}
            Err(e) => return Some(e.to_string()),
        }
        if last_check.elapsed() >= SUBSCRIBER_TICK {
            last_check = Instant::now();
            server.upgrade()?;
            shared.expire_peers();
            // Our heartbeats are published every interval: if none came back for the
            // node timeout while the publisher works, this subscription is dead
            // (a Redis that stopped answering, a connection lost without a reset).
            let silent = shared.self_heard.lock().elapsed();
            if silent > timeout
                && since.elapsed() > timeout
                && shared
                    .publisher_up
                    .load(std::sync::atomic::Ordering::SeqCst)
            {
                return Some(format!("no message from Redis for {silent:?}"));
            }
        }
    }
}
