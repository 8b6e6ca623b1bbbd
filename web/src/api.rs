//! The HTTP surface: the embedded page and its JSON API. Every error is JSON
//! (`{"error": "..."}`) with a 4xx status for what the request got wrong; files are read only
//! from the topologies folder and the runs folder, by names checked before they touch a path.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path as UrlPath, Query, State as Shared};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::runs::{self, RecordParams, RunCache, RunParams, StoredRun};
use crate::{Options, ServeError};

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");

/// A request the API refuses, as `{"error": message}` with `status`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// Well-formed but not runnable: a topology that does not validate, a refused config.
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({"error": self.message}))).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        ApiError {
            status: rejection.status(),
            message: format!("bad JSON body: {}", rejection.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::bad_request(format!("bad query: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::bad_request(format!("bad path: {}", rejection.body_text()))
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The extractor `E` (a `Path` or a `Query`) with its rejection turned into an `ApiError`, so a
/// handler is handed the value and a bad request gets the JSON error.
struct Checked<E>(E);

impl<E, S> FromRequestParts<S> for Checked<E>
where
    E: FromRequestParts<S>,
    ApiError: From<E::Rejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Checked<E>> {
        Ok(Checked(E::from_request_parts(parts, state).await?))
    }
}

/// What every handler shares.
pub struct State {
    /// As given (what replay commands print), and canonical (what containment is checked on).
    topologies_dir: PathBuf,
    topologies_canonical: PathBuf,
    runs_dir: Option<PathBuf>,
    services: Arc<lab::Services>,
    runs: Mutex<RunCache>,
    jobs: usize,
    /// The records `--record` serves, by name (their folder's), as given.
    records: Vec<(String, PathBuf)>,
}

impl State {
    pub fn new(options: &Options) -> Result<Arc<State>, ServeError> {
        let topologies_canonical =
            options
                .topologies_dir
                .canonicalize()
                .map_err(|error| ServeError::Topologies {
                    dir: options.topologies_dir.clone(),
                    error,
                })?;
        let runs_dir = match &options.runs_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|error| ServeError::CreateRuns {
                    dir: dir.clone(),
                    error,
                })?;
                Some(dir.canonicalize().map_err(|error| ServeError::OpenRuns {
                    dir: dir.clone(),
                    error,
                })?)
            }
            None => None,
        };
        let services = lab::Services::with_cache_dir(options.cache_dir.clone())
            .map_err(ServeError::Services)?;
        let jobs = std::thread::available_parallelism().map_or(1, usize::from);
        let records = served_records(&options.records)?;
        Ok(Arc::new(State {
            topologies_dir: options.topologies_dir.clone(),
            topologies_canonical,
            runs_dir,
            services: Arc::new(services),
            runs: Mutex::new(RunCache::default()),
            jobs,
            records,
        }))
    }

    /// The folder of the served record `name`.
    fn record_dir(&self, name: &str) -> ApiResult<PathBuf> {
        self.records
            .iter()
            .find(|(served, _)| served == name)
            .map(|(_, dir)| dir.clone())
            .ok_or_else(|| {
                let names: Vec<&str> = self.records.iter().map(|(n, _)| n.as_str()).collect();
                ApiError::not_found(if names.is_empty() {
                    format!(
                        "there is no record `{name}`: this server serves none \
                         (start it with `pxelab serve --record DIR`)"
                    )
                } else {
                    format!(
                        "there is no record `{name}`; this server serves: {}",
                        names.join(", ")
                    )
                })
            })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, RunCache> {
        self.runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The path of topology `file`: a plain file name (no folders, no leading dot) ending in
    /// `.yaml` or `.yml` that resolves, symlinks followed, inside the topologies folder.
    fn topology_path(&self, file: &str) -> ApiResult<PathBuf> {
        let plain = !file.is_empty()
            && file.len() <= 200
            && !file.starts_with('.')
            && file
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && (file.ends_with(".yaml") || file.ends_with(".yml"));
        if !plain {
            return Err(ApiError::bad_request(format!(
                "`{file}` is not a topology name: use a file name from the topologies folder, \
                 such as kb2510665.yaml (GET /api/topologies lists them)"
            )));
        }
        let path = self.topologies_dir.join(file);
        let canonical = path
            .canonicalize()
            .map_err(|_| ApiError::not_found(format!("there is no topology `{file}`")))?;
        if !canonical.starts_with(&self.topologies_canonical) || !canonical.is_file() {
            return Err(ApiError::not_found(format!(
                "there is no topology `{file}`"
            )));
        }
        Ok(path)
    }
}

/// The records of `--record`, named by their folders: each must be a run record (its manifest
/// reads), and no two may share a name.
fn served_records(dirs: &[PathBuf]) -> Result<Vec<(String, PathBuf)>, ServeError> {
    let mut records: Vec<(String, PathBuf)> = Vec::new();
    for dir in dirs {
        let refused = |error: String| ServeError::Record {
            dir: dir.clone(),
            error,
        };
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|full| Some(full.file_name()?.to_str()?.to_string()))
            .ok_or_else(|| refused("no such folder".to_string()))?;
        lab::record::manifest(dir).map_err(|e| refused(e.to_string()))?;
        if let Some((_, other)) = records.iter().find(|(taken, _)| *taken == name) {
            return Err(refused(format!(
                "its name `{name}` is that of {} too; records are named by their folder",
                other.display()
            )));
        }
        records.push((name, dir.clone()));
    }
    Ok(records)
}

pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(app_js))
        .route("/style.css", get(style_css))
        .route("/api/topologies", get(list_topologies))
        .route("/api/topologies/{file}", get(get_topology))
        .route("/api/runs", get(list_runs).post(start_run))
        .route("/api/runs/{id}", get(get_run))
        .route("/api/runs/{id}/events/{index}", get(get_event))
        .route("/api/runs/{id}/trace.json", get(get_trace))
        .route("/api/records", get(list_records))
        .route("/api/records/{name}", post(open_record))
        .route("/api/compare", get(compare))
        .route("/api/sweep", get(sweep))
        .route("/api/next-crash", get(next_crash))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style_css() -> Response {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no such page or API: {}", uri.path()))
}

