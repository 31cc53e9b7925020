//! Entry points for the `cargo fuzz` targets in `fuzz/` and for the seed replay test. Not an API:
//! each function drives the real parsing and checking code on arbitrary bytes and panics when an
//! invariant breaks, which is what libFuzzer reports as a crash.
//!
//! - [`token`]: the bearer token path (Authorization header → header/claims checks → RS256
//!   signature → claims validation) against a verifier holding one fixed, test-only key.
//! - [`admin_form`]: the back office's query-string and form parsers and validators.
//!
//! The first input byte picks a mode; the rest is that mode's input. `fuzz/seeds/` holds the
//! committed seed corpora, written by `fuzz/make_seeds.py` and replayed by `cargo test`.

pub mod admin_form;
#[cfg(test)]
mod seeds;
pub mod token;

/// The input after its mode byte, and the mode (`0..modes`).
fn split_mode(data: &[u8], modes: u8) -> Option<(u8, &[u8])> {
    let (&first, rest) = data.split_first()?;
    Some((first % modes, rest))
}
