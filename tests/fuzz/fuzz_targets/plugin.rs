//! Datagrams into the shipped plugins through the real host (wasmtime, fuel and limits on).
//! The first byte picks the plugin, the second the port (67, 4011, 69 or another); the rest is
//! the payload. Each input gets a fresh instance, started with the plugin's shipped
//! configuration, so a crash replays from its input alone (corpus: `corpus/dhcp`, `corpus/tftp`).
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, OnceLock};

use engine::{Datagram, Failure, Input, Stream};
use plugin_host::{PluginHost, SandboxLimits};

#[path = "../plugins.rs"]
#[allow(dead_code)]
mod plugins;

struct Shipped {
    host: PluginHost,
    plugins: Vec<(&'static str, Vec<(String, String)>, Arc<plugin_host::Plugin>)>,
}

fn shipped() -> &'static Shipped {
    static SHIPPED: OnceLock<Shipped> = OnceLock::new();
    SHIPPED.get_or_init(|| {
        let host = PluginHost::new(SandboxLimits::default()).expect("the plugin host starts");
        let plugins = plugins::shipped_plugins()
            .into_iter()
            .map(|(name, config)| {
                let bytes = artifacts::builtin(name).expect("a built-in plugin");
                let plugin = host.load(name, bytes).expect("a shipped plugin loads");
                (name, config, plugin)
            })
            .collect();
        Shipped { host, plugins }
    })
}

// Compiling the plugins (cranelift, under the sanitizer) takes longer than a unit may: done
// before fuzzing starts.
libfuzzer_sys::fuzz_target!(init: { shipped(); }, |bytes: &[u8]| {
    let [which, port, payload @ ..] = bytes else {
        return;
    };
    let shipped = shipped();
    let (name, config, plugin) = &shipped.plugins[usize::from(*which) % shipped.plugins.len()];
    let port = match port % 4 {
        0 => 67,
        1 => 4011,
        2 => 69,
        _ => 1000 + u16::from(*port),
    };
    let mut app = shipped
        .host
        .instantiate(plugin, config.clone(), Stream::new(1, name, "fuzz"))
        .expect("a shipped plugin instantiates");
    plugins::feed(&mut app, Input::Start).expect("a shipped plugin starts");
    let datagram = Datagram {
        src: SocketAddrV4::new(Ipv4Addr::new(10, 2, 0, 2), 67),
        dst: SocketAddrV4::new(Ipv4Addr::new(10, 2, 0, 20), port),
        payload: payload.to_vec(),
    };
    if let Err(Failure::Crashed(reason)) = plugins::feed(&mut app, Input::Datagram(&datagram))
        && !plugins::modelled(name, &reason.to_string())
    {
        panic!("{name} port {port}: {reason}");
    }
});
