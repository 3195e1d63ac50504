//! A local AWS Lambda that streams, for any runtime: the Lambda Runtime API a function's
//! runtime connects to, and the front doors its callers use (a function URL, the Lambda API's
//! `Invoke` and `InvokeWithResponseStream`), every chunk relayed as the runtime posts it.
//!
//! lambda-stream's `run` serves it in a debug build outside Lambda (`cargo run`, see
//! `lambda_stream::local`), and the `lambda-stream local -- COMMAND` command (package
//! `lambda-stream-cli`) hosts any function binary behind it. What the server does is written
//! once, in the guide: [the local server][local-server] (its doors, limits, response modes,
//! inspector and settings), [the door][door] (what it refuses, CORS, `AWS_IAM`) and [run what
//! you deploy][host] (the host of a function process: its environment and life). These docs
//! are the reference of the API:
//!
//! - a [`Server`] is [bound](Server::bind) at [`Options::addr`] for a [`FunctionConfig`], and
//!   [serves](Server::serve) the Runtime API ([`Serving::runtime_api`]) and the front doors
//!   ([`Serving::local_addr`]) until dropped;
//! - [`Options`] are its settings, [`Options::from_env`] and [`Options::from_vars`] read them
//!   from the variables that [`SETTINGS`] declares;
//! - with the `host` feature (Unix), `Server::host` runs a `Function`, a command, behind the
//!   doors, as `lambda-stream local` does.
//!
//! [local-server]: https://github.com/lambda-stream/lambda-stream/blob/main/docs/local-server.md
//! [door]: https://github.com/lambda-stream/lambda-stream/blob/main/docs/door.md
//! [host]: https://github.com/lambda-stream/lambda-stream/blob/main/docs/host.md
//!
//! # The emulated Runtime API alone
//!
//! A test kit runs a runtime against an [`Emulator`]: the Runtime API on an ephemeral loopback
//! port, with no front doors. It queues an [`Invocation`] (an event payload, a request id, a
//! client context) and reads what the runtime made of it from the invocation's [`Replies`]:
//! the response's head ([`Reply::Head`], then [`open_prelude`] for the status and headers of
//! an HTTP response), its chunks as the runtime posted them, the failure from error trailers
//! or `/error` ([`ErrorReport`]), and its end. [`function_url_event`] makes the event a
//! function URL sends of an HTTP request.
//!
//! # Example
//!
//! A server on a free port, and a runtime pointed at its Runtime API:
//!
//! ```no_run
//! # async fn doc() -> Result<(), lambda_stream_local::Error> {
//! use lambda_stream_local::{FunctionConfig, Options, Server};
//!
//! let mut options = Options::default();
//! options.addr = "127.0.0.1:0".parse().unwrap();
//! let server = Server::bind(options, FunctionConfig::default()).await?;
//! let serving = server.serve()?;
//! println!(
//!     "AWS_LAMBDA_RUNTIME_API={} for the runtime; curl -N http://{}/ for its callers",
//!     serving.runtime_api(),
//!     serving.local_addr(),
//! );
//! // ... run the runtime; dropping `serving` stops the server.
//! # Ok(())
//! # }
//! ```

#![warn(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod allowed_hosts;
mod civil;
mod doors;
mod emulator;
mod error;
mod eventstream;
mod function;
mod guard;
#[cfg(all(feature = "host", unix))]
mod host;
mod http1;
mod inspector;
mod options;
mod server;

pub use emulator::event::function_url_event;
pub use emulator::prelude::{open_prelude, parse_prelude, Opened, Unopened};
pub use emulator::{new_request_id, Emulator, Invocation, ReadReplies, Replies, Reply};
pub use error::{Error, ErrorReport};
pub use function::{FunctionConfig, InvokeMode, UnknownInvokeMode};
#[cfg(all(feature = "host", unix))]
pub use host::Function;
pub use options::{
    setting, Alb, AuthType, Bandwidth, Cors, Iam, Options, ResponseMode, RestApi, Setting, Source,
    TransferMode, SETTINGS,
};
pub use server::{Server, Serving};

/// Entry points for the fuzz targets in `fuzz/`: not a public API.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod __fuzz {
    /// The guard on arbitrary input: a `Host` and an `Origin` through the allow-list and the
    /// cross-site check (a host is admitted exactly when its name is allowed), and an
    /// `Authorization`, an `X-Amz-Date` and a target with a body through the SigV4 check.
    /// Must never panic.
    pub fn guard(host: &[u8], origin: &[u8], authorization: &[u8], date: &[u8], rest: &[u8]) {
        crate::guard::fuzz(host, origin, authorization, date, rest);
    }
}
