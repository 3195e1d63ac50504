//! Many invocations at once with one service, in one task: the local server's way to answer
//! concurrent callers with a service that need not be `Clone`, and the test kit's loop.
//!
//! Each invocation in flight has its own Runtime API connection (made by `connect`, reused
//! once it is free). The service is asked for readiness and called one invocation at a time
//! ([`invocation::start`]); the [`invocation::finish`] of those started runs side by side.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::{Context, Poll};

use tracing::Instrument;

use super::invocation::{self, Settings};
use super::worker::next;
use crate::catch_unwind::Guarded;
use crate::client::Client;
use crate::{Error, LambdaService, ResponseMode};

/// Serves up to `limit` invocations at once with `service`, until the Runtime API says to
/// stop; timed-out invocations are stopped as Lambda stops them.
pub(crate) async fn serve_many<S>(
    service: S,
    mut connect: impl FnMut() -> Result<Client<S::ResBody>, Error>,
    limit: usize,
    mode: ResponseMode,
) -> Result<(), Error>
where
    S: LambdaService,
{
    let settings = Settings::emulated(mode);
    // Dropped inside the panic boundary, as every worker's service is.
    let mut service = Guarded::new(service, "the service");
    let limit = limit.max(1);
    let mut idle: Vec<Client<S::ResBody>> = Vec::new();
    let mut running = Vec::new();
    loop {
        if running.len() >= limit {
            // Full: wait for one to finish.
            let before = running.len();
            poll_fn(|cx| match drive_all(&mut running, &mut idle, cx) {
                Err(e) => Poll::Ready(Err(e)),
                Ok(()) if running.len() < before => Poll::Ready(Ok(())),
                Ok(()) => Poll::Pending,
            })
            .await?;
            continue;
        }
        let mut client = match idle.pop() {
            Some(client) => client,
            None => connect()?,
        };
        // The next invocation, then its start, while those in flight go on.
        let invocation = beside(&mut running, &mut idle, next(&mut client)).await??;
        let span = invocation::span(&invocation);
        let start = invocation::start(&mut *service, invocation, settings);
        let started = beside(&mut running, &mut idle, start.instrument(span.clone())).await?;
        running.push(Box::pin(
            async move {
                let done = invocation::finish(&mut client, started).await;
                (client, done)
            }
            .instrument(span),
        ));
    }
}

/// Awaits `fut` while driving the invocations in flight; `Err` when one of them says the
/// runtime must exit.
async fn beside<F, T, R, B>(
    running: &mut Vec<Pin<Box<R>>>,
    idle: &mut Vec<Client<B>>,
    fut: F,
) -> Result<T, Error>
where
    F: Future<Output = T>,
    R: Future<Output = (Client<B>, Result<(), Error>)>,
{
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        if let Err(e) = drive_all(running, idle, cx) {
            return Poll::Ready(Err(e));
        }
        fut.as_mut().poll(cx).map(Ok)
    })
    .await
}

/// Polls the invocations in flight, taking back the connections of those done; `Err` when
/// one of them says the runtime must exit.
fn drive_all<R, B>(
    running: &mut Vec<Pin<Box<R>>>,
    idle: &mut Vec<Client<B>>,
    cx: &mut Context<'_>,
) -> Result<(), Error>
where
    R: Future<Output = (Client<B>, Result<(), Error>)>,
{
    let mut i = 0;
    while i < running.len() {
        if let Poll::Ready((client, done)) = running[i].as_mut().poll(cx) {
            drop(running.swap_remove(i));
            done?;
            idle.push(client);
        } else {
            i += 1;
        }
    }
    Ok(())
}
