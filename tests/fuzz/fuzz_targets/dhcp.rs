//! BOOTP/DHCP payloads into the simulator's DHCP decoders (corpus: `corpus/dhcp`).
#![no_main]

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    targets::dhcp_payload(bytes);
});
