//! The session state machine without sockets: every row of the close table (§9), the
//! upgrade's races, polling, and the inbox.

use super::*;
use crate::packet::Message;

/// A WebSocket that records what it is given.
#[derive(Default)]
struct Recorder {
    b64: bool,
    frames: Mutex<Vec<Bytes>>,
    closed: Mutex<Option<(bool, Option<u16>)>>,
    shut: Mutex<bool>,
    pending: Mutex<usize>,
}

impl Sink for Recorder {
    fn b64(&self) -> bool {
        self.b64
    }
    fn version(&self) -> crate::ProtocolVersion {
        crate::ProtocolVersion::V4
    }
    fn send(&self, frames: Bytes) -> Result<(), WriteError> {
        if self.closed.lock().is_some() {
            return Err(WriteError::Closed);
        }
        self.frames.lock().push(frames);
        Ok(())
    }
    fn close(&self, close_packet: bool, code: Option<u16>) {
        let mut c = self.closed.lock();
        if c.is_none() {
            *c = Some((close_packet, code));
        }
    }
    fn shutdown(&self) {
        *self.shut.lock() = true;
    }
    fn failed(&self) -> bool {
        false
    }
    fn pending_bytes(&self) -> usize {
        *self.pending.lock()
    }
}

impl Recorder {
    /// The text of each text frame (binary frames as `<bin N>`).
    fn texts(&self) -> Vec<String> {
        self.frames
            .lock()
            .iter()
            .map(|f| {
                let (op, len) = (f[0], f[1] as usize);
                assert!(len < 126, "short frames only in these tests");
                match op {
                    0x81 => String::from_utf8(f[2..2 + len].to_vec()).unwrap(),
                    0x82 => format!("<bin {len}>"),
                    other => panic!("unexpected opcode {other:#x}"),
                }
            })
            .collect()
    }
    fn closed(&self) -> Option<(bool, Option<u16>)> {
        *self.closed.lock()
    }
}

fn limits(handlers: bool) -> Limits {
    Limits {
        max_buffered: 1 << 20,
        max_poll_packets: 16,
        max_inbox: 64 * 1024,
        deliver_messages: handlers,
        deliver_disconnect: handlers,
        deliver_upgrade: handlers,
    }
}

fn open_session(transport: Transport, handlers: bool) -> Session {
    let s = Session::new(Sid::generate().unwrap(), transport, limits(handlers));
    assert!(s.accept());
    s
}

fn budget() -> Budget {
    Budget::new(usize::MAX)
}

fn text(s: &str) -> Outgoing {
    Outgoing::new(Packet::text(s))
}

fn encoded(answer: &PollAnswer) -> String {
    let mut out = Vec::new();
    crate::payload::encode(answer.packets.iter().map(|p| &**p), &mut out);
    String::from_utf8(out).unwrap()
}

/// Drains the inbox as a dispatcher would.
fn events(s: &Session) -> Vec<String> {
    std::iter::from_fn(|| s.next_event())
        .map(|e| match e {
            Event::Message(m) => format!("msg {}", m.as_text().unwrap_or("<bin>")),
            Event::Upgrade(t) => format!("upgrade {t}"),
            Event::Disconnect(r) => format!("disconnect {r}"),
        })
        .collect()
}

fn ws_session(b: &Budget) -> (Session, Arc<Recorder>) {
    let s = open_session(Transport::WebSocket, true);
    let ws = Arc::new(Recorder::default());
    assert!(s.attach_ws(ws.clone(), &Packet::Noop, b));
    ws.frames.lock().clear();
    (s, ws)
}

// ---------------------------------------------------------------- §9, row by row

#[test]
fn client_post_close_answers_a_pending_get_with_noop() {
    let b = budget();
    let s = open_session(Transport::Polling, true);
    let get = s.begin_get().unwrap();
    let c = s.close(Reason::ClientDisconnect, CloseHow::NORMAL, &b);
    assert!(c.first && c.dispatch);
    assert!(!c.client_grace, "C2: a GET was pending, it got the noop");
    assert!(!c.forget, "the disconnect handler has yet to run");
    assert_eq!(encoded(&s.poll_ready(get, &b).unwrap()), "6");
    assert!(!s.is_visible(), "later requests get E1");
    assert_eq!(events(&s), ["disconnect client disconnect"]);
    assert!(s.disconnect_handled(), "forgotten once its handler ran");
}

