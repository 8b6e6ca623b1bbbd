//! The integration tests, in one binary: topologies and seeds in, outcomes and traces out; the
//! plugin host against the built plugins; the `pxelab` command line; the web UI over HTTP and in
//! a browser; real firmware and real routers against the simulated ones; and the tidy rules of
//! the tree. One module per subject. It is a test of `sim/cli`, the package that owns the
//! `pxelab` binary, so `CARGO_BIN_EXE_pxelab` is set; paths in the repository come from
//! `common::repo_path`.

// Shared by the modules below.
mod common;
mod netlab;
mod tools;

mod advise;
mod calibrate;
mod cli;
mod client_outcomes;
mod contract;
mod determinism;
mod firmware;
mod fuzz_smoke;
mod hostile;
mod import;
mod kb2510665;
mod live;
mod live_firmware;
mod network;
mod plugin_host;
mod proxydhcp;
mod real_firmware;
mod real_relay;
mod sandbox;
mod scenarios;
mod schedulers;
mod sdk_example;
mod served_files;
mod services;
mod tidy;
mod tshark;
mod web_ui;
mod wire_trace;
