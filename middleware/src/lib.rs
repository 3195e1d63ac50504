//! Lambda-aware tower middleware for [`lambda-stream`](lambda_stream): layers that know the
//! invocation's deadline, request id and trace id, which generic HTTP middleware cannot.
//!
//! The crate is young; its layers arrive in the next releases.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub use lambda_stream;
