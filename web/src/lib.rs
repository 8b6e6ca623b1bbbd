//! The browser UI of pxelab (`pxelab serve`): an HTTP server with the static assets embedded,
//! a JSON API over runs and sweeps, and the Chrome trace export of a run.
