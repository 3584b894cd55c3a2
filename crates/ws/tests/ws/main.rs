//! The `ws` protocol against real servers on 127.0.0.1: the demo target in-process, and a
//! TLS WebSocket server built here for `wss`.

mod support;
mod templates;
mod tls;

use stampede_metrics::builtin;
use stampede_proto::FailureKind;
use support::{Harness, bounded, demo, failed};

#[tokio::test]
async fn connect_send_receive_correlate_ping_close() {
    bounded(async {
        let server = demo().await;
        let mut h = Harness::new(
            &server.base_url(),
            r#"  - ws: { name: chat, connect: "/ws/chat?delay=20ms", headers: { x-client: stampede }, subprotocols: [chat.v1] }
  - ws: { name: chat, send: { json: { type: hello, id: "a-1" } } }
  - ws: { name: chat, receive: { match: { json: { "$.type": hello_ack } }, correlate: "$.id", timeout: 2s, check: { json: { "$.id": a-1, "$.echo.type": hello } } } }
  - ws: { name: chat, ping: {}, timeout: 2s }
  - ws: { name: chat, close: {}, timeout: 2s }
"#,
        );
        let outcomes = h.iteration().await;
        assert_eq!(failed(&outcomes), [false; 5], "{outcomes:?}");
        assert_eq!(outcomes[0].status, Some(101));
        let s = h.samples();
        let connecting = s.one(builtin::WS_CONNECTING);
        // The chaos layer delays the upgrade by `?delay` too.
        assert!((20.0..2000.0).contains(&connecting), "ws_connecting {connecting}");
        assert_eq!(s.one(builtin::WS_SESSIONS), 1.0);
        assert_eq!(s.one(builtin::WS_MSGS_SENT), 1.0);
        assert_eq!(s.sum(builtin::WS_MSGS_RECEIVED), 1.0);
        let rtt = s.one(builtin::WS_MSG_RTT);
        assert!((20.0..2000.0).contains(&rtt), "the reply waits the 20 ms delay: ws_msg_rtt {rtt}");
        let ping = s.one(builtin::WS_PING);
        assert!((0.0..2000.0).contains(&ping), "ws_ping {ping}");
        let session = s.one(builtin::WS_SESSION_DURATION);
        assert!(session >= rtt, "the session spans the exchange: {session} < {rtt}");
        assert_eq!(s.values(builtin::WS_FAILED), [0.0; 5]);
        assert_eq!(s.values(builtin::CHECKS), [1.0, 1.0]);
        assert!(s.sum(builtin::DATA_SENT) > 100.0, "the upgrade request alone is over 100 bytes");
        assert!(s.sum(builtin::DATA_RECEIVED) > 100.0);
        let actions: Vec<Option<String>> =
            s.by_tag(builtin::WS_FAILED, "action").into_iter().map(|(a, _)| a).collect();
        let expected = ["connect", "send", "receive", "ping", "close"].map(|a| Some(a.to_string()));
        assert_eq!(actions, expected);
        let rtt_sample = s.of(builtin::WS_MSG_RTT).next().unwrap();
        assert_eq!(s.tag(rtt_sample, "name").as_deref(), Some("chat"));
        assert_eq!(s.tag(rtt_sample, "scenario").as_deref(), Some("default"));
        assert_eq!(s.tag(rtt_sample, "error"), None);
        // The server saw one connection and one message, and it is closed now.
        let stats = server.ws_stats();
        assert_eq!((stats.opened, stats.messages), (1, 1));
        tokio::time::timeout(std::time::Duration::from_secs(2), async {
            while server.ws_stats().open != 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the server saw the close");
    })
    .await;
}

#[tokio::test]
async fn correlation_skips_other_replies_and_pairs_by_value() {
    bounded(async {
        let server = demo().await;
        let mut h = Harness::new(
            &server.base_url(),
            r#"  - ws: { connect: "/ws/chat?delay=30ms" }
  - ws: { send: { json: { type: a, id: 1 } } }
  - ws: { send: { json: { type: b, id: 2 } } }
  - ws: { receive: { match: { json: { "$.type": b_ack } }, correlate: "$.id", timeout: 2s } }
  - ws: { receive: { correlate: "$.id", timeout: 300ms } }
  - ws: { send: "{\"type\": \"c\", \"id\": 3}" }
  - ws: { receive: { correlate: next, timeout: 2s, check: { contains: c_ack } } }
  - ws: { receive: { correlate: "$.id", timeout: 200ms } }
"#,
        );
        let outcomes = h.iteration().await;
        // The ack of id 1 was skipped (not the `b_ack` the first receive waited for), so the
        // second receive has no reply left to find; id 3 pairs with `next`, and a correlated
        // receive then finds no unanswered send with an id left... only id 1, whose ack is gone.
        assert_eq!(failed(&outcomes), [false, false, false, false, true, false, false, true]);
        let s = h.samples();
        let rtts = s.values(builtin::WS_MSG_RTT);
        assert_eq!(rtts.len(), 2, "b and c are paired: {rtts:?}");
        assert!(rtts.iter().all(|r| (30.0..2000.0).contains(r)), "{rtts:?}");
        assert_eq!(s.sum(builtin::WS_MSGS_RECEIVED), 3.0, "every message is counted, skipped or not");
        let errors = s.by_tag(builtin::WS_FAILED, "error");
        assert_eq!(errors[4], (Some("timeout".to_string()), 1.0));
        assert_eq!(s.values(builtin::CHECKS), [1.0]);
    })
    .await;
}

#[tokio::test]
async fn a_correlated_receive_ignores_replies_to_nothing_it_sent() {
    bounded(async {
        let server = demo().await;
        // The echo server sends `{"id": 9}` back; it answers a send, so it pairs. A message
        // with an id this socket never sent does not match.
        let mut h = Harness::new(
            &server.base_url(),
            r#"  - ws: { connect: /ws/echo }
  - ws: { send: { json: { id: 9 } } }
  - ws: { receive: { correlate: "$.rid", timeout: 300ms } }
  - ws: { send: { json: { id: 10 } } }
  - ws: { receive: { correlate: "$.id", timeout: 2s, check: { json: { "$.id": 10 } } } }
"#,
        );
        let outcomes = h.iteration().await;
        assert_eq!(failed(&outcomes), [false, false, true, false, false]);
        let s = h.samples();
        assert_eq!(s.values(builtin::WS_MSG_RTT).len(), 1);
        assert_eq!(s.values(builtin::CHECKS), [1.0]);
    })
    .await;
}

#[tokio::test]
async fn keep_open_serves_every_iteration_on_one_connection() {
    bounded(async {
        let server = demo().await;
        let mut h = Harness::new(
            &server.base_url(),
            r#"  - ws: { name: chat, connect: /ws/chat, keep_open: true }
  - ws: { name: chat, send: { json: { type: hi, id: x } } }
  - ws: { name: chat, receive: { correlate: "$.id", timeout: 2s, check: { json: { "$.conn": 1 } } } }
"#,
        );
        for _ in 0..4 {
            let outcomes = h.iteration().await;
            assert_eq!(failed(&outcomes), [false; 3]);
        }
        let s = h.samples();
        assert_eq!(server.ws_stats().opened, 1, "one connection for four iterations");
        assert_eq!(server.ws_stats().messages, 4);
        assert_eq!(s.values(builtin::WS_CONNECTING).len(), 1, "only the first connect opened");
        assert_eq!(s.values(builtin::WS_FAILED).len(), 9, "a connect that reuses records nothing");
        assert_eq!(s.values(builtin::CHECKS), [1.0; 4], "every ack comes from connection 1");
        assert_eq!(s.values(builtin::WS_MSG_RTT).len(), 4);
        assert!(s.values(builtin::WS_SESSION_DURATION).is_empty(), "still open");
    })
    .await;
}

#[tokio::test]
async fn a_vu_that_stops_with_its_socket_open_records_what_it_still_held() {
    bounded(async {
        let server = demo().await;
        // Sends and never receives: the replies wait in the inbox when the VU stops.
        let mut h = Harness::new(
            &server.base_url(),
            r#"  - ws: { name: chat, connect: /ws/chat, keep_open: true }
  - ws: { name: chat, send: { json: { type: hi, id: x } } }
"#,
        );
        for _ in 0..3 {
            assert_eq!(failed(&h.iteration().await), [false; 2]);
        }
        tokio::time::timeout(std::time::Duration::from_secs(2), async {
            while server.ws_stats().messages < 3 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the server got the three messages");
        // Their acks are on their way back; give them time to land in the inbox.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let before = h.samples();
        assert_eq!(before.sum(builtin::WS_MSGS_RECEIVED), 0.0, "no step read a message");
        assert!(before.values(builtin::WS_SESSION_DURATION).is_empty());
        h.vu.close_sessions();
        let s = h.samples();
        assert_eq!(s.sum(builtin::WS_MSGS_RECEIVED), 3.0, "the unread acks are counted when the VU stops");
        let session = s.one(builtin::WS_SESSION_DURATION);
        assert!(session >= 200.0, "the socket was open for the whole wait: {session} ms");
        let sample = s.of(builtin::WS_SESSION_DURATION).next().unwrap();
        assert_eq!(s.tag(sample, "name").as_deref(), Some("chat"));
        assert_eq!(
            s.tag(sample, "action").as_deref(),
            Some("send"),
            "the tags of the last step that used it"
        );
        assert!(s.sum(builtin::DATA_RECEIVED) > 0.0, "the acks' bytes are recorded too");
    })
    .await;
}

#[tokio::test]
async fn without_keep_open_each_connect_replaces_the_socket() {
    bounded(async {
        let server = demo().await;
        let mut h = Harness::new(
            &server.base_url(),
            r#"  - ws: { name: chat, connect: /ws/chat }
  - ws: { name: chat, send: { json: { type: hi, id: x } } }
  - ws: { name: chat, receive: { correlate: "$.id", timeout: 2s, check: { json: { "$.conn": 1 } } } }
"#,
        );
        for _ in 0..3 {
            assert_eq!(failed(&h.iteration().await), [false; 3]);
        }
        let s = h.samples();
        assert_eq!(server.ws_stats().opened, 3);
        assert_eq!(s.values(builtin::WS_CONNECTING).len(), 3);
        assert_eq!(s.values(builtin::WS_SESSION_DURATION).len(), 2, "two sockets were replaced");
        assert_eq!(s.values(builtin::CHECKS), [1.0, 0.0, 0.0], "later acks come from new connections");
    })
    .await;
}

#[tokio::test]
async fn a_receive_that_gets_nothing_times_out_and_fails_its_checks() {
    bounded(async {
        let server = demo().await;
        let mut h = Harness::new(
            &server.base_url(),
            r#"  - ws: { connect: /ws/echo }
  - ws: { receive: { timeout: 150ms, check: { contains: x } } }
  - ws: { send: still there }
  - ws: { receive: { match: { contains: still }, timeout: 2s } }
"#,
        );
        let started = tokio::time::Instant::now();
        let outcomes = h.step(0).await;
        assert!(!outcomes.failed);
        let timed_out = h.step(1).await;
        assert!(timed_out.failed);
        assert!(started.elapsed() >= std::time::Duration::from_millis(150));
        // The socket is still usable after a receive timed out.
        assert!(!h.step(2).await.failed);
        assert!(!h.step(3).await.failed);
        let s = h.samples();
        let errors = s.by_tag(builtin::WS_FAILED, "error");
        assert_eq!(errors[1], (Some("timeout".to_string()), 1.0));
        assert_eq!(s.values(builtin::CHECKS), [0.0]);
        let check = s.of(builtin::CHECKS).next().unwrap();
        assert_eq!(s.tag(check, "check").as_deref(), Some("message contains \"x\""));
    })
    .await;
}

#[tokio::test]
async fn connect_failures_are_classified() {
    bounded(async {
        let server = demo().await;
        // A port nothing listens on: bind one, learn it, close it.
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let mut h = Harness::new(
            &server.base_url(),
            &format!(
                r#"  - ws: {{ name: closed, connect: "ws://127.0.0.1:{closed}/ws", timeout: 2s }}
  - ws: {{ name: http, connect: /health, timeout: 2s }}
  - ws: {{ name: refused, connect: "/ws/chat?fail=1&fail_status=503", timeout: 2s }}
  - ws: {{ name: closed, send: hello }}
  - ws: {{ name: never, receive: {{ timeout: 1s }} }}
  - ws: {{ name: never, close: {{}} }}
"#
            ),
        );
        let outcomes = h.iteration().await;
        assert_eq!(failed(&outcomes), [true, true, true, true, true, false]);
        assert_eq!(outcomes[0].status, None);
        assert_eq!(outcomes[1].status, Some(200), "a plain HTTP answer is not an upgrade");
        assert_eq!(outcomes[2].status, Some(503));
        let s = h.samples();
        let errors: Vec<Option<String>> =
            s.by_tag(builtin::WS_FAILED, "error").into_iter().map(|(e, _)| e).collect();
        let want = ["connect", "status_200", "status_503", "connect", "connect"].map(|e| Some(e.to_string()));
        assert_eq!(errors, want, "a close of a socket never opened records nothing");
        assert!(s.values(builtin::WS_CONNECTING).is_empty(), "only successful opens are timed");
        assert!(s.values(builtin::WS_SESSIONS).is_empty());
        assert!(s.sum(builtin::DATA_RECEIVED) > 0.0, "the refusals' bytes are counted");
        assert_eq!(FailureKind::Status(503).tag(), "status_503");
    })
    .await;
}

#[tokio::test]
async fn matching_by_text_regex_and_binary_and_checks_that_fail() {
    bounded(async {
        let server = demo().await;
        let mut h = Harness::new(
            &server.base_url(),
            r#"  - ws: { name: e, connect: /ws/echo }
  - ws: { name: e, send: alpha }
  - ws: { name: e, send: beta-42 }
  - ws: { name: e, send: { binary: AAECAw== } }
  - ws: { name: e, receive: { match: { regex: "^beta-[0-9]+$" }, timeout: 2s, check: { contains: [beta, gamma] } } }
  - ws: { name: e, receive: { match: { contains: "\u0002\u0003" }, timeout: 2s } }
  - ws: { name: e, send: { json: { k: [1, 2] } } }
  - ws: { name: e, receive: { match: { json: { "$.k[1]": 2.0 } }, timeout: 2s, check: { json: { "$.k": [1, 2], "$.missing": 1 } } } }
"#,
        );
        let outcomes = h.iteration().await;
        assert_eq!(failed(&outcomes), [false; 8], "{outcomes:?}");
        let s = h.samples();
        // alpha skipped, beta-42 matched; the binary frame matched; the JSON one matched.
        assert_eq!(s.sum(builtin::WS_MSGS_RECEIVED), 4.0);
        let checks: Vec<(Option<String>, f64)> = s.by_tag(builtin::CHECKS, "check");
        let want = [
            (Some("message contains \"beta\"".to_string()), 1.0),
            (Some("message contains \"gamma\"".to_string()), 0.0),
            (Some("$.k == [1,2]".to_string()), 1.0),
            (Some("$.missing == 1".to_string()), 0.0),
        ];
        assert_eq!(checks, want);
        assert!(s.values(builtin::WS_MSG_RTT).is_empty(), "no correlate, no round trip");
    })
    .await;
}

#[tokio::test]
async fn a_socket_the_server_closes_fails_the_steps_that_need_it() {
    bounded(async {
        let server = demo().await;
        let mut h = Harness::new(
            &server.base_url(),
            r#"  - ws: { name: s, connect: /ws/echo }
  - ws: { name: s, receive: { timeout: 5s } }
  - ws: { name: s, send: anyone }
  - ws: { name: s, ping: {} }
"#,
        );
        assert!(!h.step(0).await.failed);
        // Shutting down sends `1001 going away` to every open socket.
        let shutdown = tokio::spawn(server.shutdown());
        let received = h.step(1).await;
        assert!(received.failed);
        assert!(h.step(2).await.failed, "the socket is gone");
        assert!(h.step(3).await.failed);
        shutdown.await.unwrap();
        let s = h.samples();
        let errors: Vec<Option<String>> =
            s.by_tag(builtin::WS_FAILED, "error").into_iter().map(|(e, _)| e).collect();
        assert_eq!(errors[1..], [Some("reset".into()), Some("connect".into()), Some("connect".into())]);
        assert_eq!(s.values(builtin::WS_SESSION_DURATION).len(), 1, "the session ended once");
    })
    .await;
}

#[tokio::test]
async fn two_sockets_of_one_vu_are_independent() {
    bounded(async {
        let server = demo().await;
        let mut h = Harness::new(
            &server.base_url(),
            r#"  - ws: { name: a, connect: /ws/echo }
  - ws: { name: b, connect: /ws/chat }
  - ws: { name: a, send: from-a }
  - ws: { name: b, send: { json: { type: from_b } } }
  - ws: { name: b, receive: { match: { contains: from_b_ack }, timeout: 2s } }
  - ws: { name: a, receive: { match: { contains: from-a }, timeout: 2s } }
  - ws: { name: a, close: { code: 4000, reason: done } }
  - ws: { name: b, close: {} }
"#,
        );
        assert_eq!(failed(&h.iteration().await), [false; 8]);
        let s = h.samples();
        assert_eq!(server.ws_stats().opened, 2);
        let names: Vec<Option<String>> =
            s.by_tag(builtin::WS_SESSION_DURATION, "name").into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, [Some("a".to_string()), Some("b".to_string())]);
    })
    .await;
}

#[tokio::test]
async fn group_tags_reach_ws_samples() {
    bounded(async {
        let server = demo().await;
        let mut h = Harness::new(&server.base_url(), "  - ws: { connect: /ws/echo }\n");
        h.vu.group = std::sync::Arc::from("::talk");
        assert!(!h.step(0).await.failed);
        let s = h.samples();
        let sample = s.of(builtin::WS_CONNECTING).next().unwrap();
        assert_eq!(s.tag(sample, "group").as_deref(), Some("::talk"));
        assert_eq!(s.tag(sample, "name").as_deref(), Some("ws"));
    })
    .await;
}

#[tokio::test]
async fn a_subprotocol_the_client_did_not_offer_fails_the_connect() {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let server = tokio_websockets::ServerBuilder::new()
                    .add_header(http::header::SEC_WEBSOCKET_PROTOCOL, http::HeaderValue::from_static("other"))
                    .unwrap();
                tokio::spawn(async move {
                    let _ = server.accept(tcp).await;
                });
            }
        });
        let mut h = Harness::new(
            &format!("http://{addr}"),
            "  - ws: { connect: /, subprotocols: [chat.v1], timeout: 2s }\n",
        );
        let outcome = h.step(0).await;
        assert!(outcome.failed);
        let s = h.samples();
        assert_eq!(s.by_tag(builtin::WS_FAILED, "error"), [(Some("protocol".to_string()), 1.0)]);
    })
    .await;
}

