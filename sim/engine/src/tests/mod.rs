//! The world with several nodes at once: LANs (`lan`), HSRP and VRRP groups on the wire
//! (`redundancy`) and the DHCP relay (`relay`), driven by scripted `tap` hosts.

mod lan;
mod redundancy;
mod relay;
