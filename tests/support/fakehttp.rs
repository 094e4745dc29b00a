//! For misbehaving servers written in the client's tests: one HTTP request as such a
//! server reads it, and waiting for how a client's connection ended.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use engineio::client::{Event, Events, Reason};

/// One HTTP request head (and its `Content-Length` body).
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub method: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn has_sid(&self) -> bool {
        self.query.split('&').any(|p| p.starts_with("sid="))
    }

    pub fn is_upgrade(&self) -> bool {
        self.header("upgrade").is_some()
    }
}

/// The next request on a connection; `None` when it ends (or is not HTTP).
pub fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let query = target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut request = Request {
        method,
        query,
        headers,
        body: Vec::new(),
    };
    let len: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    request.body = vec![0; len];
    reader.read_exact(&mut request.body).ok()?;
    Some(request)
}

/// How the client's connection ended, waiting at most `within`.
pub fn disconnect_reason(events: &Events, within: Duration) -> Reason {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(Event::Disconnect(reason)) => return reason,
            Ok(_) => continue,
            Err(e) => panic!("no disconnect within {within:?}: {e:?}"),
        }
    }
}
