//! tinypxe: the example of `plugins/README.md`. A proxyDHCP boot server in one page: every PXE
//! DISCOVER gets a proxy offer naming the boot file, every request on port 4011 an ACK, and the
//! file is served by TFTP.

use sdk::dhcp::{self, PXE_CLIENT_CLASS, PXE_PORT, SERVER_PORT};
use sdk::dhcproto::v4::{DhcpOption, MessageType};
use sdk::{Config, Datagram, Env, Level, Plugin, Refusal, tftp};

pub struct TinyPxe {
    boot_file: String,
    tftp: tftp::Server,
}

impl Plugin for TinyPxe {
    // Any other key in the topology's `config:` refuses the start, with a clear message.
    const CONFIG_KEYS: &'static [&'static str] = &["boot_file", "size"];

    fn init(env: &mut dyn Env, config: &Config) -> Result<TinyPxe, Refusal> {
        let boot_file = config.str_or("boot_file", "boot.efi").to_string();
        let size = config.u64_in("size", 20_000, 1..=1_000_000)? as usize;
        let mut tftp = tftp::Server::new(0); // its retransmission timers use tokens from 0
        tftp.add_file(&boot_file, vec![0x90; size]);
        env.log(Level::Info, &format!("tinypxe: serving {boot_file}"));
        Ok(TinyPxe { boot_file, tftp })
    }

    fn on_datagram(&mut self, env: &mut dyn Env, datagram: Datagram) {
        if self.tftp.handles(&datagram) {
            return self.tftp.on_datagram(env, datagram);
        }
        let Some(request) = dhcp::decode(&datagram.payload) else {
            return; // not DHCP: ignore it, never panic
        };
        let kind = match (datagram.dst.port(), dhcp::message_type(&request)) {
            (SERVER_PORT, Some(MessageType::Discover)) => MessageType::Offer,
            (PXE_PORT, Some(MessageType::Request)) => MessageType::Ack,
            _ => return,
        };
        if !dhcp::is_pxe_client(&request) {
            return;
        }
        let own_ip = env.own_ip();
        let mut reply = dhcp::reply_to(&request, kind);
        reply.set_siaddr(own_ip).set_fname_str(&self.boot_file);
        let options = reply.opts_mut();
        options.insert(DhcpOption::ServerIdentifier(own_ip));
        options.insert(DhcpOption::ClassIdentifier(PXE_CLIENT_CLASS.into()));
        // A proxy offer goes to the relay (or broadcast); a 4011 ACK back to its sender.
        let dst = match kind {
            MessageType::Offer => dhcp::reply_destination(&request),
            _ => datagram.src,
        };
        let Ok(payload) = dhcp::encode(&reply) else {
            return;
        };
        let src = std::net::SocketAddrV4::new(own_ip, datagram.dst.port());
        env.send(Datagram { src, dst, payload });
    }

    fn on_timer(&mut self, env: &mut dyn Env, token: u64) {
        self.tftp.on_timer(env, token);
    }
}

sdk::export_plugin!(TinyPxe);

#[cfg(test)]
mod tests {
    use super::*;
    use sdk::testing::MockEnv;
    use std::net::{Ipv4Addr, SocketAddrV4};

    #[test]
    fn a_relayed_discover_gets_a_proxy_offer_back_through_the_relay() {
        let mut env = MockEnv::new(Ipv4Addr::new(10, 2, 0, 30));
        let mut server = env.start::<TinyPxe>(&[("boot_file", "ipxe.efi")]).unwrap();
        let relay = Ipv4Addr::new(10, 1, 0, 2);
        let discover = dhcp::build::pxe_discover(7, [2, 0, 0, 0, 0, 1], relay, 9);
        env.deliver(
            &mut server,
            SocketAddrV4::new(relay, SERVER_PORT),
            SocketAddrV4::new(env.own_ip, SERVER_PORT),
            discover,
        );
        let sent = env.take_sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].dst, SocketAddrV4::new(relay, SERVER_PORT));
        let offer = dhcp::decode(&sent[0].payload).unwrap();
        assert_eq!(dhcp::message_type(&offer), Some(MessageType::Offer));
        assert_eq!(dhcp::boot_file(&offer), Some("ipxe.efi"));
    }

    #[test]
    fn unknown_config_keys_are_refused() {
        let mut env = MockEnv::new(Ipv4Addr::new(10, 2, 0, 30));
        let error = env.start::<TinyPxe>(&[("bootfile", "x")]).err().unwrap();
        assert_eq!(error.key.as_deref(), Some("bootfile"));
    }
}
