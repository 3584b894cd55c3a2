//! The `stampede` binary end to end: one integration-test binary (modules per area) sharing
//! the helpers in `support`.

mod support;

mod control;
mod e2e;
mod grpc_stream;
mod include;
mod journey;
mod load_models;
mod ratelimit;
mod reports;
mod stream;
mod tooling;
mod ws;
mod ws_templates;
