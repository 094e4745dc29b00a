//! Cluster messaging over Redis (feature `redis`), against a real `redis-server` that
//! each test starts on an ephemeral 127.0.0.1 port (`redis-server` on `PATH`; with
//! `ENGINEIO_REQUIRE_INTEROP=1` a missing one fails the test). Nodes are in-process
//! servers, except in the kill test, where they are `echo_server --redis` processes.
//! Clients are this crate's own, over WebSocket.

mod support;

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use engineio::client::{Client, Event, Events};
use engineio::server::{App, ClusterConfig, Listening, Server, Transport};
use engineio::{ErrorKind, Message, Reason};
use support::RedisServer;

/// A node in this process: a server in a cluster, listening on a loopback port.
struct Node {
    server: Server,
    listening: Listening,
    /// (sid, reason, thread name) of every disconnect handler call.
    disconnects: Arc<Mutex<Vec<(String, Reason, String)>>>,
}

fn fast(config: ClusterConfig) -> ClusterConfig {
    config
        .heartbeat_interval(Duration::from_millis(200))
        .node_timeout(Duration::from_secs(2))
        .max_backoff(Duration::from_millis(200))
}

fn node(redis: &RedisServer, id: &str) -> Node {
    node_with(fast(ClusterConfig::new(redis.url()).node_id(id)))
}

fn node_with(config: ClusterConfig) -> Node {
    let disconnects = Arc::new(Mutex::new(Vec::new()));
    let record = disconnects.clone();
    let server = Server::builder()
        .cluster(config)
        .on_message(|server, sid, msg| {
            let _ = server.send(sid, msg);
        })
        .on_disconnect(move |_, sid, reason| {
            let thread = thread::current().name().unwrap_or("").to_string();
            record
                .lock()
                .unwrap()
                .push((sid.to_string(), reason, thread));
        })
        .build()
        .unwrap();
    let listening = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    Node {
        server,
        listening,
        disconnects,
    }
}

impl Node {
    fn url(&self) -> String {
        format!("http://{}", self.listening.local_addr())
    }
}

/// A client session, over WebSocket.
struct Peer {
    client: Client,
    events: Events,
    sid: String,
}

fn peer(url: &str) -> Peer {
    let client = Client::builder(url)
        .transports(&[Transport::WebSocket])
        .connect()
        .unwrap();
    let events = client.events();
    let sid = client.sid().expect("connected").to_string();
    Peer {
        client,
        events,
        sid,
    }
}

impl Peer {
    /// The next message (events other than messages are a failure), within 10 s.
    fn next(&self) -> Message {
        loop {
            match self.events.recv_timeout(Duration::from_secs(10)) {
                Ok(Event::Message(m)) => return m,
                Ok(Event::Connect) => continue,
                other => panic!("session {}: expected a message, got {other:?}", self.sid),
            }
        }
    }

    /// Waits (10 s at most) for the connection to end; returns the reason.
    fn ended(&self) -> Reason {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Disconnect(r)) => return r,
                Ok(_) => continue,
                Err(e) => panic!("session {}: no disconnect: {e:?}", self.sid),
            }
        }
    }

    /// Nothing more arrives for a moment.
    fn quiet(&self, d: Duration) {
        let deadline = Instant::now() + d;
        while let Ok(e) = self
            .events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            assert!(
                matches!(e, Event::Connect),
                "session {}: unexpected {e:?}",
                self.sid
            );
        }
    }
}

