//! `wds-sccm2007` with the configuration keys that reproduce other WDS builds' behaviour (the
//! request parser of WDS before KB3073881, `request_parser: unchecked`), for the scenario
//! library. It is the same source file, compiled here with the `variants` feature: the `wds`
//! crate itself is built without that code, so the simulated CPU cost of `wds-sccm2007` and
//! `wds-fixed`, and every shipped run's digest, stays what it was.

#[path = "../../wds/src/lib.rs"]
pub mod wds;

sdk::export_plugin!(wds::Sccm2007Wds);
