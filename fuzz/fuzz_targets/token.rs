//! The bearer token path: Authorization header → header/claims checks → RS256 signature →
//! claims validation, against a verifier holding one fixed test-only key.
//! See `gatehouse::fuzzing::token` for the modes and the invariants checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        gatehouse::fuzzing::token::init();
    },
    |data: &[u8]| {
        gatehouse::fuzzing::token::fuzz(data);
    }
);