/// Polls `f` every 20 ms until it returns true, for `secs` seconds at most.
fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "not within {secs} s: {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `server` sees exactly `nodes` and `sessions` in the cluster.
fn wait_cluster(server: &Server, nodes: &[&str], sessions: usize) {
    let mut want: Vec<String> = nodes.iter().map(|s| s.to_string()).collect();
    want.sort();
    let mut last = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = (server.cluster_nodes(), server.cluster_session_count());
        if matches!(&now, (Ok(n), Ok(c)) if *n == want && *c == sessions) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {:?}: want nodes {want:?} and {sessions} sessions; last seen {last:?}",
            server.cluster_node_id()
        );
        last = Some(format!("{:?} {:?}", now.0, now.1));
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn broadcast_and_send_many_reach_every_session_of_every_node_exactly_once() {
    if !support::redis_available("cluster broadcast") {
        return;
    }
    let _dog = support::watchdog(120, "cluster broadcast");
    let redis = RedisServer::start_new();
    let nodes: Vec<Node> = ["a", "b", "c"].iter().map(|id| node(&redis, id)).collect();
    let peers: Vec<Vec<Peer>> = nodes
        .iter()
        .map(|n| (0..4).map(|_| peer(&n.url())).collect())
        .collect();
    for (n, id) in nodes.iter().zip(["a", "b", "c"]) {
        assert_eq!(n.server.cluster_node_id(), Some(id));
        for p in peers.iter().flatten() {
            assert!(p.sid.contains('_'), "{}", p.sid);
        }
        wait_cluster(&n.server, &["a", "b", "c"], 12);
    }
    for (n, ps) in nodes.iter().zip(&peers) {
        let id = n.server.cluster_node_id().unwrap();
        assert!(ps.iter().all(|p| p.sid.starts_with(&format!("{id}_"))));
    }

    // From a, b and c: a text broadcast, a binary one, and a send_many to every sid
    // (plus sids that live nowhere), each counting this node's 4 sessions.
    assert_eq!(nodes[0].server.cluster_broadcast("one").unwrap(), 4);
    let binary = vec![0u8, 1, 2, 255];
    assert_eq!(
        nodes[1].server.cluster_broadcast(binary.clone()).unwrap(),
        4
    );
    let mut sids: Vec<&str> = peers.iter().flatten().map(|p| p.sid.as_str()).collect();
    sids.extend(["a_nosuchsession", "zz_nosuchnode", "nonode"]);
    assert_eq!(nodes[2].server.cluster_send_many(sids, "many").unwrap(), 4);

    for p in peers.iter().flatten() {
        let mut got: Vec<Message> = (0..3).map(|_| p.next()).collect();
        got.sort_by_key(|m| format!("{m:?}"));
        let mut want = vec![
            Message::from("one"),
            Message::from(binary.clone()),
            Message::from("many"),
        ];
        want.sort_by_key(|m| format!("{m:?}"));
        assert_eq!(got, want, "session {}", p.sid);
    }
    // Exactly once: nothing more comes.
    for p in peers.iter().flatten() {
        p.quiet(Duration::from_millis(100));
    }
    // Messages from one node arrive in order.
    for i in 0..20 {
        nodes[0]
            .server
            .cluster_broadcast(format!("seq{i}"))
            .unwrap();
    }
    for p in peers.iter().flatten() {
        for i in 0..20 {
            assert_eq!(p.next(), Message::from(format!("seq{i}")), "{}", p.sid);
        }
    }
    // Messages over the limit are refused before anything is sent.
    let e = nodes[0]
        .server
        .cluster_broadcast("x".repeat((1 << 20) + 1))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidMessage, "{e}");
    for p in peers.iter().flatten() {
        p.quiet(Duration::from_millis(50));
    }
}

#[test]
fn send_and_disconnect_reach_a_sid_on_another_node() {
    if !support::redis_available("cluster send and disconnect") {
        return;
    }
    let _dog = support::watchdog(120, "cluster send and disconnect");
    let redis = RedisServer::start_new();
    let a = node(&redis, "a");
    let b = node(&redis, "b");
    let on_b = peer(&b.url());
    let other_on_b = peer(&b.url());
    let on_a = peer(&a.url());
    wait_cluster(&a.server, &["a", "b"], 3);
    wait_cluster(&b.server, &["a", "b"], 3);

    // Not a local sid: a cannot send to it itself, but the cluster can.
    assert_eq!(
        a.server.send(&on_b.sid, "x").unwrap_err().kind(),
        ErrorKind::UnknownSession
    );
    a.server.cluster_send(&on_b.sid, "to b").unwrap();
    assert_eq!(on_b.next(), Message::from("to b"));
    b.server.cluster_send(&on_a.sid, vec![7u8]).unwrap();
    assert_eq!(on_a.next(), Message::from(vec![7u8]));
    // A local sid goes the local way, with its errors.
    a.server.cluster_send(&on_a.sid, "local").unwrap();
    assert_eq!(on_a.next(), Message::from("local"));
    assert_eq!(
        a.server.cluster_send("a_gone", "x").unwrap_err().kind(),
        ErrorKind::UnknownSession
    );
    // A sid of a node that is not in the cluster.
    assert_eq!(
        a.server.cluster_disconnect("zz_gone").unwrap_err().kind(),
        ErrorKind::UnknownSession
    );

    // Disconnect from the other node: the client gets a close, b's handler runs on
    // a dispatch thread (never on the cluster's thread), the count drops.
    a.server.cluster_disconnect(&on_b.sid).unwrap();
    assert_eq!(on_b.ended(), Reason::ServerDisconnect);
    wait_for("b's disconnect handler", 10, || {
        !b.disconnects.lock().unwrap().is_empty()
    });
    {
        let d = b.disconnects.lock().unwrap();
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].0, on_b.sid);
        assert_eq!(d[0].1, Reason::ServerDisconnect);
        assert!(!d[0].2.starts_with("eio-cluster"), "{d:?}");
    }
    wait_cluster(&a.server, &["a", "b"], 2);
    // The other session of b is untouched.
    a.server
        .cluster_send(&other_on_b.sid, "still here")
        .unwrap();
    assert_eq!(other_on_b.next(), Message::from("still here"));
    other_on_b.client.send("echo").unwrap();
    assert_eq!(other_on_b.next(), Message::from("echo"));
    assert!(a.disconnects.lock().unwrap().is_empty());
}

