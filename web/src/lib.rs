//! The browser UI of pxelab (`pxelab serve`): an HTTP server with the static assets embedded,
//! a JSON API over runs and sweeps, and the Chrome trace export of a run.
//!
//! The server only calls the deterministic library (`lab::run`); simulations run on tokio's
//! blocking pool so a long sweep never stalls the requests of other browser tabs.

mod api;
pub mod decode;
mod runs;
mod trace;
pub mod view;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

pub use trace::trace_json;

/// How `pxelab serve` was started.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to listen; the CLI defaults to loopback (`127.0.0.1:7878`).
    pub addr: SocketAddr,
    /// The folder of topologies the UI offers; the only place topologies are read from.
    pub topologies_dir: PathBuf,
    /// Where runs are remembered across restarts (`None`: in memory only).
    pub runs_dir: Option<PathBuf>,
    /// The plugin compile cache (`None`: compile in memory).
    pub cache_dir: Option<PathBuf>,
    /// Run records (`pxelab run --out`, `pxelab live --out`) the UI opens: each is replayed,
    /// as `pxelab replay` does, and shown like any run. Named by their folder's name.
    pub records: Vec<PathBuf>,
}

/// Why the server does not start or stops.
#[derive(Debug)]
pub enum ServeError {
    Topologies {
        dir: PathBuf,
        error: std::io::Error,
    },
    CreateRuns {
        dir: PathBuf,
        error: std::io::Error,
    },
    OpenRuns {
        dir: PathBuf,
        error: std::io::Error,
    },
    /// The plugin host does not start.
    Services(lab::PluginError),
    /// A `--record` folder is not a run record, or its name is taken by another.
    Record {
        dir: PathBuf,
        error: String,
    },
    Listen {
        addr: SocketAddr,
        error: std::io::Error,
    },
    Address(std::io::Error),
    Stopped(std::io::Error),
    Runtime(std::io::Error),
    CtrlC(std::io::Error),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Topologies { dir, error } => write!(
                f,
                "cannot open the topologies folder {}: {error}",
                dir.display()
            ),
            ServeError::CreateRuns { dir, error } => {
                write!(
                    f,
                    "cannot create the runs folder {}: {error}",
                    dir.display()
                )
            }
            ServeError::OpenRuns { dir, error } => {
                write!(f, "cannot open the runs folder {}: {error}", dir.display())
            }
            ServeError::Services(error) => write!(f, "{error}"),
            ServeError::Record { dir, error } => {
                write!(f, "cannot serve the record {}: {error}", dir.display())
            }
            ServeError::Listen { addr, error } => write!(f, "cannot listen on {addr}: {error}"),
            ServeError::Address(error) => {
                write!(f, "cannot read the listening address: {error}")
            }
            ServeError::Stopped(error) => write!(f, "server stopped: {error}"),
            ServeError::Runtime(error) => write!(f, "cannot start the async runtime: {error}"),
            ServeError::CtrlC(error) => write!(f, "cannot wait for Ctrl-C: {error}"),
        }
    }
}

impl std::error::Error for ServeError {}

/// Binds the listener and returns its address and the future that serves until dropped or
/// until it fails. Tests bind `127.0.0.1:0` and read the port from the address.
pub async fn bind(
    options: Options,
) -> Result<
    (
        SocketAddr,
        impl Future<Output = Result<(), ServeError>> + Send,
    ),
    ServeError,
> {
    let state = api::State::new(&options)?;
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|error| ServeError::Listen {
            addr: options.addr,
            error,
        })?;
    let addr = listener.local_addr().map_err(ServeError::Address)?;
    let app = api::router(state);
    let server = async move {
        axum::serve(listener, app)
            .await
            .map_err(ServeError::Stopped)
    };
    Ok((addr, server))
}

/// Serves until Ctrl-C on a runtime of its own; prints `pxelab serving on http://ADDR/` once
/// the listener is bound.
pub fn serve(options: Options) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async move {
        let (addr, server) = bind(options).await?;
        println!("pxelab serving on http://{addr}/");
        tokio::select! {
            result = server => result,
            signal = tokio::signal::ctrl_c() => {
                signal.map_err(ServeError::CtrlC)
            }
        }
    })
}
