//! (h) Broadcast across a cluster: the same broadcast as (f), to the same number of
//! WebSocket clients, spread evenly over several "ours" processes that share a
//! `redis-server` (`bench-ours --redis URL`, `Server::cluster_broadcast`). One client
//! on the first node sends `broadcast:<tag>`; the time is to the last client on any
//! node. Only "ours" has a cluster mode.

use std::path::Path;
use std::time::{Duration, Instant};

use super::broadcast::{round, rounds, Broadcast};
use super::{generator, ramp, Sessions, Settings};
use crate::contenders::{Contender, Running};
use crate::gen::{Kind, Target};
use crate::redis::RedisServer;

/// How long the nodes may take to find each other (each must be subscribed before a
/// broadcast reaches it).
const FORMING: Duration = Duration::from_secs(20);

/// Runs (h): starts Redis and `s.cluster_nodes` nodes of `c`, then the broadcasts.
/// Every process is stopped before it returns.
pub fn run(
    c: &Contender,
    redis_program: &Path,
    logs: &Path,
    s: &Settings,
) -> Result<Broadcast, String> {
    let redis = RedisServer::start(redis_program, logs)?;
    let mut nodes: Vec<Running> = Vec::new();
    for i in 0..s.cluster_nodes {
        let extra = [
            "--redis".to_string(),
            redis.url(),
            "--node-id".to_string(),
            format!("n{i}"),
        ];
        nodes.push(c.start_with(logs, &extra, &format!("{}-cluster-n{i}", c.name))?);
    }
    let result = measure(&mut nodes, s);
    let result = match result {
        Err(e) => match nodes.iter_mut().position(|n| !n.alive()) {
            Some(i) => Err(format!("{e} (node n{i} died: {})", nodes[i].stderr_tail())),
            None => Err(e),
        },
        ok => ok,
    };
    for n in nodes {
        n.stop();
    }
    drop(redis);
    result
}

fn measure(nodes: &mut [Running], s: &Settings) -> Result<Broadcast, String> {
    let n = s.broadcast_clients;
    let mut gen = generator(nodes[0].addr)?;
    let mut sessions = Sessions::default();
    let mut sender = None;
    for (i, node) in nodes.iter().enumerate() {
        gen.retarget(Target::new(node.addr));
        let want = n * (i + 1) / nodes.len();
        let r = ramp(
            &mut gen,
            &mut sessions,
            Kind::EioWs,
            want,
            s.ramp_concurrency,
            Duration::from_secs_f64(s.ramp_timeout_secs),
            s.max_machine_threads,
        );
        if sessions.ready < want {
            gen.close_all();
            return Err(format!(
                "connected {} of {n} clients (node n{i}): {}",
                sessions.ready,
                r.stopped.or(r.first_error).unwrap_or_default()
            ));
        }
        sender = sender.or(r.ready.first().copied());
    }
    let sender = sender.ok_or("no client connected")?;
    // The nodes join in the background: broadcast until one reaches everybody.
    let forming = Instant::now() + FORMING;
    let mut attempt = 0;
    loop {
        let reached = round(
            &mut gen,
            &mut sessions,
            sender,
            &format!("forming-{attempt}"),
            Duration::from_secs(2),
        )?
        .len();
        if reached >= n {
            break;
        }
        if Instant::now() > forming {
            gen.close_all();
            return Err(format!(
                "the cluster did not form within {} s: a broadcast reached {reached} of {n} clients",
                FORMING.as_secs()
            ));
        }
        attempt += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    let result = rounds(&mut gen, &mut sessions, sender, n, s.broadcast_rounds);
    gen.close_all();
    result
}
