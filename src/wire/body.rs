//! The body posted to the Runtime API: prelude, then the handler's chunks as they come, then
//! error trailers if the handler's body fails or panics.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, ThreadId};

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::catch_unwind::Caught;
use crate::error::types;
use crate::{BoxError, Diagnostic};

/// A chunk smaller than this is joined with the chunks that are ready right after it (or
/// one scheduler turn after it), up to this many bytes in all, into one frame: one chunk on
/// the wire, one write.
const COALESCE_LIMIT: usize = 16 * 1024;

/// After passing on this many bytes in a row from a body that is always ready, a stream lets
/// the other tasks run (one scheduler turn) before it goes on, while other streamed responses
/// are in flight in the process: many large streams then take turns, instead of the first
/// written whole before the next one's first byte. Alone, a stream never steps aside.
const FAIR_SHARE: usize = 256 * 1024;

/// Streamed responses in flight in this process (the [`FAIR_SHARE`] rule's "others").
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

pin_project! {
    /// Wraps the handler's body for the Runtime API.
    ///
    /// - The prelude (if any) and its 8-NUL delimiter are the first two frames, so status and
    ///   headers leave at once. (Two frames, not one: the bytes on the wire differ only by a
    ///   chunk header, and emulators that read the prelude as one chunk and the delimiter as
    ///   the next, such as `cargo lambda watch`, then understand the stream.)
    /// - Each data frame of the handler is passed on as soon as it is produced, or one
    ///   scheduler turn later, never on a timer. Small chunks that are ready together (a
    ///   channel fed by a fast producer holds several) leave as one frame of up to
    ///   [`COALESCE_LIMIT`] bytes. When the handler's body is not ready right after a chunk
    ///   under that size, the chunk waits one scheduler turn (what `tokio::task::yield_now`
    ///   gives: the runtime runs the tasks that are ready, or at most until its next poll of
    ///   the I/O driver, then comes back) for the next one:
    ///   a producer woken by the chunk's receive (a one-slot channel's sender) adds its next
    ///   chunk in that turn. Gathering goes on while each turn brings another chunk, up to
    ///   the limit, and the frame leaves at the first turn that brings none; a producer that
    ///   is not ready (waiting on a timer, a socket, a model) costs its chunk one turn, no
    ///   more, and once two turns in a row have brought nothing (a paced stream: a token
    ///   every few milliseconds), its chunks stop waiting at all: they leave as soon as they
    ///   come, and a turn is tried again after 2, 4, ... up to [`MAX_SKIPS`] frames, or at
    ///   once when the body has its next chunk ready right after a frame left (see
    ///   [`Pace`]). A chunk of [`COALESCE_LIMIT`] bytes or more, the end of the body and an
    ///   error never wait. While other streamed responses are in flight, a body that is
    ///   always ready lets the other tasks run for one turn after every [`FAIR_SHARE`]
    ///   bytes. Outside a tokio runtime's worker the turn is empty: nothing waits.
    ///   hyper writes and flushes what it holds whenever this body is not ready, and polls
    ///   for more only when its write buffer has room, so a slow reader holds the handler
    ///   back instead of growing memory.
    /// - An error or a panic in the handler's body ends the stream with the error trailers
    ///   (after the data that was ready before it); the handler's body is dropped there. It
    ///   never reaches hyper as an error, which would abort the request and lose the report.
    /// - The handler's body is dropped inside the panic boundary, as soon as it ends, fails
    ///   or panics, or when the stream is dropped unfinished: a panic in its `Drop` is logged,
    ///   and a response that was complete stays complete.
    pub(crate) struct ResponseStream<B> {
        prelude: Option<Bytes>,
        delimiter: bool,
        #[pin]
        body: Caught<B>,
        span: tracing::Span,
        // The chunks of the next frame, gathered so far.
        gathered: Gathered,
        // A chunk that did not fit in the last frame: the start of the next one.
        held: Option<Bytes>,
        // The scheduler turn the gathered chunks wait for.
        turn: Turn,
        // Whether gathered chunks wait for a turn at all.
        pace: Pace,
        // Bytes passed on since the task last waited.
        unyielded: usize,
        // The error trailers, once the data before them has left.
        trailers: Option<HeaderMap>,
    }

    impl<B> PinnedDrop for ResponseStream<B> {
        fn drop(this: Pin<&mut Self>) {
            IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
            let this = this.project();
            // Here rather than in `Caught`'s own drop: a log line belongs to the invocation.
            let _entered = this.span.enter();
            this.body.clear();
        }
    }
}

