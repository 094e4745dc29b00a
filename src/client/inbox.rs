//! The handler queue: what a connection's transport threads hand to its event
//! thread, in order, bounded in bytes.
//!
//! A transport thread that finds the queue full waits for room: it stops reading
//! from the server, which sees back-pressure. Connect and close events are never held
//! back. Once the close event is in, messages still arriving are dropped: the event
//! thread stops at the close event.

use std::collections::VecDeque;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::client::incoming::EVENT_OVERHEAD;
use crate::client::Reason;
use crate::packet::Message;

/// What the transport threads tell the event thread.
pub(crate) enum Internal {
    Connect,
    Message(Message),
    Closed(Reason),
}

/// What `message` counts for in a bounded event queue.
pub(crate) fn cost(message: &Message) -> usize {
    message.as_bytes().len() + EVENT_OVERHEAD
}

pub(crate) struct Inbox {
    state: Mutex<State>,
    /// Signalled when an event is queued.
    readable: Condvar,
    /// Signalled when room is made, or the close event is queued.
    writable: Condvar,
    budget: usize,
}

struct State {
    queue: VecDeque<Internal>,
    /// The cost of the messages in `queue`.
    bytes: usize,
    /// The close event has been queued.
    closed: bool,
}

impl Inbox {
    /// A queue holding at most `budget` bytes of messages (and always at least one).
    pub(crate) fn new(budget: usize) -> Inbox {
        Inbox {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                closed: false,
            }),
            readable: Condvar::new(),
            writable: Condvar::new(),
            budget,
        }
    }

    /// Queues `event`; for a message, waits until there is room. Returns false when
    /// a message was dropped because the connection's close event is in.
    pub(crate) fn push(&self, event: Internal) -> bool {
        let mut state = self.state.lock();
        if let Internal::Message(message) = &event {
            let cost = cost(message);
            while !state.closed && state.bytes > 0 && state.bytes + cost > self.budget {
                self.writable.wait(&mut state);
            }
            if state.closed {
                return false;
            }
            state.bytes += cost;
        }
        if matches!(event, Internal::Closed(_)) {
            state.closed = true;
            self.writable.notify_all();
        }
        state.queue.push_back(event);
        self.readable.notify_one();
        true
    }

    /// The next event, waiting at most until `deadline` (for ever for `None`);
    /// `None` when the deadline passed first.
    pub(crate) fn recv(&self, deadline: Option<Instant>) -> Option<Internal> {
        let mut state = self.state.lock();
        loop {
            if let Some(event) = state.queue.pop_front() {
                if let Internal::Message(message) = &event {
                    state.bytes -= cost(message);
                    self.writable.notify_all();
                }
                return Some(event);
            }
            match deadline {
                None => self.readable.wait(&mut state),
                Some(deadline) => {
                    if self.readable.wait_until(&mut state, deadline).timed_out()
                        && state.queue.is_empty()
                    {
                        return None;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn a_full_queue_holds_the_producer_back_until_room_is_made() {
        let inbox = Arc::new(Inbox::new(3 * (10 + EVENT_OVERHEAD)));
        let producer = {
            let inbox = Arc::clone(&inbox);
            thread::spawn(move || {
                for i in 0..10u8 {
                    assert!(inbox.push(Internal::Message(Message::from(vec![i; 10]))));
                }
                inbox.push(Internal::Closed(Reason::TransportClose));
            })
        };
        thread::sleep(Duration::from_millis(100));
        assert_eq!(inbox.state.lock().queue.len(), 3, "the producer waits");
        let mut got = Vec::new();
        loop {
            match inbox.recv(Some(Instant::now() + Duration::from_secs(5))) {
                Some(Internal::Message(m)) => got.push(m.as_bytes()[0]),
                Some(Internal::Closed(_)) => break,
                _ => panic!("unexpected"),
            }
        }
        producer.join().unwrap();
        assert_eq!(got, (0..10).collect::<Vec<u8>>());
    }

    #[test]
    fn one_large_message_passes_an_empty_queue_and_close_releases_producers() {
        let inbox = Arc::new(Inbox::new(100));
        assert!(inbox.push(Internal::Message(Message::from(vec![0u8; 1000]))));
        let producer = {
            let inbox = Arc::clone(&inbox);
            thread::spawn(move || inbox.push(Internal::Message(Message::from("late"))))
        };
        thread::sleep(Duration::from_millis(50));
        inbox.push(Internal::Closed(Reason::ClientDisconnect));
        assert!(!producer.join().unwrap(), "dropped after the close event");
        assert!(inbox.recv(None).is_some());
        assert!(matches!(inbox.recv(None), Some(Internal::Closed(_))));
        assert!(inbox
            .recv(Some(Instant::now() + Duration::from_millis(10)))
            .is_none());
    }
}
