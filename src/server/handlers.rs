//! The application's handlers, what they are given, and the connect handler's
//! refusal.

use super::{Message, Reason, Request, Server, Sid};
use crate::Transport;

/// A connect handler's refusal: the client gets `401` with `data` as the JSON body.
///
/// ```
/// use engineio::server::Rejection;
///
/// let plain = Rejection::new(); // body "Unauthorized"
/// // Any `Serialize` value: here a map, sent as `{"error":"bad token"}`.
/// let detailed = Rejection::with_data(std::collections::BTreeMap::from([("error", "bad token")]));
/// # drop((plain, detailed));
/// ```
#[derive(Clone, Debug)]
pub struct Rejection {
    pub(crate) data: serde_json::Value,
}

impl Rejection {
    /// A rejection whose body is `"Unauthorized"`.
    pub fn new() -> Rejection {
        Rejection {
            data: serde_json::Value::String("Unauthorized".into()),
        }
    }

    /// A rejection whose body is `data` as JSON (a value that fails to serialize gives
    /// `null`).
    pub fn with_data(data: impl serde::Serialize) -> Rejection {
        Rejection {
            data: serde_json::to_value(data).unwrap_or(serde_json::Value::Null),
        }
    }
}

impl Default for Rejection {
    fn default() -> Rejection {
        Rejection::new()
    }
}

pub(crate) type ConnectHandler =
    dyn Fn(&Server, &Sid, &Request) -> Result<(), Rejection> + Send + Sync;
pub(crate) type MessageHandler = dyn Fn(&Server, &Sid, Message) + Send + Sync;
pub(crate) type DisconnectHandler = dyn Fn(&Server, &Sid, Reason) + Send + Sync;
pub(crate) type UpgradeHandler = dyn Fn(&Server, &Sid, Transport) + Send + Sync;

#[derive(Default)]
pub(crate) struct Handlers {
    pub connect: Option<Box<ConnectHandler>>,
    pub message: Option<Box<MessageHandler>>,
    pub disconnect: Option<Box<DisconnectHandler>>,
    pub upgrade: Option<Box<UpgradeHandler>>,
}
