//! The web UI of `pxelab serve`: its JSON API, its trace view and the page in a real browser,
//! against a server started in-process.

mod common;

mod api;
mod browser;
mod trace;
