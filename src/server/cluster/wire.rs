//! The cluster's messages as they travel through Redis: a small binary format, pure
//! (no I/O), so that a broadcast of a binary message needs no base64 and a node can
//! skip its own messages before decoding the rest.
//!
//! ```text
//! version   1 byte   0xE1
//! kind      1 byte   H heartbeat, L leave, B broadcast, M message to sids, D disconnect sids
//! sender    1 byte length + the sending node's id (ASCII)
//! H         8 bytes  the sender's instance (random, tells two nodes with one id apart)
//!           8 bytes  how many sessions the sender has open (big-endian)
//! L         (nothing more)
//! B         message
//! M         sids, then message
//! D         sids
//! sids      4 bytes count (big-endian), then per sid 1 byte length + the sid
//! message   1 byte type (0 text, 1 binary), then the message's bytes to the end
//! ```

use bytes::Bytes;

use crate::packet::Message;

const VERSION: u8 = 0xE1;

/// One cluster message, decoded.
#[derive(Debug, PartialEq)]
pub(crate) enum Wire {
    Heartbeat {
        sender: String,
        instance: u64,
        sessions: u64,
    },
    Leave {
        sender: String,
    },
    Broadcast {
        sender: String,
        message: Message,
    },
    Send {
        sender: String,
        sids: Vec<String>,
        message: Message,
    },
    Disconnect {
        sender: String,
        sids: Vec<String>,
    },
}

#[cfg(test)]
impl Wire {
    pub(crate) fn sender(&self) -> &str {
        match self {
            Wire::Heartbeat { sender, .. }
            | Wire::Leave { sender }
            | Wire::Broadcast { sender, .. }
            | Wire::Send { sender, .. }
            | Wire::Disconnect { sender, .. } => sender,
        }
    }
}

fn header(kind: u8, sender: &str, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + sender.len() + capacity);
    out.push(VERSION);
    out.push(kind);
    out.push(sender.len() as u8);
    out.extend_from_slice(sender.as_bytes());
    out
}

fn put_sids<'a>(out: &mut Vec<u8>, sids: impl ExactSizeIterator<Item = &'a str>) {
    out.extend_from_slice(&(sids.len() as u32).to_be_bytes());
    for sid in sids {
        // Sids are at most 161 bytes (a 128-byte custom id behind a node prefix).
        out.push(sid.len() as u8);
        out.extend_from_slice(sid.as_bytes());
    }
}

fn put_message(out: &mut Vec<u8>, message: &Message) {
    match message {
        Message::Text(t) => {
            out.push(0);
            out.extend_from_slice(t.as_bytes());
        }
        Message::Binary(b) => {
            out.push(1);
            out.extend_from_slice(b);
        }
    }
}

fn message_len(message: &Message) -> usize {
    1 + message.len()
}

pub(crate) fn heartbeat(sender: &str, instance: u64, sessions: u64) -> Vec<u8> {
    let mut out = header(b'H', sender, 16);
    out.extend_from_slice(&instance.to_be_bytes());
    out.extend_from_slice(&sessions.to_be_bytes());
    out
}

pub(crate) fn leave(sender: &str) -> Vec<u8> {
    header(b'L', sender, 0)
}

pub(crate) fn broadcast(sender: &str, message: &Message) -> Vec<u8> {
    let mut out = header(b'B', sender, message_len(message));
    put_message(&mut out, message);
    out
}

pub(crate) fn send(sender: &str, sids: &[&str], message: &Message) -> Vec<u8> {
    let sid_bytes: usize = sids.iter().map(|s| 1 + s.len()).sum();
    let mut out = header(b'M', sender, 4 + sid_bytes + message_len(message));
    put_sids(&mut out, sids.iter().copied());
    put_message(&mut out, message);
    out
}

pub(crate) fn disconnect(sender: &str, sids: &[&str]) -> Vec<u8> {
    let sid_bytes: usize = sids.iter().map(|s| 1 + s.len()).sum();
    let mut out = header(b'D', sender, 4 + sid_bytes);
    put_sids(&mut out, sids.iter().copied());
    out
}

