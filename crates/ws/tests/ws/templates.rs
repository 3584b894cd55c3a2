//! Run-time templates in ws steps: messages rendered per send (escaped inside JSON), the
//! connect URL's path and query and its header values rendered per connect, an unset
//! variable failing the step as `error:variable`, and a data source running out halting the
//! VU.

use std::time::Duration;

use stampede_metrics::builtin;
use tokio::sync::mpsc;

use super::support::{Harness, bounded, demo, failed};

/// An http step that declares `token` for the loader; the harness leaves it out, and the
/// tests set the variable on the VU.
const DECLARES_TOKEN: &str = "  - http: { url: /login, extract: { token: { json: \"$.token\" } } }\n";

#[tokio::test]
async fn messages_are_rendered_per_send_and_correlate_by_their_rendered_ids() {
    bounded(async {
        let server = demo().await;
        let flow = format!(
            r#"{DECLARES_TOKEN}  - ws: {{ connect: /ws/echo }}
  - ws: {{ send: {{ json: {{ id: "n-{{{{ iteration }}}}", q: "{{{{ token }}}}", n: 1 }} }} }}
  - ws: {{ receive: {{ correlate: "$.id", timeout: 2s, check: {{ json: {{ "$.q": "say \"hi\"\\ok", "$.id": n-0 }} }} }} }}
  - ws: {{ send: "vu {{{{ vu_id }}}} it {{{{ iteration }}}}" }}
  - ws: {{ receive: {{ match: {{ regex: "^vu 1 it 0$" }}, timeout: 2s }} }}
"#
        );
        let mut h = Harness::new(&server.base_url(), &flow);
        h.vu.vars.set("token", "say \"hi\"\\ok");
        let outcomes = h.iteration().await;
        assert_eq!(failed(&outcomes), [false; 5]);
        let s = h.samples();
        // The echo parsed as JSON with the value intact: it was escaped where it landed.
        assert_eq!(s.values(builtin::CHECKS), [1.0, 1.0]);
        // Paired by the id the send rendered, not by the skeleton's.
        assert_eq!(s.values(builtin::WS_MSG_RTT).len(), 1);
        assert_eq!(s.sum(builtin::WS_MSGS_SENT), 2.0);
        assert_eq!(s.sum(builtin::WS_FAILED), 0.0);

        // The next iteration renders a new id, and its reply pairs with it.
        assert!(!h.step(1).await.failed);
        assert!(!h.step(2).await.failed);
        let s = h.samples();
        assert_eq!(s.values(builtin::WS_MSG_RTT).len(), 1);
        assert_eq!(s.values(builtin::CHECKS), [1.0, 0.0], "`$.id` is now n-1");
    })
    .await;
}

#[tokio::test]
async fn an_unset_variable_fails_the_step_as_variable_and_sends_nothing() {
    bounded(async {
        let server = demo().await;
        let flow = format!(
            r#"{DECLARES_TOKEN}  - ws: {{ connect: /ws/echo }}
  - ws: {{ send: "hello {{{{ token }}}}" }}
  - ws: {{ name: b, connect: "/ws/echo?t={{{{ token }}}}" }}
  - ws: {{ name: c, connect: /ws/echo, headers: {{ x-token: "{{{{ token }}}}" }} }}
"#
        );
        let mut h = Harness::new(&server.base_url(), &flow);
        let outcomes = h.iteration().await;
        assert_eq!(failed(&outcomes), [false, true, true, true]);
        let s = h.samples();
        let failures: Vec<(Option<String>, f64)> =
            s.by_tag(builtin::WS_FAILED, "error").into_iter().filter(|(_, v)| *v == 1.0).collect();
        assert_eq!(failures, vec![(Some("variable".to_string()), 1.0); 3]);
        let actions: Vec<Option<String>> =
            s.of(builtin::WS_FAILED).filter(|x| x.value == 1.0).map(|x| s.tag(x, "action")).collect();
        assert_eq!(actions, [Some("send".into()), Some("connect".into()), Some("connect".into())]);
        assert_eq!(s.sum(builtin::WS_MSGS_SENT), 0.0);
        assert_eq!(s.sum(builtin::WS_SESSIONS), 1.0, "only the fixed connect opened a socket");
        assert_eq!(server.ws_stats().opened, 1);

        // A value with a space is percent-encoded into the URL and connects; one that makes a
        // header value invalid is the same failure as an unset one, and nothing is opened.
        h.vu.vars.set("token", "a b");
        assert!(!h.step(2).await.failed);
        assert_eq!(server.ws_stats().opened, 2);
        h.vu.vars.set("token", "line\nbreak");
        assert!(h.step(3).await.failed);
        let s = h.samples();
        let failures: Vec<_> =
            s.by_tag(builtin::WS_FAILED, "error").into_iter().filter(|(_, v)| *v == 1.0).collect();
        assert_eq!(failures, vec![(Some("variable".to_string()), 1.0)]);
        assert_eq!(server.ws_stats().opened, 2);
    })
    .await;
}

