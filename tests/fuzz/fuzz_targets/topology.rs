//! Text into the topology loader: it loads or fails with an error located in the text (corpus:
//! `topologies/` and `tests/broken/`).
#![no_main]

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let _ = targets::topology(&text);
});
