//! The planner's injectors: hosts that send a datagram of their own to each of their targets
//! every period (a load balancer's health monitor), each checked like a server's interface and
//! planned with its payload as bytes.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;

use engine::frame;
use engine::scripted::InjectorConfig;
use timing::Distribution;

use crate::error::{Error, ErrorKind};
use crate::model::InjectorSpec;
use crate::planner::{HostInterface, HostKeys, InjectorPlan, Planner};

/// The largest payload one datagram carries in an Ethernet frame (1500 less the IPv4 and UDP
/// headers): pxelab never fragments.
const PAYLOAD_BYTES_MAX: usize = 1472;
/// The shortest period: an injector faster than this would spend a run's event limit on
/// itself.
const PERIOD_NS_MIN: u64 = 1_000_000;

impl Planner<'_> {
    pub(crate) fn plan_injectors(
        &mut self,
        specs: &BTreeMap<String, InjectorSpec>,
    ) -> Result<Vec<InjectorPlan>, Error> {
        specs
            .iter()
            .map(|(name, spec)| self.injector(name, spec))
            .collect()
    }

    fn injector(&mut self, name: &str, spec: &InjectorSpec) -> Result<InjectorPlan, Error> {
        let source = self.source;
        let base = ["injectors:", &format!("{name}:")];
        let with = |key: &'static str| [base[0], base[1], key];
        let keys = HostKeys {
            lan: &spec.lan,
            ip: &spec.ip,
            gateway: spec.gateway.as_deref(),
            mac: spec.mac.as_deref(),
        };
        let HostInterface {
            lan,
            ip,
            prefix_len,
            gateway,
            mac,
        } = self.host(&base, name, keys, 0x05)?;
        if spec.targets.is_empty() {
            return Err(source.value(
                &with("targets:"),
                "the injector has no targets",
                "list where it sends, like `targets: [10.2.0.20:67]`",
            ));
        }
        let targets = spec
            .targets
            .iter()
            .map(|text| self.target(&with("targets:"), text))
            .collect::<Result<Vec<_>, _>>()?;
        let payload = self.payload(&base, spec)?;
        let period = source.distribution(&with("period:"), &spec.period)?;
        if period.nominal_ns() < PERIOD_NS_MIN {
            return Err(source.value(
                &with("period:"),
                format!("a period of {} is too short", timing::format_ns(period.nominal_ns())),
                "probe at most every millisecond; monitors probe every few seconds (F5's default interval is 5s)",
            ));
        }
        let start = match &spec.start {
            Some(text) => source.distribution(&with("start:"), text)?,
            None => Distribution::constant(0),
        };
        if spec.rounds == Some(0) {
            return Err(source.value(
                &with("rounds:"),
                "`rounds: 0` sends nothing",
                "drop the key to send until the run ends, or give a count of 1 or more",
            ));
        }
        Ok(InjectorPlan {
            name: name.to_string(),
            config: InjectorConfig {
                mac,
                ip,
                prefix_len,
                gateway,
                targets,
                payload,
                period,
                rounds: spec.rounds,
            },
            lan,
            start,
        })
    }

    /// One `address:port` of `targets:`.
    fn target(&self, anchors: &[&str], text: &str) -> Result<SocketAddrV4, Error> {
        let target: SocketAddrV4 = text.trim().parse().map_err(|_| {
            self.source.value(
                anchors,
                format!("`{text}` is not an address and port"),
                "write each target like 10.2.0.20:67",
            )
        })?;
        if target.port() == 0 {
            return Err(self.source.value(
                anchors,
                format!("`{text}`: UDP port 0 is no destination"),
                "give the port the datagram is for, 1..65535",
            ));
        }
        if target.ip().is_unspecified() || *target.ip() == frame::BROADCAST_IP {
            return Err(self.source.value(
                anchors,
                format!("`{text}` is no host address"),
                "an injector sends unicast datagrams to a host's address",
            ));
        }
        Ok(target)
    }

    /// `payload:` or `payload_hex:` as bytes: exactly one of them, 1 to 1472 bytes.
    fn payload(&self, base: &[&str; 2], spec: &InjectorSpec) -> Result<Vec<u8>, Error> {
        let source = self.source;
        let (key, bytes) = match (&spec.payload, &spec.payload_hex) {
            (Some(text), None) => ("payload:", text.as_bytes().to_vec()),
            (None, Some(hex)) => (
                "payload_hex:",
                self.hex(&[base[0], base[1], "payload_hex:"], hex)?,
            ),
            (Some(_), Some(_)) => {
                return Err(source.conflict(
                    &[base[0], base[1], "payload_hex:"],
                    "both `payload` and `payload_hex`",
                    "give the payload once, as text or as hexadecimal bytes",
                ));
            }
            (None, None) => {
                return Err(source.error(
                    ErrorKind::Syntax,
                    base,
                    "the injector has no payload",
                    "add `payload: <text>` or `payload_hex: <bytes>`",
                ));
            }
        };
        if bytes.is_empty() || bytes.len() > PAYLOAD_BYTES_MAX {
            return Err(source.value(
                &[base[0], base[1], key],
                format!("a payload of {} bytes", bytes.len()),
                format!("a datagram carries 1 to {PAYLOAD_BYTES_MAX} bytes in one Ethernet frame"),
            ));
        }
        Ok(bytes)
    }

    fn hex(&self, anchors: &[&str], text: &str) -> Result<Vec<u8>, Error> {
        let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        let bad = |why: &str| {
            self.source.value(
                anchors,
                format!("`{text}` is not hexadecimal bytes: {why}"),
                "write two hex digits per byte, like `64 65 66`",
            )
        };
        if digits.len() % 2 != 0 {
            return Err(bad("an odd number of digits"));
        }
        digits
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| bad("a digit that is not 0-9 or a-f"))
            })
            .collect()
    }
}
