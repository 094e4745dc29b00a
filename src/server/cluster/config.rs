//! How a server joins a cluster: [`ClusterConfig`].

use std::time::Duration;

use crate::server::config::{check_duration, check_size};
use crate::{Error, ErrorKind, Result};

/// How a server joins a cluster of servers that reach each other's sessions through
/// Redis (feature `redis`). Given to [`ServerBuilder::cluster`](super::super::ServerBuilder::cluster).
///
/// Every setter says its default and range; [`build`](super::super::ServerBuilder::build)
/// checks them (an [`ErrorKind::Config`] error names the option).
///
/// ```
/// use std::time::Duration;
/// use engineio::server::{ClusterConfig, Server};
///
/// let server = Server::builder()
///     .cluster(
///         ClusterConfig::new("redis://127.0.0.1:6379/")
///             .channel_prefix("chat")
///             .heartbeat_interval(Duration::from_secs(2)),
///     )
///     .build()?; // connects to Redis in the background
/// assert!(server.cluster_node_id().is_some());
/// # server.shutdown();
/// # Ok::<(), engineio::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub(crate) url: String,
    pub(crate) channel_prefix: String,
    pub(crate) node_id: Option<String>,
    pub(crate) max_queued_bytes: usize,
    pub(crate) max_message_bytes: usize,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) node_timeout: Duration,
    pub(crate) max_backoff: Duration,
}

/// Connecting to Redis, and each command, may take at most this long.
pub(crate) const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

impl ClusterConfig {
    /// A cluster reached through the Redis server at `url`
    /// (`redis://[:password@]host:port[/db]`; `rediss://` is not supported), with every
    /// other option at its default. All the cluster's servers use the same Redis
    /// server and the same [`channel_prefix`](Self::channel_prefix).
    pub fn new(url: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            url: url.into(),
            channel_prefix: "engineio".into(),
            node_id: None,
            max_queued_bytes: 16 << 20,
            max_message_bytes: 1 << 20,
            heartbeat_interval: Duration::from_secs(1),
            node_timeout: Duration::from_secs(5),
            max_backoff: Duration::from_secs(5),
        }
    }

    /// The prefix of the Redis channels the cluster uses (`<prefix>#all` and
    /// `<prefix>#node#<node id>`), so that several clusters can share one Redis
    /// server. Defaults to `engineio`; 1 to 64 characters, no whitespace.
    #[must_use]
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> ClusterConfig {
        self.channel_prefix = prefix.into();
        self
    }

    /// This server's id in the cluster, the prefix of every sid it hands out
    /// (`<node id>_<random>`), so that any node can tell which node owns a sid. Two
    /// nodes of a cluster must never share an id (a node that hears another with its
    /// own id logs an error). Defaults to 8 random letters and digits, new each time
    /// the server is built; 1 to 32 ASCII letters and digits.
    #[must_use]
    pub fn node_id(mut self, id: impl Into<String>) -> ClusterConfig {
        self.node_id = Some(id.into());
        self
    }

    /// The most bytes of cluster messages that may wait for the publisher thread (each
    /// operation counts its messages' bytes plus 64 bytes per node it goes to); beyond
    /// it, cluster operations fail at once with [`ErrorKind::ClusterUnavailable`]
    /// instead of waiting. Defaults to 16 MiB; 1 KiB to 1 GiB, and at least
    /// [`max_message_bytes`](Self::max_message_bytes).
    #[must_use]
    pub fn max_queued_bytes(mut self, bytes: usize) -> ClusterConfig {
        self.max_queued_bytes = bytes;
        self
    }

    /// The largest cluster message, in bytes (the application's message plus the sids
    /// it is for, plus a few bytes); a larger one is refused with
    /// [`ErrorKind::InvalidMessage`]. Defaults to 1 MiB; 1 KiB to 64 MiB. Redis
    /// disconnects a subscriber that falls more than its `client-output-buffer-limit
    /// pubsub` behind (32 MiB by default): keep messages well below it.
    #[must_use]
    pub fn max_message_bytes(mut self, bytes: usize) -> ClusterConfig {
        self.max_message_bytes = bytes;
        self
    }

    /// How often this node tells the others that it is alive and how many sessions it
    /// holds (the cluster-wide session count is that old at most). Defaults to 1
    /// second; 10 ms to 1 minute.
    #[must_use]
    pub fn heartbeat_interval(mut self, interval: Duration) -> ClusterConfig {
        self.heartbeat_interval = interval;
        self
    }

    /// A node not heard from for this long is taken for dead: its sessions leave the
    /// cluster-wide count, and sids it owned are refused. It also bounds how long this
    /// node's own subscription may stay silent before it reconnects. Defaults to 5
    /// seconds; at least twice the heartbeat interval, at most 10 minutes.
    #[must_use]
    pub fn node_timeout(mut self, timeout: Duration) -> ClusterConfig {
        self.node_timeout = timeout;
        self
    }

    /// The longest wait between two attempts to reconnect to Redis: waits start at
    /// 50 ms and double up to this cap. Defaults to 5 seconds; 10 ms to 5 minutes.
    #[must_use]
    pub fn max_backoff(mut self, cap: Duration) -> ClusterConfig {
        self.max_backoff = cap;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        const MS: Duration = Duration::from_millis(1);
        let prefix = &self.channel_prefix;
        if prefix.is_empty() || prefix.len() > 64 || prefix.chars().any(char::is_whitespace) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("cluster channel_prefix must be 1 to 64 characters without whitespace (got {prefix:?})"),
            ));
        }
        if let Some(id) = &self.node_id {
            if !valid_node_id(id) {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "cluster node_id must be 1 to 32 ASCII letters and digits (got {id:?})"
                    ),
                ));
            }
        }
        check_size(
            "cluster max_message_bytes",
            self.max_message_bytes,
            1024,
            64 << 20,
        )?;
        check_size(
            "cluster max_queued_bytes",
            self.max_queued_bytes,
            self.max_message_bytes.max(1024),
            1 << 30,
        )?;
        check_duration(
            "cluster heartbeat_interval",
            self.heartbeat_interval,
            10 * MS,
            Duration::from_secs(60),
        )?;
        check_duration(
            "cluster node_timeout",
            self.node_timeout,
            2 * self.heartbeat_interval,
            Duration::from_secs(600),
        )?;
        check_duration(
            "cluster max_backoff",
            self.max_backoff,
            10 * MS,
            Duration::from_secs(300),
        )?;
        Ok(())
    }
}