#[tokio::test]
async fn a_full_inbox_drops_the_oldest_messages_and_still_counts_them() {
    bounded(async {
        let server = demo().await;
        let mut h = Harness::new(
            &server.base_url(),
            r#"  - ws: { connect: /ws/echo }
  - ws: { send: fill }
  - ws: { send: last }
  - ws: { receive: { match: { contains: last }, timeout: 5s } }
"#,
        );
        assert!(!h.step(0).await.failed);
        let sent = stampede_ws::INBOX_CAPACITY + 100;
        for _ in 0..sent {
            assert!(!h.step(1).await.failed);
        }
        assert!(!h.step(2).await.failed);
        // Wait until the server echoed everything, so the inbox overflowed.
        while server.ws_stats().messages < sent as u64 + 1 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!h.step(3).await.failed, "the newest message is still there");
        let s = h.samples();
        assert_eq!(s.sum(builtin::WS_MSGS_RECEIVED), (sent + 1) as f64, "dropped ones are counted too");
    })
    .await;
}

/// A WebSocket server on 127.0.0.1:0 that sends `hi`, then one binary message of `size`
/// bytes, and reports the close code the client answered with.
async fn oversize_server(size: usize) -> (std::net::SocketAddr, tokio::sync::oneshot::Receiver<Option<u16>>) {
    use futures_util::{SinkExt, StreamExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (_, ws) = tokio_websockets::ServerBuilder::new().accept(tcp).await.unwrap();
        // Writes in a task of its own: the client stops reading mid-message, and the close
        // it sends must still be read here.
        let (mut sink, mut stream) = ws.split();
        tokio::spawn(async move {
            sink.send(tokio_websockets::Message::text("hi")).await.unwrap();
            let _ = sink.send(tokio_websockets::Message::binary(vec![7u8; size])).await;
        });
        let mut code = None;
        while let Some(Ok(message)) = stream.next().await {
            if let Some((c, _)) = message.as_close() {
                code = Some(u16::from(c));
                break;
            }
        }
        let _ = tx.send(code);
    });
    (addr, rx)
}

