//! Any response head: the prelude is JSON without NUL, and the local server reads back the
//! status and headers it carries.
#![no_main]

use lambda_stream::__fuzz;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, Vec<(&[u8], &[u8])>, u8)| {
    let (status, headers, format) = input;
    __fuzz::encode_response_head(status, &headers, format);
});
