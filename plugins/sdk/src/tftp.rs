//! A read-only TFTP server (RFC 1350 with RFC 2347/2348/2349 options) for plugins that serve
//! network boot programs. The plugin owns the files and routes to it the datagrams for port 69
//! and for the server's transfer ports, and the timers in its token range.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::sync::Arc;

use wire::tftp::{self, Packet, Repr, error_code};

use crate::{Datagram, Env, Level};

pub const PORT: u16 = 69;
/// Transfers answer from the dynamic port range (RFC 6335), allocated in order so runs repeat.
const TRANSFER_PORT_FIRST: u16 = 49152;
const TIMEOUT_DEFAULT_NS: u64 = 1_000_000_000;
const TIMEOUT_SECS_RANGE: std::ops::RangeInclusive<u64> = 1..=255;
/// Retransmissions of one packet before the transfer is abandoned.
const RETRANSMISSIONS_MAX: u32 = 5;
/// Concurrent transfers; a boot storm beyond this gets "server busy" rather than unbounded state.
const TRANSFERS_MAX: usize = 1024;
/// Timer tokens used by one server: `token_base .. token_base + TOKEN_SPAN`.
pub const TOKEN_SPAN: u64 = 1 << 48;
/// How much of a given file one `Env::read_file` call asks for.
const READ_CHUNK_BYTES: u32 = 1 << 20;

struct Transfer {
    peer: SocketAddrV4,
    filename: String,
    content: Arc<[u8]>,
    blksize: usize,
    timeout_ns: u64,
    /// Unwrapped number of the last block sent; 0 while the OACK waits for ACK 0.
    block: u64,
    last_packet: Vec<u8>,
    retransmissions: u32,
    /// Distinguishes the live retransmission timer from ones made stale by a newer packet.
    timer_generation: u64,
}

impl Transfer {
    /// The last block is the first one shorter than `blksize`: empty when the size is a multiple.
    fn final_block(&self) -> u64 {
        (self.content.len() / self.blksize) as u64 + 1
    }

    fn block_data(&self, block: u64) -> &[u8] {
        let start = ((block - 1) as usize)
            .saturating_mul(self.blksize)
            .min(self.content.len());
        let end = start.saturating_add(self.blksize).min(self.content.len());
        &self.content[start..end]
    }
}

/// A read-only TFTP server over a set of named files.
pub struct Server {
    files: BTreeMap<String, Arc<[u8]>>,
    transfers: BTreeMap<u16, Transfer>,
    next_port: u16,
    token_base: u64,
    /// The largest `blksize` the server agrees to (WDS's `MaximumBlockSize`).
    blksize_max: usize,
}

/// File names are compared case-insensitively with `\` and `/` equivalent, as Windows TFTP
/// servers do, and without a leading separator.
fn normalize(name: &str) -> String {
    name.trim_start_matches(['/', '\\'])
        .replace('\\', "/")
        .to_ascii_lowercase()
}