#[test]
fn client_post_close_without_a_get_allows_one_trailing_noop() {
    let b = budget();
    let s = open_session(Transport::Polling, false);
    let c = s.close(Reason::ClientDisconnect, CloseHow::NORMAL, &b);
    assert!(c.client_grace, "C2: the first GET within the grace gets 6");
    assert!(c.forget, "no handler: forgotten at once");
    assert!(!c.dispatch);
}

#[test]
fn client_close_frame_closes_the_websocket_with_1000() {
    let b = budget();
    let (s, ws) = ws_session(&b);
    let c = s.close(Reason::ClientDisconnect, CloseHow::NORMAL, &b);
    assert!(c.first && c.hard_close && !c.client_grace);
    assert_eq!(ws.closed(), Some((false, Some(1000))));
    assert_eq!(events(&s), ["disconnect client disconnect"]);
}

#[test]
fn peer_closing_its_websocket_writes_nothing() {
    let b = budget();
    let (s, ws) = ws_session(&b);
    let _ = s.close(Reason::TransportClose, CloseHow::NORMAL, &b);
    assert_eq!(ws.closed(), Some((false, None)));
    assert_eq!(events(&s), ["disconnect transport close"]);
}

#[test]
fn application_close_delivers_everything_queued_then_close_over_polling() {
    let b = budget();
    let s = open_session(Transport::Polling, true);
    let get = s.begin_get().unwrap();
    // The GET is pending; 40 messages were accepted, then the application closes.
    for i in 0..40 {
        s.enqueue(&text(&i.to_string()), &b).unwrap();
    }
    let c = s.close(Reason::ServerDisconnect, CloseHow::NORMAL, &b);
    assert!(c.first && c.linger.is_some() && !c.forget);
    assert_eq!(
        s.enqueue(&text("late"), &b),
        Err(EnqueueError::Closed),
        "send after disconnect is refused"
    );
    let mut got = Vec::new();
    let mut id = get;
    let mut polls = 0;
    loop {
        let a = s.poll_ready(id, &b).expect("something to deliver");
        polls += 1;
        assert!(a.packets.len() <= 16);
        let done = a.delivered_close;
        got.extend(a.packets.iter().map(|p| p.encode()));
        if done {
            assert!(!a.forget, "the disconnect handler has yet to run");
            break;
        }
        id = s.begin_get().unwrap();
    }
    assert_eq!(polls, 3, "16 + 16 + 8 and the close");
    let expected: Vec<String> = (0..40)
        .map(|i| format!("4{i}"))
        .chain(["1".to_string()])
        .collect();
    assert_eq!(got, expected);
    assert_eq!(b.used(), 0);
    // Then the sid is gone: it is closed, E1 for any request.
    assert!(!s.is_visible());
    assert_eq!(events(&s), ["disconnect server disconnect"]);
    assert!(s.disconnect_handled());
}

#[test]
fn application_close_with_no_get_waits_for_the_next_one() {
    let b = budget();
    let s = open_session(Transport::Polling, false);
    s.enqueue(&text("a"), &b).unwrap();
    let c = s.close(Reason::ServerDisconnect, CloseHow::NORMAL, &b);
    assert!(c.linger.is_some() && !c.forget);
    assert!(
        s.is_visible() && s.is_closing(),
        "C3: kept to deliver the close"
    );
    let id = s.begin_get().unwrap();
    let a = s.poll_ready(id, &b).unwrap();
    assert_eq!(encoded(&a), "4a\x1e1");
    assert!(a.delivered_close && a.forget);
    // A second application close is a no-op (C1).
    let again = s.close(Reason::ServerDisconnect, CloseHow::NORMAL, &b);
    assert_eq!(again, Closed::default());
}

#[test]
fn application_close_lingers_at_most_until_the_close_timeout() {
    let b = budget();
    let s = open_session(Transport::Polling, false);
    s.enqueue(&text("a"), &b).unwrap();
    let c = s.close(Reason::ServerDisconnect, CloseHow::NORMAL, &b);
    let gen = c.linger.unwrap();
    assert!(s.close_timed_out(gen));
    let now = CloseHow {
        now: true,
        ws_code: None,
    };
    let c = s.close(Reason::ServerDisconnect, now, &b);
    assert!(c.forget && !c.first);
    assert!(!s.is_visible());
    assert_eq!(b.used(), 0, "what was queued is released");
}

