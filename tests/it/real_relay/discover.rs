//! The real relay lab's DHCP client: the test `client` below, which does nothing in a plain test
//! run. The lab runs this test binary itself inside its client namespace, with `--exact TEST`
//! and `ARGS` set to the MAC and the xids; the client then broadcasts one DHCPDISCOVER per xid,
//! from 0.0.0.0:68, as a client without an address does.
//!
//! `PXELAB_TEST_DISCOVER="02:00:00:00:00:99 5e1a0001 5e1a0002" it real_relay::discover::client --exact`

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Encodable, Encoder};

/// Between two DISCOVERs, so the relays' copies of each are seen apart.
const SPACING: Duration = Duration::from_millis(300);

fn discover(mac: &[u8; 6], xid: u32) -> Vec<u8> {
    let mut message = Message::new_with_id(
        xid,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        mac,
    );
    message
        .set_opcode(Opcode::BootRequest)
        .set_flags(Flags::default().set_broadcast());
    let opts = message.opts_mut();
    opts.insert(DhcpOption::MessageType(MessageType::Discover));
    opts.insert(DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::Router,
        OptionCode::ClassIdentifier,
    ]));
    opts.insert(DhcpOption::ClassIdentifier(
        b"PXEClient:Arch:00000:UNDI:002001".to_vec(),
    ));
    let mut bytes = Vec::new();
    message
        .encode(&mut Encoder::new(&mut bytes))
        .expect("a DISCOVER encodes");
    bytes
}

fn run(args: &[String]) -> Result<(), String> {
    let (mac, xids) = args.split_first().ok_or("usage: MAC XID...")?;
    let octets: Vec<u8> = mac
        .split(':')
        .map(|part| u8::from_str_radix(part, 16))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("MAC `{mac}`: {e}"))?;
    let mac: [u8; 6] = octets
        .try_into()
        .map_err(|_| format!("MAC `{mac}`: 6 octets"))?;
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 68)).map_err(|e| format!("bind: {e}"))?;
    socket.set_broadcast(true).map_err(|e| e.to_string())?;
    for (index, xid) in xids.iter().enumerate() {
        if index > 0 {
            std::thread::sleep(SPACING);
        }
        let xid = u32::from_str_radix(xid, 16).map_err(|e| format!("xid `{xid}`: {e}"))?;
        socket
            .send_to(&discover(&mac, xid), (Ipv4Addr::BROADCAST, 67))
            .map_err(|e| format!("broadcast: {e}"))?;
    }
    Ok(())
}

/// The variable that makes `client` act: its arguments (`MAC XID...`), separated by spaces.
pub const ARGS: &str = "PXELAB_TEST_DISCOVER";

/// The full name of the `client` test, for `--exact`.
pub const TEST: &str = "real_relay::discover::client";

/// The client, when `ARGS` is set; a failure is a panic, so the process exits non-zero with
/// the error on stderr.
#[test]
fn client() {
    let Some(args) = std::env::var_os(ARGS) else {
        return;
    };
    let args: Vec<String> = args
        .to_string_lossy()
        .split_whitespace()
        .map(String::from)
        .collect();
    if let Err(error) = run(&args) {
        panic!("the DHCP client: {error}");
    }
}
