//! Interop: a gRPC server on Python grpcio (with grpcio-reflection and
//! grpcio-health-checking), called through server reflection only, with every call kind. Skipped when those
//! packages are missing, unless `STAMPEDE_REQUIRE_PY` is set (scripts/test.sh sets it).

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use stampede_grpc::GrpcProtocol;
use stampede_metrics::{Registry, Sample, builtin};
use stampede_plan::LoadOptions;
use stampede_proto::{
    Action, CompileContext, Protocol, Recorder, RecorderStats, SessionSlot, Vu, VuIdentity,
};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

fn python_has_grpc() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import grpc, grpc_reflection, grpc_health"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var_os("STAMPEDE_REQUIRE_PY").is_some() {
        panic!(
            "python3 with grpcio, grpcio-reflection and grpcio-health-checking is required (STAMPEDE_REQUIRE_PY)"
        );
    }
    ok
}

#[tokio::test]
async fn a_python_grpcio_server_is_called_through_reflection() {
    if !python_has_grpc() {
        eprintln!("skipped: python3 grpcio packages are not installed");
        return;
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop_server.py");
        let mut child = tokio::process::Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 starts");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        tokio::io::BufReader::new(stdout).read_line(&mut line).await.unwrap();
        let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("the server prints its port: {line:?}"));

        let flow = format!(
            r#"  - grpc: {{ name: say, target: "127.0.0.1:{port}", reflection: true, method: interop.v1.Echo/Say, message: {{ text: hi }}, metadata: {{ x-client: stampede }}, check: {{ json: {{ "$.text": "echo: hi" }} }} }}
  - grpc: {{ name: repeat, target: "127.0.0.1:{port}", reflection: true, method: interop.v1.Echo/Repeat, message: {{ text: again, repeat: 4 }}, check: {{ json: {{ "$.index": 3 }} }} }}
  - grpc: {{ name: denied, target: "127.0.0.1:{port}", reflection: true, method: interop.v1.Echo/Say, message: {{ text: forbidden }} }}
  - grpc: {{ name: join, target: "127.0.0.1:{port}", reflection: true, method: interop.v1.Echo/Join, messages: [{{ text: a }}, {{ text: b }}, {{ text: c }}], interval: 5ms, check: {{ json: {{ "$.text": a b c, "$.index": 3 }} }} }}
  - grpc: {{ name: chat, target: "127.0.0.1:{port}", reflection: true, method: interop.v1.Echo/Chat, messages: [{{ text: x }}, {{ text: y }}], check: {{ json: {{ "$.text": "re: y", "$.index": 1 }} }} }}
"#
        );
        let src = format!("vus: 1\nduration: 1s\nflow:\n{flow}");
        let plan = stampede_plan::parse(&src, "interop.yaml", &LoadOptions::default()).expect("plan loads");
        let registry = Arc::new(Registry::new());
        let (tx, mut rx) = mpsc::channel::<Vec<Sample>>(1024);
        let recorder =
            Recorder::new(tokio::time::Instant::now(), tx, registry.clone(), Arc::new(RecorderStats::default()));
        let tags: Vec<(Arc<str>, Arc<str>)> = vec![(Arc::from("scenario"), Arc::from("default"))];
        let identity = VuIdentity { id: 1, scenario: Arc::from("default"), tags: tags.into() };
        let mut vu = Vu::new(identity, recorder, 1);
        let protocol = GrpcProtocol::new();
        let scenario = &plan.scenarios[0];
        let cx = CompileContext { plan: &plan, scenario, registry: &registry, slot: SessionSlot(0) };
        let actions: Vec<Arc<dyn Action>> =
            scenario.steps().map(|s| protocol.compile(s, &cx).expect("compiles")).collect();
        let mut failed = Vec::new();
        for action in &actions {
            failed.push(action.run(&mut vu).await.failed);
        }
        assert_eq!(failed, [false, false, true, false, false]);
        vu.recorder().flush();
        let mut samples = Vec::new();
        while let Ok(batch) = rx.try_recv() {
            samples.extend(batch);
        }
        let values = |m| samples.iter().filter(|s| s.metric == m).map(|s| s.value).collect::<Vec<f64>>();
        assert_eq!(values(builtin::CHECKS), [1.0; 6]);
        assert_eq!(values(builtin::GRPC_STREAM_MSGS_RECEIVED), [1.0, 4.0, 0.0, 1.0, 2.0]);
        assert_eq!(values(builtin::GRPC_STREAM_MSGS_SENT), [3.0, 2.0]);
        let status: Vec<Option<String>> = samples
            .iter()
            .filter(|s| s.metric == builtin::GRPC_REQS)
            .map(|s| registry.tagset(s.tags).get("status").map(str::to_string))
            .collect();
        assert_eq!(status[2].as_deref(), Some("PERMISSION_DENIED"));
        drop(child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    })
    .await
    .expect("interop test finished within 60 s");
}
