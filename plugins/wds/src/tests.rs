//! Behaviour of the WDS model at its boundary: datagrams and timers in, offers, ACKs, TFTP
//! blocks, event-log records and crashes out.

use std::panic::{AssertUnwindSafe, catch_unwind};

use dhcproto::v4::OptionCode;
use sdk::dhcp::{CLIENT_PORT, build};
use sdk::testing::{MockEnv, tftp_repr};
use wire::tftp::Repr;

use super::*;

const MAC: [u8; 6] = [0x00, 0x15, 0x5d, 0x00, 0x00, 0x01];
const XID: u32 = 0x2a2b_2c2d;
const ROUTER_A: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
const ROUTER_B: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 3);
const WDS_IP: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 20);
const MS: u64 = 1_000_000;

fn start<P: Plugin>(config: &[(&str, &str)]) -> (MockEnv, P) {
    let mut env = MockEnv::new(WDS_IP);
    let plugin = env.start::<P>(config).unwrap();
    (env, plugin)
}

fn relay<P: Plugin>(env: &mut MockEnv, plugin: &mut P, at_ns: u64, router: Ipv4Addr, xid: u32) {
    env.run_until(plugin, at_ns);
    env.deliver(
        plugin,
        SocketAddrV4::new(router, SERVER_PORT),
        SocketAddrV4::new(WDS_IP, SERVER_PORT),
        build::pxe_discover(xid, MAC, router, 0),
    );
}

/// Two copies of one DISCOVER: relayed by router A at 0 and by router B `apart_ns` later.
fn two_copies<P: Plugin>(env: &mut MockEnv, plugin: &mut P, apart_ns: u64) {
    relay(env, plugin, 0, ROUTER_A, XID);
    relay(env, plugin, apart_ns, ROUTER_B, XID);
}

/// Runs every timer and returns the proxy offers sent, or the panic message.
fn run<P: Plugin>(
    env: &mut MockEnv,
    plugin: &mut P,
) -> Result<Vec<(SocketAddrV4, Message)>, String> {
    catch_unwind(AssertUnwindSafe(|| env.run_to_idle(plugin, 1000))).map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })?;
    Ok(env
        .take_sent()
        .into_iter()
        .map(|d| (d.dst, dhcp::decode(&d.payload).unwrap()))
        .collect())
}

fn crash_records(env: &MockEnv) -> usize {
    env.events
        .iter()
        .filter(|e| e.source == "Application Error" && e.event_id == 1000)
        .count()
}

#[test]
fn start_writes_the_service_started_record() {
    let (env, _wds) = start::<Sccm2007Wds>(&[]);
    assert_eq!(env.events.len(), 1);
    assert_eq!(
        (
            env.events[0].source.as_str(),
            env.events[0].level,
            env.events[0].event_id
        ),
        ("WDSServer", Level::Info, 257)
    );
}

#[test]
fn sccm2007_crashes_on_a_duplicate_in_flight() {
    let (mut env, mut wds) = start::<Sccm2007Wds>(&[("lookup", "5ms")]);
    two_copies(&mut env, &mut wds, MS);
    let message = run(&mut env, &mut wds).unwrap_err();
    assert!(
        message.contains("heap corruption") && message.contains("0xc0000374"),
        "{message}"
    );
    assert_eq!(crash_records(&env), 1);
    let record = env.events.iter().find(|e| e.event_id == 1000).unwrap();
    assert_eq!(record.level, Level::Error);
    for needle in [
        "svchost.exe_WDSServer",
        "ntdll.dll",
        "0xc0000374",
        "0x000000000008f0c6",
    ] {
        assert!(
            record.text.contains(needle),
            "{needle} missing from {}",
            record.text
        );
    }
    assert!(env.logged(Level::Error, "via 10.1.0.2") && env.logged(Level::Error, "via 10.1.0.3"));
    assert!(env.sent.is_empty(), "the crash happened before any offer");
}

