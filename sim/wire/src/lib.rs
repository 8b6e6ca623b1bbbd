//! Typed views over the bytes of protocols pxelab encodes itself, in the style of smoltcp's
//! `wire` module: a `Packet` view validated once by `new_checked`, and a `Repr` that parses and
//! emits it. Protocols with a good existing crate (Ethernet, IPv4, UDP, DHCP) are not repeated here.
//!
//! - [`dhcp`]: the one DHCP decoder (dhcproto behind the checks it leaves to its caller), shared
//!   by the engine and the plugin SDK, and the DHCP and PXE ports.
//! - [`tftp`]: TFTP with option negotiation, for the boot files.
//! - [`hsrp`]: HSRP v1 and v2 hellos, for the redundant router pair.
//! - [`vrrp`]: VRRP v2 and v3 advertisements over IPv4, the standard alternative to HSRP.
//! - [`checksum`]: the RFC 1071 Internet checksum VRRP needs.

pub mod checksum;
pub mod dhcp;
#[cfg(test)]
mod fuzz;
pub mod hsrp;
pub mod tftp;
pub mod vrrp;
