//! A DHCPv4 server plugin (RFC 2131) for the simulated networks: one address pool, leases keyed
//! by chaddr, relay-aware replies, and leases kept in the node store across restarts. It is the
//! "correct" server next to the WDS model: a relayed duplicate DISCOVER gets the same address.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode};
use sdk::dhcp::{self, Chaddr, SERVER_PORT};
use sdk::text::Text;
use sdk::{Config, ConfigError, Datagram, Env, Level, Plugin, Refusal, tftp};
use timing::Distribution;

/// How long an offered address stays reserved for the client it was offered to.
const OFFER_HOLD_NS: u64 = 60_000_000_000;
/// Pools larger than a /14 are refused (the free-address tree holds two words per address:
/// 4 MiB of the plugin's memory at the limit, enough for a 100,000-client storm).
const POOL_SIZE_MAX: u32 = 262_144;
/// Replies waiting for their processing delay; a flood beyond this is dropped, not queued.
const PENDING_REPLIES_MAX: usize = 4096;
/// Leases are stored in chunks under `STORE_KEY/0`, `STORE_KEY/1`, ... (`store_key`).
const STORE_KEY: &str = "dhcp-server/leases";
/// The TFTP server's timers, far above the reply tokens (which count from 0).
const TFTP_TOKEN_BASE: u64 = 1 << 56;
const NBP_SIZE_DEFAULT: u64 = 26_000;
const NBP_SIZE_MAX: u64 = 1 << 20;
const LEASES_PER_CHUNK: usize = 8;

/// The store key of lease chunk `chunk`: `dhcp-server/leases/3`.
fn store_key(chunk: usize) -> String {
    Text::new(STORE_KEY)
        .str("/")
        .u64(chunk as u64)
        .into_string()
}

/// Behaviour of other DHCP servers, compiled only into `dhcp-server-variants` (this file is
/// also that crate's), so the plain `dhcp-server` plugin stays the code it was, instruction for
/// instruction: plugin work is simulated CPU time, and every shipped run keeps its digest.
#[cfg(feature = "variants")]
mod variants {
    use super::*;

