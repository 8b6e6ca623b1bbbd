//! Field-by-field comparison of two observation lists (real firmware against a simulated client
//! profile of the same scenario), with the timing tolerance of each gap stated and justified.

use std::fmt;
use std::time::Duration;

use super::capture::{ClientDhcp, ClientTftp, Gaps, Observation, Seen, TftpOp, dhcp, gaps, tftp};

/// How far a gap measured on real firmware may be from the simulated one: whichever of the
/// absolute and the relative bound is larger.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub absolute: Duration,
    pub relative: f64,
}

impl Tolerance {
    pub fn allows(&self, real: Duration, simulated: Duration) -> bool {
        let bound = self
            .absolute
            .max(simulated.mul_f64(self.relative))
            .max(real.mul_f64(self.relative));
        real.abs_diff(simulated) <= bound
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "±{} ms or ±{:.0}%",
            self.absolute.as_millis(),
            self.relative * 100.0
        )
    }
}

/// Retransmission timers (DISCOVER retries, 4011 retries) and EDK2's offer-collection window
/// (DISCOVER to REQUEST). The firmware arms these timers in guest time, and under TCG QEMU's
/// virtual clock follows the host clock, so the timeouts themselves are on time; what stretches
/// them is the guest code around them (building the packet, polling the NIC, EDK2's 100 ms
/// event granularity), which TCG slows to tens or a few hundred milliseconds. EDK2 also adds
/// RFC 2131 randomisation to its DHCP timeouts (DOMAIN.md: 3.5-3.8 s for the first). 15% covers
/// the randomisation of the long timeouts, 300 ms the TCG overhead on the short ones.
pub const TIMER: Tolerance = Tolerance {
    absolute: Duration::from_millis(300),
    relative: 0.15,
};

/// Gaps with no timer behind them (ACK to the 4011 request, ACK to the first TFTP request): pure
/// guest processing (configuring the IP stack, ARP for the server, iPXE's wait for IPv6 router
/// autoconfiguration to finish), which TCG can stretch several times over, so only a coarse
/// bound is meaningful: ±1.5 s or ±50%.
pub const PROCESSING: Tolerance = Tolerance {
    absolute: Duration::from_millis(1500),
    relative: 0.5,
};

/// `secs` counts elapsed seconds in EDK2, so one run may cross a second boundary the other did
/// not: values may differ by one. (iPXE's encoding is exact and passes trivially.)
pub const SECS_SLACK: u16 = 1;

/// One field that differs.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    pub field: String,
    pub real: String,
    pub simulated: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: real {} / simulated {}",
            self.field, self.real, self.simulated
        )
    }
}

struct Diff(Vec<Mismatch>);

impl Diff {
    /// The two counts (as `count`), then the `i`th real item with the `i`th simulated one.
    fn in_order<T>(
        &mut self,
        count: &str,
        real: &[&T],
        sim: &[&T],
        compare: fn(&mut Diff, usize, &T, &T),
    ) {
        self.check(count, real.len(), sim.len());
        for (i, (r, s)) in real.iter().zip(sim).enumerate() {
            compare(self, i, r, s);
        }
    }

    fn check<T: PartialEq + fmt::Debug>(&mut self, field: impl Into<String>, real: T, sim: T) {
        if real != sim {
            self.0.push(Mismatch {
                field: field.into(),
                real: format!("{real:?}"),
                simulated: format!("{sim:?}"),
            });
        }
    }

    fn gap(&mut self, field: &str, real: Option<Duration>, sim: Option<Duration>, t: Tolerance) {
        match (real, sim) {
            (Some(r), Some(s)) if !t.allows(r, s) => self.0.push(Mismatch {
                field: format!("{field} (tolerance {t})"),
                real: format!("{:.3} s", r.as_secs_f64()),
                simulated: format!("{:.3} s", s.as_secs_f64()),
            }),
            (Some(_), Some(_)) | (None, None) => {}
            (r, s) => self.check(field, r.is_some(), s.is_some()),
        }
    }

    fn gaps(&mut self, field: &str, real: &[Duration], sim: &[Duration], t: Tolerance) {
        self.check(format!("{field} count"), real.len(), sim.len());
        for (i, (r, s)) in real.iter().zip(sim).enumerate() {
            self.gap(&format!("{field}[{i}]"), Some(*r), Some(*s), t);
        }
    }
}

/// How a message's xid relates to the client's previous DHCP message: addresses and random
/// values differ between two runs, their relations must not.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Xid {
    First,
    Zero,
    SameAsPrevious,
    New,
}

