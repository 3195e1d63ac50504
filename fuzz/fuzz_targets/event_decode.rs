//! Any `/next` payload and headers: decoding never panics.
#![no_main]

use lambda_stream::__fuzz;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], Vec<(&[u8], &[u8])>)| {
    let (payload, headers) = input;
    __fuzz::next_headers(&headers);
    __fuzz::decode_event(payload);
});
