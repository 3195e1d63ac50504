//! The integration tests: one binary, one module per suite, all sharing [`support`].
//!
//! One binary links the crate once, where a file per suite in `tests/` would link it once per
//! file. Run one suite with `cargo test --test integration <module>::`, one test with
//! `cargo test --test integration <module>::<test>`.
//!
//! Adding a suite: write `tests/integration/<name>.rs` (a `//!` line first: what it tests),
//! add `mod <name>;` below, and take what it shares from `crate::support` (`use
//! crate::support;`, or `use crate::support::{logs, process, ...}`), and the examples' code
//! from `crate::example`. Something only that suite uses stays in its file. A test that must
//! be alone in its process (it changes the environment, installs a global subscriber, or
//! asserts on process-wide state) starts with `if !support::process::alone(module_path!(),
//! "<test>") { return; }`: it then runs in a process of its own (see `trace_env` and
//! `max_concurrency`). Fixtures stay in `tests/fixtures/`, found through
//! `env!("CARGO_MANIFEST_DIR")`.

mod support;

/// The examples' code, for the suites that call their handlers in-process. Each file is an
/// example binary's source, whose `main` the `examples` suite runs as a process: unused here,
/// which the compiler is asked to confirm (`expect`, unlike `allow`, fails once it is not so).
#[path = "../../examples"]
#[expect(dead_code, reason = "each example's `main` runs as its own binary")]
mod example {
    #[path = "axum_router.rs"]
    pub mod axum_router;
    #[path = "conditional_streaming.rs"]
    pub mod conditional_streaming;
    #[path = "design_shape.rs"]
    pub mod design_shape;
    #[path = "streaming_numbers.rs"]
    pub mod streaming_numbers;
    #[path = "writer_style.rs"]
    pub mod writer_style;
}

mod axum_router;
mod backpressure;
mod bad_input;
mod cargo_lambda;
mod compression;
mod concurrency;
mod drop_panics;
mod error_chains;
mod error_limits;
mod examples;
mod faults;
mod gather;
mod graceful_shutdown;
mod guide;
mod local_browser;
mod local_concurrency;
mod local_door;
mod local_door_browser;
mod local_fronts;
mod local_hostile;
mod local_server;
mod max_concurrency;
mod memory;
mod modes;
mod parity;
mod properties;
mod reconnect;
mod release_build;
mod runtime;
mod supervisor;
mod trace_env;
mod writer;