fn xid_relations<'a>(messages: impl Iterator<Item = &'a ClientDhcp>) -> Vec<Xid> {
    let mut previous = None;
    messages
        .map(|d| {
            let relation = match previous {
                _ if d.xid == 0 => Xid::Zero,
                None => Xid::First,
                Some(p) if p == d.xid => Xid::SameAsPrevious,
                Some(_) => Xid::New,
            };
            previous = Some(d.xid);
            relation
        })
        .collect()
}

fn secs_close(a: u16, b: u16) -> bool {
    // Either both big-endian values are close, or both little-endian ones: a profile writing
    // the other byte order than the firmware does is still caught (3 vs 0x0300 fails both).
    a.abs_diff(b) <= SECS_SLACK || a.swap_bytes().abs_diff(b.swap_bytes()) <= SECS_SLACK
}

/// Options compared by value; the others (addresses, client identifiers, GUIDs, which differ
/// between any two machines) by presence, length and type byte.
const BY_VALUE: &[u8] = &[53, 57, 55, 60, 93, 94, 77, 175, 43];

fn compare_dhcp(diff: &mut Diff, i: usize, r: &ClientDhcp, s: &ClientDhcp) {
    let at = format!("dhcp[{i}]");
    diff.check(format!("{at} message type"), r.message_type, s.message_type);
    diff.check(format!("{at} option order"), r.codes(), s.codes());
    for code in BY_VALUE {
        diff.check(
            format!("{at} option {code}"),
            r.option(*code),
            s.option(*code),
        );
    }
    for code in [61_u8, 97] {
        let shape = |d: &ClientDhcp| d.option(code).map(|v| (v.len(), v.first().copied()));
        diff.check(
            format!("{at} option {code} length/type"),
            shape(r),
            shape(s),
        );
    }
    if !secs_close(r.secs, s.secs) {
        diff.check(format!("{at} secs (±{SECS_SLACK})"), r.secs, s.secs);
    }
    diff.check(format!("{at} broadcast flag"), r.broadcast, s.broadcast);
    diff.check(
        format!("{at} ciaddr set"),
        !r.ciaddr.is_unspecified(),
        !s.ciaddr.is_unspecified(),
    );
    diff.check(format!("{at} source port"), r.src.port(), s.src.port());
    diff.check(format!("{at} destination port"), r.dst.port(), s.dst.port());
    diff.check(
        format!("{at} source address set"),
        !r.src.ip().is_unspecified(),
        !s.src.ip().is_unspecified(),
    );
    diff.check(
        format!("{at} destination broadcast"),
        r.dst.ip().is_broadcast(),
        s.dst.ip().is_broadcast(),
    );
}

fn compare_tftp(diff: &mut Diff, i: usize, r: &ClientTftp, s: &ClientTftp) {
    let at = format!("tftp[{i}]");
    match (&r.op, &s.op) {
        (
            TftpOp::Read {
                file: rf,
                mode: rm,
                options: ro,
            },
            TftpOp::Read {
                file: sf,
                mode: sm,
                options: so,
            },
        ) => {
            diff.check(format!("{at} file"), rf, sf);
            diff.check(
                format!("{at} mode"),
                rm.to_ascii_lowercase(),
                sm.to_ascii_lowercase(),
            );
            diff.check(format!("{at} options"), ro, so);
        }
        (TftpOp::Error { code: rc, .. }, TftpOp::Error { code: sc, .. }) => {
            diff.check(format!("{at} error code"), rc, sc);
        }
        (ro, so) => diff.check(format!("{at} kind"), kind(ro), kind(so)),
    }
    diff.check(
        format!("{at} destination port is 69"),
        r.dst.port() == 69,
        s.dst.port() == 69,
    );
}

fn kind(op: &TftpOp) -> &'static str {
    match op {
        TftpOp::Read { .. } => "RRQ",
        TftpOp::Error { .. } => "ERROR",
    }
}

/// Whether each TFTP packet leaves from the same port as the one before it (EDK2 re-requests
/// from a new port after its tsize probe).
fn tftp_port_reuse(packets: &[&ClientTftp]) -> Vec<bool> {
    packets
        .windows(2)
        .map(|w| w[0].src.port() == w[1].src.port())
        .collect()
}

