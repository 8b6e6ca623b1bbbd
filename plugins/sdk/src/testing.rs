//! A recording `Env` for native plugin tests, so a test reads "datagram in, datagrams out":
//! a clock that only moves when told, a fixed random stream, and every send, timer, log line,
//! event-log record and work span kept for assertions.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use wire::tftp::{Packet, Repr};

use crate::{Datagram, Env, Level, Plugin, Refusal};

/// A datagram the plugin sent, with the simulated time it was sent at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub at_ns: u64,
    pub datagram: Datagram,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    pub source: String,
    pub level: Level,
    pub event_id: u32,
    pub text: String,
}

/// A work span's start or end, as `Env::work_begin` / `work_end` reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Work {
    Begin { at_ns: u64, id: u64, label: String },
    End { at_ns: u64, id: u64 },
}

/// A recording host for one plugin.
#[derive(Clone, Debug)]
pub struct MockEnv {
    pub now_ns: u64,
    pub own_ip: Ipv4Addr,
    pub sent: Vec<Sent>,
    pub logs: Vec<(Level, String)>,
    pub events: Vec<EventRecord>,
    pub store: BTreeMap<String, Vec<u8>>,
    /// Work spans begun and ended, in order.
    pub work: Vec<Work>,
    /// The files the server is given (`files:`), by name.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Timers not yet fired, ordered by (due time, order of setting) like the simulator's queue.
    pending_timers: BTreeMap<(u64, u64), u64>,
    timer_sequence: u64,
    random_state: u64,
}

impl MockEnv {
    pub fn new(own_ip: Ipv4Addr) -> MockEnv {
        MockEnv::with_seed(own_ip, 1)
    }

    pub fn with_seed(own_ip: Ipv4Addr, seed: u64) -> MockEnv {
        MockEnv {
            now_ns: 0,
            own_ip,
            sent: Vec::new(),
            logs: Vec::new(),
            events: Vec::new(),
            store: BTreeMap::new(),
            work: Vec::new(),
            files: BTreeMap::new(),
            pending_timers: BTreeMap::new(),
            timer_sequence: 0,
            random_state: seed,
        }
    }

