//! Which environment takes an invocation, and when a new one starts.
//!
//! As classic Lambda: one invocation at a time per environment; an idle environment is
//! reused (the one used last, as warm as any), and a new one is started (a cold start) when
//! none is idle, up to the concurrency limit. With `max_concurrency`, as on Lambda Managed
//! Instances: one environment, taking up to that many at once.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::sandbox;
use super::Host;
use crate::emulator::Invocation;

/// What an environment tells the pool.
pub(super) enum Told {
    /// An invocation of environment `env` is over.
    Settled { env: u64 },
    /// Environment `env` is gone; `requeue` are the invocations queued to it that its
    /// process never took, to be given to another.
    Gone { env: u64, requeue: Vec<Invocation> },
}

/// An environment, as the pool sees it.
struct Env {
    id: u64,
    queue: mpsc::UnboundedSender<Invocation>,
    /// Invocations given to it and not yet over.
    load: usize,
    last_used: Instant,
}

/// Gives the invocations of `jobs` to environments until `stop`, then stops them all.
pub(super) async fn dispatch(
    host: Arc<Host>,
    mut jobs: mpsc::UnboundedReceiver<Invocation>,
    stop: watch::Receiver<bool>,
) {
    let capacity = host.function.max_concurrency.map_or(1, |n| n.get());
    let (told, mut tellings) = mpsc::unbounded_channel();
    let mut envs: Vec<Env> = Vec::new();
    let mut pending: VecDeque<Invocation> = VecDeque::new();
    let mut running = JoinSet::new();
    let mut next_id = 0u64;
    let mut stopped = stop.clone();
    loop {
        tokio::select! {
            job = jobs.recv() => match job {
                Some(job) => pending.push_back(job),
                None => break,
            },
            Some(telling) = tellings.recv() => match telling {
                Told::Settled { env } => {
                    if let Some(e) = envs.iter_mut().find(|e| e.id == env) {
                        e.load = e.load.saturating_sub(1);
                        e.last_used = Instant::now();
                    }
                }
                Told::Gone { env, requeue } => {
                    envs.retain(|e| e.id != env);
                    for job in requeue.into_iter().rev() {
                        pending.push_front(job);
                    }
                }
            },
            Some(_) = running.join_next() => {}
            _ = stopped.wait_for(|stop| *stop) => break,
        }
        while let Some(job) = pending.pop_front() {
            if job.replies.is_closed() {
                tracing::info!(request_id = %job.request_id, "skipping an invocation whose caller left");
                continue;
            }
            let free = envs
                .iter()
                .filter(|e| e.load < capacity)
                .max_by_key(|e| e.last_used)
                .map(|e| e.id);
            let at = match free {
                Some(id) => id,
                None if envs.len() < host.environments => {
                    next_id += 1;
                    let (queue, queued) = mpsc::unbounded_channel();
                    let env = sandbox::Env {
                        id: next_id,
                        host: host.clone(),
                        jobs: queued,
                        told: told.clone(),
                        stop: stop.clone(),
                    };
                    running.spawn(sandbox::run(env));
                    envs.push(Env {
                        id: next_id,
                        queue,
                        load: 0,
                        last_used: Instant::now(),
                    });
                    next_id
                }
                None => {
                    pending.push_front(job);
                    break;
                }
            };
            let Some(env) = envs.iter_mut().find(|e| e.id == at) else {
                pending.push_front(job);
                break;
            };
            match env.queue.send(job) {
                Ok(()) => env.load += 1,
                Err(mpsc::error::SendError(job)) => {
                    // Its process is gone and it takes nothing more: its `Gone` is coming.
                    let id = env.id;
                    envs.retain(|e| e.id != id);
                    pending.push_front(job);
                }
            }
        }
    }
    // The environments see `stop` too; each shuts its process down as Lambda does.
    drop(pending);
    while running.join_next().await.is_some() {}
}