#[test]
fn application_close_of_a_websocket_sends_close_packet_and_1000() {
    let b = budget();
    let (s, ws) = ws_session(&b);
    s.enqueue(&text("last"), &b).unwrap();
    let c = s.close(Reason::ServerDisconnect, CloseHow::NORMAL, &b);
    assert!(c.hard_close && c.linger.is_none());
    assert_eq!(ws.texts(), ["4last"]);
    assert_eq!(ws.closed(), Some((true, Some(1000))));
}

#[test]
fn shutdown_answers_a_pending_get_with_close_and_websockets_with_1001() {
    let b = budget();
    let now = CloseHow {
        now: true,
        ws_code: None,
    };
    let s = open_session(Transport::Polling, false);
    let get = s.begin_get().unwrap();
    let c = s.close(Reason::ServerDisconnect, now, &b);
    assert!(c.forget && c.linger.is_none());
    assert_eq!(encoded(&s.poll_ready(get, &b).unwrap()), "1");
    let (s, ws) = ws_session(&b);
    let _ = s.close(Reason::ServerDisconnect, now, &b);
    assert_eq!(ws.closed(), Some((true, Some(1001))));
}

#[test]
fn ping_timeout_sends_close() {
    let b = budget();
    let s = open_session(Transport::Polling, true);
    let gen = s.heartbeat_gen_if_open().unwrap();
    assert!(s.queue_ping(gen, &b));
    let get = s.begin_get().unwrap();
    assert_eq!(encoded(&s.poll_ready(get, &b).unwrap()), "2");
    assert_eq!(s.pong_deadline(gen), Some(true), "no pong: overdue");
    let get = s.begin_get().unwrap();
    let _ = s.close(Reason::PingTimeout, CloseHow::NORMAL, &b);
    assert_eq!(encoded(&s.poll_ready(get, &b).unwrap()), "1");
    assert_eq!(events(&s), ["disconnect ping timeout"]);

    let (s, ws) = ws_session(&b);
    let _ = s.close(Reason::PingTimeout, CloseHow::NORMAL, &b);
    assert_eq!(ws.closed(), Some((true, Some(1000))));
}

#[test]
fn transport_errors_close_with_their_codes() {
    let b = budget();
    let s = open_session(Transport::Polling, false);
    let get = s.begin_get().unwrap();
    let _ = s.close(Reason::TransportError, CloseHow::NORMAL, &b);
    assert_eq!(encoded(&s.poll_ready(get, &b).unwrap()), "1");

    let (s, ws) = ws_session(&b);
    let oversize = CloseHow {
        now: false,
        ws_code: Some(1009),
    };
    let _ = s.close(Reason::TransportError, oversize, &b);
    assert_eq!(ws.closed(), Some((false, Some(1009))));

    let (s, ws) = ws_session(&b);
    let _ = s.close(Reason::TransportError, CloseHow::NORMAL, &b);
    assert_eq!(ws.closed(), Some((false, Some(1002))));
}

#[test]
fn parse_errors_close_with_1002() {
    let b = budget();
    let s = open_session(Transport::Polling, false);
    let get = s.begin_get().unwrap();
    let _ = s.close(Reason::ParseError, CloseHow::NORMAL, &b);
    assert_eq!(encoded(&s.poll_ready(get, &b).unwrap()), "1");
    let (s, ws) = ws_session(&b);
    let _ = s.close(Reason::ParseError, CloseHow::NORMAL, &b);
    assert_eq!(ws.closed(), Some((false, Some(1002))));
}

#[test]
fn closing_is_idempotent_and_the_disconnect_event_comes_once() {
    let b = budget();
    let s = open_session(Transport::Polling, true);
    let first = s.close(Reason::PingTimeout, CloseHow::NORMAL, &b);
    assert!(first.first);
    for r in [
        Reason::ClientDisconnect,
        Reason::ServerDisconnect,
        Reason::TransportError,
    ] {
        assert_eq!(s.close(r, CloseHow::NORMAL, &b), Closed::default());
    }
    assert_eq!(events(&s), ["disconnect ping timeout"]);
}