impl<B> ResponseStream<B> {
    pub(crate) fn new(prelude: Option<Bytes>, body: B, span: tracing::Span) -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        ResponseStream {
            delimiter: prelude.is_some(),
            prelude,
            body: Caught::new(body, "the response body"),
            span,
            gathered: Gathered::Empty,
            held: None,
            turn: Turn::default(),
            pace: Pace::default(),
            unyielded: 0,
            trailers: None,
        }
    }
}

/// The chunks of a frame, joined without a copy while there is only one.
enum Gathered {
    Empty,
    One(Bytes),
    Joined(BytesMut),
}

impl Gathered {
    fn len(&self) -> usize {
        match self {
            Gathered::Empty => 0,
            Gathered::One(b) => b.len(),
            Gathered::Joined(b) => b.len(),
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Gathered::Empty)
    }

    fn push(&mut self, data: Bytes) {
        *self = match std::mem::replace(self, Gathered::Empty) {
            Gathered::Empty => Gathered::One(data),
            Gathered::One(first) => {
                let mut buf =
                    BytesMut::with_capacity(COALESCE_LIMIT.min(8 * (first.len() + data.len())));
                buf.extend_from_slice(&first);
                buf.extend_from_slice(&data);
                Gathered::Joined(buf)
            }
            Gathered::Joined(mut buf) => {
                buf.extend_from_slice(&data);
                Gathered::Joined(buf)
            }
        };
    }

    /// The frame, if there is one; empty afterwards.
    fn take(&mut self) -> Option<Bytes> {
        match std::mem::replace(self, Gathered::Empty) {
            Gathered::Empty => None,
            Gathered::One(b) => Some(b),
            Gathered::Joined(b) => Some(b.freeze()),
        }
    }
}

/// The most frames a paced body sends without waiting for a turn before it tries one again.
const MAX_SKIPS: u8 = 64;

/// Whether the body's chunks are worth a scheduler turn: what the last turns brought.
///
/// A turn costs the connection's task one more poll and the runtime one more wake-up (and,
/// on a worker with nothing else to run, a poll of the I/O driver): nothing when a producer
/// hands over its next chunk in it, a pure loss for a body whose next chunk is a timer or a
/// socket away, as a paced token stream's is, on every token of every stream. Two turns in
/// a row that brought nothing make the next frames leave without one; a turn is tried again
/// after 2, then 4, ... up to [`MAX_SKIPS`] frames, and gathering resumes at the first turn
/// that brings a chunk, or when the body has its next chunk ready as soon as a frame left
/// without one (a producer on another worker thread that was only a little late). Counts,
/// never a clock: a chunk still waits at most one turn.
#[derive(Default)]
struct Pace {
    // Turns in a row that brought nothing (saturating).
    misses: u8,
    // Frames still to leave without a turn before the next try.
    skips: u8,
    // The skips granted after the last turn that brought nothing.
    backoff: u8,
    // The task waits for a turn: data now is what the turn brought.
    waiting: bool,
    // The last frame left without a turn: data at once now means the producer is quick.
    skipped: bool,
}

impl Pace {
    /// Whether the frame leaves now, without a turn.
    fn skip(&mut self) -> bool {
        if self.misses < 2 || self.skips == 0 {
            return false;
        }
        self.skips -= 1;
        self.skipped = true;
        true
    }

    /// Data came: after a turn asked for, or at the first poll after a frame that skipped
    /// one, the producer keeps pace with the turns.
    fn data(&mut self) {
        if self.waiting || self.skipped {
            *self = Pace::default();
        }
    }

