//! Behaviour of the proxyDHCP server at its boundary: DISCOVERs and boot-server requests in,
//! proxy offers, ACKs and TFTP blocks out.

use dhcproto::v4::OptionCode;
use sdk::dhcp::build;
use sdk::testing::{MockEnv, tftp_repr};
use wire::tftp::Repr;

use super::*;

const MAC: [u8; 6] = [0x02, 0x50, 0x03, 0x00, 0x00, 0x07];
const XID: u32 = 0x1234_5678;
const ROUTER_A: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
const ROUTER_B: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 3);
const PROXY_IP: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 30);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 100);
const ARCH_BIOS: u16 = 0;
const ARCH_EFI_X64: u16 = 9;

fn start(config: &[(&str, &str)]) -> (MockEnv, ProxyDhcp) {
    let mut env = MockEnv::new(PROXY_IP);
    let proxy = env.start::<ProxyDhcp>(config).unwrap();
    (env, proxy)
}

/// Delivers a DISCOVER as a relay (`via` = its giaddr) or the client itself (`None`) sends it.
fn discover(env: &mut MockEnv, proxy: &mut ProxyDhcp, via: Option<Ipv4Addr>, arch: u16) {
    let (src, dst, giaddr) = match via {
        Some(router) => (
            SocketAddrV4::new(router, SERVER_PORT),
            SocketAddrV4::new(PROXY_IP, SERVER_PORT),
            router,
        ),
        None => (
            SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT),
            SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
            Ipv4Addr::UNSPECIFIED,
        ),
    };
    env.deliver(proxy, src, dst, build::pxe_discover(XID, MAC, giaddr, arch));
}

/// Delivers the client's boot REQUEST to port 4011, from its leased address.
fn boot_request(env: &mut MockEnv, proxy: &mut ProxyDhcp, arch: u16) {
    env.deliver(
        proxy,
        SocketAddrV4::new(CLIENT_IP, CLIENT_PORT),
        SocketAddrV4::new(PROXY_IP, PXE_PORT),
        build::pxe_boot_request(XID, MAC, CLIENT_IP, arch),
    );
}

fn decoded(sent: &[Datagram]) -> Vec<(SocketAddrV4, SocketAddrV4, Message)> {
    sent.iter()
        .map(|d| {
            (
                d.src,
                d.dst,
                dhcp::decode(&d.payload).expect("a DHCP reply"),
            )
        })
        .collect()
}

fn class_identifier(message: &Message) -> Option<&[u8]> {
    match message.opts().get(OptionCode::ClassIdentifier) {
        Some(DhcpOption::ClassIdentifier(class)) => Some(class),
        _ => None,
    }
}

fn vendor_options(message: &Message) -> Option<&[u8]> {
    match message.opts().get(OptionCode::VendorExtensions) {
        Some(DhcpOption::VendorExtensions(bytes)) => Some(bytes),
        _ => None,
    }
}

fn assert_proxy_offer(offer: &Message, giaddr: Ipv4Addr, file: &str) {
    assert_eq!(offer.opcode(), Opcode::BootReply);
    assert_eq!((offer.xid(), offer.chaddr()), (XID, &MAC[..]));
    assert!(offer.flags().broadcast(), "the client's flags are kept");
    assert_eq!(offer.yiaddr(), Ipv4Addr::UNSPECIFIED, "no address offered");
    assert_eq!(offer.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(offer.siaddr(), PROXY_IP);
    assert_eq!(offer.giaddr(), giaddr);
    assert_eq!(dhcp::message_type(offer), Some(MessageType::Offer));
    assert_eq!(dhcp::server_identifier(offer), Some(PROXY_IP));
    assert_eq!(class_identifier(offer), Some(&b"PXEClient"[..]));
    assert_eq!(vendor_options(offer), Some(&PXE_VENDOR_OPTIONS[..]));
    assert_eq!(dhcp::client_guid(offer).map(|g| g.len()), Some(17));
    assert_eq!(dhcp::boot_file(offer), Some(file));
    assert!(offer.opts().get(OptionCode::SubnetMask).is_none());
}

#[test]
fn direct_broadcast_discover_gets_a_broadcast_proxy_offer() {
    let (mut env, mut proxy) = start(&[]);
    discover(&mut env, &mut proxy, None, ARCH_BIOS);
    let sent = decoded(&env.take_sent());
    assert_eq!(sent.len(), 1);
    let (src, dst, offer) = &sent[0];
    assert_eq!(*src, SocketAddrV4::new(PROXY_IP, SERVER_PORT));
    assert_eq!(*dst, SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT));
    assert_proxy_offer(offer, Ipv4Addr::UNSPECIFIED, "pxelinux.0");
    assert_eq!(env.pending_timer_count(), 0, "stateless: nothing scheduled");
}

