//! The real relay lab's DHCP client (`tests/real_relay.rs` runs it inside its client namespace):
//! broadcasts one DHCPDISCOVER per xid given on the command line, from 0.0.0.0:68, as a client
//! without an address does, with the MAC given first.
//!
//! `pxelab-test-discover 02:00:00:00:00:99 5e1a0001 5e1a0002 ...`

use std::net::{Ipv4Addr, UdpSocket};
use std::process::ExitCode;
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pxelab-test-discover: {error}");
            ExitCode::from(2)
        }
    }
}
