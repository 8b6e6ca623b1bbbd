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

/// Defines the parts of a protocol's view that do not depend on the protocol: its
/// malformed-packet `Error` and the `Packet<T: AsRef<[u8]>>` wrapper with `new_unchecked`,
/// `new_checked` and `into_inner`. The protocol module writes the rest, starting with the
/// `fn check(&self) -> Result<(), Error>` that `new_checked` runs.
macro_rules! packet_view {
    (
        $(#[$error_doc:meta])*
        Error: $message:literal;
        $(#[$packet_doc:meta])*
        Packet;
        $(#[$checked_doc:meta])*
        new_checked;
    ) => {
        $(#[$error_doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Error;

        impl core::fmt::Display for Error {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str($message)
            }
        }

        impl std::error::Error for Error {}

        $(#[$packet_doc])*
        #[derive(Debug, Clone)]
        pub struct Packet<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> Packet<T> {
            /// Wraps a buffer without checking it; accessors may then return garbage (0, `None`,
            /// empty) but never panic. Use for emitting into a buffer of `Repr::buffer_len` bytes.
            pub const fn new_unchecked(buffer: T) -> Packet<T> {
                Packet { buffer }
            }

            $(#[$checked_doc])*
            pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
                let packet = Packet::new_unchecked(buffer);
                packet.check()?;
                Ok(packet)
            }

            pub fn into_inner(self) -> T {
                self.buffer
            }
        }
    };
}

pub mod checksum;
pub mod dhcp;
#[cfg(test)]
mod fuzz;
pub mod hsrp;
pub mod tftp;
pub mod vrrp;