#[test]
fn sccm2007_with_one_thread_answers_both_copies() {
    let (mut env, mut wds) = start::<Sccm2007Wds>(&[("lookup", "5ms"), ("threads", "1")]);
    two_copies(&mut env, &mut wds, MS);
    let offers = run(&mut env, &mut wds).unwrap();
    assert_eq!(
        offers.iter().map(|(dst, _)| *dst).collect::<Vec<_>>(),
        [
            SocketAddrV4::new(ROUTER_A, SERVER_PORT),
            SocketAddrV4::new(ROUTER_B, SERVER_PORT)
        ]
    );
    assert_eq!(offers[1].1.giaddr(), ROUTER_B);
    assert_eq!(crash_records(&env), 0);
}

#[test]
fn race_avoidance_drops_the_in_flight_duplicate() {
    let (mut env, mut wds) = start::<FixedWds>(&[("lookup", "5ms")]);
    two_copies(&mut env, &mut wds, MS);
    let offers = run(&mut env, &mut wds).unwrap();
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].0, SocketAddrV4::new(ROUTER_A, SERVER_PORT));
    assert!(env.logged(Level::Info, "dropped as a duplicate"));
    assert_eq!(crash_records(&env), 0);
}

#[test]
fn race_avoidance_parks_a_new_transaction_and_resubmits_it() {
    let (mut env, mut wds) = start::<FixedWds>(&[("lookup", "5ms")]);
    relay(&mut env, &mut wds, 0, ROUTER_A, XID);
    relay(&mut env, &mut wds, MS, ROUTER_A, XID + 1);
    relay(&mut env, &mut wds, 2 * MS, ROUTER_A, XID + 2);
    let offers = run(&mut env, &mut wds).unwrap();
    let xids: Vec<u32> = offers.iter().map(|(_, m)| m.xid()).collect();
    assert_eq!(
        xids,
        [XID, XID + 2],
        "only the newest parked request is kept"
    );
    assert!(env.logged(Level::Info, "parked"));
}

/// How many offers two relayed copies of one DISCOVER, 20 ms apart, get.
fn offers_for_copies_20ms_apart<P: Plugin>(config: &[(&str, &str)]) -> usize {
    let (mut env, mut wds) = start::<P>(config);
    two_copies(&mut env, &mut wds, 20 * MS);
    run(&mut env, &mut wds).unwrap().len()
}

#[test]
fn copies_further_apart_than_the_lookup_never_crash() {
    for threads in ["1", "4"] {
        let config = [("lookup", "5ms"), ("threads", threads)];
        assert_eq!(
            offers_for_copies_20ms_apart::<Sccm2007Wds>(&config),
            2,
            "threads {threads}"
        );
        assert_eq!(
            offers_for_copies_20ms_apart::<FixedWds>(&config),
            2,
            "threads {threads}"
        );
    }
}