#[test]
fn a_session_closed_while_connecting_gets_no_disconnect_event() {
    let b = budget();
    let s = Session::new(Sid::generate().unwrap(), Transport::Polling, limits(true));
    let c = s.close(Reason::ServerDisconnect, CloseHow::NORMAL, &b);
    assert!(!c.first && !c.dispatch);
    assert!(!s.accept(), "the handshake is refused");
    assert!(events(&s).is_empty());
}

// ---------------------------------------------------------------- polling

#[test]
fn a_duplicate_get_displaces_the_pending_one_with_close() {
    let b = budget();
    let s = open_session(Transport::Polling, false);
    let first = s.begin_get().unwrap();
    assert!(s.begin_get().is_err(), "D1: the newcomer is refused");
    assert_eq!(encoded(&s.poll_ready(first, &b).unwrap()), "1");
}

#[test]
fn a_long_poll_takes_at_most_max_poll_packets() {
    let b = budget();
    let s = open_session(Transport::Polling, false);
    for i in 0..20 {
        s.enqueue(&text(&i.to_string()), &b).unwrap();
    }
    let id = s.begin_get().unwrap();
    assert_eq!(s.poll_ready(id, &b).unwrap().packets.len(), 16);
    let id = s.begin_get().unwrap();
    assert_eq!(s.poll_ready(id, &b).unwrap().packets.len(), 4);
    let id = s.begin_get().unwrap();
    assert!(s.poll_ready(id, &b).is_none(), "nothing queued: it waits");
    assert_eq!(encoded(&s.poll_timed_out(id)), "6", "G2");
}

#[test]
fn queues_are_bounded_per_session_and_server_wide() {
    let b = Budget::new(100);
    let s = Session::new(
        Sid::generate().unwrap(),
        Transport::Polling,
        Limits {
            max_buffered: 50,
            ..limits(false)
        },
    );
    assert!(s.accept());
    s.enqueue(&text(&"x".repeat(39)), &b).unwrap();
    assert_eq!(s.buffered_bytes(), 40);
    assert_eq!(
        s.enqueue(&text(&"x".repeat(19)), &b),
        Err(EnqueueError::Overflow)
    );
    let other = open_session(Transport::Polling, false);
    other.enqueue(&text(&"y".repeat(49)), &b).unwrap();
    assert_eq!(
        other.enqueue(&text(&"y".repeat(19)), &b),
        Err(EnqueueError::OverBudget),
        "90 of 100 used server-wide"
    );
    let _ = s.close(Reason::TransportError, CloseHow::NORMAL, &b);
    assert_eq!(b.used(), 50, "a closed session's queue is released");
    other.enqueue(&text(&"y".repeat(19)), &b).unwrap();
}

#[test]
fn a_text_message_with_a_record_separator_cannot_go_over_polling() {
    let b = budget();
    let s = open_session(Transport::Polling, false);
    assert_eq!(
        s.enqueue(&text("a\u{1e}b"), &b),
        Err(EnqueueError::Unencodable)
    );
}

// ---------------------------------------------------------------- upgrade

#[test]
fn the_upgrade_pauses_polling_then_flushes_the_queue_in_order() {
    let b = budget();
    let s = open_session(Transport::Polling, false);
    s.enqueue(&text("a"), &b).unwrap();
    let get = s.begin_get().unwrap();
    let probe = Arc::new(Recorder::default());
    let id = s.attach_probe(probe.clone()).unwrap();
    assert!(
        s.attach_probe(probe.clone()).is_none(),
        "one probe at a time"
    );
    // The queued packet is taken by the pending GET before the probe pinged.
    assert_eq!(encoded(&s.poll_ready(get, &b).unwrap()), "4a");
    s.enqueue(&text("b"), &b).unwrap();
    assert!(s.probe_pinged(id));
    assert_eq!(probe.texts(), ["3probe"]);
    let get = s.begin_get().unwrap();
    assert_eq!(encoded(&s.poll_ready(get, &b).unwrap()), "6", "§8 step 3");
    s.enqueue(&text("c"), &b).unwrap();
    assert!(matches!(s.complete_upgrade(id, &b), Upgraded::Open { .. }));
    s.enqueue(&text("d"), &b).unwrap();
    assert_eq!(probe.texts(), ["3probe", "4b", "4c", "4d"]);
    assert_eq!(s.transport(), Transport::WebSocket);
    assert!(Arc::ptr_eq(
        &(s.ws().unwrap() as Arc<dyn Sink>),
        &(probe.clone() as Arc<dyn Sink>)
    ));
    assert_eq!(b.used(), 0);
}

