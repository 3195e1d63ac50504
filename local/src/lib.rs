//! A local AWS Lambda that streams, for any runtime: the Lambda Runtime API a function's
//! runtime connects to, and the front doors its callers use (a function URL, the Lambda API's
//! `Invoke` and `InvokeWithResponseStream`), every chunk relayed as the runtime posts it.
//!
//! lambda-stream's `run` serves it in a debug build outside Lambda (`cargo run`, see
//! `lambda_stream::local`), and the `lambda-stream local -- COMMAND` command (package
//! `lambda-stream-cli`) hosts any function binary behind it ([hosting a
//! process](#hosting-a-process)). This page is the manual of the local server: each of its
//! rules is stated here.
//!
//! A [`Server`] has two listeners:
//!
//! - an internal one, on an ephemeral loopback port, that serves the **Lambda Runtime API**
//!   (`/2018-06-01/runtime/...`) to the function's runtime ([`Serving::runtime_api`]), and
//!   the Extensions API as far as a runtime uses it. Any runtime runs against it as it runs
//!   on Lambda (lambda-stream's own worker and Runtime API client, under `cargo run`): event
//!   decoding, the prelude, chunked streaming, error trailers.
//! - a public one (default `127.0.0.1:7000`; `LOCAL_LAMBDA_HOST` and `LOCAL_LAMBDA_PORT` change
//!   it) with the front doors callers use:
//!
//! | request | what it emulates |
//! |---|---|
//! | `POST /2021-11-15/functions/{name}/response-streaming-invocations` | `InvokeWithResponseStream`: an `application/vnd.amazon.eventstream` of `PayloadChunk` events as the chunks arrive, then `InvokeComplete` (with `ErrorCode`/`ErrorDetails` after an error) |
//! | `POST /2015-03-31/functions/{name}/invocations` | `Invoke`: the collected payload; `X-Amz-Function-Error: Unhandled` and the error JSON when it failed |
//! | `POST /invoke` | the request body is the event, as is; the response streams back, with the prelude (if any) applied as status and headers |
//! | anything else | a **function URL**: the request becomes a payload 2.0 event; the prelude's status, headers and cookies become the response's; chunks reach the client as they arrive |
//!
//! A failure after the response started stays visible on the function URL and `/invoke`
//! doors: the response ends with the `Lambda-Runtime-Function-Error-Type` and
//! `Lambda-Runtime-Function-Error-Body` trailers when the client sent `TE: trailers`,
//! otherwise the connection is aborted, so the response is visibly incomplete. A failure
//! before the response started is a `502`. Both are logged.
//!
//! # Concurrency
//!
//! Callers in flight at once are served at once, as a function URL gives each concurrent
//! request its own execution environment: each invocation has its own request id and
//! deadline. At most [`Options::concurrency`] invocations run at once
//! (`LOCAL_LAMBDA_CONCURRENCY`, default 64); beyond it a caller gets what Lambda answers a
//! throttled invocation: `429` with `X-Amzn-ErrorType: TooManyRequestsException` and
//! `{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}`.
//! A caller that disconnects mid-stream does not stop its invocation (as on Lambda): the rest
//! of its stream is read and dropped, and its slot is free once it ends.
//!
//! # Response modes
//!
//! With [`InvokeMode::Buffered`] ([`FunctionConfig::invoke_mode`]; lambda-stream sets it
//! from `LAMBDA_STREAM_RESPONSE_MODE=buffered`), or when the runtime answers buffered (no
//! streaming mode header, no prelude content type), the function URL door behaves as a
//! `BUFFERED` function URL: the whole response at once with its `content-length`, made from
//! the response object (`statusCode`, `headers`, `cookies`, `body`, base64-decoded when
//! `isBase64Encoded`); a response over 6 MB is a `502`. `Invoke` returns the JSON payload in
//! either mode.
//!
//! # Limits
//!
//! As on Lambda:
//!
//! - a request payload over 6 MB is refused with `413`;
//! - each invocation gets a deadline (`Lambda-Runtime-Deadline-Ms`) from the function timeout
//!   ([`Options::function_timeout`], `LOCAL_LAMBDA_TIMEOUT` in seconds, default 900 s,
//!   Lambda's maximum). When it passes, the response is ended as failed (`Sandbox.Timeout`:
//!   error trailers, or the connection cut, as a function URL cuts a timed-out stream), and
//!   100 ms later the invocation is stopped as Lambda stops a timed-out function: under
//!   `cargo run`, lambda-stream's runtime drops the handler's future or response body and
//!   goes on serving; a hosted process that takes one invocation at a time is ended (see
//!   [hosting a process](#hosting-a-process));
//! - a streamed response is cut after 200 MB, Lambda's maximum streamed response size, and
//!   ended as failed (`Function.ResponseSizeTooLarge`);
//! - with `LOCAL_LAMBDA_BANDWIDTH=lambda` ([`Bandwidth::Lambda`]), the function URL and
//!   `/invoke` doors send the first 6 MB of a response at full speed and the rest at 2 MB/s,
//!   the rate Lambda streams at after its uncapped first 6 MB, so that long downloads feel
//!   as they will on AWS.
//!
//! # Inspector
//!
//! `http://127.0.0.1:7000/_lambda/` lists the recent invocations (the last 64) live, through
//! server-sent events from `/_lambda/events` (`/_lambda/invocations` is the same list as
//! JSON): door, method and path, status, the headers and cookies of the prelude, time to
//! first byte, duration, bytes, chunk count, and the error type and message from the error
//! trailers or `/error`. Selecting one draws its chunk timeline (time against bytes sent):
//! a staircase is a streamed response, a single step a buffered one. Only a 512-byte preview
//! of each body is kept. Paths under `/_lambda/` are the inspector's, never the function's.
//!
//! # The guard
//!
//! The server runs the function with the developer's credentials and keeps recent
//! invocations in its inspector, so before any door serves a request:
//!
//! - its `Host` must be a loopback name or address (`localhost`, `*.localhost`,
//!   127.0.0.0/8, `[::1]`), the listening address, or one of [`Options::allowed_hosts`]
//!   (`LOCAL_LAMBDA_ALLOWED_HOSTS`); otherwise `403`, so that a page rebinding its DNS name
//!   to 127.0.0.1 reads and calls nothing. The Runtime API checks it too, and refuses any
//!   request a browser sent;
//! - a page on another site may not send it: an `Origin` that is not a loopback origin, the
//!   server's own, an allowed host or one of the CORS settings' origins, or
//!   `Sec-Fetch-Site: cross-site` without one, gets `403` unless
//!   [`Options::allow_cross_site`]. The inspector is same-origin only, and sends no CORS
//!   headers;
//! - with [`Options::cors`] (`LOCAL_LAMBDA_CORS_*`, in the shape of a function URL's `Cors`),
//!   preflight requests are answered without invoking the function, and the settings'
//!   `Access-Control-*` headers replace the function's on every response, as on a function
//!   URL with CORS settings;
//! - with [`AuthType::AwsIam`] (`LOCAL_LAMBDA_AUTH=AWS_IAM`), every request to the function
//!   must be signed (SigV4, service `lambda`, within 5 minutes of the server's clock) with
//!   the credentials of [`Options::iam`] (by default `AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY`, and `AWS_SESSION_TOKEN` as `x-amz-security-token`; profiles
//!   and SSO are not read). The function URL refuses as a function URL does, `403`
//!   `{"Message":"Forbidden"}`; the API doors answer AWS's errors (`x-amzn-ErrorType`
//!   `InvalidSignatureException`, `UnrecognizedClientException`,
//!   `MissingAuthenticationTokenException`). A signed request's event carries
//!   `requestContext.authorizer.iam`.
//!
//! # Hosting a process
//!
//! With the `host` feature (Unix), `Server::host` puts the same front doors in front of a
//! function that runs as a process of its own: a release `bootstrap` as it is deployed, a
//! binary built with another Lambda runtime, or a runtime in another language; anything that
//! speaks the Runtime API. The `lambda-stream local -- COMMAND` command (package
//! `lambda-stream-cli`) is this method behind a command line. Each execution environment is
//! a process with Lambda's environment, its stdout and stderr the host's, and the life
//! Lambda gives one. The environment:
//!
//! | variable | value |
//! |---|---|
//! | `AWS_LAMBDA_RUNTIME_API` | the `127.0.0.1:port` of a Runtime API of the environment's own |
//! | `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_VERSION`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` | the [`FunctionConfig`]'s name, version and memory |
//! | `AWS_REGION`, `AWS_DEFAULT_REGION` | the [`FunctionConfig`]'s region |
//! | `AWS_LAMBDA_LOG_GROUP_NAME`, `AWS_LAMBDA_LOG_STREAM_NAME` | `/aws/lambda/{name}`; `2026/12/02/[$LATEST]` and 32 hex digits, as Lambda names them |
//! | `LAMBDA_TASK_ROOT` | `Function::task_root`, also the working directory (default: the host's) |
//! | `_HANDLER` | `Function::handler` (default `bootstrap`) |
//! | `TZ` | `:UTC` |
//! | `AWS_LAMBDA_INITIALIZATION_TYPE` | `on-demand`; `lambda-managed-instances` with `Function::max_concurrency` |
//! | `AWS_LAMBDA_MAX_CONCURRENCY` | with `Function::max_concurrency` only, its count (the host's own is never passed on) |
//!
//! and the host's own variables, with `Function::env`'s over all. The life:

