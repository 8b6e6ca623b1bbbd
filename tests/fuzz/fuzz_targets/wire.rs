//! TFTP, HSRP and VRRP payloads into the `wire` crate's parsers, with round trips of what they
//! accept. Every input goes to all three (corpora: `corpus/tftp`, `corpus/hsrp`, `corpus/vrrp`).
#![no_main]

use std::net::Ipv4Addr;

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    targets::tftp_payload(bytes);
    targets::hsrp_payload(bytes);
    targets::vrrp_payload(bytes, Ipv4Addr::new(10, 1, 0, 2));
});
