//! Any request to the local server's function URL door: the event it builds decodes back to
//! the same method, path and body.
#![no_main]

use lambda_stream::__fuzz;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], &[u8], Vec<(&[u8], &[u8])>, &[u8])| {
    let (method, uri, headers, body) = input;
    __fuzz::local_event_round_trip(method, uri, &headers, body);
});
