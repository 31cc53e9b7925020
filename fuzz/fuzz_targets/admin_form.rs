//! The back office's query-string and form parsers, validators and the links built from them.
//! See `gatehouse::fuzzing::admin_form` for the modes and the invariants checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gatehouse::fuzzing::admin_form::fuzz(data);
});