async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!("{} does not take this method", uri.path()),
    }
}

/// Runs `work` on the blocking pool; a panic there becomes a 500, never a dead server.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("the simulation failed: {e}")))?
}

fn json_body(value: Value) -> Response {
    axum::Json(value).into_response()
}

/// The node names and plugins of a topology's `servers:` (read from the YAML: the plan keeps
/// them private).
fn servers_of(source: &str) -> Vec<Value> {
    let Ok(yaml) = serde_yaml::from_str::<serde_yaml::Value>(source) else {
        return Vec::new();
    };
    let Some(servers) = yaml.get("servers").and_then(|s| s.as_mapping()) else {
        return Vec::new();
    };
    servers
        .iter()
        .filter_map(|(name, server)| {
            Some(json!({
                "node": name.as_str()?,
                "plugin": server.get("plugin").and_then(|p| p.as_str()),
            }))
        })
        .collect()
}

fn builtin_plugins() -> Vec<&'static str> {
    artifacts::ALL
        .iter()
        .filter(|a| !a.component.is_empty())
        .map(|a| a.name)
        .collect()
}

async fn list_topologies(Shared(state): Shared<Arc<State>>) -> ApiResult<Response> {
    let dir = state.topologies_dir.clone();
    let listed = blocking(move || {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| ApiError::internal(format!("cannot list the topologies folder: {e}")))?;
        let mut files: Vec<String> = entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| {
                !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"))
            })
            .collect();
        files.sort();
        Ok(files
            .into_iter()
            .map(|file| match topology::load(&dir.join(&file)) {
                Ok(plan) => json!({"file": file, "name": plan.name,
                    "servers": servers_of(plan.source())}),
                Err(error) => json!({"file": file, "error": error.to_string()}),
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(json_body(
        json!({"topologies": listed, "plugins": builtin_plugins()}),
    ))
}

async fn get_topology(
    Shared(state): Shared<Arc<State>>,
    Checked(UrlPath(file)): Checked<UrlPath<String>>,
) -> ApiResult<Response> {
    let path = state.topology_path(&file)?;
    let plan =
        blocking(move || topology::load(&path).map_err(|e| ApiError::unprocessable(e.to_string())))
            .await?;
    Ok(json_body(json!({
        "file": file,
        "name": plan.name,
        "source": plan.source(),
        "servers": servers_of(plan.source()),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    topology: String,
    seed: u64,
    /// `{node: built-in plugin}`.
    #[serde(default)]
    plugins: std::collections::BTreeMap<String, String>,
}

/// Loads the plan and the run parameters for a request.
fn prepare(
    state: &State,
    topology: &str,
    seed: u64,
    plugins: Vec<(String, String)>,
) -> ApiResult<(topology::Plan, RunParams)> {
    let path = state.topology_path(topology)?;
    let (plan, topology_sha256) = runs::load_plan(&path, &plugins)?;
    Ok((
        plan,
        RunParams {
            topology: topology.to_string(),
            seed,
            plugins,
            topology_sha256,
            record: None,
        },
    ))
}

/// What replaying served record `name` (in `dir`) found, as the view and the API show it.
fn record_info(name: &str, dir: &Path, replay: &lab::record::Replay) -> Value {
    json!({
        "name": name,
        "live": replay.live,
        "recorded_digest": replay.recorded_digest,
        "digest": replay.digest,
        "matches": replay.matches(),
        "divergence": replay.divergence,
        "changed_plugins": replay.changed_plugins.iter()
            .map(|(node, then, now)| json!({"node": node, "recorded": then, "now": now}))
            .collect::<Vec<_>>(),
        "replay": format!("pxelab replay {}", dir.display()),
    })
}

/// The finished run `params` name, made again (blocking): the topology run at its seed, or the
/// served record replayed; with what the replay found for a record. `GONE` when the topology
/// or the record changed since the id was handed out.
fn finish(
    state: &State,
    params: &RunParams,
) -> ApiResult<(topology::Plan, engine::Finished, Option<Value>)> {
    let id = params.id();
    if let Some(record) = &params.record {
        let dir = state.record_dir(&record.name)?;
        let replayed = lab::record::replay_run(&dir, &state.services)
            .map_err(|e| ApiError::unprocessable(e.to_string()))?;
        if replayed.replay.recorded_digest != record.digest {
            return Err(ApiError {
                status: StatusCode::GONE,
                message: format!(
                    "run {id} was of an earlier record `{}`; open the record again",
                    record.name
                ),
            });
        }
        let info = record_info(&record.name, &dir, &replayed.replay);
        return Ok((replayed.plan, replayed.run, Some(info)));
    }
    let (plan, fresh) = prepare(state, &params.topology, params.seed, params.plugins.clone())?;
    if fresh.topology_sha256 != params.topology_sha256 {
        return Err(ApiError {
            status: StatusCode::GONE,
            message: format!(
                "run {id} was of an earlier version of {}; start the run again",
                fresh.topology
            ),
        });
    }
    let world = lab::run(&plan, params.seed, &state.services)
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    Ok((plan, world, None))
}

/// The run `params` name: from memory, else run again (on the blocking pool).
async fn obtain(state: &Arc<State>, params: RunParams) -> ApiResult<Arc<StoredRun>> {
    let id = params.id();
    if let Some(run) = state.cache().get(&id) {
        return Ok(run);
    }
    let worker = state.clone();
    let run = blocking(move || {
        let (plan, world, record) = finish(&worker, &params)?;
        Ok(runs::store(&plan, params, &world, record))
    })
    .await?;
    let run = Arc::new(run);
    state.cache().insert(run.clone());
    if let Some(dir) = &state.runs_dir {
        let record = json!({"id": run.id, "params": run.params, "summary": run.summary});
        let path = runs::run_file(dir, &run.id);
        let bytes = record.to_string().into_bytes();
        blocking(move || {
            lab::write_atomically(&path, &bytes)
                .map_err(|e| ApiError::internal(format!("cannot save the run: {e}")))
        })
        .await?;
    }
    Ok(run)
}

async fn start_run(
    Shared(state): Shared<Arc<State>>,
    request: Result<axum::Json<RunRequest>, JsonRejection>,
) -> ApiResult<Response> {
    let axum::Json(request) = request?;
    let worker = state.clone();
    let plugins: Vec<(String, String)> = request.plugins.into_iter().collect();
    let params = blocking(move || {
        prepare(&worker, &request.topology, request.seed, plugins).map(|(_, params)| params)
    })
    .await?;
    let run = obtain(&state, params).await?;
    let mut response = json_body(json!({
        "id": run.id,
        "summary": run.summary,
        "url": format!("/api/runs/{}", run.id),
    }));
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// The parameters of run `id`: known to this process, or saved in the runs folder.
async fn params_of(state: &Arc<State>, id: &str) -> ApiResult<RunParams> {
    if !runs::valid_id(id) {
        return Err(ApiError::bad_request(format!(
            "`{id}` is not a run id (16 hex digits, as POST /api/runs returns)"
        )));
    }
    if let Some(params) = state.cache().params(id) {
        return Ok(params);
    }
    let missing = format!("there is no run {id}");
    let Some(dir) = state.runs_dir.clone() else {
        return Err(ApiError::not_found(missing));
    };
    let path = runs::run_file(&dir, id);
    let text =
        blocking(move || std::fs::read_to_string(&path).map_err(|_| ApiError::not_found(missing)))
            .await?;
    let record: Value = serde_json::from_str(&text)
        .map_err(|e| ApiError::internal(format!("run file {id}.json is damaged: {e}")))?;
    serde_json::from_value(record["params"].clone())
        .map_err(|e| ApiError::internal(format!("run file {id}.json is damaged: {e}")))
}

async fn list_runs(Shared(state): Shared<Arc<State>>) -> ApiResult<Response> {
    let mut listed: std::collections::BTreeMap<String, Value> = state
        .cache()
        .known()
        .map(|(id, params)| (id.clone(), json!({"id": id, "params": params})))
        .collect();
    if let Some(dir) = state.runs_dir.clone() {
        let saved = blocking(move || Ok(saved_runs(&dir))).await?;
        for record in saved {
            if let Some(id) = record["id"].as_str() {
                listed.entry(id.to_string()).or_insert(record);
            }
        }
    }
    Ok(json_body(
        json!({"runs": listed.into_values().collect::<Vec<_>>()}),
    ))
}

/// Every readable `ID.json` in the runs folder.
fn saved_runs(dir: &Path) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut records: Vec<Value> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let id = name.strip_suffix(".json")?;
            if !runs::valid_id(id) {
                return None;
            }
            serde_json::from_str(&std::fs::read_to_string(runs::run_file(dir, id)).ok()?).ok()
        })
        .collect();
    records.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    records
}

/// The records this server serves, from their manifests: `{records: [{name, topology, seed,
/// digest, events, live}]}`.
async fn list_records(Shared(state): Shared<Arc<State>>) -> ApiResult<Response> {
    let records = state.records.clone();
    let listed = blocking(move || {
        Ok(records
            .iter()
            .map(|(name, dir)| match lab::record::manifest(dir) {
                Ok(manifest) => json!({
                    "name": name,
                    "topology": manifest.topology,
                    "seed": manifest.seed,
                    "digest": manifest.digest,
                    "events": manifest.events,
                    "live": dir.join(lab::record::LIVE).is_file(),
                }),
                Err(error) => json!({"name": name, "error": error.to_string()}),
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(json_body(json!({"records": listed})))
}

/// Opens served record `name`: replays it (no real machine needed, as `pxelab replay`) and
/// keeps its view as a run; answers like `POST /api/runs`, with what the replay found.
async fn open_record(
    Shared(state): Shared<Arc<State>>,
    Checked(UrlPath(name)): Checked<UrlPath<String>>,
) -> ApiResult<Response> {
    let dir = state.record_dir(&name)?;
    let manifest = blocking(move || {
        lab::record::manifest(&dir).map_err(|e| ApiError::unprocessable(e.to_string()))
    })
    .await?;
    let params = RunParams {
        topology: manifest.topology,
        seed: manifest.seed,
        plugins: manifest.plugin_overrides,
        topology_sha256: manifest.topology_sha256,
        record: Some(RecordParams {
            name,
            digest: manifest.digest,
        }),
    };
    let run = obtain(&state, params).await?;
    let mut response = json_body(json!({
        "id": run.id,
        "summary": run.summary,
        "url": format!("/api/runs/{}", run.id),
        "record": run.record,
    }));
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

async fn run_by_id(state: &Arc<State>, id: &str) -> ApiResult<Arc<StoredRun>> {
    let params = params_of(state, id).await?;
    obtain(state, params).await
}

async fn get_run(
    Shared(state): Shared<Arc<State>>,
    Checked(UrlPath(id)): Checked<UrlPath<String>>,
) -> ApiResult<Response> {
    let run = run_by_id(&state, &id).await?;
    let mut response = run.body.clone().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

async fn get_event(
    Shared(state): Shared<Arc<State>>,
    Checked(UrlPath((id, index))): Checked<UrlPath<(String, String)>>,
) -> ApiResult<Response> {
    let index: usize = index
        .parse()
        .map_err(|_| ApiError::bad_request(format!("event `{index}` is not an event number")))?;
    let run = run_by_id(&state, &id).await?;
    let detail = runs::event_detail(&run, index).ok_or_else(|| {
        ApiError::not_found(format!(
            "run {id} has {} events; there is no event {index}",
            run.events.len()
        ))
    })?;
    Ok(json_body(detail))
}

async fn get_trace(
    Shared(state): Shared<Arc<State>>,
    Checked(UrlPath(id)): Checked<UrlPath<String>>,
) -> ApiResult<Response> {
    let params = params_of(&state, &id).await?;
    let worker = state.clone();
    let trace = blocking(move || {
        let (plan, world, _) = finish(&worker, &params)?;
        Ok(crate::trace_json(&plan, &world).to_string())
    })
    .await?;
    let mut response = trace.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.trace.json\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompareQuery {
    a: String,
    b: String,
}

async fn compare(
    Shared(state): Shared<Arc<State>>,
    Checked(Query(query)): Checked<Query<CompareQuery>>,
) -> ApiResult<Response> {
    let a = run_by_id(&state, &query.a).await?;
    let b = run_by_id(&state, &query.b).await?;
    Ok(json_body(runs::compare(&a, &b)))
}

/// `node=plugin,node=plugin` (built-in plugin names contain no `,` or `=`).
fn parse_plugins(text: Option<&str>) -> ApiResult<Vec<(String, String)>> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|pair| {
            pair.split_once('=')
                .map(|(node, plugin)| (node.to_string(), plugin.to_string()))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "plugins `{text}`: write NODE=PLUGIN[,NODE=PLUGIN], e.g. wds=wds-fixed"
                    ))
                })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepQuery {
    topology: String,
    seeds: String,
    plugins: Option<String>,
}

/// A sweep streamed as server-sent events: `progress` per seed as it finishes, then one
/// `done` with the library's sweep report (the verdict of the topology's `expect:` included),
/// or one `error`. Closing the stream stops the sweep.
async fn sweep(
    Shared(state): Shared<Arc<State>>,
    Checked(Query(query)): Checked<Query<SweepQuery>>,
) -> ApiResult<Response> {
    let seeds = runs::parse_seeds(&query.seeds)?;
    let plugins = parse_plugins(query.plugins.as_deref())?;
    let worker = state.clone();
    let topology = query.topology.clone();
    let (plan, _) = blocking(move || prepare(&worker, &topology, 0, plugins)).await?;
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let jobs = state.jobs;
    let services = state.services.clone();
    let file = query.topology;
    tokio::task::spawn_blocking(move || {
        let mut emit = |event: runs::SweepEvent<'_>| {
            let (name, data) = match event {
                runs::SweepEvent::Progress(progress) => {
                    ("progress", serde_json::to_value(progress))
                }
                runs::SweepEvent::Done(done) => ("done", serde_json::to_value(done)),
            };
            let data = data.unwrap_or_else(|e| json!({"error": e.to_string()}));
            sender
                .send(Event::default().event(name).data(data.to_string()))
                .is_ok()
        };
        if let Err(error) = runs::sweep(&plan, &file, seeds, jobs, &services, &mut emit) {
            let data = json!({"error": error.to_string()}).to_string();
            let _ = sender.send(Event::default().event("error").data(data));
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|event| (Ok::<Event, Infallible>(event), receiver))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NextCrashQuery {
    topology: String,
    /// Search seeds above this one (`-1`-free: omit it to start at seed 0).
    after: Option<u64>,
    plugins: Option<String>,
    /// How many seeds to try (default 1000, at most `SWEEP_SEEDS_MAX`).
    limit: Option<u64>,
}

/// The smallest seed above `after` whose run crashes a node, or 404 when none of the next
/// `limit` seeds does.
async fn next_crash(
    Shared(state): Shared<Arc<State>>,
    Checked(Query(query)): Checked<Query<NextCrashQuery>>,
) -> ApiResult<Response> {
    let start = query.after.map_or(0, |after| after.saturating_add(1));
    let limit = query.limit.unwrap_or(1000);
    if limit == 0 || limit > runs::SWEEP_SEEDS_MAX {
        return Err(ApiError::bad_request(format!(
            "limit {limit}: search 1 to {} seeds",
            runs::SWEEP_SEEDS_MAX
        )));
    }
    let plugins = parse_plugins(query.plugins.as_deref())?;
    let worker = state.clone();
    let topology = query.topology;
    let end = start.saturating_add(limit);
    let found = blocking(move || {
        let (plan, _) = prepare(&worker, &topology, 0, plugins)?;
        runs::first_crash(&plan, start..end, worker.jobs, &worker.services)
            .map_err(|e| ApiError::unprocessable(e.to_string()))
    })
    .await?;
    let Some(found) = found else {
        return Err(ApiError::not_found(format!(
            "no seed in {start}..{end} crashes a node"
        )));
    };
    Ok(json_body(
        json!({"seed": found, "searched": format!("{start}..{end}")}),
    ))
}
