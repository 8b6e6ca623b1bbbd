//! The pxelab simulation core, sans IO: virtual time, seeded streams, LANs carrying real
//! Ethernet/IPv4/UDP bytes, routers with DHCP relay, PXE clients, and server hosts whose services
//! sit behind the `App` trait. It knows no files, YAML, wasmtime, tokio or HTTP.

pub mod app;
pub mod arp;
pub mod bridge;
pub mod client;
pub mod decode;
pub mod dhcp;
pub mod event;
pub mod firmware;
pub mod frame;
pub mod log;
pub mod redundancy;
pub mod report;
pub mod rng;
pub mod router;
pub mod scripted;
pub mod server;
mod stored;
pub mod subnet;
pub mod world;

pub use app::{App, AppContext, Datagram, Effect, Failure, Input};
pub use event::{ClientEvent, DropReason, RedundancyChange, ServiceEvent};
pub use log::{EventLog, Frame, Kind, Level, Record};
pub use report::{Crash, Report};
pub use rng::Stream;
pub use world::{Builder, Finished, Limits, Node, StopReason, World};

#[cfg(test)]
mod tests;
