//! Which environment takes an invocation, and when a new one starts.
//!
//! As classic Lambda: one invocation at a time per environment; an idle environment is
//! reused (the one used last, as warm as any), and a new one is started (a cold start) when
//! none is idle, up to the concurrency limit. With `max_concurrency`, as on Lambda Managed
//! Instances: one environment, taking up to that many at once.
//!
//! An environment's task ends with what the pool needs of it ([`Gone`]: the invocations
//! queued to it and never taken); a task that panicked is removed all the same.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;

use super::environment::{Environment, Gone};
use super::function::HostedFunction;
use crate::emulator::Invocation;

/// An environment, as the pool sees it.
struct Placed {
    id: u64,
    queue: mpsc::UnboundedSender<Invocation>,
    /// Invocations given to it and not yet over.
    load: usize,
    last_used: Instant,
}

/// Gives the invocations of `invocations` to environments, each run by `run` on a task of its own,
/// until `stop`; then waits for them all to stop.
pub(super) async fn dispatch<R, F>(
    hosted: Arc<HostedFunction>,
    mut invocations: mpsc::UnboundedReceiver<Invocation>,
    stop: watch::Receiver<bool>,
    run: R,
) where
    R: Fn(Environment) -> F,
    F: Future<Output = Gone> + Send + 'static,
{
    let capacity = hosted.function.max_concurrency.map_or(1, |n| n.get());
    let (settled_tx, mut settled) = mpsc::unbounded_channel();
    let mut envs: Vec<Placed> = Vec::new();
    let mut pending: VecDeque<Invocation> = VecDeque::new();
    let mut running = JoinSet::new();
    // Which environment each task runs, to remove it however its task ends.
    let mut tasks: HashMap<Id, u64> = HashMap::new();
    let mut next_id = 0u64;
    let mut stopped = stop.clone();
    loop {
        tokio::select! {
            invocation = invocations.recv() => match invocation {
                Some(invocation) => pending.push_back(invocation),
                None => break,
            },
            Some(env) = settled.recv() => {
                if let Some(e) = envs.iter_mut().find(|e| e.id == env) {
                    e.load = e.load.saturating_sub(1);
                    e.last_used = Instant::now();
                }
            }
            Some(ended) = running.join_next_with_id() => {
                let (task, gone) = match ended {
                    Ok((task, gone)) => (task, gone),
                    Err(e) => {
                        tracing::error!(error = %e, "an execution environment's task failed");
                        (e.id(), Gone::default())
                    }
                };
                if let Some(env) = tasks.remove(&task) {
                    envs.retain(|e| e.id != env);
                }
                for invocation in gone.requeue.into_iter().rev() {
                    pending.push_front(invocation);
                }
            }
            _ = stopped.wait_for(|stop| *stop) => break,
        }
        while let Some(invocation) = pending.pop_front() {
            if invocation.replies.is_closed() {
                tracing::info!(request_id = %invocation.request_id, "skipping an invocation whose caller left");
                continue;
            }
            let free = envs
                .iter()
                .filter(|e| e.load < capacity)
                .max_by_key(|e| e.last_used)
                .map(|e| e.id);
            let at = match free {
                Some(id) => id,
                None if envs.len() < hosted.environments => {
                    next_id += 1;
                    let (queue, queued) = mpsc::unbounded_channel();
                    let env = Environment {
                        id: next_id,
                        hosted: hosted.clone(),
                        invocations: queued,
                        settled: settled_tx.clone(),
                        stop: stop.clone(),
                    };
                    let task = running.spawn(run(env));
                    tasks.insert(task.id(), next_id);
                    envs.push(Placed {
                        id: next_id,
                        queue,
                        load: 0,
                        last_used: Instant::now(),
                    });
                    next_id
                }
                None => {
                    pending.push_front(invocation);
                    break;
                }
            };
            let Some(env) = envs.iter_mut().find(|e| e.id == at) else {
                pending.push_front(invocation);
                break;
            };
            match env.queue.send(invocation) {
                Ok(()) => env.load += 1,
                Err(mpsc::error::SendError(invocation)) => {
                    // Its process is gone and it takes nothing more: its task is ending.
                    let id = env.id;
                    envs.retain(|e| e.id != id);
                    pending.push_front(invocation);
                }
            }
        }
    }
    // The environments see `stop` too; each shuts its process down as Lambda does.
    drop(pending);
    while running.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroUsize;
    use std::time::Duration;

    use bytes::Bytes;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::*;
    use crate::emulator::Replies;
    use crate::function::FunctionConfig;
    use crate::host::Function;

    /// What a stand-in environment does with the invocation it took.
    enum Then {
        /// Answers it, and takes the next.
        Settle,
        /// Its process dies; what was queued to it and not taken goes back.
        Die,
        /// Its task panics.
        Panic,
    }

    /// An invocation an environment took, and the test's word on what happens next.
    struct Taken {
        env: u64,
        id: String,
        then: oneshot::Sender<Then>,
    }

    struct Pool {
        queue: mpsc::UnboundedSender<Invocation>,
        taken: mpsc::UnboundedReceiver<Taken>,
        /// The callers' ends: an invocation whose caller left is skipped.
        callers: Vec<Replies>,
        _stop: watch::Sender<bool>,
        _task: JoinHandle<()>,
    }

    impl Pool {
        /// A pool of up to `environments` environments, each taking up to `max_concurrency`
        /// at once (one when `None`), run by stand-ins that report what they take.
        fn start(environments: usize, max_concurrency: Option<usize>) -> Pool {
            let mut function = Function::new("unused");
            if let Some(n) = max_concurrency.and_then(NonZeroUsize::new) {
                function = function.max_concurrency(n);
            }
            let hosted = Arc::new(HostedFunction {
                function,
                config: FunctionConfig::default(),
                timeout: Duration::from_secs(60),
                environments,
            });
            let (queue, invocations) = mpsc::unbounded_channel();
            let (taken_tx, taken) = mpsc::unbounded_channel();
            let (stop_tx, stop) = watch::channel(false);
            let run = move |env: Environment| stand_in(env, taken_tx.clone());
            Pool {
                queue,
                taken,
                callers: Vec::new(),
                _stop: stop_tx,
                _task: tokio::spawn(dispatch(hosted, invocations, stop, run)),
            }
        }

        fn invoke(&mut self, id: &str) {
            let (invocation, replies) = Invocation::new(id.to_owned(), Bytes::new(), None);
            self.callers.push(replies);
            self.queue.send(invocation).unwrap();
        }

        /// The next invocation an environment takes, as `(environment, request id)`.
        async fn taken(&mut self) -> (u64, String, oneshot::Sender<Then>) {
            let t = tokio::time::timeout(Duration::from_secs(60), self.taken.recv())
                .await
                .expect("an environment takes the invocation")
                .expect("the pool runs");
            (t.env, t.id, t.then)
        }

        /// Whether no environment takes anything until every task is idle.
        async fn nothing_taken(&mut self) -> bool {
            tokio::time::timeout(Duration::from_secs(1), self.taken.recv())
                .await
                .is_err()
        }
    }

    /// An environment without a process: reports each invocation it takes, then does what
    /// the test says.
    async fn stand_in(mut env: Environment, taken: mpsc::UnboundedSender<Taken>) -> Gone {
        loop {
            let invocation = tokio::select! {
                invocation = env.invocations.recv() => invocation,
                _ = env.stop.wait_for(|stop| *stop) => None,
            };
            let Some(invocation) = invocation else {
                return Gone::default();
            };
            let (then, told) = oneshot::channel();
            let id = invocation.request_id.clone();
            let _ = taken.send(Taken {
                env: env.id,
                id,
                then,
            });
            match told.await {
                Ok(Then::Settle) | Err(_) => {
                    let _ = env.settled.send(env.id);
                }
                Ok(Then::Die) => {
                    env.invocations.close();
                    let mut requeue = Vec::new();
                    while let Ok(invocation) = env.invocations.try_recv() {
                        requeue.push(invocation);
                    }
                    return Gone { requeue };
                }
                Ok(Then::Panic) => panic!("the environment's task panicked"),
            }
        }
    }

    /// Lets every task run until all are idle (the clock is paused: it moves on only then).
    async fn settle_down() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicked_environment_is_removed_and_its_load_freed() {
        let mut pool = Pool::start(1, None);
        pool.invoke("a");
        let (env, _, then) = pool.taken().await;
        assert_eq!(env, 1);
        let _ = then.send(Then::Panic);
        settle_down().await;
        // One environment allowed: only if the panicked one is gone can a new one start.
        pool.invoke("b");
        let (env, id, _then) = pool.taken().await;
        assert_eq!((env, id.as_str()), (2, "b"));
    }

    #[tokio::test(start_paused = true)]
    async fn cold_starts_up_to_the_cap_then_callers_wait_for_a_free_environment() {
        let mut pool = Pool::start(2, None);
        pool.invoke("a");
        pool.invoke("b");
        pool.invoke("c");
        let (env_a, a, then_a) = pool.taken().await;
        let (env_b, b, _then_b) = pool.taken().await;
        assert_eq!(
            [(env_a, a.as_str()), (env_b, b.as_str())],
            [(1, "a"), (2, "b")]
        );
        assert!(pool.nothing_taken().await, "a third environment started");
        let _ = then_a.send(Then::Settle);
        let (env, id, _then) = pool.taken().await;
        assert_eq!((env, id.as_str()), (1, "c"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_environment_used_last_is_reused_first() {
        for (first, last) in [(1, 2), (2, 1)] {
            let mut pool = Pool::start(3, None);
            pool.invoke("a");
            pool.invoke("b");
            let mut held: HashMap<u64, oneshot::Sender<Then>> = HashMap::new();
            for _ in 0..2 {
                let (env, _, then) = pool.taken().await;
                held.insert(env, then);
            }
            for env in [first, last] {
                let _ = held.remove(&env).unwrap().send(Then::Settle);
                settle_down().await;
            }
            pool.invoke("c");
            let (env, id, _then) = pool.taken().await;
            assert_eq!(
                (env, id.as_str()),
                (last, "c"),
                "settled {first}, then {last}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn invocations_queued_to_an_environment_that_died_go_to_another() {
        // One environment, given up to two at once: the second waits in its queue.
        let mut pool = Pool::start(1, Some(2));
        pool.invoke("a");
        pool.invoke("b");
        let (env, id, then) = pool.taken().await;
        assert_eq!((env, id.as_str()), (1, "a"));
        settle_down().await;
        let _ = then.send(Then::Die);
        let (env, id, _then) = pool.taken().await;
        assert_eq!((env, id.as_str()), (2, "b"));
    }
}
