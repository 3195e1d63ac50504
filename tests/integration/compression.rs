//! The README's first program's body behind tower-http's `CompressionLayer`, for a gzip
//! caller (every browser is one): each line is flushed through the compressor as it is
//! produced, and the stream ends cleanly. The compression layer polls a body again after its
//! end (tower-http #732); `lambda_stream::StreamBody` stays ended, where a bare
//! `stream::unfold` panics and the caller loses the end of the response.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::time::Duration;

use futures_util::stream;
use http::{Request, Response};
use lambda_stream::testing::{TestClient, TestResponse};
use lambda_stream::{Body, Bytes, StreamBody};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;

/// The README's first program's service, as it is (`lambda_stream::run(...)` takes it).
async fn readme_first_program(
    _req: Request<Bytes>,
) -> Result<
    Response<StreamBody<impl futures_util::Stream<Item = Result<String, Infallible>>>>,
    Infallible,
> {
    let lines = stream::unfold(1, |n| async move {
        if n > 3 {
            return None;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        Some((Ok::<_, Infallible>(format!("Number: {n}\n")), n + 1))
    });
    Ok::<_, Infallible>(
        Response::builder()
            .header("content-type", "text/plain")
            .body(StreamBody::new(lines))
            .expect("valid response"),
    )
}

async fn get_gzip(client: &TestClient) -> TestResponse {
    let req = Request::get("/")
        .header("accept-encoding", "gzip")
        .body(Body::empty())
        .unwrap();
    client.request(req).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_readme_body_under_gzip_streams_each_line_live_and_ends_cleanly() {
    let client = TestClient::new(
        ServiceBuilder::new()
            .layer(CompressionLayer::new())
            .service_fn(readme_first_program),
    );
    let res = get_gzip(&client).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    // A clean end: no error trailers (a panic would be `Function.Panic`), the stream complete.
    assert!(res.error().is_none(), "{:?}", res.error());
    assert!(res.is_complete());

    // The whole body is one complete gzip stream of all the lines.
    let mut text = String::new();
    flate2::read::GzDecoder::new(&res.body()[..])
        .read_to_string(&mut text)
        .expect("a complete gzip stream");
    assert_eq!(text, "Number: 1\nNumber: 2\nNumber: 3\n");

    // Line n is decodable at n seconds, when it is produced, a second before line n + 1.
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    let mut decodable_at = Vec::new();
    for chunk in res.chunks() {
        decoder.write_all(chunk.bytes()).unwrap();
        decoder.flush().unwrap();
        let lines = decoder.get_ref().iter().filter(|&&b| b == b'\n').count();
        while decodable_at.len() < lines {
            decodable_at.push(chunk.arrived_at() - res.sent_at());
        }
    }
    let expected: Vec<_> = (1..=3).map(Duration::from_secs).collect();
    assert_eq!(decodable_at, expected, "{:?}", res.chunks());
}