#[test]
fn an_upgrade_packet_without_a_probe_still_upgrades() {
    let b = budget();
    let s = open_session(Transport::Polling, false);
    let id = s.attach_probe(Arc::new(Recorder::default())).unwrap();
    assert!(
        matches!(s.complete_upgrade(id, &b), Upgraded::Open { .. }),
        "X2"
    );
}

#[test]
fn a_completed_upgrade_is_an_event_between_messages() {
    let b = budget();
    let s = open_session(Transport::Polling, true);
    assert!(s.push_message(Message::from("before")).dispatch);
    let id = s.attach_probe(Arc::new(Recorder::default())).unwrap();
    // The dispatcher is busy with "before": the upgrade queues behind it.
    assert!(matches!(
        s.complete_upgrade(id, &b),
        Upgraded::Open {
            dispatch: false,
            ..
        }
    ));
    assert!(!s.push_message(Message::from("after")).dispatch);
    assert_eq!(events(&s), ["msg before", "upgrade websocket", "msg after"]);
    // An idle inbox: the upgrade makes the caller the dispatcher.
    let s = open_session(Transport::Polling, true);
    let id = s.attach_probe(Arc::new(Recorder::default())).unwrap();
    assert!(matches!(
        s.complete_upgrade(id, &b),
        Upgraded::Open { dispatch: true, .. }
    ));
    assert_eq!(events(&s), ["upgrade websocket"]);
    // Without an upgrade handler: nothing queued.
    let s = open_session(Transport::Polling, false);
    let id = s.attach_probe(Arc::new(Recorder::default())).unwrap();
    assert!(matches!(
        s.complete_upgrade(id, &b),
        Upgraded::Open {
            dispatch: false,
            ..
        }
    ));
    assert!(events(&s).is_empty());
}

#[test]
fn a_failed_probe_leaves_the_session_on_polling_with_a_fresh_heartbeat() {
    let b = budget();
    let s = open_session(Transport::Polling, false);
    let probe = Arc::new(Recorder::default());
    let id = s.attach_probe(probe.clone()).unwrap();
    assert!(s.probe_pinged(id));
    assert!(s.abort_probe(id).is_some(), "B7: the heartbeat restarts");
    assert_eq!(probe.closed(), Some((false, Some(1000))));
    assert!(*probe.shut.lock());
    assert_eq!(s.transport(), Transport::Polling);
    assert_eq!(s.complete_upgrade(id, &b), Upgraded::Stale);
    s.enqueue(&text("x"), &b).unwrap();
    let get = s.begin_get().unwrap();
    assert_eq!(encoded(&s.poll_ready(get, &b).unwrap()), "4x");
}

#[test]
fn application_close_during_an_upgrade_goes_over_the_new_websocket() {
    let b = budget();
    let s = open_session(Transport::Polling, true);
    let probe = Arc::new(Recorder::default());
    let id = s.attach_probe(probe.clone()).unwrap();
    assert!(s.probe_pinged(id));
    s.enqueue(&text("before close"), &b).unwrap();
    let c = s.close(Reason::ServerDisconnect, CloseHow::NORMAL, &b);
    assert!(c.linger.is_some());
    assert!(probe.closed().is_none(), "the probe stays for the close");
    // The client's paused GET gets a noop, not the close.
    let get = s.begin_get().unwrap();
    assert_eq!(encoded(&s.poll_ready(get, &b).unwrap()), "6");
    assert_eq!(
        s.complete_upgrade(id, &b),
        Upgraded::Closed { forget: false }
    );
    assert_eq!(probe.texts(), ["3probe", "4before close"]);
    assert_eq!(probe.closed(), Some((true, Some(1000))));
    assert!(!s.is_visible());
    assert_eq!(events(&s), ["disconnect server disconnect"]);
}