/// Deterministic stand-in content for a boot file: a function of the byte index and a hash of
/// the lower-cased name (matching the server's case-insensitive names), so a client can tell
/// two files apart.
pub fn synthetic_file(name: &str, size: usize) -> Vec<u8> {
    // FNV-1a over the lower-cased name.
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in name.to_ascii_lowercase().bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..size as u64)
        .map(|index| (hash.wrapping_add(index).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
        .collect()
}

impl Server {
    /// A server whose retransmission timers use tokens `token_base .. token_base + TOKEN_SPAN`.
    pub fn new(token_base: u64) -> Server {
        Server {
            files: BTreeMap::new(),
            transfers: BTreeMap::new(),
            next_port: TRANSFER_PORT_FIRST,
            token_base,
            blksize_max: tftp::BLKSIZE_ETHERNET,
        }
    }

    /// Agree to no `blksize` above `max` (at least RFC 2348's 8, at most what one Ethernet
    /// frame carries): a path with a smaller MTU than Ethernet's needs it (WDS's
    /// `MaximumBlockSize`, Microsoft KB975710).
    pub fn limit_blksize(&mut self, max: usize) {
        self.blksize_max = max.clamp(tftp::BLKSIZE_MIN, tftp::BLKSIZE_ETHERNET);
    }

    pub fn add_file(&mut self, name: &str, content: Vec<u8>) {
        self.files.insert(normalize(name), content.into());
    }

    /// Serves the files the topology gives this server (`Env::files`, its `files:`), each in
    /// place of a file of the same name added before (a synthetic boot file), so call it after
    /// `add_file`. Logs each file; returns how many there are. Without `files:` it does
    /// nothing and logs nothing, so a run without given files is the run it always was.
    pub fn serve_given_files(&mut self, env: &mut dyn Env) -> usize {
        let files = env.files();
        for (name, size) in &files {
            let mut content = Vec::new();
            while (content.len() as u64) < *size {
                let chunk = env.read_file(name, content.len() as u64, READ_CHUNK_BYTES);
                if chunk.is_empty() {
                    break;
                }
                content.extend_from_slice(&chunk);
            }
            env.log(
                Level::Info,
                &format!("tftp: serving {name} as given ({} bytes)", content.len()),
            );
            self.add_file(name, content);
        }
        files.len()
    }

    /// Whether `datagram` is for this server: port 69 or a live transfer's port.
    pub fn handles(&self, datagram: &Datagram) -> bool {
        let port = datagram.dst.port();
        port == PORT || self.transfers.contains_key(&port)
    }

    pub fn owns_timer(&self, token: u64) -> bool {
        token
            .checked_sub(self.token_base)
            .is_some_and(|offset| offset < TOKEN_SPAN)
    }

    pub fn active_transfers(&self) -> usize {
        self.transfers.len()
    }

    pub fn on_datagram(&mut self, env: &mut dyn Env, datagram: Datagram) {
        let Ok(packet) = Packet::new_checked(&datagram.payload[..]) else {
            env.log(
                Level::Debug,
                &format!("tftp: malformed packet from {} ignored", datagram.src),
            );
            return;
        };
        let Ok(repr) = Repr::parse(&packet) else {
            return;
        };
        if datagram.dst.port() == PORT {
            self.on_request(env, datagram.src, repr);
        } else {
            self.on_transfer_packet(env, datagram.dst.port(), datagram.src, repr);
        }
    }

    pub fn on_timer(&mut self, env: &mut dyn Env, token: u64) {
        let Some(offset) = token.checked_sub(self.token_base) else {
            return;
        };
        let port = (offset & 0xffff) as u16;
        let generation = offset >> 16;
        let Some(transfer) = self.transfers.get_mut(&port) else {
            return;
        };
        if transfer.timer_generation & 0xffff_ffff != generation {
            return;
        }
        if transfer.retransmissions >= RETRANSMISSIONS_MAX {
            env.log(
                Level::Warning,
                &format!(
                    "tftp: {} to {} abandoned after {RETRANSMISSIONS_MAX} retransmissions of block {}",
                    transfer.filename, transfer.peer, transfer.block
                ),
            );
            self.transfers.remove(&port);
            return;
        }
        transfer.retransmissions += 1;
        env.log(
            Level::Debug,
            &format!(
                "tftp: retransmitting block {} of {} to {}",
                transfer.block, transfer.filename, transfer.peer
            ),
        );
        let packet = transfer.last_packet.clone();
        Self::send(env, port, transfer.peer, packet);
        self.arm_timer(env, port);
    }

    fn on_request(&mut self, env: &mut dyn Env, client: SocketAddrV4, repr: Repr<'_>) {
        let (filename, mode, options) = match repr {
            Repr::ReadRequest {
                filename,
                mode,
                options,
            } => (filename, mode, options),
            Repr::WriteRequest { filename, .. } => {
                env.log(
                    Level::Info,
                    &format!("tftp: write request for {filename} from {client} refused"),
                );
                self.reply_error(
                    env,
                    client,
                    error_code::ACCESS_VIOLATION,
                    "Read-only server",
                );
                return;
            }
            _ => {
                env.log(
                    Level::Debug,
                    &format!("tftp: non-request packet to port {PORT} from {client} ignored"),
                );
                return;
            }
        };
        if !mode.eq_ignore_ascii_case("octet") {
            env.log(
                Level::Info,
                &format!("tftp: {filename} requested in mode {mode} by {client}: refused"),
            );
            self.reply_error(
                env,
                client,
                error_code::NOT_DEFINED,
                "Only octet mode is supported",
            );
            return;
        }
        let Some(content) = self.files.get(&normalize(filename)).cloned() else {
            env.log(
                Level::Info,
                &format!("tftp: {filename} requested by {client}: not found"),
            );
            self.reply_error(env, client, error_code::FILE_NOT_FOUND, "File not found");
            return;
        };
        if self.transfers.len() >= TRANSFERS_MAX {
            env.log(
                Level::Warning,
                &format!("tftp: {TRANSFERS_MAX} transfers active, {client} refused"),
            );
            self.reply_error(env, client, error_code::NOT_DEFINED, "Server busy");
            return;
        }

        let mut transfer = Transfer {
            peer: client,
            filename: filename.to_string(),
            content,
            blksize: tftp::BLKSIZE_DEFAULT,
            timeout_ns: TIMEOUT_DEFAULT_NS,
            block: 0,
            last_packet: Vec::new(),
            retransmissions: 0,
            timer_generation: 0,
        };
        let mut accepted: Vec<(&str, String)> = Vec::new();
        for (name, value) in options {
            let name = name.to_ascii_lowercase();
            // A repeated option is answered once, from its first occurrence.
            if accepted.iter().any(|(seen, _)| *seen == name) {
                continue;
            }
            match name.as_str() {
                // Below the minimum the option is ignored (RFC 2348); above the maximum the
                // server answers with the largest size it allows.
                "blksize" => match value.parse::<usize>() {
                    Ok(size) if size >= tftp::BLKSIZE_MIN => {
                        // RFC 2348: the server may answer with a smaller size. Larger
                        // blocks would need IP fragmentation, which the network never does.
                        transfer.blksize = size.min(self.blksize_max);
                        accepted.push(("blksize", transfer.blksize.to_string()));
                    }
                    _ => {}
                },
                "tsize" => accepted.push(("tsize", transfer.content.len().to_string())),
                "timeout" => match value.parse::<u64>() {
                    Ok(secs) if TIMEOUT_SECS_RANGE.contains(&secs) => {
                        transfer.timeout_ns = secs * 1_000_000_000;
                        accepted.push(("timeout", secs.to_string()));
                    }
                    _ => {}
                },
                _ => {}
            }
        }

        let port = self.allocate_port();
        env.log(
            Level::Info,
            &format!(
                "tftp: sending {filename} ({} bytes, blksize {}) to {client} from port {port}",
                transfer.content.len(),
                transfer.blksize
            ),
        );
        if accepted.is_empty() {
            transfer.block = 1;
            transfer.last_packet = Repr::Data {
                block: 1,
                data: transfer.block_data(1),
            }
            .to_bytes();
        } else {
            let options = accepted.iter().map(|(n, v)| (*n, v.as_str())).collect();
            transfer.last_packet = Repr::OptionAck { options }.to_bytes();
        }
        Self::send(env, port, client, transfer.last_packet.clone());
        self.transfers.insert(port, transfer);
        self.arm_timer(env, port);
    }

    fn on_transfer_packet(
        &mut self,
        env: &mut dyn Env,
        port: u16,
        src: SocketAddrV4,
        repr: Repr<'_>,
    ) {
        let Some(transfer) = self.transfers.get_mut(&port) else {
            return;
        };
        if src != transfer.peer {
            // RFC 1350: a packet from a stranger gets an error and does not disturb the transfer.
            let error = Repr::Error {
                code: error_code::UNKNOWN_TRANSFER_ID,
                message: "Unknown transfer ID",
            };
            Self::send(env, port, src, error.to_bytes());
            return;
        }
        match repr {
            Repr::Ack { block } if block == transfer.block as u16 => {
                if transfer.block == transfer.final_block() {
                    env.log(
                        Level::Info,
                        &format!(
                            "tftp: {} to {} complete ({} blocks)",
                            transfer.filename, src, transfer.block
                        ),
                    );
                    self.transfers.remove(&port);
                    return;
                }
                transfer.block += 1;
                transfer.retransmissions = 0;
                let next = transfer.block;
                transfer.last_packet = Repr::Data {
                    block: next as u16,
                    data: transfer.block_data(next),
                }
                .to_bytes();
                Self::send(env, port, src, transfer.last_packet.clone());
                self.arm_timer(env, port);
            }
            // A duplicate ACK is not answered, or both copies of every later block would be
            // sent again (the Sorcerer's Apprentice bug, RFC 1123 4.2.3.1).
            Repr::Ack { .. } => {}
            Repr::Error { code, message } => {
                env.log(
                    Level::Info,
                    &format!(
                        "tftp: {} to {src} ended by the client: error {code} {message}",
                        transfer.filename
                    ),
                );
                self.transfers.remove(&port);
            }
            _ => env.log(
                Level::Debug,
                &format!("tftp: unexpected packet from {src} on port {port} ignored"),
            ),
        }
    }

    fn reply_error(&mut self, env: &mut dyn Env, client: SocketAddrV4, code: u16, message: &str) {
        let port = self.allocate_port();
        Self::send(env, port, client, Repr::Error { code, message }.to_bytes());
    }

    /// The next port of the dynamic range not used by a live transfer. There are more ports in
    /// the range than `TRANSFERS_MAX`, so the search always ends.
    fn allocate_port(&mut self) -> u16 {
        loop {
            let port = self.next_port;
            self.next_port = if port == u16::MAX {
                TRANSFER_PORT_FIRST
            } else {
                port + 1
            };
            if !self.transfers.contains_key(&port) {
                return port;
            }
        }
    }

    fn arm_timer(&mut self, env: &mut dyn Env, port: u16) {
        if let Some(transfer) = self.transfers.get_mut(&port) {
            transfer.timer_generation = transfer.timer_generation.wrapping_add(1);
            let token = self.token_base
                + (((transfer.timer_generation & 0xffff_ffff) << 16) | u64::from(port));
            env.set_timer(transfer.timeout_ns, token);
        }
    }

    fn send(env: &mut dyn Env, port: u16, peer: SocketAddrV4, payload: Vec<u8>) {
        let src = SocketAddrV4::new(env.own_ip(), port);
        env.send(Datagram {
            src,
            dst: peer,
            payload,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::testing::MockEnv;
    use crate::{Config, Plugin};

    const TOKEN_BASE: u64 = 1 << 60;

    /// The smallest plugin around a TFTP server, to drive it through MockEnv.
    struct Files(Server);

    impl Plugin for Files {
        const CONFIG_KEYS: &'static [&'static str] = &[];

        fn init(env: &mut dyn Env, _config: &Config) -> Result<Files, crate::Refusal> {
            let mut server = Server::new(TOKEN_BASE);
            server.add_file(
                "Boot\\x64\\nbp.efi",
                (0..3000u32).map(|i| (i % 251) as u8).collect(),
            );
            server.add_file("exact", vec![7; 1024]);
            server.serve_given_files(env);
            Ok(Files(server))
        }

        fn on_datagram(&mut self, env: &mut dyn Env, datagram: Datagram) {
            if self.0.handles(&datagram) {
                self.0.on_datagram(env, datagram);
            }
        }

        fn on_timer(&mut self, env: &mut dyn Env, token: u64) {
            if self.0.owns_timer(token) {
                self.0.on_timer(env, token);
            }
        }
    }

    fn server_ip() -> Ipv4Addr {
        Ipv4Addr::new(10, 2, 0, 20)
    }

    fn client() -> SocketAddrV4 {
        "10.1.0.100:2070".parse().unwrap()
    }

    /// A started server and its one answer to `first`, a request from `client()`.
    fn start(first: Repr<'_>) -> (MockEnv, Files, Datagram) {
        let mut env = MockEnv::new(server_ip());
        let mut files = env.start::<Files>(&[]).unwrap();
        let answer = request(&mut env, &mut files, first);
        (env, files, answer)
    }

    fn request(env: &mut MockEnv, files: &mut Files, repr: Repr<'_>) -> Datagram {
        env.deliver(
            files,
            client(),
            SocketAddrV4::new(server_ip(), PORT),
            repr.to_bytes(),
        );
        let mut sent = env.take_sent();
        assert_eq!(sent.len(), 1);
        sent.remove(0)
    }

    fn parse(datagram: &Datagram) -> Repr<'_> {
        Repr::parse(&Packet::new_checked(&datagram.payload[..]).unwrap()).unwrap()
    }

    fn rrq<'a>(filename: &'a str, mode: &'a str, options: &[(&'a str, &'a str)]) -> Repr<'a> {
        Repr::ReadRequest {
            filename,
            mode,
            options: options.to_vec(),
        }
    }

    /// Delivers an ACK of `block` from `from` to the transfer port `to`.
    fn ack(env: &mut MockEnv, files: &mut Files, from: SocketAddrV4, to: SocketAddrV4, block: u16) {
        env.deliver(files, from, to, Repr::Ack { block }.to_bytes());
    }

    /// ACKs every block until the transfer ends; returns the bytes received and block count.
    fn receive(
        env: &mut MockEnv,
        files: &mut Files,
        first: Datagram,
        blksize: usize,
    ) -> (Vec<u8>, usize) {
        let server = first.src;
        let mut content = Vec::new();
        let mut packet = first;
        let mut blocks = 0;
        loop {
            let Repr::Data { block, data } = parse(&packet) else {
                panic!("expected DATA")
            };
            assert_eq!(
                packet.src, server,
                "every block comes from the transfer port"
            );
            content.extend_from_slice(data);
            blocks += 1;
            let last = data.len() < blksize;
            ack(env, files, client(), server, block);
            if last {
                assert!(env.take_sent().is_empty());
                return (content, blocks);
            }
            let mut sent = env.take_sent();
            assert_eq!(sent.len(), 1);
            packet = sent.remove(0);
        }
    }

    #[test]
    fn rrq_with_options_gets_oack_then_the_whole_file() {
        let (mut env, mut files, oack) = start(rrq(
            "/boot/X64/NBP.efi",
            "octet",
            &[("blksize", "1456"), ("tsize", "0"), ("unknown", "1")],
        ));
        assert_eq!(oack.src, SocketAddrV4::new(server_ip(), 49152));
        assert_eq!(
            parse(&oack),
            Repr::OptionAck {
                options: vec![("blksize", "1456"), ("tsize", "3000")]
            }
        );
        ack(&mut env, &mut files, client(), oack.src, 0);
        let first = env.take_sent().remove(0);
        let (content, blocks) = receive(&mut env, &mut files, first, 1456);
        assert_eq!(blocks, 3);
        assert_eq!(
            content,
            (0..3000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>()
        );
        assert_eq!(files.0.active_transfers(), 0);
    }

    #[test]
    fn rrq_without_options_starts_with_data_and_ends_with_an_empty_block() {
        let (mut env, mut files, first) = start(rrq("EXACT", "OCTET", &[]));
        let (content, blocks) = receive(&mut env, &mut files, first, 512);
        assert_eq!(content.len(), 1024);
        assert_eq!(blocks, 3, "two full blocks and an empty final one");
    }

    #[test]
    fn errors_for_missing_files_and_other_modes() {
        let (mut env, mut files, reply) = start(rrq("nope", "octet", &[]));
        assert_eq!(
            parse(&reply),
            Repr::Error {
                code: 1,
                message: "File not found"
            }
        );
        let reply = request(&mut env, &mut files, rrq("exact", "netascii", &[]));
        assert!(matches!(parse(&reply), Repr::Error { code: 0, .. }));
        let reply = request(
            &mut env,
            &mut files,
            Repr::WriteRequest {
                filename: "x",
                mode: "octet",
                options: vec![],
            },
        );
        assert!(matches!(parse(&reply), Repr::Error { code: 2, .. }));
        assert_eq!(files.0.active_transfers(), 0);
    }

    #[test]
    fn a_limited_server_agrees_to_no_larger_block() {
        let mut env = MockEnv::new(server_ip());
        let mut files = env.start::<Files>(&[]).unwrap();
        files.0.limit_blksize(1024);
        let oack = request(
            &mut env,
            &mut files,
            rrq("exact", "octet", &[("blksize", "1468")]),
        );
        assert_eq!(
            parse(&oack),
            Repr::OptionAck {
                options: vec![("blksize", "1024")]
            }
        );
        ack(&mut env, &mut files, client(), oack.src, 0);
        let first = env.take_sent().remove(0);
        assert_eq!(first.payload.len(), 4 + 1024);
    }

    #[test]
    fn blksize_is_clamped_and_timeout_honoured() {
        let (env, _files, oack) = start(rrq(
            "exact",
            "octet",
            &[
                ("blksize", "70000"),
                ("timeout", "3"),
                ("BLKSIZE", "1024"),
                ("tsize", "0"),
            ],
        ));
        assert_eq!(
            parse(&oack),
            Repr::OptionAck {
                options: vec![("blksize", "1468"), ("timeout", "3"), ("tsize", "1024")]
            }
        );
        assert_eq!(env.next_timer_ns(), Some(3_000_000_000));
    }

    #[test]
    fn given_files_replace_the_synthetic_ones_and_add_to_them() {
        let mut env = MockEnv::new(server_ip());
        let real: Vec<u8> = (0..2000u32).map(|i| (i % 13) as u8).collect();
        env.files
            .insert("Boot\\x64\\nbp.efi".to_string(), real.clone());
        env.files.insert(
            "pxelinux.cfg/default".to_string(),
            b"DEFAULT local".to_vec(),
        );
        let mut files = env.start::<Files>(&[]).unwrap();
        let first = request(&mut env, &mut files, rrq("boot/x64/nbp.efi", "octet", &[]));
        let (content, _) = receive(&mut env, &mut files, first, 512);
        assert_eq!(content, real);
        let first = request(
            &mut env,
            &mut files,
            rrq("pxelinux.cfg/default", "octet", &[]),
        );
        let (content, _) = receive(&mut env, &mut files, first, 512);
        assert_eq!(content, b"DEFAULT local");
        // The synthetic files of other names are still there.
        let first = request(&mut env, &mut files, rrq("exact", "octet", &[]));
        assert_eq!(receive(&mut env, &mut files, first, 512).0, vec![7; 1024]);
        assert!(env.logged(
            Level::Info,
            "serving pxelinux.cfg/default as given (13 bytes)"
        ));
    }

    #[test]
    fn without_given_files_nothing_changes_and_nothing_is_logged() {
        let mut env = MockEnv::new(server_ip());
        let mut server = Server::new(TOKEN_BASE);
        assert_eq!(server.serve_given_files(&mut env), 0);
        assert!(env.logs.is_empty());
        assert!(server.files.is_empty());
    }

    #[test]
    fn retransmits_five_times_then_gives_up() {
        let (mut env, mut files, first) = start(rrq("exact", "octet", &[]));
        env.run_to_idle(&mut files, 100);
        let retransmissions = env.take_sent();
        assert_eq!(retransmissions.len(), 5);
        assert!(retransmissions.iter().all(|d| d == &first));
        assert_eq!(env.now_ns, 6_000_000_000);
        assert_eq!(files.0.active_transfers(), 0);
        assert!(env.logged(Level::Warning, "abandoned"));
    }

    #[test]
    fn duplicate_acks_and_strangers_do_not_disturb_a_transfer() {
        let (mut env, mut files, first) = start(rrq("exact", "octet", &[]));
        ack(&mut env, &mut files, client(), first.src, 1);
        assert_eq!(env.take_sent().len(), 1);
        ack(&mut env, &mut files, client(), first.src, 1);
        assert!(env.take_sent().is_empty(), "duplicate ACK answered");
        let stranger: SocketAddrV4 = "10.1.0.101:2070".parse().unwrap();
        ack(&mut env, &mut files, stranger, first.src, 2);
        let reply = env.take_sent();
        assert_eq!(reply[0].dst, stranger);
        assert!(matches!(parse(&reply[0]), Repr::Error { code: 5, .. }));
        env.deliver(&mut files, client(), first.src, b"\x00\x04garbage".to_vec());
        assert!(env.take_sent().is_empty());
        assert_eq!(files.0.active_transfers(), 1);
    }

    #[test]
    fn client_error_ends_the_transfer() {
        let (mut env, mut files, oack) = start(rrq("exact", "octet", &[("tsize", "0")]));
        env.deliver(
            &mut files,
            client(),
            oack.src,
            Repr::Error {
                code: 0,
                message: "tsize probe",
            }
            .to_bytes(),
        );
        assert_eq!(files.0.active_transfers(), 0);
        env.run_to_idle(&mut files, 10);
        assert!(
            env.take_sent().is_empty(),
            "no retransmission after the transfer ended"
        );
    }
}
