//! Any error type and message: the `/error` body and the error trailers carry them intact.
#![no_main]

use lambda_stream::__fuzz;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str)| {
    let (error_type, message) = input;
    __fuzz::encode_diagnostic(error_type, message);
});