#[test]
fn proxy_offer_has_no_address_and_no_boot_file() {
    let (mut env, mut wds) = start::<FixedWds>(&[("lookup", "1ms")]);
    env.deliver(
        &mut wds,
        SocketAddrV4::new(Ipv4Addr::new(0, 0, 0, 0), CLIENT_PORT),
        SocketAddrV4::new(Ipv4Addr::new(255, 255, 255, 255), SERVER_PORT),
        build::pxe_discover(XID, MAC, Ipv4Addr::UNSPECIFIED, 7),
    );
    let offers = run(&mut env, &mut wds).unwrap();
    let (dst, offer) = &offers[0];
    assert_eq!(
        *dst,
        SocketAddrV4::new(Ipv4Addr::new(255, 255, 255, 255), CLIENT_PORT)
    );
    assert_eq!(offer.opcode(), Opcode::BootReply);
    assert_eq!((offer.xid(), offer.chaddr()), (XID, &MAC[..]));
    assert!(offer.flags().broadcast());
    assert_eq!(offer.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(offer.siaddr(), WDS_IP);
    assert_eq!(dhcp::message_type(offer), Some(MessageType::Offer));
    assert_eq!(dhcp::server_identifier(offer), Some(WDS_IP));
    assert!(
        matches!(offer.opts().get(OptionCode::ClassIdentifier), Some(DhcpOption::ClassIdentifier(c)) if c == b"PXEClient")
    );
    assert_eq!(dhcp::client_guid(offer).map(|g| g.len()), Some(17));
    assert_eq!(dhcp::boot_file(offer), None);
    assert!(env.store.contains_key("wds/device/00:15:5d:00:00:01"));
}

#[test]
fn non_pxe_discovers_requests_on_67_and_garbage_are_ignored() {
    let (mut env, mut wds) = start::<Sccm2007Wds>(&[("lookup", "1ms")]);
    let plain = dhcp::encode(&build::client_message(XID, MAC, MessageType::Discover)).unwrap();
    let mut oversized_hlen = build::pxe_discover(XID, MAC, ROUTER_A, 0);
    oversized_hlen[2] = 255;
    for payload in [
        plain,
        oversized_hlen,
        vec![],
        vec![0xff; 1000],
        build::pxe_boot_request(XID, MAC, Ipv4Addr::new(10, 1, 0, 100), 0),
    ] {
        env.deliver(
            &mut wds,
            SocketAddrV4::new(ROUTER_A, SERVER_PORT),
            SocketAddrV4::new(WDS_IP, SERVER_PORT),
            payload.clone(),
        );
        env.deliver(
            &mut wds,
            SocketAddrV4::new(ROUTER_A, SERVER_PORT),
            SocketAddrV4::new(WDS_IP, PXE_PORT),
            payload[..payload.len().min(20)].to_vec(),
        );
    }
    assert_eq!(run(&mut env, &mut wds).unwrap().len(), 0);
}

#[test]
fn port_4011_ack_carries_the_file_for_the_architecture() {
    let (mut env, mut wds) = start::<Sccm2007Wds>(&[]);
    let client = SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 100), CLIENT_PORT);
    for (arch, file) in [
        (0, "SMSBoot\\x86\\wdsnbp.com"),
        (6, "SMSBoot\\x64\\wdsmgfw.efi"),
        (7, "SMSBoot\\x64\\wdsmgfw.efi"),
        (9, "SMSBoot\\x64\\wdsmgfw.efi"),
    ] {
        env.deliver(
            &mut wds,
            client,
            SocketAddrV4::new(WDS_IP, PXE_PORT),
            build::pxe_boot_request(XID, MAC, *client.ip(), arch),
        );
        let sent = env.take_sent();
        assert_eq!(sent.len(), 1, "answered at once, without a lookup");
        assert_eq!(
            (sent[0].src, sent[0].dst),
            (SocketAddrV4::new(WDS_IP, PXE_PORT), client)
        );
        let ack = dhcp::decode(&sent[0].payload).unwrap();
        assert_eq!(dhcp::message_type(&ack), Some(MessageType::Ack));
        assert_eq!(dhcp::boot_file(&ack), Some(file), "arch {arch}");
        assert_eq!(ack.siaddr(), WDS_IP);
        assert_eq!(dhcp::server_identifier(&ack), Some(WDS_IP));
        assert!(dhcp::is_pxe_client(&ack));
        assert!(dhcp::client_guid(&ack).is_some());
    }
}

#[test]
fn tftp_serves_the_boot_file_with_negotiated_options() {
    let (mut env, mut wds) = start::<Sccm2007Wds>(&[]);
    let client = SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 100), 2070);
    let oack = env.tftp_read_request(&mut wds, client, WDS_IP, "SMSBoot\\x86\\wdsnbp.com");
    assert_eq!(
        oack.src,
        SocketAddrV4::new(WDS_IP, 49152),
        "answered from a new port"
    );
    assert_eq!(
        tftp_repr(&oack),
        Repr::OptionAck {
            options: vec![("tsize", "30832"), ("blksize", "1456")]
        }
    );

    let (received, block) = env.tftp_read_to_end(&mut wds, client, oack.src);
    assert_eq!(block, 22, "30832 bytes in 1456-byte blocks");
    assert_eq!(received, nbp_content("SMSBoot\\x86\\wdsnbp.com", 30_832));
    assert_ne!(received, nbp_content("SMSBoot\\x64\\wdsmgfw.efi", 30_832));
}

#[test]
fn a_device_lookup_is_a_work_span_from_the_worker_to_its_timer() {
    use sdk::testing::Work;
    let (mut env, mut wds) = start::<FixedWds>(&[("lookup", "5ms")]);
    relay(&mut env, &mut wds, 0, ROUTER_A, XID);
    let Some(Work::Begin {
        at_ns: 0,
        id,
        label,
    }) = env.work.first().cloned()
    else {
        panic!("{:?}", env.work)
    };
    assert!(label.contains("device lookup"), "{label}");
    assert!(label.contains("via 10.1.0.2"), "{label}");
    assert_eq!(run(&mut env, &mut wds).unwrap().len(), 1);
    assert_eq!(env.work[1..], [Work::End { at_ns: 5 * MS, id }]);
}