/// The ARP the client starts, as a sequence of requests (r) and gratuitous announcements (g).
/// Its replies are left out: they answer whatever the server's OS asks (Linux probes an entry
/// that dnsmasq injected for its DHCPACK once it goes stale), which is the server's behaviour,
/// not the firmware's.
fn arp_pattern(observations: &[Observation]) -> String {
    observations
        .iter()
        .filter_map(|o| match &o.what {
            Seen::Arp(a) if a.gratuitous => Some('g'),
            Seen::Arp(a) if a.request => Some('r'),
            _ => None,
        })
        .collect()
}

/// `read` of the real observations and of the simulated ones.
fn each<'a, T>(
    real: &'a [Observation],
    simulated: &'a [Observation],
    read: impl Fn(&'a [Observation]) -> T,
) -> (T, T) {
    (read(real), read(simulated))
}

/// Every difference between `real` and `simulated`: the client's DHCP messages pair up in
/// order, then its TFTP packets; gaps are compared with the tolerances above. Empty when they
/// agree.
pub fn compare(real: &[Observation], simulated: &[Observation]) -> Vec<Mismatch> {
    let mut diff = Diff(Vec::new());
    let (rd, sd) = each(real, simulated, |o| {
        dhcp(o).map(|(_, d)| d).collect::<Vec<_>>()
    });
    diff.in_order("DHCP message count", &rd, &sd, compare_dhcp);
    diff.check(
        "xid relations",
        xid_relations(rd.iter().copied()),
        xid_relations(sd.iter().copied()),
    );
    let (rt, st) = each(real, simulated, |o| {
        tftp(o).map(|(_, t)| t).collect::<Vec<_>>()
    });
    diff.in_order("TFTP packet count", &rt, &st, compare_tftp);
    diff.check(
        "TFTP source port reuse",
        tftp_port_reuse(&rt),
        tftp_port_reuse(&st),
    );
    diff.check("ARP pattern", arp_pattern(real), arp_pattern(simulated));
    let (rg, sg): (Gaps, Gaps) = each(real, simulated, gaps);
    diff.gaps("DISCOVER gaps", &rg.discovers, &sg.discovers, TIMER);
    diff.gap(
        "DISCOVER->REQUEST",
        rg.discover_to_request,
        sg.discover_to_request,
        TIMER,
    );
    diff.gaps("4011 retry gaps", &rg.retries_4011, &sg.retries_4011, TIMER);
    diff.gap("ACK->4011", rg.ack_to_4011, sg.ack_to_4011, PROCESSING);
    diff.gap("ACK->TFTP", rg.ack_to_tftp, sg.ack_to_tftp, PROCESSING);
    diff.0
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use super::super::capture::{ACK, ClientArp, DISCOVER, REQUEST, ServerDhcp};
    use super::*;

    const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

    fn at(ms: u64, what: Seen) -> Observation {
        Observation {
            at: Duration::from_millis(ms),
            what,
        }
    }

    fn discover(xid: u32, secs: u16, mac_byte: u8) -> ClientDhcp {
        ClientDhcp {
            message_type: Some(DISCOVER),
            xid,
            secs,
            broadcast: true,
            ciaddr: ANY,
            src: SocketAddrV4::new(ANY, 68),
            dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
            options: vec![
                (53, vec![DISCOVER]),
                (57, vec![0x05, 0xc0]),
                (61, vec![1, 0x52, 0x54, 0, 0, 0, mac_byte]),
                (60, b"PXEClient:Arch:00007:UNDI:003000".to_vec()),
            ],
        }
    }

    /// A hand-made EDK2-like run: DISCOVER, REQUEST 3.7 s later, ACK, 4011 request, RRQ.
    fn run(xid: u32, mac_byte: u8, window_ms: u64, request_secs: u16) -> Vec<Observation> {
        let mut request = discover(xid, request_secs, mac_byte);
        request.message_type = Some(REQUEST);
        request.options[0] = (53, vec![REQUEST]);
        let mut boot = request.clone();
        boot.xid = xid ^ 0xffff;
        boot.broadcast = false;
        boot.ciaddr = Ipv4Addr::new(10, 0, 0, mac_byte);
        boot.src = SocketAddrV4::new(boot.ciaddr, 4011);
        boot.dst = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 4011);
        let ack = ServerDhcp {
            message_type: Some(ACK),
            xid,
            src: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 67),
            yiaddr: boot.ciaddr,
            pxe_client: false,
            has_file: false,
        };
        let rrq = ClientTftp {
            op: TftpOp::Read {
                file: "boot.efi".into(),
                mode: "octet".into(),
                options: vec![
                    ("tsize".into(), "0".into()),
                    ("blksize".into(), "1468".into()),
                ],
            },
            src: SocketAddrV4::new(boot.ciaddr, 1000 + u16::from(mac_byte)),
            dst: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 69),
        };
        vec![
            at(100, Seen::Dhcp(discover(xid, 0, mac_byte))),
            at(100 + window_ms, Seen::Dhcp(request)),
            at(110 + window_ms, Seen::Reply(ack)),
            at(
                120 + window_ms,
                Seen::Arp(ClientArp {
                    request: true,
                    sender: boot.ciaddr,
                    target: Ipv4Addr::new(10, 0, 0, 2),
                    gratuitous: false,
                }),
            ),
            at(130 + window_ms, Seen::Dhcp(boot)),
            at(1130 + window_ms, Seen::Tftp(rrq)),
        ]
    }

    fn dhcp_mut(observation: &mut Observation) -> &mut ClientDhcp {
        let Seen::Dhcp(message) = &mut observation.what else {
            unreachable!("not a DHCP message")
        };
        message
    }

    fn tftp_mut(observation: &mut Observation) -> &mut ClientTftp {
        let Seen::Tftp(packet) = &mut observation.what else {
            unreachable!("not a TFTP packet")
        };
        packet
    }

    /// The fields `compare` finds different, in order.
    fn mismatched_fields(real: &[Observation], simulated: &[Observation]) -> Vec<String> {
        compare(real, simulated)
            .into_iter()
            .map(|m| m.field)
            .collect()
    }

    #[test]
    fn equal_runs_from_different_machines_agree() {
        // Different xids, MAC bytes, addresses and ports; same shape and timing.
        assert_eq!(
            compare(&run(0x1234, 5, 3700, 3), &run(0x9999, 7, 3700, 3)),
            vec![]
        );
    }

    #[test]
    fn gaps_within_tolerance_pass_and_outside_fail() {
        // 3.7 s against 3.3 s: 400 ms is within 15% of 3.7 s (555 ms).
        assert_eq!(compare(&run(1, 5, 3700, 3), &run(2, 5, 3300, 3)), vec![]);
        // 3.7 s against 1 s: outside both bounds.
        let mismatches = compare(&run(1, 5, 3700, 3), &run(2, 5, 1000, 3));
        assert_eq!(mismatches.len(), 1, "{mismatches:?}");
        assert!(mismatches[0].field.starts_with("DISCOVER->REQUEST"));
    }

    #[test]
    fn secs_allow_one_second_but_not_the_other_byte_order() {
        assert_eq!(compare(&run(1, 5, 3700, 3), &run(2, 5, 3700, 4)), vec![]);
        assert_eq!(
            mismatched_fields(&run(1, 5, 3700, 3), &run(2, 5, 3700, 0x0300)),
            ["dhcp[1] secs (±1)", "dhcp[2] secs (±1)"]
        );
    }

    #[test]
    fn option_order_values_and_xid_relations_are_compared() {
        let real = run(1, 5, 3700, 3);
        let mut simulated = run(2, 5, 3700, 3);
        let d = dhcp_mut(&mut simulated[0]);
        d.options.swap(1, 2);
        d.options[3].1 = b"PXEClient:Arch:00000:UNDI:002001".to_vec();
        let boot = dhcp_mut(&mut simulated[4]);
        boot.xid = 2; // reuses the DHCP xid where the real client took a new one
        let fields = mismatched_fields(&real, &simulated);
        assert_eq!(
            fields,
            ["dhcp[0] option order", "dhcp[0] option 60", "xid relations"]
        );
    }

    #[test]
    fn missing_packets_and_tftp_options_are_reported() {
        let real = run(1, 5, 3700, 3);
        let mut simulated = run(2, 5, 3700, 3);
        let rrq = tftp_mut(&mut simulated[5]);
        rrq.op = TftpOp::Read {
            file: "boot.efi".into(),
            mode: "octet".into(),
            options: vec![("blksize".into(), "1432".into())],
        };
        simulated.remove(3); // no ARP
        let fields = mismatched_fields(&real, &simulated);
        assert_eq!(fields, ["tftp[0] options", "ARP pattern"]);
        simulated.truncate(2);
        let fields = mismatched_fields(&real, &simulated);
        assert!(
            fields.contains(&"DHCP message count".to_string()),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"TFTP packet count".to_string()),
            "{fields:?}"
        );
    }
}