#[test]
fn each_relayed_copy_gets_its_own_offer_to_its_relay() {
    let (mut env, mut proxy) = start(&[]);
    discover(&mut env, &mut proxy, Some(ROUTER_A), ARCH_EFI_X64);
    discover(&mut env, &mut proxy, Some(ROUTER_B), ARCH_EFI_X64);
    let sent = decoded(&env.take_sent());
    assert_eq!(sent.len(), 2, "no duplicate suppression");
    for ((_, dst, offer), router) in sent.iter().zip([ROUTER_A, ROUTER_B]) {
        assert_eq!(*dst, SocketAddrV4::new(router, SERVER_PORT));
        assert_proxy_offer(offer, router, "bootx64.efi");
    }
    // The same copy again (a relay retransmitting) is answered again too.
    discover(&mut env, &mut proxy, Some(ROUTER_A), ARCH_EFI_X64);
    assert_eq!(env.take_sent().len(), 1);
}

#[test]
fn port_4011_request_gets_an_ack_with_the_boot_file() {
    let (mut env, mut proxy) = start(&[]);
    let client = SocketAddrV4::new(CLIENT_IP, CLIENT_PORT);
    boot_request(&mut env, &mut proxy, ARCH_BIOS);
    let sent = decoded(&env.take_sent());
    assert_eq!(sent.len(), 1, "answered at once");
    let (src, dst, ack) = &sent[0];
    assert_eq!(
        (*src, *dst),
        (SocketAddrV4::new(PROXY_IP, PXE_PORT), client),
        "from 4011 back to where the request came from"
    );
    assert_eq!(ack.opcode(), Opcode::BootReply);
    assert_eq!(dhcp::message_type(ack), Some(MessageType::Ack));
    assert_eq!((ack.xid(), ack.chaddr()), (XID, &MAC[..]));
    assert_eq!(ack.ciaddr(), CLIENT_IP);
    assert_eq!(ack.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(ack.siaddr(), PROXY_IP);
    assert_eq!(dhcp::server_identifier(ack), Some(PROXY_IP));
    assert_eq!(class_identifier(ack), Some(&b"PXEClient"[..]));
    assert_eq!(dhcp::boot_file(ack), Some("pxelinux.0"));
    assert!(dhcp::client_guid(ack).is_some());
}

#[test]
fn boot_file_follows_the_architecture() {
    let config = [
        ("boot_file_bios", "boot\\bios\\lpxelinux.0"),
        ("boot_file_efi", "efi/grubx64.efi"),
    ];
    let (mut env, mut proxy) = start(&config);
    for (arch, file) in [
        (0, "boot\\bios\\lpxelinux.0"),
        (6, "efi/grubx64.efi"),
        (7, "efi/grubx64.efi"),
        (9, "efi/grubx64.efi"),
        (11, "boot\\bios\\lpxelinux.0"),
    ] {
        discover(&mut env, &mut proxy, Some(ROUTER_A), arch);
        boot_request(&mut env, &mut proxy, arch);
        let sent = decoded(&env.take_sent());
        assert_eq!(sent.len(), 2);
        assert_eq!(
            dhcp::boot_file(&sent[0].2),
            Some(file),
            "offer, arch {arch}"
        );
        assert_eq!(dhcp::boot_file(&sent[1].2), Some(file), "ACK, arch {arch}");
    }
}

#[test]
fn non_pxe_messages_and_garbage_are_ignored() {
    let (mut env, mut proxy) = start(&[]);
    let plain = dhcp::encode(&build::client_message(XID, MAC, MessageType::Discover)).unwrap();
    let mut oversized_hlen = build::pxe_discover(XID, MAC, ROUTER_A, 0);
    oversized_hlen[2] = 255;
    // The client's broadcast REQUEST to the DHCP server also reaches the proxy via the helpers.
    let mut request = dhcp::decode(&build::pxe_discover(XID, MAC, ROUTER_A, 0)).unwrap();
    request
        .opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Request));
    let request_on_67 = dhcp::encode(&request).unwrap();
    for (payload, port) in [
        (plain.clone(), SERVER_PORT),
        (plain, PXE_PORT),
        (oversized_hlen, SERVER_PORT),
        (vec![], SERVER_PORT),
        (vec![0xff; 600], PXE_PORT),
        (request_on_67, SERVER_PORT),
        (build::pxe_discover(XID, MAC, ROUTER_A, 0), PXE_PORT),
        (build::pxe_boot_request(XID, MAC, CLIENT_IP, 0), SERVER_PORT),
        (build::pxe_discover(XID, MAC, ROUTER_A, 0), CLIENT_PORT),
    ] {
        env.deliver(
            &mut proxy,
            SocketAddrV4::new(ROUTER_A, SERVER_PORT),
            SocketAddrV4::new(PROXY_IP, port),
            payload,
        );
    }
    assert!(env.take_sent().is_empty());
    assert!(env.logged(Level::Debug, "non-PXE Discover"));
    assert!(env.logged(Level::Debug, "undecodable datagram on port 67"));
    assert!(env.logged(Level::Debug, "Some(Request) on port 67"));
}

