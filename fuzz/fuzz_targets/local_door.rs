//! The local server's guard: `Host` and `Origin` parsing and the SigV4 `Authorization` check
//! on any input.
#![no_main]

use lambda_stream_local::__fuzz;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], &[u8], &[u8], &[u8], &[u8])| {
    let (host, origin, authorization, date, rest) = input;
    __fuzz::guard(host, origin, authorization, date, rest);
});