#[test]
fn bad_config_is_refused() {
    let mut env = MockEnv::new(WDS_IP);
    let mut refused = |config: &[(&str, &str)]| env.start::<FixedWds>(config).err().unwrap();
    let error = refused(&[("threads", "0")]);
    assert_eq!(error.key.as_deref(), Some("threads"));
    assert!(error.to_string().contains("config `threads`"), "{error}");
    let error = refused(&[("threads", "x")]);
    assert!(error.message.contains("expected a whole number, got `x`"));
    assert_eq!(
        refused(&[("lookup", "soon")]).key.as_deref(),
        Some("lookup")
    );
    assert_eq!(
        refused(&[("nbp_size", "0")]).key.as_deref(),
        Some("nbp_size")
    );
    let error = refused(&[("boot_file", "x")]);
    assert_eq!(error.key.as_deref(), Some("boot_file"));
    assert!(error.message.contains("unknown key"));
    let error = refused(&[("boot_file_efi", "")]);
    assert_eq!(error.key.as_deref(), Some("boot_file_efi"));
}

#[test]
fn sccm2007_crashes_whichever_copy_finishes_first() {
    // With a widely spread lookup, some seeds let the duplicate finish first: it answers and
    // frees the shared state, and the first worker then reads freed memory.
    let config = [("lookup", "uniform(1ms, 40ms)")];
    let mut duplicate_finished_first = false;
    for seed in 1..=50 {
        let mut env = MockEnv::with_seed(WDS_IP, seed);
        let mut wds = env.start::<Sccm2007Wds>(&config).unwrap();
        two_copies(&mut env, &mut wds, MS);
        let message = run(&mut env, &mut wds).unwrap_err();
        assert!(message.contains("0xc0000374"), "seed {seed}: {message}");
        if env.logged(Level::Error, "freed by a duplicate") {
            assert_eq!(
                env.sent.len(),
                1,
                "seed {seed}: the duplicate was answered before the crash"
            );
            duplicate_finished_first = true;
        }
    }
    assert!(
        duplicate_finished_first,
        "no seed made the duplicate finish first"
    );
}

#[test]
fn after_the_corruption_wds_alone_cannot_start_until_wmi_is_restarted() {
    let (mut env, mut wds) = start::<Sccm2007Wds>(&[("lookup", "5ms")]);
    two_copies(&mut env, &mut wds, MS);
    assert!(
        run(&mut env, &mut wds).is_err(),
        "the duplicate corrupts the heap"
    );
    assert_eq!(
        env.store.get(PROVIDER_STATE_KEY).map(Vec::as_slice),
        Some(&b"corrupt"[..])
    );

    // The Service Control Manager restarts WDS: the provider cannot initialize.
    env.events.clear();
    let error = env.start::<Sccm2007Wds>(&[]).err().expect("start fails");
    assert_eq!(error.service_specific, Some(SERVICE_SPECIFIC_ERROR));
    assert_eq!(error.to_string(), "service-specific error 16389 (0x4005)");
    let sources: Vec<_> = env
        .events
        .iter()
        .map(|e| (e.source.as_str(), e.event_id))
        .collect();
    assert_eq!(sources, [("WDSIMGSRV", 513), ("WDSServer", 258)]);
    assert!(env.events[0].text.contains("0xC1030136"));

    // Restarting WMI clears the repository; then WDS starts.
    env.store.retain(|key, _| !key.starts_with("wmi/"));
    env.events.clear();
    env.start::<Sccm2007Wds>(&[])
        .expect("WDS starts after a WMI restart");
    assert_eq!(env.events[0].event_id, 257);
}

#[test]
fn the_fixed_server_never_marks_the_provider_corrupt() {
    let (mut env, mut wds) = start::<FixedWds>(&[("lookup", "5ms")]);
    two_copies(&mut env, &mut wds, MS);
    assert!(run(&mut env, &mut wds).is_ok());
    assert!(!env.store.contains_key(PROVIDER_STATE_KEY));
}
