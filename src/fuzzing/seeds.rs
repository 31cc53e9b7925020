//! The committed seed corpora in `fuzz/seeds/<target>/` (written by `fuzz/make_seeds.py`, plus any
//! input saved from a fuzzing run), replayed through the same entry points as the fuzz targets, so
//! a plain `cargo test` runs every seed without libFuzzer.

use std::path::Path;

use super::{admin_form, token};

/// (name, bytes) of every seed of `target`, sorted by name.
fn read_seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    seeds.sort();
    seeds
}

fn replay(target: &str, run: fn(&[u8])) {
    let seeds = read_seeds(target);
    assert!(seeds.len() >= 100, "only {} {target} seeds", seeds.len());
    let failed: Vec<&str> = seeds
        .iter()
        .filter(|(_, bytes)| std::panic::catch_unwind(|| run(bytes)).is_err())
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(failed.is_empty(), "{target} seeds failing: {failed:?}");
}

#[test]
fn token_seeds_pass() {
    replay("token", token::fuzz);
}

#[test]
fn admin_form_seeds_pass() {
    replay("admin_form", admin_form::fuzz);
}

/// The seeds sign with the committed key and the fixture's constants; a drift between
/// `fuzz/make_seeds.py` and `token.rs` would quietly turn every signed seed into a refusal.
#[test]
fn the_seeds_valid_token_is_accepted() {
    let seeds = read_seeds("token");
    let (_, bearer) = seeds
        .iter()
        .find(|(name, _)| name.ends_with("-auth_bearer"))
        .expect("the auth-bearer seed");
    let header = std::str::from_utf8(&bearer[1..]).unwrap();
    let token = header.strip_prefix("Bearer ").unwrap();
    assert!(token::accepts(token), "the seeds' token is refused");
}