    /// A turn ended that brought nothing.
    fn missed(&mut self) {
        self.waiting = false;
        self.misses = self.misses.saturating_add(1);
        if self.misses >= 2 {
            self.backoff = self.backoff.saturating_mul(2).clamp(2, MAX_SKIPS);
            self.skips = self.backoff;
        }
    }
}

/// One scheduler turn, observed: `tokio::task::yield_now`'s wake-up, which the runtime gives
/// once it has run the tasks that are ready (at the latest at its next poll of the I/O
/// driver), delivered through a waker of our own that notes it came. Never a timer: a turn
/// ends whatever the clock says, as soon as what is runnable has run.
#[derive(Default)]
struct Turn {
    signal: Option<Arc<TurnSignal>>,
    // Whether a chunk came since a turn was last asked for.
    chunk_since: bool,
}

struct TurnSignal {
    // A turn was asked for and has not ended yet.
    running: AtomicBool,
    // The task to wake when it ends.
    task: Waker,
    // The thread whose runtime worker holds the wake-up: a task that moved to another
    // worker asks its new one.
    thread: ThreadId,
}

impl Wake for TurnSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.running.store(false, Ordering::Release);
        self.task.wake_by_ref();
    }
}

impl Turn {
    /// Notes a chunk: the frame now waits for a turn that starts after it.
    fn chunk(&mut self) {
        self.chunk_since = true;
    }

    /// Whether a turn has ended since the last chunk, asking for one (and returning `false`)
    /// if none was asked for since then. `cx`'s task is woken when the turn ends.
    fn ended(&mut self, cx: &Context<'_>) -> bool {
        let asked = self.signal.as_ref().map(|s| {
            let running = s.running.load(Ordering::Acquire);
            let ours = s.task.will_wake(cx.waker()) && s.thread == thread::current().id();
            (running, ours)
        });
        match asked {
            // A turn ended since the last chunk (whoever it woke).
            Some((false, _)) if !self.chunk_since => true,
            // A turn asked for before the last chunk ends after it all the same (the runtime
            // wakes every deferred task at once, after this poll): wait for it.
            Some((true, true)) => {
                self.chunk_since = false;
                false
            }
            // None asked for, one that wakes another task or thread, or a chunk came since
            // the last one ended.
            _ => {
                self.chunk_since = false;
                self.ask(cx)
            }
        }
    }

    /// Asks for a turn; whether it has ended already, as it has outside a tokio runtime's
    /// worker, where nothing defers the wake-up.
    fn ask(&mut self, cx: &Context<'_>) -> bool {
        let signal = match self.signal.take() {
            // Not held by the runtime any more (its turn ended): reused.
            Some(s)
                if Arc::strong_count(&s) == 1
                    && s.task.will_wake(cx.waker())
                    && s.thread == thread::current().id() =>
            {
                s
            }
            _ => Arc::new(TurnSignal {
                running: AtomicBool::new(false),
                task: cx.waker().clone(),
                thread: thread::current().id(),
            }),
        };
        signal.running.store(true, Ordering::Release);
        // Its first poll hands the waker to the runtime (or, outside a runtime's worker,
        // wakes it at once) and returns `Pending`; dropping it then is all it takes.
        let mut turn = pin!(tokio::task::yield_now());
        let _ = turn
            .as_mut()
            .poll(&mut Context::from_waker(&Waker::from(signal.clone())));
        let ended = !signal.running.load(Ordering::Acquire);
        self.signal = Some(signal);
        ended
    }
}

/// What the handler's body gave, its own trailers skipped.
enum Step {
    Data(Bytes),
    End,
    Failed(Diagnostic),
}

