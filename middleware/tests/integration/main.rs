//! The middleware's integration tests: one binary, one module per layer, sharing [`support`].
//!
//! Adding a suite: write `tests/integration/<name>.rs`, add `mod <name>;` below, and take the
//! shared bodies and requests from `crate::support`; the examples' code is in `crate::example`.

mod support;

/// The examples' code, for the suites that call it in-process. Each file is an example
/// binary's source: its `main` is unused here, which the compiler is asked to confirm
/// (`expect`, unlike `allow`, fails once it is not so).
#[path = "../../examples"]
#[expect(dead_code, reason = "each example's `main` runs as its own binary")]
mod example {
    #[path = "tower_http_stack.rs"]
    pub mod tower_http_stack;
}

mod deadline;
mod response_limit;
mod tower_http_stack;
mod trace;
