//! The per-VU context a step runs with.

use std::any::Any;
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::Recorder;

/// Index of a protocol's per-VU session in [`Vu`]; handed out by the engine at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSlot(pub usize);

/// Who a VU is: stable for its life.
#[derive(Debug, Clone)]
pub struct VuIdentity {
    /// 1-based id, unique in the run.
    pub id: u64,
    /// The scenario it runs.
    pub scenario: Arc<str>,
    /// Tags on every sample of this VU: `scenario` and the scenario's own tags.
    pub tags: Arc<[(Arc<str>, Arc<str>)]>,
}

/// A VU's variables: a few names, each with its latest value. A linear scan beats hashing
/// for the handful a plan extracts, and setting a variable again reuses its buffer, so the
/// steady state allocates nothing.
#[derive(Debug, Default, Clone)]
pub struct Vars {
    entries: Vec<(Box<str>, String)>,
}

impl Vars {
    /// Sets `name` to `value`.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.entries.iter_mut().find(|(n, _)| &**n == name) {
            Some((_, v)) => {
                v.clear();
                v.push_str(value);
            }
            None => self.entries.push((name.into(), value.to_string())),
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries.iter().find(|(n, _)| &**n == name).map(|(_, v)| v.as_str())
    }
}

/// Everything a step may touch while it runs for one VU.
#[derive(Debug)]
pub struct Vu {
    identity: VuIdentity,
    /// Iterations this VU started (0-based number of the current one).
    pub iteration: u64,
    /// The current group path (`::login::submit`), empty outside groups.
    pub group: Arc<str>,
    /// The status of the last protocol step, for control flow.
    pub last_status: Option<u16>,
    /// When the current iteration was *scheduled* to start (open models only): protocols
    /// record their response time from here too (`http_req_latency`), so a stall shows.
    pub scheduled_at: Option<tokio::time::Instant>,
    /// Values steps extracted from responses (`extract:`), for later steps; they live as long
    /// as the VU.
    pub vars: Vars,
    recorder: Recorder,
    sessions: Vec<Option<Box<dyn Session>>>,
    rng: SmallRng,
    /// The rows this VU drew from the run's data sources.
    pub(crate) rows: crate::render::Rows,
    /// A data source ran out (`on_exhausted: stop`): the VU should stop.
    pub(crate) halted: bool,
    /// The source that ran out is drawn per iteration: the data is used up, so the scenario
    /// should end (a `per: vu` source only stops the VUs that found no row).
    pub(crate) data_used_up: bool,
    /// Holds a value while it is escaped ([`Vu::render`]).
    pub(crate) scratch: String,
}

impl Vu {
    /// A fresh VU with `slots` empty session slots.
    pub fn new(identity: VuIdentity, recorder: Recorder, slots: usize) -> Self {
        let rng = SmallRng::seed_from_u64(identity.id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        Vu {
            identity,
            iteration: 0,
            group: Arc::from(""),
            last_status: None,
            scheduled_at: None,
            vars: Vars::default(),
            recorder,
            sessions: (0..slots).map(|_| None).collect(),
            rng,
            rows: crate::render::Rows::default(),
            halted: false,
            data_used_up: false,
            scratch: String::new(),
        }
    }

    /// Gives the VU the run's data sources (`data:`), which `{{ source.column }}` reads.
    pub fn set_feeds(&mut self, feeds: Arc<crate::Feeds>) {
        self.rows = crate::render::Rows::new(Some(feeds));
    }

    /// Who this VU is.
    pub fn identity(&self) -> &VuIdentity {
        &self.identity
    }

    /// The VU's sample buffer.
    pub fn recorder(&mut self) -> &mut Recorder {
        &mut self.recorder
    }

    /// The VU's random number generator (seeded from its id, so runs are reproducible).
    pub fn rng(&mut self) -> &mut SmallRng {
        &mut self.rng
    }

    /// The protocol session in `slot`, created by `init` on first use. Panics if the slot
    /// holds another type, which would be an engine bug (slots are per protocol).
    pub fn session<T: Session>(&mut self, slot: crate::SessionSlot, init: impl FnOnce() -> T) -> &mut T {
        self.session_and_recorder(slot, init).0
    }

    /// Both the session in `slot` and the recorder, borrowed at once.
    pub fn session_and_recorder<T: Session>(
        &mut self,
        slot: crate::SessionSlot,
        init: impl FnOnce() -> T,
    ) -> (&mut T, &mut Recorder) {
        let session: &mut dyn Any = self.sessions[slot.0].get_or_insert_with(|| Box::new(init())).as_mut();
        let session = session.downcast_mut::<T>().expect("session slot holds another protocol's state");
        (session, &mut self.recorder)
    }

    /// Ends and drops every protocol session (closing connections); each records what it
    /// still held first ([`Session::end`]).
    pub fn close_sessions(&mut self) {
        for s in &mut self.sessions {
            if let Some(mut session) = s.take() {
                session.end(&mut self.recorder);
            }
        }
    }
}

impl Drop for Vu {
    /// A VU dropped mid-run (a hard stop) ends its sessions too, before its recorder flushes.
    fn drop(&mut self) {
        self.close_sessions();
    }
}

/// A protocol's per-VU state (its connections, caches, open sockets), in the VU's slot for
/// that protocol.
pub trait Session: Any + Send + std::fmt::Debug {
    /// Runs once when the VU closes its sessions or is dropped: the last chance to record
    /// what the state still holds that no step recorded (a kept socket's unread messages and
    /// its session time). Nothing, by default.
    fn end(&mut self, recorder: &mut Recorder) {
        let _ = recorder;
    }
}