#[tokio::test]
async fn a_message_over_the_limit_ends_the_socket_as_too_large() {
    bounded(async {
        let (addr, close_code) = oversize_server(stampede_ws::MAX_MESSAGE + 1).await;
        let mut h = Harness::new(
            &format!("http://{addr}"),
            r#"  - ws: { connect: /big }
  - ws: { receive: { match: { contains: hi }, timeout: 5s } }
  - ws: { receive: { timeout: 10s } }
"#,
        );
        let outcomes = h.iteration().await;
        assert_eq!(failed(&outcomes), [false, false, true], "{outcomes:?}");
        let s = h.samples();
        let errors = s.by_tag(builtin::WS_FAILED, "error");
        assert_eq!(errors[2], (Some("too_large".to_string()), 1.0), "{errors:?}");
        assert_eq!(s.sum(builtin::WS_MSGS_RECEIVED), 1.0, "the oversize message never arrived");
        assert_eq!(close_code.await.unwrap(), Some(1009), "the client said: message too big");
    })
    .await;
}

#[tokio::test]
async fn a_timeout_too_large_to_add_is_no_timeout_not_a_panic() {
    bounded(async {
        let server = demo().await;
        let mut h = Harness::new(
            &server.base_url(),
            r#"  - ws: { name: chat, connect: /ws/chat, timeout: 200000000000000d }
  - ws: { name: chat, send: { json: { type: hello, id: "a-1" } } }
  - ws: { name: chat, receive: { correlate: "$.id", timeout: 200000000000000d } }
  - ws: { name: chat, close: {}, timeout: 200000000000000d }
"#,
        );
        let outcomes = h.iteration().await;
        assert_eq!(failed(&outcomes), [false; 4], "{outcomes:?}");
    })
    .await;
}