    /// Starts `P` with `config` as the host would (unknown keys refused).
    pub fn start<P: Plugin>(&mut self, config: &[(&str, &str)]) -> Result<P, Refusal> {
        crate::start::<P>(
            self,
            config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// Delivers a datagram at the current time.
    pub fn deliver<P: Plugin>(
        &mut self,
        plugin: &mut P,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        payload: Vec<u8>,
    ) {
        plugin.on_datagram(self, Datagram { src, dst, payload });
    }

    /// The due time of the earliest pending timer.
    pub fn next_timer_ns(&self) -> Option<u64> {
        self.pending_timers.keys().next().map(|(due_ns, _)| *due_ns)
    }

    pub fn pending_timer_count(&self) -> usize {
        self.pending_timers.len()
    }

    /// Fires every timer due at or before `time_ns` in order, moving the clock to each, then
    /// leaves the clock at `time_ns`.
    pub fn run_until<P: Plugin>(&mut self, plugin: &mut P, time_ns: u64) {
        while let Some(entry) = self.pending_timers.first_entry() {
            let (due_ns, _) = *entry.key();
            if due_ns > time_ns {
                break;
            }
            let token = entry.remove();
            self.now_ns = self.now_ns.max(due_ns);
            plugin.on_timer(self, token);
        }
        self.now_ns = self.now_ns.max(time_ns);
    }

    /// Runs until no timer is pending, with a limit on fired timers so a plugin that re-arms
    /// forever fails the test instead of hanging it.
    pub fn run_to_idle<P: Plugin>(&mut self, plugin: &mut P, timers_max: usize) {
        for _ in 0..timers_max {
            let Some(due_ns) = self.next_timer_ns() else {
                return;
            };
            self.run_until(plugin, due_ns);
        }
        assert!(
            self.pending_timers.is_empty(),
            "plugin still had timers after {timers_max} fired"
        );
    }

    /// Sends an octet read request for `filename` from `client` to the TFTP port of `server`,
    /// asking for the transfer size and 1456-byte blocks, and returns the first answer.
    pub fn tftp_read_request<P: Plugin>(
        &mut self,
        plugin: &mut P,
        client: SocketAddrV4,
        server: Ipv4Addr,
        filename: &str,
    ) -> Datagram {
        let rrq = Repr::ReadRequest {
            filename,
            mode: "octet",
            options: vec![("tsize", "0"), ("blksize", "1456")],
        };
        let server = SocketAddrV4::new(server, crate::tftp::PORT);
        self.deliver(plugin, client, server, rrq.to_bytes());
        self.take_sent().remove(0)
    }

    /// Reads a TFTP transfer to its end as a client at `client` does: acknowledges block 0
    /// (the OACK) and then each DATA block to `server`, until the plugin sends nothing more.
    /// Returns the file's bytes and the number of the last block.
    pub fn tftp_read_to_end<P: Plugin>(
        &mut self,
        plugin: &mut P,
        client: SocketAddrV4,
        server: SocketAddrV4,
    ) -> (Vec<u8>, u16) {
        let mut received = Vec::new();
        let mut block = 0u16;
        loop {
            self.deliver(plugin, client, server, Repr::Ack { block }.to_bytes());
            let sent = self.take_sent();
            if sent.is_empty() {
                return (received, block);
            }
            let Repr::Data {
                block: number,
                data,
            } = tftp_repr(&sent[0])
            else {
                panic!("expected DATA");
            };
            assert_eq!(number, block + 1);
            received.extend_from_slice(data);
            block = number;
        }
    }

    /// Removes and returns everything sent so far.
    pub fn take_sent(&mut self) -> Vec<Datagram> {
        self.sent.drain(..).map(|s| s.datagram).collect()
    }

    /// Whether a log line at `level` contains `needle`.
    pub fn logged(&self, level: Level, needle: &str) -> bool {
        self.logs
            .iter()
            .any(|(l, text)| *l == level && text.contains(needle))
    }
}

/// A TFTP datagram's packet, parsed.
pub fn tftp_repr(datagram: &Datagram) -> Repr<'_> {
    Repr::parse(&Packet::new_checked(&datagram.payload[..]).unwrap()).unwrap()
}

impl Env for MockEnv {
    fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// splitmix64: a fixed, portable stream.
    fn random_u64(&mut self) -> u64 {
        self.random_state = self.random_state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.random_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn own_ip(&self) -> Ipv4Addr {
        self.own_ip
    }

    fn send(&mut self, datagram: Datagram) {
        self.sent.push(Sent {
            at_ns: self.now_ns,
            datagram,
        });
    }

    fn set_timer(&mut self, delay_ns: u64, token: u64) {
        self.timer_sequence += 1;
        self.pending_timers.insert(
            (self.now_ns.saturating_add(delay_ns), self.timer_sequence),
            token,
        );
    }

    fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_string()));
    }

    fn event_log(&mut self, source: &str, level: Level, event_id: u32, text: &str) {
        self.events.push(EventRecord {
            source: source.to_string(),
            level,
            event_id,
            text: text.to_string(),
        });
    }

    fn store_get(&mut self, key: &str) -> Option<Vec<u8>> {
        self.store.get(key).cloned()
    }

    fn store_set(&mut self, key: &str, value: &[u8]) {
        self.store.insert(key.to_string(), value.to_vec());
    }

    fn work_begin(&mut self, id: u64, label: &str) {
        self.work.push(Work::Begin {
            at_ns: self.now_ns,
            id,
            label: label.to_string(),
        });
    }

    fn work_end(&mut self, id: u64) {
        self.work.push(Work::End {
            at_ns: self.now_ns,
            id,
        });
    }

    fn files(&mut self) -> Vec<(String, u64)> {
        self.files
            .iter()
            .map(|(name, bytes)| (name.clone(), bytes.len() as u64))
            .collect()
    }

    fn read_file(&mut self, name: &str, offset: u64, length: u32) -> Vec<u8> {
        let Some(bytes) = self.files.get(name) else {
            return Vec::new();
        };
        let start = usize::try_from(offset).map_or(bytes.len(), |offset| offset.min(bytes.len()));
        let end = start.saturating_add(length as usize).min(bytes.len());
        bytes[start..end].to_vec()
    }
}
