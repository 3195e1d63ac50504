//! Property tests: any sequence of chunk sizes, empty chunks included, arrives byte-exact and
//! in order, through the Runtime API path (against the mock) and through the local server
//! (as a function URL caller sees it).

use crate::support::{self, local};

use lambda_stream::Body;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::OnceLock;

use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper_util::rt::TokioIo;
use proptest::prelude::*;
use support::{MockEvent, MockRuntimeApi};
use tokio::net::TcpStream;
use tower::service_fn;

/// The bytes of chunk `i` of size `len`: distinct per chunk and per position, so that a lost,
/// repeated or reordered byte shows.
fn chunk(i: usize, len: usize) -> Bytes {
    (0..len)
        .map(|j| (i * 31 + j * 7 + (j >> 8)) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn expected(sizes: &[usize]) -> Vec<u8> {
    sizes
        .iter()
        .enumerate()
        .flat_map(|(i, &n)| chunk(i, n).to_vec())
        .collect()
}

/// A handler that streams the chunk sizes the request names (a JSON array, in the raw event
/// or the function URL request body), yielding between chunks so each is its own write.
#[allow(clippy::type_complexity)]
fn sizes_service() -> impl tower::Service<
    Request<Body>,
    Response = Response<
        StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>,
    >,
    Error = Infallible,
    Future = impl std::future::Future<
        Output = Result<
            Response<
                StreamBody<
                    impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send,
                >,
            >,
            Infallible,
        >,
    > + Send,
> + Clone
       + Send {
    service_fn(|req: Request<Body>| async move {
        let sizes: Vec<usize> = serde_json::from_slice(req.body()).unwrap();
        let body = stream::unfold(0usize, move |i| {
            let sizes = sizes.clone();
            async move {
                let n = *sizes.get(i)?;
                tokio::task::yield_now().await;
                Some((Ok(Frame::data(chunk(i, n))), i + 1))
            }
        });
        Ok(Response::new(StreamBody::new(body)))
    })
}

/// Chunk sizes: mostly small, some empty, some over a socket buffer.
fn sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(
        prop_oneof![
            3 => Just(0usize),
            6 => 1usize..64,
            3 => 64usize..8192,
            1 => 8192usize..300_000,
        ],
        0..24,
    )
}

/// One tokio runtime for every case, with a mock Runtime API and the runtime under test.
struct ApiHarness {
    rt: tokio::runtime::Runtime,
    mock: MockRuntimeApi,
    /// The runtime under test, for the whole test binary.
    _runtime: support::Serving,
}

fn api_harness() -> &'static ApiHarness {
    static H: OnceLock<ApiHarness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (mock, runtime) = rt.block_on(async {
            let mock = MockRuntimeApi::start().await;
            let runtime = mock.serve(sizes_service());
            (mock, runtime)
        });
        ApiHarness {
            rt,
            mock,
            _runtime: runtime,
        }
    })
}

struct LocalHarness {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
}

fn local_harness() -> &'static LocalHarness {
    static H: OnceLock<LocalHarness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let addr = rt.block_on(async {
            let runtime = lambda_stream::Runtime::new(lambda_stream::Config::default());
            local::serve(runtime, local::options(), sizes_service()).await
        });
        LocalHarness { rt, addr }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_chunk_sizes_reach_the_runtime_api_byte_exact(sizes in sizes()) {
        let h = api_harness();
        let got = h.rt.block_on(async {
            let id = format!("p{}", rand_id());
            h.mock.push_event(MockEvent::new(&id, serde_json::to_vec(&sizes).unwrap()));
            let res = h.mock.response().await;
            assert_eq!(res.request_id, id);
            assert!(res.complete && res.trailers.is_none());
            res.bytes()
        });
        prop_assert_eq!(got, expected(&sizes));
    }

    #[test]
    fn any_chunk_sizes_reach_a_local_function_url_caller_byte_exact(sizes in sizes()) {
        let h = local_harness();
        let got = h.rt.block_on(async {
            let stream = TcpStream::connect(h.addr).await.unwrap();
            let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            let req = Request::post("/")
                .header("host", "localhost")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(serde_json::to_vec(&sizes).unwrap())))
                .unwrap();
            let res = tx.send_request(req).await.unwrap();
            assert_eq!(res.status(), 200);
            res.into_body().collect().await.unwrap().to_bytes()
        });
        prop_assert_eq!(&got[..], &expected(&sizes)[..]);
    }
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}
