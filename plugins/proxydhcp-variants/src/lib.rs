//! `proxydhcp` with `offer_to: broadcast`, a proxy that broadcasts its offers on its own LAN even
//! for a relayed DISCOVER (bootimus issue #129), for the scenario library. It is the same source
//! file, compiled here with the `variants` feature: `proxydhcp` itself (and its C twin) is built
//! without that code, so its simulated CPU cost, and every shipped run's digest, stays what it
//! was.

#[path = "../../proxydhcp/src/lib.rs"]
pub mod server;
