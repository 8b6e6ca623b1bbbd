//! The plugin boundary as a fuzz target: the shipped plugins with the configuration a shipped
//! topology gives them, and how an input is fed to one. Shared by the stable smoke runs
//! (`tests/it/fuzz_smoke.rs`) and the cargo-fuzz `plugin` target. A plugin may refuse or ignore an
//! input; it must not trap on it, except where the trap is the behaviour it models.

use std::net::Ipv4Addr;

use engine::{App, AppContext, Effect, Failure, Input};

/// Each shipped plugin (that this machine could build) with its configuration.
pub fn shipped_plugins() -> Vec<(&'static str, Vec<(String, String)>)> {
    let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let dhcp = pairs(&[
        ("pool", "10.1.0.100-10.1.0.199"),
        ("subnet_mask", "255.255.255.0"),
        ("router", "10.1.0.1"),
        ("lease_secs", "86400"),
    ]);
    let wds = pairs(&[
        ("threads", "4"),
        ("lookup", "lognormal(median=600us, sigma=0.8, max=5s)"),
    ]);
    let proxy = pairs(&[
        ("boot_file_bios", "pxelinux.0"),
        ("boot_file_efi", "bootx64.efi"),
        ("nbp_size", "26000"),
    ]);
    // The variant builds with their variant keys on, so the fuzzing reaches that code too.
    let mut dhcp_variants = dhcp.clone();
    dhcp_variants.extend(pairs(&[
        ("load_balance", "primary"),
        ("vendor_class_id", "PXEClient"),
        ("allocation", "per-discover"),
    ]));
    let mut proxy_variants = proxy.clone();
    proxy_variants.extend(pairs(&[("offer_to", "broadcast")]));
    let mut plugins = Vec::new();
    for artifact in artifacts::ALL {
        if artifact.component.is_empty() {
            // A C plugin this machine could not build (no clang): nothing to feed.
            continue;
        }
        let config = match artifact.name {
            "dhcp-server" => dhcp.clone(),
            "wds-sccm2007" | "wds-fixed" => wds.clone(),
            "proxydhcp" | "proxydhcp-c" => proxy.clone(),
            "dhcp-server-variants" => dhcp_variants.clone(),
            "proxydhcp-variants" => proxy_variants.clone(),
            _ => Vec::new(),
        };
        plugins.push((artifact.name, config));
    }
    plugins
}

/// The context of every call: a server at 10.2.0.20, 1 ms into the run.
pub fn context() -> AppContext {
    AppContext {
        now_ns: 1_000_000,
        own_ip: Ipv4Addr::new(10, 2, 0, 20),
    }
}

/// A crash the plugin models on purpose (the KB2510665 heap corruption), not a robustness bug.
pub fn modelled(name: &str, reason: &str) -> bool {
    name == "wds-sccm2007" && reason.contains("heap corruption")
}

/// Hands `app` one input and then fires the timers it set (once, no deeper), as the server node
/// would; returns whether the plugin sent anything, or the first failure.
pub fn feed(app: &mut impl App, input: Input<'_>) -> Result<bool, Failure> {
    let mut effects = Vec::new();
    app.handle(&context(), input, &mut effects)?;
    let mut timer_effects = Vec::new();
    for effect in &effects {
        if let Effect::SetTimer { token, .. } = effect {
            app.handle(&context(), Input::Timer(*token), &mut timer_effects)?;
        }
    }
    let sent = |effect: &Effect| matches!(effect, Effect::Send(_));
    Ok(effects.iter().chain(&timer_effects).any(sent))
}