#[test]
fn redis_stopped_and_restarted() {
    if !support::redis_available("cluster with redis restarted") {
        return;
    }
    let _dog = support::watchdog(180, "cluster with redis restarted");
    let mut redis = RedisServer::start_new();
    let a = node(&redis, "a");
    let b = node(&redis, "b");
    let pa = peer(&a.url());
    let pb = peer(&b.url());
    wait_cluster(&a.server, &["a", "b"], 2);
    wait_cluster(&b.server, &["a", "b"], 2);
    a.server.cluster_broadcast("before").unwrap();
    assert_eq!(pa.next(), Message::from("before"));
    assert_eq!(pb.next(), Message::from("before"));

    redis.stop();
    // Cluster operations fail, at once, once the node has noticed.
    let unavailable = |r: Result<Vec<String>, engineio::Error>| matches!(r, Err(e) if e.kind() == ErrorKind::ClusterUnavailable);
    wait_for("cluster operations fail while Redis is down", 20, || {
        unavailable(a.server.cluster_nodes()) && unavailable(b.server.cluster_nodes())
    });
    let start = Instant::now();
    for _ in 0..100 {
        let e = a.server.cluster_broadcast("lost").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ClusterUnavailable, "{e}");
        assert_eq!(
            b.server.cluster_session_count().unwrap_err().kind(),
            ErrorKind::ClusterUnavailable
        );
        let e = b.server.cluster_send(&pa.sid, "x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ClusterUnavailable, "{e}");
        assert_eq!(
            a.server.cluster_nodes().unwrap_err().kind(),
            ErrorKind::ClusterUnavailable
        );
    }
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    // Local operations keep working; the sessions stay.
    assert_eq!(a.server.broadcast("local"), 1);
    b.server.send(&pb.sid, "local").unwrap();
    pa.client.send("echo").unwrap();
    assert_eq!(pa.next(), Message::from("local"));
    assert_eq!(pa.next(), Message::from("echo"));
    assert_eq!(pb.next(), Message::from("local"));
    // A cluster call for a sid of this node needs no Redis.
    a.server.cluster_send(&pa.sid, "local too").unwrap();
    assert_eq!(pa.next(), Message::from("local too"));
    // Nothing "lost" ever arrives: refused calls send nothing, here or elsewhere.
    pa.quiet(Duration::from_millis(300));
    pb.quiet(Duration::from_millis(10));

    redis.start();
    wait_cluster(&a.server, &["a", "b"], 2);
    wait_cluster(&b.server, &["a", "b"], 2);
    // Each node has heard the other through its new subscription, and cluster_nodes
    // answers only with both connections up: a broadcast now reaches both nodes.
    a.server.cluster_broadcast("after").unwrap();
    assert_eq!(pa.next(), Message::from("after"));
    assert_eq!(pb.next(), Message::from("after"));
    b.server.cluster_send(&pa.sid, "from b").unwrap();
    assert_eq!(pa.next(), Message::from("from b"));
    assert!(a.disconnects.lock().unwrap().is_empty());
    assert!(b.disconnects.lock().unwrap().is_empty());
    assert!(pa.client.is_connected() && pb.client.is_connected());
}

