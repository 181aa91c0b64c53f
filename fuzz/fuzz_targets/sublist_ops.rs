//! Sequences of sublist operations (insert, remove, match, with and without queue groups, over
//! caches of several sizes) decoded from the input and checked against a naive model. Decoding
//! and model live in `natter_sublist::fuzzing`, so the stable corpus replay runs exactly the
//! checks the fuzzer runs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    natter_sublist::fuzzing::run_ops(data);
});