/// Polls the handler's body for its next data, catching its panics.
fn poll_data<B>(mut body: Pin<&mut B>, cx: &mut Context<'_>) -> Poll<Step>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    loop {
        return match catch_unwind(AssertUnwindSafe(|| body.as_mut().poll_frame(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(None)) => Poll::Ready(Step::End),
            Ok(Poll::Ready(Some(Ok(frame)))) => match frame.into_data() {
                Ok(mut data) => Poll::Ready(Step::Data(data.copy_to_bytes(data.remaining()))),
                // Lambda has no use for the handler's own trailers; skip them.
                Err(_) => continue,
            },
            Ok(Poll::Ready(Some(Err(err)))) => {
                Poll::Ready(Step::Failed(Diagnostic::from_error(err, types::STREAM)))
            }
            Err(panic) => Poll::Ready(Step::Failed(Diagnostic::from_panic(&*panic))),
        };
    }
}

/// The error trailers that end a stream whose body failed midway.
fn failed(diagnostic: &Diagnostic) -> HeaderMap {
    tracing::error!(
        error_type = diagnostic.error_type(),
        error = diagnostic.error_message(),
        "the response body failed midway; ending the stream with error trailers"
    );
    super::error_trailers(diagnostic)
}

impl<B> Body for ResponseStream<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        // The body is polled on the connection's task: log lines of the handler's body
        // belong to its invocation (and carry its request id) all the same.
        let _entered = this.span.enter();
        if let Some(prelude) = this.prelude.take() {
            return Poll::Ready(Some(Ok(Frame::data(prelude))));
        }
        if std::mem::take(this.delimiter) {
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&super::DELIMITER)))));
        }
        if *this.unyielded >= FAIR_SHARE {
            *this.unyielded = 0;
            if IN_FLIGHT.load(Ordering::Relaxed) > 1 {
                // Back at once, after the tasks that are ready (a task that wakes itself goes
                // to the back of its worker's queue).
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        if let Some(held) = this.held.take() {
            this.gathered.push(held);
            this.turn.chunk();
        }
        loop {
            if this.gathered.len() >= COALESCE_LIMIT {
                break;
            }
            let Some(body) = this.body.as_mut().as_pin_mut() else {
                break;
            };
            match poll_data(body, cx) {
                Poll::Ready(Step::Data(data)) => {
                    this.pace.data();
                    let len = this.gathered.len();
                    if len > 0 && len + data.len() > COALESCE_LIMIT {
                        *this.held = Some(data);
                        break;
                    }
                    this.gathered.push(data);
                    this.turn.chunk();
                }
                Poll::Ready(Step::End) => {
                    this.body.as_mut().clear();
                    break;
                }
                Poll::Ready(Step::Failed(diagnostic)) => {
                    this.body.as_mut().clear();
                    *this.trailers = Some(failed(&diagnostic));
                    break;
                }
                // Nothing gathered: wait for the body, which wakes the task.
                Poll::Pending if this.gathered.is_empty() => {
                    this.pace.skipped = false;
                    *this.unyielded = 0;
                    return Poll::Pending;
                }
                // Something gathered, from a body whose turns bring nothing: leave now.
                Poll::Pending if this.pace.skip() => break,
                // Something gathered: leave with it at the first turn that brings nothing.
                Poll::Pending if this.turn.ended(cx) => {
                    this.pace.missed();
                    break;
                }
                Poll::Pending => {
                    this.pace.waiting = true;
                    *this.unyielded = 0;
                    return Poll::Pending;
                }
            }
        }
        match this.gathered.take() {
            Some(data) => {
                *this.unyielded += data.len();
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            // The body ended or failed with nothing gathered.
            None => Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        // Never claim the end early: the end may still bring trailers.
        self.prelude.is_none()
            && !self.delimiter
            && self.body.is_cleared()
            && self.gathered.is_empty()
            && self.held.is_none()
            && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        // Deliberately inexact, so that the request is always sent chunked.
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ERROR_BODY, ERROR_TYPE};
    use http_body_util::BodyExt;

    struct Script(Vec<Step>);
    enum Step {
        Data(&'static str),
        Fail(&'static str),
        Panic,
    }
    impl Body for Script {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            if self.0.is_empty() {
                return Poll::Ready(None);
            }
            match self.0.remove(0) {
                Step::Data(s) => {
                    Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(s.as_bytes())))))
                }
                Step::Fail(s) => Poll::Ready(Some(Err(s.into()))),
                Step::Panic => panic!("body exploded"),
            }
        }
    }

    async fn frames(body: ResponseStream<Script>) -> Vec<Frame<Bytes>> {
        let mut body = std::pin::pin!(body);
        let mut out = vec![];
        while let Some(f) = body.frame().await {
            out.push(f.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn prelude_then_chunks_then_end() {
        let b = ResponseStream::new(
            Some(Bytes::from_static(b"{}")),
            Script(vec![Step::Data("a"), Step::Data("bc")]),
            tracing::Span::none(),
        );
        let f = frames(b).await;
        let data: Vec<_> = f.iter().map(|f| f.data_ref().unwrap().clone()).collect();
        // The two chunks were ready at once: one frame.
        assert_eq!(data, ["{}", "\0\0\0\0\0\0\0\0", "abc"]);
    }

    #[tokio::test]
    async fn a_ready_chunk_never_waits_for_the_next() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
        let body = http_body_util::StreamBody::new(futures_util_stream(rx));
        let mut stream = std::pin::pin!(ResponseStream::new(None, body, tracing::Span::none()));
        tx.send(Bytes::from_static(b"a")).await.unwrap();
        tx.send(Bytes::from_static(b"b")).await.unwrap();
        // Both ready: one frame, at once, although the sender is still open.
        let f = stream.frame().await.unwrap().unwrap();
        assert_eq!(f.into_data().unwrap(), "ab");
        // Nothing ready: the next frame waits for the next chunk, then takes it alone.
        let next = stream.frame();
        tx.send(Bytes::from_static(b"c")).await.unwrap();
        let f = next.await.unwrap().unwrap();
        assert_eq!(f.into_data().unwrap(), "c");
        drop(tx);
        assert!(stream.frame().await.is_none());
        assert!(stream.is_end_stream());
    }

    /// A task sending `n` chunks of 100 bytes through a one-slot channel, as fast as it can.
    fn one_slot_producer(n: usize) -> tokio::sync::mpsc::Receiver<Bytes> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        tokio::spawn(async move {
            for i in 0..n {
                let chunk = Bytes::from(vec![(i % 251) as u8; 100]);
                if tx.send(chunk).await.is_err() {
                    return;
                }
            }
        });
        rx
    }

    fn expected(n: usize) -> Vec<u8> {
        (0..n).flat_map(|i| vec![(i % 251) as u8; 100]).collect()
    }

    async fn data_frames<B>(body: ResponseStream<B>) -> Vec<Bytes>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let mut body = std::pin::pin!(body);
        let mut out = vec![];
        while let Some(f) = body.frame().await {
            out.push(f.unwrap().into_data().unwrap());
        }
        out
    }

    #[tokio::test]
    async fn a_one_slot_producer_is_gathered_turn_by_turn() {
        // One chunk ready at a time; each scheduler turn brings the next: 163 chunks
        // (16,300 bytes) per frame, the rest in the last.
        let rx = one_slot_producer(1000);
        let body = http_body_util::StreamBody::new(futures_util_stream(rx));
        let frames = data_frames(ResponseStream::new(None, body, tracing::Span::none())).await;
        let sizes: Vec<usize> = frames.iter().map(Bytes::len).collect();
        assert_eq!(
            sizes,
            [16_300, 16_300, 16_300, 16_300, 16_300, 16_300, 2_200]
        );
        assert_eq!(frames.concat(), expected(1000));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_one_slot_producer_is_gathered_on_a_worker_too() {
        // Polled on a worker of a multi-thread runtime (not on `block_on`'s thread, where
        // nothing defers a wake-up), as the runtime's connection is.
        let frames = tokio::spawn(async {
            let rx = one_slot_producer(1000);
            let body = http_body_util::StreamBody::new(futures_util_stream(rx));
            data_frames(ResponseStream::new(None, body, tracing::Span::none())).await
        })
        .await
        .unwrap();
        assert_eq!(frames.concat(), expected(1000));
        // A turn may end before the producer on the other worker delivers, more often the
        // busier the machine (70 to 160 frames seen); still, chunks share frames (1,000
        // frames if nothing were gathered). The exact counts are `current_thread`'s tests.
        assert!(frames.len() < 500, "{} frames", frames.len());
    }

    #[tokio::test(start_paused = true)]
    async fn a_producer_that_is_not_ready_costs_its_chunk_one_turn_not_time() {
        // A chunk every 10 ms: each leaves alone, at the instant it was made (the paused
        // clock only moves when every task waits on it), before the next is made.
        let made = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = made.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        tokio::spawn(async move {
            for i in 0..5u8 {
                log.lock().unwrap().push(tokio::time::Instant::now());
                if tx.send(Bytes::from(vec![i; 100])).await.is_err() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        });
        let body = http_body_util::StreamBody::new(futures_util_stream(rx));
        let mut stream = std::pin::pin!(ResponseStream::new(None, body, tracing::Span::none()));
        for i in 0..5u8 {
            let f = stream.frame().await.unwrap().unwrap().into_data().unwrap();
            assert_eq!(f, vec![i; 100], "one chunk per frame");
            let made = made.lock().unwrap();
            assert_eq!(
                made.len(),
                usize::from(i) + 1,
                "the next chunk is not made yet"
            );
            assert_eq!(
                made[usize::from(i)],
                tokio::time::Instant::now(),
                "held for a while"
            );
        }
        assert!(stream.frame().await.is_none());
    }

    /// `n` chunks of 100 bytes through a one-slot channel, `gap` apart (none: back to back).
    fn paced_producer(
        n: usize,
        gap: Option<std::time::Duration>,
    ) -> tokio::sync::mpsc::Receiver<Bytes> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        tokio::spawn(async move {
            for i in 0..n {
                if tx
                    .send(Bytes::from(vec![(i % 251) as u8; 100]))
                    .await
                    .is_err()
                {
                    return;
                }
                if let Some(gap) = gap {
                    tokio::time::sleep(gap).await;
                }
            }
        });
        rx
    }

    #[tokio::test(start_paused = true)]
    async fn a_paced_body_stops_paying_a_turn_per_chunk() {
        // A chunk every 10 ms: each leaves alone at the instant it was made, and after the
        // first two turns that brought nothing, most leave without a turn: two polls per
        // chunk (one that finds nothing, one that finds the chunk and sends it) instead of
        // three (the third after the turn).
        let body = http_body_util::StreamBody::new(futures_util_stream(paced_producer(
            100,
            Some(std::time::Duration::from_millis(10)),
        )));
        let mut stream = std::pin::pin!(ResponseStream::new(None, body, tracing::Span::none()));
        let mut polls = 0;
        for i in 0..100usize {
            let made = tokio::time::Instant::now();
            let frame = std::future::poll_fn(|cx| {
                polls += 1;
                stream.as_mut().poll_frame(cx)
            })
            .await;
            let data = frame.unwrap().unwrap().into_data().unwrap();
            assert_eq!(data, vec![(i % 251) as u8; 100], "one chunk per frame");
            assert!(tokio::time::Instant::now() - made <= std::time::Duration::from_millis(10));
        }
        // 100 chunks: turns at chunks 1, 2, 5, 10, 19, 36 and 69 (skips doubling up to 64).
        assert_eq!(polls, 2 * 100 + 7, "{polls} polls");
    }

    #[tokio::test(start_paused = true)]
    async fn a_producer_that_becomes_quick_is_gathered_again() {
        // Paced for 10 chunks (turns stop), then 1,000 back to back: gathering resumes at the
        // next turn tried, and the quick chunks share frames.
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        tokio::spawn(async move {
            for i in 0..1010usize {
                if tx
                    .send(Bytes::from(vec![(i % 251) as u8; 100]))
                    .await
                    .is_err()
                {
                    return;
                }
                if i < 10 {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        });
        let body = http_body_util::StreamBody::new(futures_util_stream(rx));
        let frames = data_frames(ResponseStream::new(None, body, tracing::Span::none())).await;
        assert_eq!(frames.concat(), expected(1010));
        // 10 paced frames, a few lone quick chunks until a turn is tried, then 163 chunks a
        // frame: 7 frames if gathering had never stopped.
        assert!(frames.len() <= 10 + 8 + 7, "{} frames", frames.len());
    }

    /// One chunk, then never ready again.
    struct OneThenPending(Option<Bytes>);
    impl Body for OneThenPending {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            match self.0.take() {
                Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                None => Poll::Pending,
            }
        }
    }

    #[tokio::test]
    async fn a_new_waker_at_every_poll_still_gets_the_chunk_after_one_turn() {
        // A turn that ended counts whichever waker it woke: polled with a fresh waker each
        // time, the stream still leaves with its chunk instead of asking again forever.
        struct Fresh(Waker);
        impl Wake for Fresh {
            fn wake(self: Arc<Self>) {
                self.0.wake_by_ref();
            }
        }
        let body = OneThenPending(Some(Bytes::from_static(b"alone")));
        let mut stream = std::pin::pin!(ResponseStream::new(None, body, tracing::Span::none()));
        let mut polls = 0;
        let frame = std::future::poll_fn(|cx| {
            polls += 1;
            let fresh = Waker::from(Arc::new(Fresh(cx.waker().clone())));
            stream.as_mut().poll_frame(&mut Context::from_waker(&fresh))
        });
        // Only a guard against a hang: it takes microseconds.
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), frame)
            .await
            .expect("the chunk left");
        assert_eq!(frame.unwrap().unwrap().into_data().unwrap(), "alone");
        assert_eq!(polls, 2, "one turn");
    }

    #[test]
    fn outside_a_runtime_a_chunk_never_waits() {
        // No runtime defers the wake-up: the chunk that came is the frame, at the first poll.
        let body = OneThenPending(Some(Bytes::from_static(b"alone")));
        let mut stream = std::pin::pin!(ResponseStream::new(None, body, tracing::Span::none()));
        let mut cx = Context::from_waker(Waker::noop());
        match stream.as_mut().poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(f))) => assert_eq!(f.into_data().unwrap(), "alone"),
            other => panic!("not the chunk at once: {other:?}"),
        }
        assert!(stream.as_mut().poll_frame(&mut cx).is_pending());
    }

    /// The receiver as a stream of data frames.
    fn futures_util_stream(
        mut rx: tokio::sync::mpsc::Receiver<Bytes>,
    ) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, BoxError>> {
        futures_util::stream::poll_fn(move |cx| {
            rx.poll_recv(cx).map(|c| c.map(|c| Ok(Frame::data(c))))
        })
    }

    #[tokio::test]
    async fn joined_frames_stay_under_the_limit_in_order() {
        // 1000 ready chunks of 100 bytes, each byte telling its chunk.
        let chunks: Vec<Bytes> = (0..1000u32)
            .map(|i| Bytes::from(vec![(i % 251) as u8; 100]))
            .collect();
        let expected: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
        let body = http_body_util::StreamBody::new(futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, BoxError>(Frame::data(c))),
        ));
        let mut stream = std::pin::pin!(ResponseStream::new(None, body, tracing::Span::none()));
        let mut got = Vec::new();
        let mut frames = 0;
        while let Some(f) = stream.frame().await {
            let data = f.unwrap().into_data().unwrap();
            assert!(data.len() <= COALESCE_LIMIT, "{}", data.len());
            got.extend_from_slice(&data);
            frames += 1;
        }
        assert_eq!(got, expected);
        // 100,000 bytes in frames of at most 16 KiB (163 whole chunks): 7 frames.
        assert_eq!(frames, 7);
    }

    #[tokio::test]
    async fn a_large_chunk_is_passed_on_as_it_is() {
        let big = Bytes::from(vec![b'x'; COALESCE_LIMIT]);
        let at = big.as_ptr();
        let b = ResponseStream::new(None, http_body_util::Full::new(big), tracing::Span::none());
        let mut b = std::pin::pin!(b);
        let data = b.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(data.as_ptr(), at, "copied");
        assert_eq!(data.len(), COALESCE_LIMIT);
    }

    #[test]
    fn an_always_ready_body_steps_aside_after_its_fair_share_while_others_stream() {
        // 64 KiB chunks, always ready, while another stream is in flight: four frames
        // (256 KiB), then one poll that wakes the task at once and steps aside, then four
        // more; nothing lost, nothing waits longer.
        struct Wakes(std::sync::atomic::AtomicUsize);
        impl Wake for Wakes {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let _other = ResponseStream::new(
            None,
            http_body_util::Empty::<Bytes>::new(),
            tracing::Span::none(),
        );
        let chunks: Vec<Bytes> = (0..8u8).map(|i| Bytes::from(vec![i; 64 * 1024])).collect();
        let body = http_body_util::StreamBody::new(futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, BoxError>(Frame::data(c))),
        ));
        let mut stream = std::pin::pin!(ResponseStream::new(None, body, tracing::Span::none()));
        let wakes = Arc::new(Wakes(std::sync::atomic::AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut seen = Vec::new();
        loop {
            match stream.as_mut().poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(f))) => seen.push(f.into_data().unwrap()[0]),
                Poll::Ready(None) => break,
                Poll::Ready(Some(Err(e))) => match e {},
                Poll::Pending => seen.push(u8::MAX),
            }
        }
        assert_eq!(seen, [0, 1, 2, 3, u8::MAX, 4, 5, 6, 7, u8::MAX]);
        assert_eq!(
            wakes.0.load(Ordering::Relaxed),
            2,
            "woken at once each time"
        );
    }

    #[tokio::test]
    async fn data_ready_before_an_error_leaves_before_the_trailers() {
        let b = ResponseStream::new(
            None,
            Script(vec![
                Step::Data("a"),
                Step::Data("b"),
                Step::Fail("db gone"),
            ]),
            tracing::Span::none(),
        );
        let f = frames(b).await;
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].data_ref().unwrap(), "ab");
        assert_eq!(
            f[1].trailers_ref().unwrap()[ERROR_TYPE],
            "Function.StreamError"
        );
    }

    #[tokio::test]
    async fn an_error_becomes_trailers_and_stops() {
        let b = ResponseStream::new(
            None,
            Script(vec![
                Step::Data("a"),
                Step::Fail("db gone"),
                Step::Data("never"),
            ]),
            tracing::Span::none(),
        );
        let f = frames(b).await;
        assert_eq!(f.len(), 2);
        let t = f[1].trailers_ref().unwrap();
        assert_eq!(t[ERROR_TYPE], "Function.StreamError");
        assert!(t.contains_key(ERROR_BODY));
    }

    #[tokio::test]
    async fn the_body_is_polled_inside_the_invocation_span() {
        // The connection's task polls the body outside any span: the handler's log lines
        // from its body must still belong to the invocation (and carry its request id).
        struct SeesSpan(Option<Option<tracing::span::Id>>);
        impl Body for SeesSpan {
            type Data = Bytes;
            type Error = BoxError;
            fn poll_frame(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
                self.0 = Some(tracing::Span::current().id());
                Poll::Ready(None)
            }
        }
        let subscriber = tracing_subscriber::registry();
        let _default = tracing::subscriber::set_default(subscriber);
        let span = tracing::info_span!("invocation", request_id = "req-1");
        assert!(span.id().is_some());
        let mut inner = SeesSpan(None);
        {
            let mut stream = std::pin::pin!(ResponseStream::new(None, &mut inner, span.clone()));
            assert!(stream.frame().await.is_none());
        }
        assert_eq!(inner.0, Some(span.id()));
    }

    #[tokio::test]
    async fn a_panic_becomes_trailers() {
        let b = ResponseStream::new(
            None,
            Script(vec![Step::Data("a"), Step::Panic]),
            tracing::Span::none(),
        );
        let f = frames(b).await;
        assert_eq!(f[1].trailers_ref().unwrap()[ERROR_TYPE], "Function.Panic");
    }
}