#[test]
fn bad_config_is_refused() {
    let mut env = MockEnv::new(PROXY_IP);
    let mut refusal = |config: &[(&str, &str)]| env.start::<ProxyDhcp>(config).err().unwrap();
    assert_eq!(
        refusal(&[("nbp_size", "0")]).key.as_deref(),
        Some("nbp_size")
    );
    let mut refused = |config: &[(&str, &str)]| refusal(config).to_string();
    assert_eq!(
        refused(&[("boot_file", "x")]),
        format!(
            "config `boot_file`: unknown key; expected one of {}",
            CONFIG_KEYS.join(", ")
        )
    );
    assert_eq!(
        refused(&[("nbp_size", "0")]),
        "config `nbp_size`: 0 is out of range; expected 1 to 1048576"
    );
    assert_eq!(
        refused(&[("nbp_size", "big")]),
        "config `nbp_size`: expected a whole number, got `big`"
    );
    assert_eq!(
        refused(&[("boot_file_efi", "")]),
        "config `boot_file_efi`: expected a file name of 1 to 127 bytes, got ``"
    );
    assert!(refused(&[("boot_file_bios", &"x".repeat(128))]).contains("1 to 127 bytes"));
    assert!(refused(&[("nbp_size", "1"), ("nbp_size", "2")]).contains("more than once"));
}

#[test]
fn tftp_serves_the_boot_file_to_completion() {
    let (mut env, mut proxy) = start(&[("nbp_size", "3000")]);
    let client = SocketAddrV4::new(CLIENT_IP, 2070);
    let oack = env.tftp_read_request(&mut proxy, client, PROXY_IP, "BOOTX64.EFI");
    assert_eq!(oack.src, SocketAddrV4::new(PROXY_IP, 49152));
    assert_eq!(
        tftp_repr(&oack),
        Repr::OptionAck {
            options: vec![("tsize", "3000"), ("blksize", "1456")]
        }
    );
    // A lost ACK 0: the OACK comes again after the default one-second timeout.
    env.run_until(&mut proxy, 1_000_000_000);
    assert_eq!(env.take_sent(), std::slice::from_ref(&oack));

    let (received, block) = env.tftp_read_to_end(&mut proxy, client, oack.src);
    assert_eq!(block, 3, "3000 bytes in 1456-byte blocks");
    assert_eq!(received, nbp_content("bootx64.efi", 3000));
    assert_ne!(received, nbp_content("pxelinux.0", 3000));
    env.run_to_idle(&mut proxy, 10);
    assert!(env.take_sent().is_empty(), "nothing after the last ACK");
}

#[test]
fn nbp_content_is_pinned() {
    // The C twin computes the same bytes; a change here must be made there too.
    assert_eq!(
        nbp_content("PXELINUX.0", 8),
        nbp_content("pxelinux.0", 8),
        "names are case-insensitive"
    );
    assert_eq!(
        nbp_content("pxelinux.0", 8),
        [0x63, 0x01, 0x9f, 0x3d, 0xdc, 0x7a, 0x18, 0xb6]
    );
}

#[cfg(feature = "variants")]
#[test]
fn offer_to_broadcast_broadcasts_even_a_relayed_offer() {
    let router = Ipv4Addr::new(10, 1, 0, 2);
    let (mut env, mut proxy) = start(&[("offer_to", "broadcast")]);
    discover(&mut env, &mut proxy, Some(router), 0);
    let sent = decoded(&env.take_sent());
    assert_eq!(
        sent[0].1,
        SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT)
    );
    let (mut env, mut proxy) = start(&[("offer_to", "giaddr")]);
    discover(&mut env, &mut proxy, Some(router), 0);
    assert_eq!(
        decoded(&env.take_sent())[0].1,
        SocketAddrV4::new(router, SERVER_PORT)
    );
    let mut env = MockEnv::new(PROXY_IP);
    let error = env
        .start::<ProxyDhcp>(&[("offer_to", "everyone")])
        .err()
        .unwrap();
    assert!(
        error.message.contains("`giaddr` or `broadcast`"),
        "{error:?}"
    );
}
