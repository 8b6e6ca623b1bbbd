//! DHCP decoding for every place the engine reads a DHCP message off the wire: the shared
//! decoder of `wire::dhcp` (also the plugin SDK's), so a malformed message is an `Err`, never a
//! panic, and the engine and the plugins refuse the same bytes.

pub use wire::dhcp::{DecodeError, decode};
