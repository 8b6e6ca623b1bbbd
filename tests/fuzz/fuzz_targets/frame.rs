//! Whole Ethernet frames into every parser the simulator has for them (corpus: `corpus/frames`).
#![no_main]

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    targets::frame(bytes, &|_| {});
});
