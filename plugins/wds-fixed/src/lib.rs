//! The WDS plugin with Kea-style client race avoidance: duplicates are dropped or parked, never
//! processed concurrently. All logic lives in the `wds` crate; this crate only exports it.

sdk::export_plugin!(wds::FixedWds);