#[test]
fn a_killed_node_leaves_the_cluster_and_the_others_keep_serving() {
    if !support::redis_available("cluster node killed") {
        return;
    }
    let _dog = support::watchdog(180, "cluster node killed");
    let redis = RedisServer::start_new();
    let binary = support::example_binary_redis("echo_server");
    let url = redis.url();
    let mut children: Vec<support::ChildServer> = ["k1", "k2", "k3"]
        .iter()
        .map(|id| {
            let mut cmd = std::process::Command::new(&binary);
            cmd.args(["--addr", "127.0.0.1:0", "--redis", &url, "--node-id", id]);
            support::spawn_server(cmd, &format!("echo_server --redis ({id})"))
        })
        .collect();
    // An observer node in this process, with echo_server's default timings.
    let observer = node_with(ClusterConfig::new(redis.url()).node_id("obs"));
    let peers: Vec<Vec<Peer>> = children
        .iter()
        .map(|c| (0..3).map(|_| peer(&c.base_url)).collect())
        .collect();
    wait_cluster(&observer.server, &["k1", "k2", "k3", "obs"], 9);
    // echo_server's conventions: `count`, and `broadcast:<text>` to the whole cluster.
    peers[0][0].client.send("count").unwrap();
    assert_eq!(peers[0][0].next(), Message::from("count:9"));
    peers[1][0].client.send("broadcast:hello all").unwrap();
    for p in peers.iter().flatten() {
        assert_eq!(p.next(), Message::from("hello all"), "{}", p.sid);
    }

    children[2].kill();
    // Only the killed node's sessions end.
    for p in &peers[2] {
        let r = p.ended();
        assert!(
            matches!(r, Reason::TransportClose | Reason::TransportError),
            "{r:?}"
        );
    }
    // The others keep serving, and the cluster forgets the dead node once its
    // node timeout (5 s) has passed.
    for p in peers[..2].iter().flatten() {
        p.client.send("still there").unwrap();
        assert_eq!(p.next(), Message::from("still there"));
    }
    let start = Instant::now();
    wait_cluster(&observer.server, &["k1", "k2", "obs"], 6);
    eprintln!("the dead node left the count after {:?}", start.elapsed());
    assert_eq!(
        observer
            .server
            .cluster_send(&peers[2][0].sid, "x")
            .unwrap_err()
            .kind(),
        ErrorKind::UnknownSession
    );
    observer.server.cluster_broadcast("after").unwrap();
    for p in peers[..2].iter().flatten() {
        assert_eq!(p.next(), Message::from("after"));
    }
    peers[0][1].client.send("count").unwrap();
    assert_eq!(peers[0][1].next(), Message::from("count:6"));
    // A new session on a surviving node counts.
    let late = peer(&children[1].base_url);
    assert!(late.sid.starts_with("k2_"), "{}", late.sid);
    wait_cluster(&observer.server, &["k1", "k2", "obs"], 7);
}

#[test]
fn shutdown_tells_the_other_nodes_at_once() {
    if !support::redis_available("cluster shutdown") {
        return;
    }
    let _dog = support::watchdog(120, "cluster shutdown");
    let redis = RedisServer::start_new();
    // A long node timeout: only the goodbye can make b forget a this fast.
    let slow = |id: &str| {
        ClusterConfig::new(redis.url())
            .node_id(id)
            .heartbeat_interval(Duration::from_millis(200))
            .node_timeout(Duration::from_secs(60))
    };
    let a = node_with(slow("a"));
    let b = node_with(slow("b"));
    let _pa = peer(&a.url());
    wait_cluster(&b.server, &["a", "b"], 1);
    let start = Instant::now();
    a.server.shutdown();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        a.server.cluster_broadcast("x").unwrap_err().kind(),
        ErrorKind::Shutdown
    );
    wait_cluster(&b.server, &["b"], 0);
    drop(a);
    // A server dropped without shutdown ends its cluster threads too, and its
    // publisher still says goodbye (b's node timeout is a minute).
    let c = Server::builder().cluster(slow("c")).build().unwrap();
    wait_cluster(&b.server, &["b", "c"], 0);
    drop(c);
    let start = Instant::now();
    wait_cluster(&b.server, &["b"], 0);
    assert!(start.elapsed() < Duration::from_secs(10));
}
