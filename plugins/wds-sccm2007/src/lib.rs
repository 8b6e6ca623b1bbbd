//! The WDS plugin with the ConfigMgr 2007 PXE provider, whose relayed duplicate DISCOVERs crash
//! the service (KB2510665). All logic lives in the `wds` crate; this crate only exports it.

sdk::export_plugin!(wds::Sccm2007Wds);