#[test]
fn application_close_before_the_probe_refuses_the_upgrade_and_closes_over_polling() {
    let b = budget();
    let s = open_session(Transport::Polling, false);
    let probe = Arc::new(Recorder::default());
    let id = s.attach_probe(probe.clone()).unwrap();
    s.enqueue(&text("m"), &b).unwrap();
    let c = s.close(Reason::ServerDisconnect, CloseHow::NORMAL, &b);
    assert!(c.hard_close);
    assert_eq!(probe.closed(), Some((false, Some(1000))), "a clean close");
    assert!(!s.probe_pinged(id));
    let get = s.begin_get().unwrap();
    assert_eq!(encoded(&s.poll_ready(get, &b).unwrap()), "4m\x1e1");
}

#[test]
fn application_close_during_an_upgrade_that_then_fails_closes_over_polling() {
    let b = budget();
    let s = open_session(Transport::Polling, false);
    let id = s.attach_probe(Arc::new(Recorder::default())).unwrap();
    assert!(s.probe_pinged(id));
    s.enqueue(&text("m"), &b).unwrap();
    let _ = s.close(Reason::ServerDisconnect, CloseHow::NORMAL, &b);
    assert_eq!(
        s.abort_probe(id),
        None,
        "no heartbeat for a closing session"
    );
    let get = s.begin_get().unwrap();
    assert_eq!(encoded(&s.poll_ready(get, &b).unwrap()), "4m\x1e1");
}

#[test]
fn hard_close_waits_for_websockets_still_writing() {
    let b = budget();
    let (s, ws) = ws_session(&b);
    *ws.pending.lock() = 10;
    let _ = s.close(Reason::ServerDisconnect, CloseHow::NORMAL, &b);
    let (due, again) = s.hard_close_due();
    assert!(due.is_empty() && again, "still writing what was queued");
    *ws.pending.lock() = 0;
    let (due, again) = s.hard_close_due();
    assert_eq!(due.len(), 1);
    assert!(!again);
}

// ---------------------------------------------------------------- the inbox

#[test]
fn the_first_pusher_dispatches_and_events_keep_wire_order() {
    let b = budget();
    let s = open_session(Transport::Polling, true);
    let first = s.push_message(Message::from("1"));
    assert!(first.dispatch, "an idle inbox: the pusher runs it");
    let second = s.push_message(Message::from("2"));
    assert!(!second.dispatch, "one dispatcher at a time");
    let c = s.close(Reason::ClientDisconnect, CloseHow::NORMAL, &b);
    assert!(
        !c.dispatch,
        "the running dispatcher will run the disconnect"
    );
    assert!(
        !s.push_message(Message::from("3")).dispatch,
        "dropped after close"
    );
    assert_eq!(
        events(&s),
        ["msg 1", "msg 2", "disconnect client disconnect"]
    );
    // The inbox is idle again: nothing left, nobody dispatching.
    assert!(s.next_event().is_none());
}

#[test]
fn a_full_inbox_tells_the_reader_to_wait() {
    let s = Session::new(
        Sid::generate().unwrap(),
        Transport::WebSocket,
        Limits {
            max_inbox: 1000,
            ..limits(true)
        },
    );
    assert!(s.accept());
    assert!(s.push_message(Message::from("x".repeat(500))).dispatch);
    let p = s.push_message(Message::from("x".repeat(500)));
    assert!(p.full && !p.dispatch);
    // A reader waiting for room is not timed out for a pong it could not read.
    let gen = s.heartbeat_gen_if_open().unwrap();
    assert!(s.queue_ping(gen, &budget()));
    s.state.lock().reader_waiting = true;
    assert_eq!(s.pong_deadline(gen), Some(false));
    s.state.lock().reader_waiting = false;
    assert_eq!(s.pong_deadline(gen), Some(true));
}

#[test]
fn without_handlers_nothing_is_queued() {
    let b = budget();
    let s = open_session(Transport::Polling, false);
    assert_eq!(s.push_message(Message::from("x")), Pushed::default());
    let c = s.close(Reason::ClientDisconnect, CloseHow::NORMAL, &b);
    assert!(!c.dispatch && c.forget);
}

#[test]
fn a_pong_answers_only_an_outstanding_ping() {
    let b = budget();
    let s = open_session(Transport::Polling, false);
    assert!(
        s.pong_received().is_none(),
        "K7: an unsolicited pong is ignored"
    );
    let gen = s.heartbeat_gen_if_open().unwrap();
    assert!(s.queue_ping(gen, &b));
    let next = s.pong_received().unwrap();
    assert!(next > gen);
    assert_eq!(s.pong_deadline(gen), None, "the old deadline is stale");
}
