//! A harness that compiles a plan's ws steps and runs them for one VU the way the engine
//! does, and the sample lookups the tests assert on.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use stampede_demo::{DemoConfig, DemoServer};
use stampede_metrics::{MetricId, Registry, Sample};
use stampede_plan::{LoadOptions, Plan, Step};
use stampede_proto::{
    Action, CompileContext, CompileError, Feeds, Protocol, Recorder, RecorderStats, SessionSlot, StepOutcome,
    Vu, VuIdentity,
};
use stampede_ws::WsProtocol;
use tokio::sync::mpsc;

/// Every test is bounded: a hang is a failure, not a stuck CI job.
pub async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), test).await.expect("test finished within 30 s")
}

/// A demo target on 127.0.0.1:0.
pub async fn demo() -> DemoServer {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    DemoServer::start(addr, DemoConfig::default()).await.expect("demo server starts")
}

/// One VU, the compiled steps of a plan's flow, and its sample channel.
pub struct Harness {
    pub registry: Arc<Registry>,
    pub vu: Vu,
    rx: mpsc::Receiver<Vec<Sample>>,
    pub actions: Vec<Arc<dyn Action>>,
}

impl Harness {
    /// Compiles the ws steps of `flow` (YAML list items, indented by two spaces) of a plan
    /// whose target is `target`. Steps of other kinds are left out: they are there for the
    /// loader (an `http` step that `extract:`s a variable the ws steps use).
    pub fn new(target: &str, flow: &str) -> Self {
        Self::try_new(target, "", flow).unwrap_or_else(|e| panic!("plan compiles: {e}"))
    }

    /// Like [`Harness::new`], with extra top-level plan text (`defaults:`) before the flow.
    pub fn try_new(target: &str, extra: &str, flow: &str) -> Result<Self, CompileError> {
        let src = format!("vus: 1\nduration: 1s\n{extra}flow:\n{flow}");
        let opts = LoadOptions { target: Some(target.to_string()), ..LoadOptions::default() };
        let plan =
            stampede_plan::parse(&src, "test.yaml", &opts).unwrap_or_else(|e| panic!("plan loads: {e}"));
        let registry = Arc::new(Registry::new());
        let (tx, rx) = mpsc::channel(4096);
        let recorder = Recorder::new(
            tokio::time::Instant::now(),
            tx,
            registry.clone(),
            Arc::new(RecorderStats::default()),
        );
        let tags: Vec<(Arc<str>, Arc<str>)> = vec![(Arc::from("scenario"), Arc::from("default"))];
        let identity = VuIdentity { id: 1, scenario: Arc::from("default"), tags: tags.into() };
        let actions = compile(&plan, &registry)?;
        let mut vu = Vu::new(identity, recorder, 1);
        if !plan.data.is_empty() {
            vu.set_feeds(Feeds::new(&plan));
        }
        Ok(Harness { registry, vu, rx, actions })
    }

    /// Runs step `i` once.
    pub async fn step(&mut self, i: usize) -> StepOutcome {
        let action = self.actions[i].clone();
        action.run(&mut self.vu).await
    }

    /// Runs every step once, in order, as one iteration; returns their outcomes.
    pub async fn iteration(&mut self) -> Vec<StepOutcome> {
        let mut outcomes = Vec::new();
        for i in 0..self.actions.len() {
            outcomes.push(self.step(i).await);
        }
        self.vu.iteration += 1;
        outcomes
    }

    /// Flushes the VU's buffer and returns every sample recorded since the last call.
    pub fn samples(&mut self) -> Samples {
        self.vu.recorder().flush();
        let mut all = Vec::new();
        while let Ok(batch) = self.rx.try_recv() {
            all.extend(batch);
        }
        Samples { samples: all, registry: self.registry.clone() }
    }
}

fn compile(plan: &Plan, registry: &Arc<Registry>) -> Result<Vec<Arc<dyn Action>>, CompileError> {
    let protocol = WsProtocol::new();
    let scenario = &plan.scenarios[0];
    let cx = CompileContext { plan, scenario, registry, slot: SessionSlot(0) };
    scenario
        .steps()
        .filter(|step| matches!(step, Step::Ws(_)))
        .map(|step| protocol.compile(step, &cx))
        .collect()
}

/// Recorded samples with tag lookups.
pub struct Samples {
    pub samples: Vec<Sample>,
    registry: Arc<Registry>,
}

impl Samples {
    /// Values of `metric`, in recording order.
    pub fn values(&self, metric: MetricId) -> Vec<f64> {
        self.of(metric).map(|s| s.value).collect()
    }

    /// The sum of `metric`'s values.
    pub fn sum(&self, metric: MetricId) -> f64 {
        self.values(metric).iter().sum()
    }

    /// The one value of `metric` (panics, printing what was there, if not exactly one).
    pub fn one(&self, metric: MetricId) -> f64 {
        let v = self.values(metric);
        assert_eq!(v.len(), 1, "expected one sample of {metric:?}, got {v:?}");
        v[0]
    }

    pub fn of(&self, metric: MetricId) -> impl Iterator<Item = &Sample> {
        self.samples.iter().filter(move |s| s.metric == metric)
    }

    /// The value of tag `key` on a sample.
    pub fn tag(&self, sample: &Sample, key: &str) -> Option<String> {
        self.registry.tagset(sample.tags).get(key).map(str::to_string)
    }

    /// `(tag value, sample value)` of every sample of `metric`, for tag `key`.
    pub fn by_tag(&self, metric: MetricId, key: &str) -> Vec<(Option<String>, f64)> {
        self.of(metric).map(|s| (self.tag(s, key), s.value)).collect()
    }
}

/// Whether any outcome failed.
pub fn failed(outcomes: &[StepOutcome]) -> Vec<bool> {
    outcomes.iter().map(|o| o.failed).collect()
}
