//! (g) WebSocket echo over TLS (`wss`), beside the same contender's plain WebSocket
//! echo measured the same way in the same run: open-loop latency at fixed offered
//! rates, with the server's CPU per message at each, then a closed loop (throughput,
//! server CPU per message). Contenders that serve https/wss given a certificate take
//! part (ours and Node); the certificate is made when the run starts
//! ([`crate::pki`]).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::echo::{closed_loop_on, latency_on, LatencyPoint, Throughput};
use super::Settings;
use crate::contenders::Running;
use crate::gen::{Event, Gen, Kind, Target};
use crate::pki::Certificate;

/// One side of (g): over TLS, or plain for comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EchoSide {
    /// Over TLS: the version and cipher suite the generator and the server agreed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Open loop at each of [`Settings::tls_rates`] (stopping after one not
    /// sustained), with the server's CPU per message.
    pub latency: Vec<LatencyPoint>,
    /// Closed loop, one message in flight per connection.
    pub throughput: Throughput,
}

/// Runs one side against `server`: over TLS with `cert`, or plain without.
pub fn run(server: &Running, cert: Option<&Certificate>, s: &Settings) -> Result<EchoSide, String> {
    let generator = || -> Result<Gen, String> {
        let mut target = Target::new(server.addr);
        if let Some(c) = cert {
            target = target.with_tls(c.client()?);
        }
        Gen::to(target).map_err(|e| format!("generator: {e}"))
    };
    let session = match cert {
        Some(_) => Some(session(generator()?)?),
        None => None,
    };
    let latency = latency_on(generator()?, server.pid, Kind::EioWs, s, &s.tls_rates)?;
    let throughput = closed_loop_on(generator()?, server.pid, Kind::EioWs, s)?;
    Ok(EchoSide {
        session,
        latency,
        throughput,
    })
}

/// Opens one session and says what TLS it agreed on.
fn session(mut gen: Gen) -> Result<String, String> {
    let id = gen
        .connect(Kind::EioWs)
        .map_err(|e| format!("connect: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut events = Vec::new();
    while Instant::now() < deadline {
        events.clear();
        gen.turn(Some(Duration::from_millis(50)), &mut events)
            .map_err(|e| format!("poll: {e}"))?;
        for ev in &events {
            match ev {
                Event::Ready(r) if *r == id => {
                    let session = gen.tls_session(id).unwrap_or_else(|| "unknown".into());
                    gen.close(id);
                    return Ok(session);
                }
                Event::Closed(_, why) => return Err(format!("over TLS: {why}")),
                _ => {}
            }
        }
    }
    Err("no session over TLS within 10 s".into())
}
