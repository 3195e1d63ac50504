//! Any prelude a function sends the local server: parsing never panics.
#![no_main]

use lambda_stream::__fuzz;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    __fuzz::parse_local_prelude(data);
});
