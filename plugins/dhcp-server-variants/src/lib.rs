//! `dhcp-server` with the configuration keys that reproduce other DHCP servers' behaviour (an
//! ISC dhcpd failover peer's load balancing, option 60 in every offer, PXE clients denied, Tiny
//! PXE Server's per-DISCOVER allocator), for the scenario library. It is the same source file,
//! compiled here with the `variants` feature: `dhcp-server` itself is built without that code,
//! so its simulated CPU cost, and every shipped run's digest, stays what it was.

#[path = "../../dhcp-server/src/lib.rs"]
pub mod server;