    /// `10.2.0.0/24` as (network, mask).
    fn parse_subnet(text: &str) -> Option<(Ipv4Addr, Ipv4Addr)> {
        let (network, prefix) = text.split_once('/')?;
        let network: Ipv4Addr = network.parse().ok()?;
        let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32)?;
        let mask = Ipv4Addr::from(u32::MAX.checked_shl(32 - prefix).unwrap_or(0));
        Some((network, mask))
    }

    /// ISC dhcpd's default `load balance max seconds`.
    pub(crate) const LOAD_BALANCE_MAX_SECS_DEFAULT: u32 = 3;

    /// Which half of the clients this server answers as one peer of an ISC dhcpd failover pair
    /// in load-balancing mode (`split 128`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Peer {
        Primary,
        Secondary,
    }

    /// ISC dhcpd failover load balancing (RFC 3074): each peer answers the clients whose hash
    /// bucket it owns, and both answer a client whose `secs` is above `load balance max
    /// seconds` (it has waited long enough that its own peer may be down).
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct LoadBalance {
        pub(crate) peer: Peer,
        pub(crate) max_secs: u16,
    }

    impl LoadBalance {
        /// Whether this peer answers `request`, as dhcpd's `load_balance_mine`: `secs` above
        /// the threshold first, then the bucket of the client's hardware address.
        pub(crate) fn mine(&self, request: &Message) -> bool {
            if request.secs() > self.max_secs {
                return true;
            }
            // RFC 3074 hashes with a Pearson table of its own; an FNV-1a hash splits the
            // clients as evenly, and which client falls in which half is not what the
            // scenarios turn on.
            let bucket = request.chaddr().iter().fold(0x811c_9dc5_u32, |hash, byte| {
                (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
            }) & 0xff;
            (bucket < 128) == (self.peer == Peer::Primary)
        }
    }

    /// ISC Kea's multi-threaded client race avoidance (`src/bin/dhcp4/client_handler.cc`): a
    /// query from a client whose earlier query is still being processed is parked; a further
    /// one replaces the parked query, which is dropped and counted in `pkt4-receive-drop`; the
    /// parked query is processed when the first one is done.
    #[derive(Default)]
    pub(crate) struct KeaClients {
        /// The reply token of each client whose query is being processed.
        in_flight: BTreeMap<Chaddr, u64>,
        /// The query parked behind it: one per client, the newest.
        parked: BTreeMap<Chaddr, Datagram>,
        /// `pkt4-receive-drop`.
        dropped: u64,
    }

    /// The variant keys of a server's configuration.
    pub(crate) struct Variants {
        /// `kea_multi_threaded: true`.
        pub(crate) kea: Option<KeaClients>,
        /// One peer of a load-balancing failover pair; `None`: answers every client.
        pub(crate) load_balance: Option<LoadBalance>,
        /// Option 60 of every OFFER and ACK (Windows DHCP's scope option "060 Class ID", set
        /// to `PXEClient` to make PXE work: it tells the client this server is its boot
        /// server).
        pub(crate) vendor_class_id: Option<Vec<u8>>,
        /// Answer no client whose option 60 starts with `PXEClient` (ISC dhcpd: a class on the
        /// vendor class and `deny members of` it in the pool), leaving them to the PXE server.
        pub(crate) ignore_pxe_clients: bool,
        /// `allocation: per-discover`: every DISCOVER is given the lowest free address, which
        /// replaces the client's record, and a REQUEST is acknowledged with the record whatever
        /// address it asks for (Tiny PXE Server issue #1). Default `per-client`: RFC 2131
        /// 4.3.1, the client's own lease first.
        pub(crate) per_discover: bool,
        /// `ris_local_subnet`: Remote Installation Services runs on this box too, and takes
        /// a DISCOVER whose IP source is in this subnet (network, mask) for a PXE request to
        /// itself rather than a DHCP one (Microsoft KB300034).
        pub(crate) ris_local_subnet: Option<(Ipv4Addr, Ipv4Addr)>,
    }

    impl Variants {
        pub(crate) fn of(config: &Config) -> Result<Variants, Refusal> {
            let load_balance = match config.get("load_balance") {
                None => None,
                Some(peer) => {
                    let peer = match peer {
                        "primary" => Peer::Primary,
                        "secondary" => Peer::Secondary,
                        other => {
                            return Err(Refusal::config(
                                "load_balance",
                                format!("expected `primary` or `secondary`, got `{other}`"),
                            ));
                        }
                    };
                    let max_secs = config.u32_in(
                        "load_balance_max_secs",
                        LOAD_BALANCE_MAX_SECS_DEFAULT,
                        0..=u32::from(u16::MAX),
                    )? as u16;
                    Some(LoadBalance { peer, max_secs })
                }
            };
            if load_balance.is_none() && config.get("load_balance_max_secs").is_some() {
                return Err(Refusal::config(
                    "load_balance_max_secs",
                    "only a failover peer balances load: set `load_balance: primary` (or secondary)",
                ));
            }
            let vendor_class_id = match config.get("vendor_class_id") {
                None => None,
                Some(text) if text.is_empty() || text.len() > 255 => {
                    return Err(Refusal::config(
                        "vendor_class_id",
                        format!("expected 1 to 255 bytes for option 60, got `{text}`"),
                    ));
                }
                Some(text) => Some(text.as_bytes().to_vec()),
            };
            let ignore_pxe_clients = match config.str_or("ignore_pxe_clients", "false") {
                "true" => true,
                "false" => false,
                other => {
                    return Err(Refusal::config(
                        "ignore_pxe_clients",
                        format!("expected true or false, got `{other}`"),
                    ));
                }
            };
            let per_discover = match config.str_or("allocation", "per-client") {
                "per-client" => false,
                "per-discover" => true,
                other => {
                    return Err(Refusal::config(
                        "allocation",
                        format!("expected `per-client` or `per-discover`, got `{other}`"),
                    ));
                }
            };
            let kea = match config.str_or("kea_multi_threaded", "false") {
                "true" => Some(KeaClients::default()),
                "false" => None,
                other => {
                    return Err(Refusal::config(
                        "kea_multi_threaded",
                        format!("expected true or false, got `{other}`"),
                    ));
                }
            };
            let ris_local_subnet = match config.get("ris_local_subnet") {
                None => None,
                Some(text) => Some(parse_subnet(text).ok_or_else(|| {
                    Refusal::config(
                        "ris_local_subnet",
                        format!("expected a subnet such as 10.2.0.0/24, got `{text}`"),
                    )
                })?),
            };
            Ok(Variants {
                kea,
                load_balance,
                vendor_class_id,
                ignore_pxe_clients,
                per_discover,
                ris_local_subnet,
            })
        }

        /// Whether `datagram` (decoded: `request`) waits behind its client's query in
        /// processing (parked, replacing and dropping a query parked before).
        pub(crate) fn park(
            &mut self,
            env: &mut dyn Env,
            request: &Message,
            datagram: &Datagram,
        ) -> bool {
            let Some(kea) = &mut self.kea else {
                return false;
            };
            let chaddr = Chaddr::of(request);
            if !kea.in_flight.contains_key(&chaddr) {
                return false;
            }
            let replaced = kea.parked.insert(chaddr, datagram.clone()).is_some();
            if replaced {
                kea.dropped += 1;
                env.log(
                    Level::Info,
                    &format!(
                        "dhcp: kea: DHCP4_PACKET_DROP: query of {} dropped, a newer one is parked behind the one in progress (pkt4-receive-drop {})",
                        dhcp::format_chaddr(request.chaddr()),
                        kea.dropped
                    ),
                );
            } else {
                env.log(
                    Level::Debug,
                    &format!(
                        "dhcp: kea: query xid {:#010x} of {} parked until the one in progress is done",
                        request.xid(),
                        dhcp::format_chaddr(request.chaddr())
                    ),
                );
            }
            true
        }

        /// `request`'s client is being processed until its reply `token` is sent.
        pub(crate) fn begin(&mut self, request: &Message, token: u64) {
            if let Some(kea) = &mut self.kea {
                kea.in_flight.insert(Chaddr::of(request), token);
            }
        }

        /// The reply `token` is sent: its client is done, and the query parked behind it, if
        /// any, is next.
        pub(crate) fn finish(&mut self, token: u64) -> Option<Datagram> {
            let kea = self.kea.as_mut()?;
            let chaddr = kea
                .in_flight
                .iter()
                .find(|(_, t)| **t == token)
                .map(|(c, _)| *c)?;
            kea.in_flight.remove(&chaddr);
            kea.parked.remove(&chaddr)
        }

        /// Whether the box's RIS takes `request` for a PXE request to itself: a PXE client's
        /// DISCOVER from an address of the box's own subnet. RIS decides by the packet's IP
        /// source, and a relay that sources its copies from its server-side interface makes
        /// every relayed DISCOVER look local.
        pub(crate) fn ris_takes(&self, datagram: &Datagram, request: &Message) -> bool {
            let Some((network, mask)) = self.ris_local_subnet else {
                return false;
            };
            dhcp::message_type(request) == Some(MessageType::Discover)
                && dhcp::is_pxe_client(request)
                && in_subnet(*datagram.src.ip(), network, mask)
        }

        /// Whether this server stays silent to `request`: a PXE client it denies, or another
        /// peer's client.
        pub(crate) fn ignores(&self, env: &mut dyn Env, request: &Message) -> bool {
            if self.ignore_pxe_clients && dhcp::is_pxe_client(request) {
                env.log(
                    Level::Debug,
                    &format!(
                        "dhcp: PXE client {} is denied here: ignored",
                        dhcp::format_chaddr(request.chaddr())
                    ),
                );
                return true;
            }
            let kind = dhcp::message_type(request);
            let balanced = kind == Some(MessageType::Discover)
                || (kind == Some(MessageType::Request)
                    && dhcp::server_identifier(request).is_none());
            match self.load_balance {
                Some(load_balance) if balanced && !load_balance.mine(request) => {
                    env.log(
                        Level::Debug,
                        &format!(
                            "dhcp: {} is the peer's client (secs {} not above {}): ignored",
                            dhcp::format_chaddr(request.chaddr()),
                            request.secs(),
                            load_balance.max_secs
                        ),
                    );
                    true
                }
                _ => false,
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeaseState {
    Offered,
    Bound,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Lease {
    ip: Ipv4Addr,
    state: LeaseState,
    expires_ns: u64,
}

pub struct DhcpServer {
    pool_first: Ipv4Addr,
    pool_last: Ipv4Addr,
    subnet_mask: Ipv4Addr,
    /// Option 3; none on a LAN without a router (a flat lab).
    router: Option<Ipv4Addr>,
    dns: Vec<Ipv4Addr>,
    lease_secs: u32,
    response_delay: Distribution,
    /// Keyed by chaddr (hlen bytes), so copies of one request relayed by two routers meet the
    /// same lease.
    leases: BTreeMap<Chaddr, Lease>,
    /// The clients with a lease (live or expired) on each address.
    holders: BTreeMap<Ipv4Addr, Vec<Chaddr>>,
    /// When each pool address is free again, for the lowest-free-address search.
    pool: PoolTree,
    /// Where each client's lease is kept in the store: slot `n` is line of chunk
    /// `n / LEASES_PER_CHUNK`, so a change rewrites one chunk, not the whole lease file.
    slots: BTreeMap<Chaddr, usize>,
    /// The client of each slot, in the order slots were given (`None`: a slot a restored
    /// store skipped).
    slot_owners: Vec<Option<Chaddr>>,
    /// Each slot's line as stored (see `save_lease`).
    slot_lines: Vec<String>,
    pending_replies: BTreeMap<u64, Datagram>,
    next_token: u64,
    /// dnsmasq's `dhcp-boot`: the boot file named in offers and ACKs (for BIOS and for UEFI
    /// clients), served by this server's own TFTP.
    boot_file_bios: Option<String>,
    boot_file_efi: Option<String>,
    /// The TFTP server of the boot files (siaddr and option 66, "next-server"); `None`: this
    /// server, which serves them itself.
    next_server: Option<Ipv4Addr>,
    tftp: tftp::Server,
    #[cfg(feature = "variants")]
    variants: variants::Variants,
}

/// A min-tree over the pool's addresses, each valued with the time it is free again (the latest
/// expiry of its leases; 0 if it never had one): the lowest free address is found in
/// O(log pool) rather than by scanning every lease for every DISCOVER.
struct PoolTree {
    /// Leaves, a power of two; those past the pool's end are never free.
    leaves: usize,
    /// `min[1]` is the root; node `i` has children `2i` and `2i + 1`; leaves start at `leaves`.
    min: Vec<u64>,
}

impl PoolTree {
    fn new(len: usize) -> PoolTree {
        let leaves = len.next_power_of_two();
        let mut min = vec![0; 2 * leaves];
        min[leaves + len..].fill(u64::MAX);
        for i in (1..leaves).rev() {
            min[i] = min[2 * i].min(min[2 * i + 1]);
        }
        PoolTree { leaves, min }
    }

    fn set(&mut self, index: usize, free_at_ns: u64) {
        let mut i = self.leaves + index;
        self.min[i] = free_at_ns;
        while i > 1 {
            i /= 2;
            self.min[i] = self.min[2 * i].min(self.min[2 * i + 1]);
        }
    }

    /// The lowest address free at `now_ns`.
    fn first_free(&self, now_ns: u64) -> Option<usize> {
        if self.min[1] > now_ns {
            return None;
        }
        let mut i = 1;
        while i < self.leaves {
            i = if self.min[2 * i] <= now_ns {
                2 * i
            } else {
                2 * i + 1
            };
        }
        Some(i - self.leaves)
    }
}

fn parse_pool(text: &str) -> Result<(Ipv4Addr, Ipv4Addr), ConfigError> {
    let error = || {
        ConfigError::new(
            "pool",
            format!("expected a range such as 10.1.0.100-10.1.0.199, got `{text}`"),
        )
    };
    let (first, last) = text.split_once('-').ok_or_else(error)?;
    let first: Ipv4Addr = first.trim().parse().map_err(|_| error())?;
    let last: Ipv4Addr = last.trim().parse().map_err(|_| error())?;
    if u32::from(first) > u32::from(last) {
        return Err(ConfigError::new("pool", format!("{first} is above {last}")));
    }
    if u32::from(last) - u32::from(first) >= POOL_SIZE_MAX {
        return Err(ConfigError::new(
            "pool",
            format!("more than {POOL_SIZE_MAX} addresses"),
        ));
    }
    Ok((first, last))
}

fn in_subnet(ip: Ipv4Addr, reference: Ipv4Addr, mask: Ipv4Addr) -> bool {
    u32::from(ip) & u32::from(mask) == u32::from(reference) & u32::from(mask)
}

impl Plugin for DhcpServer {
    const CONFIG_KEYS: &'static [&'static str] = &[
        "pool",
        "subnet_mask",
        "router",
        "lease_secs",
        "dns",
        "response_delay",
        "boot_file_bios",
        "boot_file_efi",
        "next_server",
        "nbp_size",
        #[cfg(feature = "variants")]
        "load_balance",
        #[cfg(feature = "variants")]
        "load_balance_max_secs",
        #[cfg(feature = "variants")]
        "vendor_class_id",
        #[cfg(feature = "variants")]
        "ignore_pxe_clients",
        #[cfg(feature = "variants")]
        "allocation",
        #[cfg(feature = "variants")]
        "kea_multi_threaded",
        #[cfg(feature = "variants")]
        "ris_local_subnet",
    ];

    fn init(env: &mut dyn Env, config: &Config) -> Result<DhcpServer, Refusal> {
        let (pool_first, pool_last) = parse_pool(config.required("pool")?)?;
        let subnet_mask = config.required_ipv4("subnet_mask")?;
        if !in_subnet(pool_last, pool_first, subnet_mask) {
            return Err(Refusal::config(
                "pool",
                format!(
                    "{pool_first} and {pool_last} are not in one subnet with mask {subnet_mask}"
                ),
            ));
        }
        let router = config.ipv4("router")?;
        let dns = match config.get("dns") {
            None => Vec::new(),
            Some(text) => text
                .split(',')
                .map(|part| {
                    part.trim().parse().map_err(|_| {
                        ConfigError::new(
                            "dns",
                            format!("expected IPv4 addresses separated by commas, got `{text}`"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let lease_secs = config.u32_in("lease_secs", 86_400, 60..=u32::MAX)?;
        let response_delay = config.distribution_or("response_delay", "uniform(200us, 1ms)")?;
        let boot_file = |key: &str| -> Result<Option<String>, ConfigError> {
            match config.get(key) {
                None => Ok(None),
                Some(file) if file.is_empty() || file.len() > 127 || file.contains('\0') => {
                    Err(ConfigError::new(
                        key,
                        format!("expected a file name of 1 to 127 bytes, got `{file}`"),
                    ))
                }
                Some(file) => Ok(Some(file.to_string())),
            }
        };
        let (boot_file_bios, boot_file_efi) =
            (boot_file("boot_file_bios")?, boot_file("boot_file_efi")?);
        let nbp_size = config.u64_in("nbp_size", NBP_SIZE_DEFAULT, 1..=NBP_SIZE_MAX)? as usize;
        let next_server = match config.get("next_server") {
            None => None,
            Some(text) => Some(text.parse::<Ipv4Addr>().map_err(|_| {
                ConfigError::new(
                    "next_server",
                    format!("expected the IPv4 address of a TFTP server, got `{text}`"),
                )
            })?),
        };
        let mut tftp = tftp::Server::new(TFTP_TOKEN_BASE);
        // Boot files on another TFTP server (options 66/67) are not ours to serve.
        if next_server.is_none() {
            for file in boot_file_bios.iter().chain(&boot_file_efi) {
                tftp.add_file(file, tftp::synthetic_file(file, nbp_size));
            }
        }
        tftp.serve_given_files(env);
        let mut server = DhcpServer {
            pool_first,
            pool_last,
            subnet_mask,
            router,
            dns,
            lease_secs,
            response_delay,
            leases: BTreeMap::new(),
            holders: BTreeMap::new(),
            pool: PoolTree::new((u32::from(pool_last) - u32::from(pool_first)) as usize + 1),
            slots: BTreeMap::new(),
            slot_owners: Vec::new(),
            slot_lines: Vec::new(),
            pending_replies: BTreeMap::new(),
            next_token: 0,
            boot_file_bios,
            boot_file_efi,
            next_server,
            tftp,
            #[cfg(feature = "variants")]
            variants: variants::Variants::of(config)?,
        };
        server.load_leases(env);
        env.log(
            Level::Info,
            &format!(
                "dhcp: serving {pool_first}-{pool_last}/{subnet_mask} router {}, {} lease(s) restored",
                router.map_or("none".to_string(), |router| router.to_string()),
                server.leases.len()
            ),
        );
        Ok(server)
    }

    fn on_datagram(&mut self, env: &mut dyn Env, datagram: Datagram) {
        if self.tftp.handles(&datagram) {
            return self.tftp.on_datagram(env, datagram);
        }
        if datagram.dst.port() != SERVER_PORT {
            return;
        }
        let Some(request) = dhcp::decode(&datagram.payload) else {
            env.log(
                Level::Debug,
                &format!("dhcp: undecodable datagram from {} ignored", datagram.src),
            );
            return;
        };
        if request.opcode() != Opcode::BootRequest || request.chaddr().is_empty() {
            return;
        }
        let giaddr = request.giaddr();
        if !giaddr.is_unspecified() && !in_subnet(giaddr, self.pool_first, self.subnet_mask) {
            env.log(
                Level::Debug,
                &format!("dhcp: relay {giaddr} is outside the pool's subnet: ignored"),
            );
            return;
        }
        #[cfg(feature = "variants")]
        if self.variants.ignores(env, &request) || self.variants.park(env, &request, &datagram) {
            return;
        }
        #[cfg(feature = "variants")]
        if self.variants.ris_takes(&datagram, &request) {
            return self.ris_offer(env, &request, &datagram);
        }
        #[cfg(feature = "variants")]
        let token_before = self.next_token;
        match dhcp::message_type(&request) {
            Some(MessageType::Discover) => self.on_discover(env, &request),
            Some(MessageType::Request) => self.on_request(env, &request),
            Some(MessageType::Release) => self.on_release(env, &request),
            Some(MessageType::Decline) => self.on_decline(env, &request),
            other => env.log(
                Level::Debug,
                &format!("dhcp: {other:?} from {} ignored", datagram.src),
            ),
        }
        #[cfg(feature = "variants")]
        if self.next_token > token_before {
            self.variants.begin(&request, self.next_token - 1);
        }
    }

    fn on_timer(&mut self, env: &mut dyn Env, token: u64) {
        if self.tftp.owns_timer(token) {
            return self.tftp.on_timer(env, token);
        }
        if let Some(reply) = self.pending_replies.remove(&token) {
            env.send(reply);
        }
        #[cfg(feature = "variants")]
        if let Some(parked) = self.variants.finish(token) {
            self.on_datagram(env, parked);
        }
    }
}

impl DhcpServer {
    /// RIS's answer to what it takes for a PXE request to itself: an OFFER for RIS, with no
    /// address (yiaddr, siaddr and the file all zero), only option 60 `PXEClient` and the
    /// server identifier. The DHCP side of the box does not answer the DISCOVER at all.
    #[cfg(feature = "variants")]
    fn ris_offer(&mut self, env: &mut dyn Env, request: &Message, datagram: &Datagram) {
        env.log(
            Level::Info,
            &format!(
                "dhcp: DISCOVER xid {:#010x} of {} from {} is local: RIS answers it, no address offered",
                request.xid(),
                dhcp::format_chaddr(request.chaddr()),
                datagram.src.ip()
            ),
        );
        let mut reply = dhcp::reply_to(request, MessageType::Offer);
        let opts = reply.opts_mut();
        opts.insert(DhcpOption::ServerIdentifier(env.own_ip()));
        opts.insert(DhcpOption::ClassIdentifier(
            dhcp::PXE_CLIENT_CLASS.as_bytes().to_vec(),
        ));
        self.queue_reply(env, &reply, dhcp::reply_destination(request));
    }

    fn on_discover(&mut self, env: &mut dyn Env, request: &Message) {
        let chaddr = Chaddr::of(request);
        let mac = dhcp::format_chaddr(chaddr.as_slice());
        let now_ns = env.now_ns();
        let own = self.leases.get(&chaddr);
        #[cfg(feature = "variants")]
        let own = own.filter(|_| !self.variants.per_discover);
        let ip = match own {
            Some(lease) if !self.held_by_other(&chaddr, lease.ip, now_ns) => lease.ip,
            _ => match self.free_address(now_ns) {
                Some(ip) => ip,
                None => {
                    env.log(
                        Level::Warning,
                        &format!("dhcp: pool exhausted, DISCOVER from {mac} unanswered"),
                    );
                    return;
                }
            },
        };
        let bound = self
            .leases
            .get(&chaddr)
            .is_some_and(|l| l.ip == ip && l.state == LeaseState::Bound && l.expires_ns > now_ns);
        if !bound {
            let lease = Lease {
                ip,
                state: LeaseState::Offered,
                expires_ns: now_ns.saturating_add(OFFER_HOLD_NS),
            };
            self.set_lease(&chaddr, Some(lease));
            self.save_lease(env, &chaddr);
        }
        let line = Text::new("dhcp: OFFER ")
            .ip(ip)
            .str(" to ")
            .str(&mac)
            .str(" xid ")
            .hex_u32(request.xid())
            .str(" via ")
            .ip(request.giaddr());
        env.log(Level::Info, line.as_str());
        self.reply(env, request, MessageType::Offer, ip);
    }

    fn on_request(&mut self, env: &mut dyn Env, request: &Message) {
        let chaddr = Chaddr::of(request);
        let mac = dhcp::format_chaddr(chaddr.as_slice());
        let own_ip = env.own_ip();
        let now_ns = env.now_ns();
        let server_id = dhcp::server_identifier(request);
        if let Some(server_id) = server_id
            && server_id != own_ip
        {
            // The client chose another server's offer (RFC 2131 4.3.2): release ours quietly.
            if self
                .leases
                .get(&chaddr)
                .is_some_and(|l| l.state == LeaseState::Offered)
            {
                self.set_lease(&chaddr, None);
                self.save_lease(env, &chaddr);
                env.log(
                    Level::Info,
                    &format!("dhcp: {mac} chose server {server_id}; offer released"),
                );
            }
            return;
        }
        let requested = dhcp::requested_ip(request).unwrap_or(request.ciaddr());
        let lease = self.leases.get(&chaddr).cloned();
        // The per-DISCOVER allocator answers with its record, not with what was asked for.
        #[cfg(feature = "variants")]
        let requested = match &lease {
            Some(lease) if self.variants.per_discover => lease.ip,
            _ => requested,
        };
        match lease {
            None if server_id.is_none() => {
                // INIT-REBOOT or RENEWING with no record here: RFC 2131 says stay silent.
                env.log(
                    Level::Debug,
                    &format!("dhcp: REQUEST from {mac} for {requested}: no lease here, silent"),
                );
            }
            Some(lease)
                if lease.ip == requested && !self.held_by_other(&chaddr, requested, now_ns) =>
            {
                let expires_ns = now_ns.saturating_add(u64::from(self.lease_secs) * 1_000_000_000);
                self.set_lease(
                    &chaddr,
                    Some(Lease {
                        ip: requested,
                        state: LeaseState::Bound,
                        expires_ns,
                    }),
                );
                self.save_lease(env, &chaddr);
                let line = Text::new("dhcp: ACK ")
                    .ip(requested)
                    .str(" to ")
                    .str(&mac)
                    .str(" for ")
                    .u64(u64::from(self.lease_secs))
                    .str(" s");
                env.log(Level::Info, line.as_str());
                self.reply(env, request, MessageType::Ack, requested);
            }
            _ => {
                env.log(
                    Level::Info,
                    &format!("dhcp: NAK {mac}: {requested} is not its lease"),
                );
                self.reply(env, request, MessageType::Nak, Ipv4Addr::UNSPECIFIED);
            }
        }
    }

    fn on_release(&mut self, env: &mut dyn Env, request: &Message) {
        let chaddr = Chaddr::of(request);
        if self
            .leases
            .get(&chaddr)
            .is_some_and(|l| l.ip == request.ciaddr())
        {
            self.set_lease(&chaddr, None);
            self.save_lease(env, &chaddr);
            env.log(
                Level::Info,
                &format!(
                    "dhcp: {} released {}",
                    dhcp::format_chaddr(chaddr.as_slice()),
                    request.ciaddr()
                ),
            );
        }
    }

    fn on_decline(&mut self, env: &mut dyn Env, request: &Message) {
        // RFC 2131 asks the server to mark a declined address unusable. Nothing in the
        // simulated networks uses addresses outside DHCP, so forgetting the lease is enough;
        // the warning makes a decline visible if a scenario ever produces one.
        let chaddr = Chaddr::of(request);
        if self.set_lease(&chaddr, None).is_some() {
            self.save_lease(env, &chaddr);
        }
        env.log(
            Level::Warning,
            &format!(
                "dhcp: {} declined {:?}",
                dhcp::format_chaddr(chaddr.as_slice()),
                dhcp::requested_ip(request)
            ),
        );
    }

    fn held_by_other(&self, chaddr: &Chaddr, ip: Ipv4Addr, now_ns: u64) -> bool {
        self.holders.get(&ip).is_some_and(|holders| {
            holders.iter().any(|other| {
                other != chaddr
                    && self
                        .leases
                        .get(other)
                        .is_some_and(|l| l.expires_ns > now_ns)
            })
        })
    }

    /// The lowest pool address no live lease holds. Expired leases give their address back.
    fn free_address(&self, now_ns: u64) -> Option<Ipv4Addr> {
        let index = self.pool.first_free(now_ns)?;
        Some(Ipv4Addr::from(u32::from(self.pool_first) + index as u32))
    }

    /// Sets (or removes) `chaddr`'s lease and keeps the address indexes in step; returns the
    /// lease it replaced.
    fn set_lease(&mut self, chaddr: &Chaddr, lease: Option<Lease>) -> Option<Lease> {
        let ip = lease.as_ref().map(|l| l.ip);
        let old = match lease {
            Some(lease) => self.leases.insert(*chaddr, lease),
            None => self.leases.remove(chaddr),
        };
        if let Some(old) = &old
            && Some(old.ip) != ip
            && let Some(holders) = self.holders.get_mut(&old.ip)
        {
            holders.retain(|h| h != chaddr);
            if holders.is_empty() {
                self.holders.remove(&old.ip);
            }
            self.refresh_address(old.ip);
        }
        if let Some(ip) = ip {
            let holders = self.holders.entry(ip).or_default();
            if !holders.contains(chaddr) {
                holders.push(*chaddr);
            }
            self.refresh_address(ip);
        }
        old
    }

    /// Puts the latest expiry of the leases on `ip` into the pool tree.
    fn refresh_address(&mut self, ip: Ipv4Addr) {
        let (first, last) = (u32::from(self.pool_first), u32::from(self.pool_last));
        if !(first..=last).contains(&u32::from(ip)) {
            return;
        }
        let free_at_ns = self.holders.get(&ip).map_or(0, |holders| {
            holders
                .iter()
                .filter_map(|h| self.leases.get(h))
                .map(|l| l.expires_ns)
                .max()
                .unwrap_or(0)
        });
        self.pool.set((u32::from(ip) - first) as usize, free_at_ns);
    }

    fn reply(&mut self, env: &mut dyn Env, request: &Message, kind: MessageType, yiaddr: Ipv4Addr) {
        let own_ip = env.own_ip();
        let mut reply = dhcp::reply_to(request, kind);
        reply.set_yiaddr(yiaddr);
        let opts = reply.opts_mut();
        opts.insert(DhcpOption::ServerIdentifier(own_ip));
        if kind != MessageType::Nak {
            opts.insert(DhcpOption::AddressLeaseTime(self.lease_secs));
            opts.insert(DhcpOption::SubnetMask(self.subnet_mask));
            if let Some(router) = self.router {
                opts.insert(DhcpOption::Router(vec![router]));
            }
            if !self.dns.is_empty() {
                opts.insert(DhcpOption::DomainNameServer(self.dns.clone()));
            }
            #[cfg(feature = "variants")]
            if let Some(class) = &self.variants.vendor_class_id {
                opts.insert(DhcpOption::ClassIdentifier(class.clone()));
            }
            let boot_file = if dhcp::is_efi_arch(dhcp::client_arch(request)) {
                &self.boot_file_efi
            } else {
                &self.boot_file_bios
            };
            if let Some(file) = boot_file {
                dhcp::set_boot_file(&mut reply, file);
                let tftp_server = self.next_server.unwrap_or(own_ip);
                reply.set_siaddr(tftp_server);
                if self.next_server.is_some() {
                    // What a Windows scope's options 66 and 67 carry.
                    let opts = reply.opts_mut();
                    opts.insert(DhcpOption::TFTPServerName(
                        tftp_server.to_string().into_bytes(),
                    ));
                    opts.insert(DhcpOption::BootfileName(file.clone().into_bytes()));
                }
            }
        }
        let dst = if kind == MessageType::Nak && request.giaddr().is_unspecified() {
            // RFC 2131 4.1: without a relay a NAK is always broadcast.
            SocketAddrV4::new(Ipv4Addr::BROADCAST, dhcp::CLIENT_PORT)
        } else {
            dhcp::reply_destination(request)
        };
        self.queue_reply(env, &reply, dst);
    }

    /// Sends `reply` to `dst` after the server's response time.
    fn queue_reply(&mut self, env: &mut dyn Env, reply: &Message, dst: SocketAddrV4) {
        let own_ip = env.own_ip();
        let payload = match dhcp::encode(reply) {
            Ok(payload) => payload,
            Err(error) => {
                env.log(Level::Error, &format!("dhcp: {error}"));
                return;
            }
        };
        if self.pending_replies.len() >= PENDING_REPLIES_MAX {
            env.log(
                Level::Warning,
                "dhcp: too many replies in processing; reply dropped",
            );
            return;
        }
        let delay_ns = env.sample(&self.response_delay);
        let token = self.next_token;
        self.next_token += 1;
        self.pending_replies.insert(
            token,
            Datagram {
                src: SocketAddrV4::new(own_ip, SERVER_PORT),
                dst,
                payload,
            },
        );
        env.set_timer(delay_ns, token);
    }

    /// Stores the chunk holding `chaddr`'s lease (or its absence): one line per lease,
    /// `slot chaddr-hex ip state expires_ns`, at most `LEASES_PER_CHUNK` lines per key.
    fn save_lease(&mut self, env: &mut dyn Env, chaddr: &Chaddr) {
        let slot = match self.slots.get(chaddr) {
            Some(&slot) => slot,
            None => {
                let slot = self.slot_owners.len();
                self.slot_owners.push(Some(*chaddr));
                self.slots.insert(*chaddr, slot);
                slot
            }
        };
        self.format_slot(slot);
        let chunk = slot / LEASES_PER_CHUNK;
        let first = chunk * LEASES_PER_CHUNK;
        let last = (first + LEASES_PER_CHUNK).min(self.slot_owners.len());
        let text: String = self.slot_lines[first..last].concat();
        env.store_set(&store_key(chunk), text.as_bytes());
    }

    /// Writes the stored line of one slot (empty without a lease), so a save formats only the
    /// lease that changed and copies the rest of its chunk.
    fn format_slot(&mut self, slot: usize) {
        if self.slot_lines.len() < self.slot_owners.len() {
            self.slot_lines
                .resize(self.slot_owners.len(), String::new());
        }
        let line = &mut self.slot_lines[slot];
        line.clear();
        let Some((owner, lease)) = self.slot_owners[slot]
            .as_ref()
            .and_then(|owner| Some((owner, self.leases.get(owner)?)))
        else {
            return;
        };
        let state = match lease.state {
            LeaseState::Offered => "offered",
            LeaseState::Bound => "bound",
        };
        let text = Text::new("")
            .u64(slot as u64)
            .str(" ")
            .hex(owner.as_slice())
            .str(" ")
            .ip(lease.ip)
            .str(" ")
            .str(state)
            .str(" ")
            .u64(lease.expires_ns)
            .str("\n");
        line.push_str(text.as_str());
    }

    /// Restores leases saved by an earlier start, chunk by chunk; lines that do not parse (or
    /// lie outside the pool, after a configuration change) are skipped and counted in the log.
    fn load_leases(&mut self, env: &mut dyn Env) {
        let mut skipped = 0;
        for chunk in 0.. {
            let Some(bytes) = env.store_get(&store_key(chunk)) else {
                break;
            };
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let parsed = line.split_once(' ').and_then(|(slot, rest)| {
                    let slot: usize = slot.parse().ok()?;
                    let in_chunk = slot / LEASES_PER_CHUNK == chunk;
                    in_chunk.then_some(())?;
                    Some((slot, self.parse_lease_line(rest)?))
                });
                let Some((slot, (chaddr, lease))) = parsed else {
                    skipped += 1;
                    continue;
                };
                if self.slot_owners.len() <= slot {
                    self.slot_owners.resize(slot + 1, None);
                }
                self.slot_owners[slot] = Some(chaddr);
                self.slots.insert(chaddr, slot);
                self.set_lease(&chaddr, Some(lease));
                self.format_slot(slot);
            }
        }
        if skipped > 0 {
            env.log(
                Level::Warning,
                &format!("dhcp: {skipped} stored lease line(s) skipped"),
            );
        }
    }

    fn parse_lease_line(&self, line: &str) -> Option<(Chaddr, Lease)> {
        let mut fields = line.split_whitespace();
        let hex = fields.next()?;
        if hex.is_empty() || hex.len() % 2 != 0 || hex.len() > 32 {
            return None;
        }
        let chaddr = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()?;
        let ip: Ipv4Addr = fields.next()?.parse().ok()?;
        let state = match fields.next()? {
            "offered" => LeaseState::Offered,
            "bound" => LeaseState::Bound,
            _ => return None,
        };
        let expires_ns = fields.next()?.parse().ok()?;
        let in_pool =
            (u32::from(self.pool_first)..=u32::from(self.pool_last)).contains(&u32::from(ip));
        in_pool.then_some((
            Chaddr::new(&chaddr),
            Lease {
                ip,
                state,
                expires_ns,
            },
        ))
    }
}

sdk::export_plugin!(DhcpServer);

#[cfg(test)]
mod tests {
    use super::*;
    use sdk::dhcp::{CLIENT_PORT, PXE_PORT, build};
    use sdk::testing::MockEnv;

    const MAC: [u8; 6] = [0x00, 0x50, 0x56, 0x00, 0x00, 0x01];
    const ROUTER_A: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
    const ROUTER_B: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 3);
    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 10);

    fn config(pool: &str) -> Vec<(&str, &str)> {
        vec![
            ("pool", pool),
            ("subnet_mask", "255.255.255.0"),
            ("router", "10.1.0.1"),
            ("dns", "10.2.0.53, 10.2.0.54"),
            ("response_delay", "500us"),
        ]
    }

    fn start(pool: &str) -> (MockEnv, DhcpServer) {
        let mut env = MockEnv::new(SERVER);
        let server = env.start::<DhcpServer>(&config(pool)).unwrap();
        (env, server)
    }

    fn relay_to_server(
        env: &mut MockEnv,
        server: &mut DhcpServer,
        relay: Ipv4Addr,
        payload: Vec<u8>,
    ) {
        env.deliver(
            server,
            SocketAddrV4::new(relay, SERVER_PORT),
            SocketAddrV4::new(SERVER, SERVER_PORT),
            payload,
        );
    }

    /// Runs the processing delay out and decodes every reply.
    /// A PXE client's DISCOVER (`xid`, `chaddr`) as `relay` forwards it to the server.
    fn discover_via(
        env: &mut MockEnv,
        server: &mut DhcpServer,
        relay: Ipv4Addr,
        xid: u32,
        chaddr: [u8; 6],
    ) {
        relay_to_server(
            env,
            server,
            relay,
            build::pxe_discover(xid, chaddr, relay, 0),
        );
    }

    fn replies(env: &mut MockEnv, server: &mut DhcpServer) -> Vec<(SocketAddrV4, Message)> {
        env.run_to_idle(server, 100);
        env.take_sent()
            .into_iter()
            .map(|d| {
                assert_eq!(d.src, SocketAddrV4::new(SERVER, SERVER_PORT));
                (d.dst, dhcp::decode(&d.payload).unwrap())
            })
            .collect()
    }

    fn request(
        xid: u32,
        chaddr: [u8; 6],
        server_id: Option<Ipv4Addr>,
        requested: Ipv4Addr,
        giaddr: Ipv4Addr,
    ) -> Vec<u8> {
        let mut message = build::client_message(xid, chaddr, MessageType::Request);
        message.set_giaddr(giaddr);
        message
            .opts_mut()
            .insert(DhcpOption::RequestedIpAddress(requested));
        if let Some(server_id) = server_id {
            message
                .opts_mut()
                .insert(DhcpOption::ServerIdentifier(server_id));
        }
        dhcp::encode(&message).unwrap()
    }

    /// The pool tree and the holder index answer exactly what a scan of every lease would,
    /// through offers, binds, releases, reuse of expired addresses and leases sharing one.
    #[test]
    fn free_address_search_agrees_with_a_scan_of_every_lease() {
        let (_, mut server) = start("10.1.0.100-10.1.0.140");
        let scan_free = |server: &DhcpServer, now_ns: u64| {
            (u32::from(server.pool_first)..=u32::from(server.pool_last))
                .map(Ipv4Addr::from)
                .find(|&ip| {
                    !server
                        .leases
                        .values()
                        .any(|l| l.ip == ip && l.expires_ns > now_ns)
                })
        };
        let scan_held = |server: &DhcpServer, chaddr: &Chaddr, ip: Ipv4Addr, now_ns: u64| {
            server
                .leases
                .iter()
                .any(|(c, l)| c != chaddr && l.ip == ip && l.expires_ns > now_ns)
        };
        // A small xorshift: the test needs variety, not quality.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let mut now_ns = 0;
        for step in 0..4000 {
            now_ns += next(3_000_000_000);
            let chaddr = Chaddr::new(&[0, 0x50, 0x56, 0, 0, next(60) as u8]);
            let lease = match next(4) {
                0 => None,
                1 => server.free_address(now_ns).map(|ip| Lease {
                    ip,
                    state: LeaseState::Offered,
                    expires_ns: now_ns + next(120_000_000_000),
                }),
                // Any address, live or not: a restored store can hold such overlaps.
                _ => Some(Lease {
                    ip: Ipv4Addr::from(u32::from(server.pool_first) + next(45) as u32),
                    state: LeaseState::Bound,
                    expires_ns: now_ns + next(60_000_000_000),
                }),
            };
            server.set_lease(&chaddr, lease);
            let probe_ns = now_ns + next(90_000_000_000);
            assert_eq!(
                server.free_address(probe_ns),
                scan_free(&server, probe_ns),
                "step {step}"
            );
            let ip = Ipv4Addr::from(u32::from(server.pool_first) + next(41) as u32);
            assert_eq!(
                server.held_by_other(&chaddr, ip, probe_ns),
                scan_held(&server, &chaddr, ip, probe_ns),
                "step {step}"
            );
        }
    }

    #[test]
    fn duplicate_relayed_discovers_get_the_same_address_each_to_its_relay() {
        let (mut env, mut server) = start("10.1.0.100-10.1.0.199");
        discover_via(&mut env, &mut server, ROUTER_A, 0x1234, MAC);
        env.now_ns = 1_000_000;
        discover_via(&mut env, &mut server, ROUTER_B, 0x1234, MAC);
        let replies = replies(&mut env, &mut server);
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[0].0, SocketAddrV4::new(ROUTER_A, SERVER_PORT));
        assert_eq!(replies[1].0, SocketAddrV4::new(ROUTER_B, SERVER_PORT));
        for (_, offer) in &replies {
            assert_eq!(offer.opcode(), Opcode::BootReply);
            assert_eq!(offer.xid(), 0x1234);
            assert_eq!(offer.chaddr(), &MAC);
            assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 1, 0, 100));
            assert_eq!(dhcp::message_type(offer), Some(MessageType::Offer));
            assert_eq!(dhcp::server_identifier(offer), Some(SERVER));
            let opts = offer.opts();
            assert!(matches!(
                opts.get(dhcproto::v4::OptionCode::AddressLeaseTime),
                Some(DhcpOption::AddressLeaseTime(86_400))
            ));
            assert!(
                matches!(opts.get(dhcproto::v4::OptionCode::Router), Some(DhcpOption::Router(r)) if r == &[Ipv4Addr::new(10, 1, 0, 1)])
            );
            assert!(
                matches!(opts.get(dhcproto::v4::OptionCode::DomainNameServer), Some(DhcpOption::DomainNameServer(d)) if d.len() == 2)
            );
        }
        assert_eq!(replies[0].1.giaddr(), ROUTER_A);
        assert_eq!(replies[1].1.giaddr(), ROUTER_B);
    }

    #[test]
    fn leases_in_many_chunks_survive_a_restart() {
        let (mut env, mut server) = start("10.1.0.10-10.1.0.250");
        let mac = |n: u8| [0x00, 0x50, 0x56, 0x00, 0x01, n];
        // 150 clients: three chunks of leases. The 7th releases its offer by choosing
        // another server, which leaves a hole in the first chunk.
        let mut offered = Vec::new();
        for n in 0..150u8 {
            let xid = 1000 + u32::from(n);
            discover_via(&mut env, &mut server, ROUTER_A, xid, mac(n));
            offered.push(replies(&mut env, &mut server)[0].1.yiaddr());
        }
        let elsewhere = Ipv4Addr::new(10, 2, 0, 99);
        relay_to_server(
            &mut env,
            &mut server,
            ROUTER_A,
            request(1006, mac(6), Some(elsewhere), offered[6], ROUTER_A),
        );
        let mut restarted = env
            .start::<DhcpServer>(&config("10.1.0.10-10.1.0.250"))
            .unwrap();
        assert_eq!(restarted.leases.len(), 149);
        for n in (0..150u8).filter(|&n| n != 6) {
            assert_eq!(
                restarted.leases[&Chaddr::new(&mac(n))].ip,
                offered[usize::from(n)],
                "client {n}"
            );
        }
        // A change after the restart rewrites its chunk and keeps the others.
        discover_via(&mut env, &mut restarted, ROUTER_A, 5000, mac(200));
        replies(&mut env, &mut restarted);
        let again = env
            .start::<DhcpServer>(&config("10.1.0.10-10.1.0.250"))
            .unwrap();
        assert_eq!(again.leases.len(), 150);
        assert_eq!(again.leases[&Chaddr::new(&mac(149))].ip, offered[149]);
    }

    #[test]
    fn request_for_the_offer_is_acked_and_survives_a_restart() {
        let (mut env, mut server) = start("10.1.0.100-10.1.0.199");
        discover_via(&mut env, &mut server, ROUTER_A, 7, MAC);
        let offered = replies(&mut env, &mut server)[0].1.yiaddr();
        relay_to_server(
            &mut env,
            &mut server,
            ROUTER_A,
            request(7, MAC, Some(SERVER), offered, ROUTER_A),
        );
        let replies_now = replies(&mut env, &mut server);
        assert_eq!(replies_now.len(), 1);
        let (dst, ack) = &replies_now[0];
        assert_eq!(*dst, SocketAddrV4::new(ROUTER_A, SERVER_PORT));
        assert_eq!(dhcp::message_type(ack), Some(MessageType::Ack));
        assert_eq!(ack.yiaddr(), offered);

        // A restarted service keeps the binding: the client's next DISCOVER gets its address
        // and another client does not.
        let mut restarted = env
            .start::<DhcpServer>(&config("10.1.0.100-10.1.0.199"))
            .unwrap();
        let other = [0x00, 0x50, 0x56, 0x00, 0x00, 0x02];
        discover_via(&mut env, &mut restarted, ROUTER_A, 8, other);
        discover_via(&mut env, &mut restarted, ROUTER_A, 9, MAC);
        let offers = replies(&mut env, &mut restarted);
        assert_eq!(offers[0].1.yiaddr(), Ipv4Addr::new(10, 1, 0, 101));
        assert_eq!(offers[1].1.yiaddr(), offered);
    }

    #[test]
    fn request_for_a_wrong_address_is_naked() {
        let (mut env, mut server) = start("10.1.0.100-10.1.0.199");
        discover_via(&mut env, &mut server, ROUTER_A, 7, MAC);
        replies(&mut env, &mut server);
        let wrong = Ipv4Addr::new(10, 1, 0, 150);
        relay_to_server(
            &mut env,
            &mut server,
            ROUTER_A,
            request(7, MAC, Some(SERVER), wrong, ROUTER_A),
        );
        let replies_now = replies(&mut env, &mut server);
        assert_eq!(
            dhcp::message_type(&replies_now[0].1),
            Some(MessageType::Nak)
        );
        assert_eq!(replies_now[0].1.yiaddr(), Ipv4Addr::UNSPECIFIED);

        // Locally (no relay) a NAK is broadcast.
        env.deliver(
            &mut server,
            SocketAddrV4::new(Ipv4Addr::new(0, 0, 0, 0), CLIENT_PORT),
            SocketAddrV4::new(Ipv4Addr::new(255, 255, 255, 255), SERVER_PORT),
            request(8, MAC, Some(SERVER), wrong, Ipv4Addr::UNSPECIFIED),
        );
        let replies_now = replies(&mut env, &mut server);
        assert_eq!(
            replies_now[0].0,
            SocketAddrV4::new(Ipv4Addr::new(255, 255, 255, 255), CLIENT_PORT)
        );
    }

    #[test]
    fn choosing_another_server_releases_the_offer() {
        let (mut env, mut server) = start("10.1.0.100-10.1.0.100");
        discover_via(&mut env, &mut server, ROUTER_A, 7, MAC);
        let offered = replies(&mut env, &mut server)[0].1.yiaddr();
        let elsewhere = Ipv4Addr::new(10, 2, 0, 11);
        relay_to_server(
            &mut env,
            &mut server,
            ROUTER_A,
            request(7, MAC, Some(elsewhere), offered, ROUTER_A),
        );
        assert!(replies(&mut env, &mut server).is_empty());
        let other = [0x00, 0x50, 0x56, 0x00, 0x00, 0x02];
        discover_via(&mut env, &mut server, ROUTER_A, 8, other);
        assert_eq!(replies(&mut env, &mut server)[0].1.yiaddr(), offered);
    }

    #[test]
    fn exhausted_pool_leaves_discovers_unanswered_until_a_release() {
        let (mut env, mut server) = start("10.1.0.100-10.1.0.101");
        for (i, last) in [1u8, 2, 3].into_iter().enumerate() {
            let mac = [0x00, 0x50, 0x56, 0x00, 0x00, last];
            discover_via(&mut env, &mut server, ROUTER_A, i as u32, mac);
        }
        let offers = replies(&mut env, &mut server);
        assert_eq!(offers.len(), 2);
        assert!(env.logged(Level::Warning, "pool exhausted"));

        let first = [0x00, 0x50, 0x56, 0x00, 0x00, 1];
        relay_to_server(
            &mut env,
            &mut server,
            ROUTER_A,
            request(0, first, Some(SERVER), offers[0].1.yiaddr(), ROUTER_A),
        );
        replies(&mut env, &mut server);
        let mut release = build::client_message(10, first, MessageType::Release);
        release.set_ciaddr(offers[0].1.yiaddr());
        release
            .opts_mut()
            .insert(DhcpOption::ServerIdentifier(SERVER));
        env.deliver(
            &mut server,
            SocketAddrV4::new(offers[0].1.yiaddr(), CLIENT_PORT),
            SocketAddrV4::new(SERVER, SERVER_PORT),
            dhcp::encode(&release).unwrap(),
        );
        let third = [0x00, 0x50, 0x56, 0x00, 0x00, 3];
        discover_via(&mut env, &mut server, ROUTER_A, 11, third);
        assert_eq!(
            replies(&mut env, &mut server)[0].1.yiaddr(),
            offers[0].1.yiaddr()
        );
    }

    #[test]
    fn garbage_foreign_relays_and_other_ports_are_ignored() {
        let (mut env, mut server) = start("10.1.0.100-10.1.0.199");
        for payload in [
            vec![],
            vec![1; 3],
            vec![0xff; 600],
            build::pxe_discover(1, MAC, ROUTER_A, 0)[..240].to_vec(),
        ] {
            relay_to_server(&mut env, &mut server, ROUTER_A, payload);
        }
        let foreign = Ipv4Addr::new(192, 168, 7, 1);
        discover_via(&mut env, &mut server, foreign, 2, MAC);
        env.deliver(
            &mut server,
            SocketAddrV4::new(ROUTER_A, SERVER_PORT),
            SocketAddrV4::new(SERVER, PXE_PORT),
            build::pxe_discover(3, MAC, ROUTER_A, 0),
        );
        assert!(replies(&mut env, &mut server).is_empty());
    }

    #[test]
    fn bad_config_is_refused_with_the_key_named() {
        let mut env = MockEnv::new(SERVER);
        let error = env
            .start::<DhcpServer>(&[("pool", "10.1.0.100")])
            .err()
            .unwrap();
        assert_eq!(error.key.as_deref(), Some("pool"));
        assert!(error.to_string().contains("config `pool`"), "{error}");
        let error = env
            .start::<DhcpServer>(&[
                ("pool", "10.1.0.100-10.1.1.100"),
                ("subnet_mask", "255.255.255.0"),
                ("router", "10.1.0.1"),
            ])
            .err()
            .unwrap();
        assert!(error.message.contains("not in one subnet"), "{error}");
        let error = env.start::<DhcpServer>(&[("pools", "x")]).err().unwrap();
        assert!(error.message.contains("unknown key"), "{error}");
    }

    fn start_with(extra: &[(&'static str, &'static str)]) -> Result<(MockEnv, DhcpServer), String> {
        let mut env = MockEnv::new(SERVER);
        let mut pairs = config("10.1.0.100-10.1.0.199");
        pairs.extend_from_slice(extra);
        let server = env
            .start::<DhcpServer>(&pairs)
            .map_err(|e| format!("{e:?}"))?;
        Ok((env, server))
    }

    /// A DISCOVER with `secs`, relayed by `ROUTER_A`.
    #[cfg(feature = "variants")]
    fn discover_with_secs(chaddr: [u8; 6], secs: u16) -> Vec<u8> {
        let mut message = dhcp::decode(&build::pxe_discover(7, chaddr, ROUTER_A, 0)).unwrap();
        message.set_secs(secs);
        dhcp::encode(&message).unwrap()
    }

    #[cfg(feature = "variants")]
    #[test]
    fn failover_peers_split_the_clients_until_secs_passes_the_threshold() {
        let peers = [("load_balance", "primary"), ("load_balance", "secondary")];
        let mut answered = [0, 0];
        let mut both_late = true;
        for last in 0..32u8 {
            let chaddr = [0x02, 0x50, 0, 0, 0, last];
            let mut early = Vec::new();
            for (index, peer) in peers.iter().enumerate() {
                let (mut env, mut server) = start_with(&[*peer]).unwrap();
                relay_to_server(
                    &mut env,
                    &mut server,
                    ROUTER_A,
                    discover_with_secs(chaddr, 3),
                );
                let early_answer = !replies(&mut env, &mut server).is_empty();
                early.push(early_answer);
                answered[index] += usize::from(early_answer);
                relay_to_server(
                    &mut env,
                    &mut server,
                    ROUTER_A,
                    discover_with_secs(chaddr, 4),
                );
                both_late &= !replies(&mut env, &mut server).is_empty();
            }
            assert_eq!(
                early.iter().filter(|a| **a).count(),
                1,
                "one peer: {chaddr:?}"
            );
        }
        assert!(answered[0] > 0 && answered[1] > 0, "{answered:?}");
        assert!(both_late, "secs 4 is above 3: both peers answer");
    }

    #[cfg(feature = "variants")]
    #[test]
    fn option_60_goes_into_offers_and_pxe_clients_can_be_denied() {
        let (mut env, mut server) = start_with(&[("vendor_class_id", "PXEClient")]).unwrap();
        discover_via(&mut env, &mut server, ROUTER_A, 1, MAC);
        let offers = replies(&mut env, &mut server);
        assert!(dhcp::is_pxe_client(&offers[0].1));

        let (mut env, mut server) = start_with(&[("ignore_pxe_clients", "true")]).unwrap();
        discover_via(&mut env, &mut server, ROUTER_A, 1, MAC);
        assert!(replies(&mut env, &mut server).is_empty());
    }

    #[cfg(feature = "variants")]
    #[test]
    fn the_per_discover_allocator_gives_each_copy_an_address_and_acks_the_last() {
        let (mut env, mut server) = start_with(&[("allocation", "per-discover")]).unwrap();
        discover_via(&mut env, &mut server, ROUTER_A, 9, MAC);
        discover_via(&mut env, &mut server, ROUTER_B, 9, MAC);
        let offered: Vec<Ipv4Addr> = replies(&mut env, &mut server)
            .iter()
            .map(|(_, m)| m.yiaddr())
            .collect();
        assert_eq!(
            offered,
            vec![Ipv4Addr::new(10, 1, 0, 100), Ipv4Addr::new(10, 1, 0, 101)]
        );
        let asked = request(9, MAC, Some(SERVER), offered[0], ROUTER_A);
        relay_to_server(&mut env, &mut server, ROUTER_A, asked);
        let acks = replies(&mut env, &mut server);
        assert_eq!(
            acks[0].1.yiaddr(),
            offered[1],
            "the record, not what was asked"
        );
    }

    #[cfg(feature = "variants")]
    #[test]
    fn kea_parks_a_copy_behind_the_one_in_progress_and_drops_the_parked_one_a_third_replaces() {
        let (mut env, mut server) = start_with(&[("kea_multi_threaded", "true")]).unwrap();
        let router_c = Ipv4Addr::new(10, 1, 0, 4);
        discover_via(&mut env, &mut server, ROUTER_A, 5, MAC);
        discover_via(&mut env, &mut server, ROUTER_B, 5, MAC);
        discover_via(&mut env, &mut server, router_c, 5, MAC);
        let answered: Vec<Ipv4Addr> = replies(&mut env, &mut server)
            .iter()
            .map(|(to, _)| *to.ip())
            .collect();
        // The first, then the one parked last (B's was replaced by C's and dropped).
        assert_eq!(answered, vec![ROUTER_A, router_c]);
    }

    #[test]
    fn variant_keys_are_refused_with_their_key_unless_compiled_in() {
        let bad = [
            ("load_balance", "tertiary"),
            ("load_balance_max_secs", "3"),
            ("vendor_class_id", ""),
            ("ignore_pxe_clients", "yes"),
            ("allocation", "random"),
            ("kea_multi_threaded", "4"),
        ];
        for (key, value) in bad {
            let error = start_with(&[(key, value)]).err().expect("refused");
            assert!(error.contains(key), "{key}: {error}");
        }
    }
}