//!
//! - it starts when an invocation needs it and is initialised once it asks for the next
//!   invocation; an init error it reports (`/init/error`) is the answer of the invocations
//!   waiting for it, and is logged with an `INIT_REPORT` line; one that does not initialise
//!   within the function timeout is killed (`Sandbox.Timeout`);
//! - around each invocation the host writes the `START`, `END` and `REPORT` lines Lambda writes
//!   (`Max Memory Used` is the process's peak resident size, on Linux);
//! - concurrent invocations each get an environment, up to [`Options::concurrency`], and a
//!   warm one is reused; with `Function::max_concurrency` there is one process, told
//!   `AWS_LAMBDA_MAX_CONCURRENCY`, that is given up to that many at once, as on Lambda Managed
//!   Instances;
//! - when the process exits or crashes, the invocations it held fail with
//!   `Runtime.ExitError` (`Runtime exited with error: exit status 1`, or `signal: killed`):
//!   a stream already started ends with error trailers or a cut connection, never as a clean
//!   end. The next invocation starts a fresh process, which initialises again; invocations
//!   queued to the dead one and never handed to it go to another;
//! - in one-at-a-time mode, an invocation past its deadline ends its environment, as Lambda
//!   ends a timed-out one (the next starts fresh);
//! - on stop (Ctrl-C, `SIGTERM`, or `SIGHUP` when the terminal closes), the doors close,
//!   then each process gets `SIGTERM` and 500 ms to exit if an extension registered (the Extensions API is served, so a runtime's
//!   graceful-shutdown extension registers as it does on Lambda), otherwise `SIGKILL`, as
//!   Lambda does. Each process runs in its own process group, so a Ctrl-C in the terminal
//!   reaches the host, not the function.
//!
//! Only the runtime's process may call its Runtime API: each listens on an ephemeral loopback
//! port and refuses requests from browsers, as every Runtime API here does. The Extensions API
//! registers extensions and never sends them events: `INVOKE` and `SHUTDOWN` events, the
//! Telemetry API and the Logs API are not served.
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
    setting, AuthType, Bandwidth, Cors, Iam, Options, ResponseMode, Setting, SETTINGS,
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