pub(crate) fn valid_node_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_range_checked_and_named() {
        type Set = fn(ClusterConfig) -> ClusterConfig;
        let cases: &[(&str, Set)] = &[
            ("channel_prefix", |c| c.channel_prefix("")),
            ("channel_prefix", |c| c.channel_prefix("a b")),
            ("node_id", |c| c.node_id("a_b")),
            ("node_id", |c| c.node_id("x".repeat(33))),
            ("max_queued_bytes", |c| c.max_queued_bytes(0)),
            ("max_queued_bytes", |c| {
                c.max_message_bytes(4 << 20).max_queued_bytes(2 << 20)
            }),
            ("max_message_bytes", |c| c.max_message_bytes(10)),
            ("max_message_bytes", |c| c.max_message_bytes(usize::MAX)),
            ("heartbeat_interval", |c| {
                c.heartbeat_interval(Duration::ZERO)
            }),
            ("node_timeout", |c| {
                c.heartbeat_interval(Duration::from_secs(2))
                    .node_timeout(Duration::from_secs(3))
            }),
            ("max_backoff", |c| c.max_backoff(Duration::MAX)),
        ];
        for (name, set) in cases {
            let e = set(ClusterConfig::new("redis://127.0.0.1/"))
                .validate()
                .expect_err(name);
            assert_eq!(e.kind(), ErrorKind::Config, "{name}");
            assert!(e.to_string().contains(name), "{e}");
        }
        ClusterConfig::new("redis://127.0.0.1/")
            .node_id("n1")
            .max_queued_bytes(1024)
            .max_message_bytes(1024)
            .heartbeat_interval(Duration::from_millis(10))
            .node_timeout(Duration::from_millis(20))
            .validate()
            .unwrap();
    }
}