/// A WebSocket server that reports each upgrade's path and query and the headers `x-user`
/// and `x-fixed`.
async fn recording_server() -> (String, mpsc::UnboundedReceiver<(String, String, String)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok((request, mut stream)) = tokio_websockets::ServerBuilder::new().accept(tcp).await
                else {
                    return;
                };
                let header = |name: &str| {
                    request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
                };
                let _ = tx.send((request.uri().to_string(), header("x-user"), header("x-fixed")));
                // Hold the socket open until the client goes.
                use futures_util::StreamExt;
                while let Some(Ok(_)) = stream.next().await {}
            });
        }
    });
    (format!("http://{addr}"), rx)
}

#[tokio::test]
async fn connect_renders_its_path_query_and_header_values() {
    bounded(async {
        let (target, mut upgrades) = recording_server().await;
        let flow = format!(
            r#"{DECLARES_TOKEN}  - ws: {{ connect: "/room/{{{{ vu_id }}}}?it={{{{ iteration }}}}", headers: {{ x-user: "u-{{{{ token }}}}", x-fixed: f }}, keep_open: true }}
"#
        );
        let mut h = Harness::new(&target, &flow);
        // Not set yet: no upgrade is attempted.
        assert!(h.step(0).await.failed);
        h.vu.vars.set("token", "abc");
        assert!(!h.step(0).await.failed);
        let (uri, user, fixed) = upgrades.recv().await.unwrap();
        assert_eq!((uri.as_str(), user.as_str(), fixed.as_str()), ("/room/1?it=0", "u-abc", "f"));
        // The kept socket is reused: nothing is rendered or opened again.
        h.vu.iteration = 1;
        assert!(!h.step(0).await.failed);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(upgrades.try_recv().is_err(), "no second upgrade");
        let s = h.samples();
        assert_eq!(s.sum(builtin::WS_SESSIONS), 1.0);
        assert_eq!(s.by_tag(builtin::WS_FAILED, "error"), [(Some("variable".to_string()), 1.0), (None, 0.0)]);
    })
    .await;
}

#[tokio::test]
async fn a_data_column_is_sent_and_a_source_that_runs_out_halts_the_vu() {
    bounded(async {
        let server = demo().await;
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("people.csv");
        std::fs::write(&csv, "name\nzed 42\n").unwrap();
        let extra = format!(
            "data:\n  people: {{ file: {:?}, mode: unique, per: iteration, on_exhausted: stop }}\n",
            csv.to_str().unwrap()
        );
        let flow = r#"  - ws: { connect: /ws/echo, keep_open: true }
  - ws: { send: { json: { who: "{{ people.name }}" } } }
  - ws: { receive: { timeout: 2s, check: { json: { "$.who": zed 42 } } } }
"#;
        let mut h = Harness::try_new(&server.base_url(), &extra, flow).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(failed(&h.iteration().await), [false; 3]);
        assert!(!h.vu.halted());
        let s = h.samples();
        assert_eq!(s.values(builtin::CHECKS), [1.0]);
        // The next iteration needs a new row, and the only one was handed out: the send does
        // not happen, the VU halts, and that is not counted as a failure of the target.
        assert!(!h.step(0).await.failed, "the kept socket is reused");
        assert!(h.step(1).await.failed);
        assert!(h.vu.halted());
        let s = h.samples();
        assert_eq!(s.sum(builtin::WS_MSGS_SENT), 0.0);
        assert!(s.values(builtin::WS_FAILED).is_empty(), "{:?}", s.values(builtin::WS_FAILED));
    })
    .await;
}
