//! Typed views over the bytes of protocols pxelab encodes itself, in the style of smoltcp's
//! `wire` module: a `Packet` view validated once by `new_checked`, and a `Repr` that parses and
//! emits it. Protocols with a good existing crate (Ethernet, IPv4, UDP, DHCP) are not repeated here.

pub mod tftp;