/// Why a message could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Another version of the format (a node running another release).
    Version(u8),
    Malformed(&'static str),
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Malformed("truncated"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    fn short_str(&mut self) -> Result<String, DecodeError> {
        let n = self.byte()? as usize;
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Malformed("an id that is not UTF-8"))
    }

    fn sids(&mut self) -> Result<Vec<String>, DecodeError> {
        let n = self.u32()? as usize;
        // Each sid takes at least one byte: a count beyond what is left is a lie.
        if n > self.buf.len() {
            return Err(DecodeError::Malformed("sid count"));
        }
        (0..n).map(|_| self.short_str()).collect()
    }

    fn message(&mut self) -> Result<Message, DecodeError> {
        let kind = self.byte()?;
        let rest = std::mem::take(&mut self.buf);
        match kind {
            0 => String::from_utf8(rest.to_vec())
                .map(Message::Text)
                .map_err(|_| DecodeError::Malformed("a text message that is not UTF-8")),
            1 => Ok(Message::Binary(Bytes::copy_from_slice(rest))),
            _ => Err(DecodeError::Malformed("message type")),
        }
    }

    fn end(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Malformed("trailing bytes"))
        }
    }
}

/// The sending node's id, read without decoding the rest (a node skips its own
/// broadcasts this way).
pub(crate) fn sender(buf: &[u8]) -> Option<&str> {
    if buf.len() < 3 || buf[0] != VERSION {
        return None;
    }
    let n = buf[2] as usize;
    buf.get(3..3 + n).and_then(|b| std::str::from_utf8(b).ok())
}

pub(crate) fn decode(buf: &[u8]) -> Result<Wire, DecodeError> {
    let mut r = Reader { buf };
    let version = r.byte()?;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let kind = r.byte()?;
    let sender = r.short_str()?;
    let wire = match kind {
        b'H' => {
            let instance = r.u64()?;
            let sessions = r.u64()?;
            r.end()?;
            Wire::Heartbeat {
                sender,
                instance,
                sessions,
            }
        }
        b'L' => {
            r.end()?;
            Wire::Leave { sender }
        }
        b'B' => Wire::Broadcast {
            sender,
            message: r.message()?,
        },
        b'M' => {
            let sids = r.sids()?;
            Wire::Send {
                sender,
                sids,
                message: r.message()?,
            }
        }
        b'D' => {
            let sids = r.sids()?;
            r.end()?;
            Wire::Disconnect { sender, sids }
        }
        _ => return Err(DecodeError::Malformed("kind")),
    };
    Ok(wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let text = Message::Text("héllo".into());
        let bin = Message::Binary(Bytes::from_static(&[0, 1, 2, 255]));
        let cases = vec![
            (
                heartbeat("n1", 7, 15_000),
                Wire::Heartbeat {
                    sender: "n1".into(),
                    instance: 7,
                    sessions: 15_000,
                },
            ),
            (
                leave("n1"),
                Wire::Leave {
                    sender: "n1".into(),
                },
            ),
            (
                broadcast("n1", &text),
                Wire::Broadcast {
                    sender: "n1".into(),
                    message: text.clone(),
                },
            ),
            (
                broadcast("n1", &bin),
                Wire::Broadcast {
                    sender: "n1".into(),
                    message: bin.clone(),
                },
            ),
            (
                send("abc", &["abc_1", "abc_2"], &bin),
                Wire::Send {
                    sender: "abc".into(),
                    sids: vec!["abc_1".into(), "abc_2".into()],
                    message: bin.clone(),
                },
            ),
            (
                send("abc", &[], &Message::Text(String::new())),
                Wire::Send {
                    sender: "abc".into(),
                    sids: vec![],
                    message: Message::Text(String::new()),
                },
            ),
            (
                disconnect("abc", &["x_y"]),
                Wire::Disconnect {
                    sender: "abc".into(),
                    sids: vec!["x_y".into()],
                },
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(sender(&bytes), Some(want.sender()));
            assert_eq!(decode(&bytes).unwrap(), want);
        }
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        assert_eq!(decode(&[]), Err(DecodeError::Malformed("truncated")));
        assert_eq!(decode(&[0xE2, b'H']), Err(DecodeError::Version(0xE2)));
        assert!(decode(&[VERSION, b'Z', 0]).is_err());
        let mut hb = heartbeat("n", 1, 2);
        hb.push(0);
        assert!(decode(&hb).is_err());
        let mut sids = disconnect("n", &["a"]);
        sids[5] = 0xFF; // a count far beyond the bytes left
        assert!(decode(&sids).is_err());
        let mut text = broadcast("n", &Message::Text("a".into()));
        *text.last_mut().unwrap() = 0xFF;
        assert!(decode(&text).is_err());
        // Every truncation of a valid message fails cleanly.
        let full = send("node", &["node_a", "node_b"], &Message::Text("hi".into()));
        for n in 0..full.len() - 3 {
            let _ = decode(&full[..n]);
        }
        assert_eq!(sender(b"x"), None);
    }
}
