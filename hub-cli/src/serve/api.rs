//! The HTTP API under `/v1`, for the front system: orders in, their states
//! and history out, and the operator's batch actions, with the CLI's rules.
//!
//! Every handler authenticates the API key, checks its scope, and works
//! only on its tenant's rows. Errors are JSON `{"error": {"kind",
//! "message"}}` with a status from the error's kind.

use super::{
    auth::{self, Principal, Scope},
    State,
};
use crate::{
    cli::BatchCmd,
    commands::{self, orders::OrderInput, Ctx},
    db::Db,
    error::{ErrorKind, HubError},
    model::Actor,
    output::Output,
    store::service,
};
use axum::{
    body::Bytes,
    extract::{Path, Query, State as AxState},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The most orders one `POST /v1/orders` may carry.
pub(crate) const MAX_ORDERS_PER_REQUEST: usize = 10_000;

/// The routes.
pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(super::metrics::render))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/orders", post(post_orders).get(list_orders))
        .route("/v1/orders/{order_id}", get(get_order))
        .route("/v1/deposits", get(list_deposits))
        .route("/v1/addresses", post(post_addresses))
        .route("/v1/batches", get(list_batches).post(create_batch))
        .route("/v1/batches/{id}", get(get_batch))
        .route("/v1/batches/{id}/build", post(build_batch))
        .route("/v1/batches/{id}/export", get(export_batch))
        .route("/v1/batches/{id}/upload", post(upload_batch))
        .route("/v1/batches/{id}/resolve", post(resolve_batch))
        .route("/v1/batches/{id}/check", post(check_batch))
        .route("/v1/batches/{id}/resend", post(resend_batch))
        .route("/v1/batches/{id}/cancel", post(cancel_batch))
        .fallback(not_found)
        .with_state(state)
}

/// An API error: status, kind and message.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }
}

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        if let HubError::Detailed { error, .. } = e {
            return Self::from(*error);
        }
        Self::new(
            status_of(&e),
            e.kind(),
            crate::output::sanitize(&e.to_string()).into_owned(),
        )
    }
}

/// The HTTP status of each kind of error (the CLI's exit codes, for HTTP).
fn status_of(e: &HubError) -> StatusCode {
    StatusCode::from_u16(e.error_kind().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, kind = self.kind, "{}", self.message);
        }
        (
            self.status,
            Json(json!({"error": {"kind": self.kind, "message": self.message}})),
        )
            .into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(status: StatusCode, data: Value) -> ApiResult {
    Ok((status, Json(data)).into_response())
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint: see /v1/openapi.json",
    )
}

async fn healthz() -> Response {
    (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], super::OPENAPI).into_response()
}

/// Ready when the database answers and every chain's node serves its chain.
async fn readyz(AxState(state): AxState<Arc<State>>) -> Response {
    let checked = state
        .pool
        .run(|db| {
            crate::db::check_version(db)?;
            let chains = crate::model::Chain::all(db)?;
            let mut nodes = Vec::new();
            for c in &chains {
                let ok = commands::connect(c).map(|_| ()).map_err(|e| e.to_string());
                nodes.push(json!({"chain": c.name, "ok": ok.is_ok(), "error": ok.err()}));
            }
            Ok(nodes)
        })
        .await;
    match checked {
        Ok(nodes) if nodes.iter().all(|n| n["ok"] == true) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "database": true, "nodes": nodes})),
        )
            .into_response(),
        Ok(nodes) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "database": true, "nodes": nodes})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "database": false, "error": e.to_string()})),
        )
            .into_response(),
    }
}

/// Authenticates the request and checks one scope.
async fn principal(
    state: &Arc<State>,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<Principal, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let found = state
        .pool
        .run(move |db| auth::authenticate(db, value.as_deref()))
        .await?;
    let p = found.map_err(|why| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why))?;
    p.require(scope)
        .map_err(|why| ApiError::new(StatusCode::FORBIDDEN, "forbidden", why))?;
    Ok(p)
}

/// Parses a JSON body, with a 400 that says what is wrong.
fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            crate::output::sanitize(&format!(
                "the body is not the JSON this endpoint takes: {e}"
            ))
            .into_owned(),
        )
    })
}

/// One order or an array of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<OrderInput>),
    One(OrderInput),
}

/// `POST /v1/orders`: idempotent on `order_id`; all or none.
async fn post_orders(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let p = principal(&state, &headers, Scope::OrdersWrite).await?;
    let (orders, single) = match json_body::<OneOrMany>(&body)? {
        OneOrMany::One(o) => (vec![o], true),
        OneOrMany::Many(v) => (v, false),
    };
    if orders.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "input",
            "no order in the request",
        ));
    }
    if orders.len() > MAX_ORDERS_PER_REQUEST {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "{} orders in one request: at most {MAX_ORDERS_PER_REQUEST}",
                orders.len()
            ),
        ));
    }
    let operator = p.operator.clone();
    let tenant = p.tenant.clone();
    let results = state
        .pool
        .run(move |db| commands::orders::ingest(db, &Actor { operator }, &tenant, &orders))
        .await?;
    state.metrics.orders_received(results.len());
    let created = results.iter().any(|(_, created)| *created);
    let mut out = Vec::with_capacity(results.len());
    for (o, _) in &results {
        out.push(o.clone());
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    if single {
        ok(status, out.into_iter().next().unwrap_or(Value::Null))
    } else {
        ok(status, json!(out))
    }
}

/// `GET /v1/orders/{order_id}`: the order with its history.
async fn get_order(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
) -> ApiResult {
    let p = principal(&state, &headers, Scope::OrdersRead).await?;
    let tenant = p.tenant.clone();
    let data = state
        .pool
        .run(move |db| commands::orders::order_json(db, &order_id, Some(&tenant), true))
        .await?;
    ok(StatusCode::OK, data)
}

/// Filters of `GET /v1/orders`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderFilter {
    state: Option<String>,
    chain: Option<String>,
    since: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /v1/orders`: filtered, newest last, paged by an opaque cursor.
async fn list_orders(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    query: Result<Query<OrderFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let p = principal(&state, &headers, Scope::OrdersRead).await?;
    let Query(f) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let limit = i64::from(f.limit.unwrap_or(100).clamp(1, 1000));
    let after: i64 = match f.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "cursor is not one this API gave",
            )
        })?,
    };
    if let Some(s) = &f.state {
        s.parse::<crate::state::OrderState>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "state must be one of PENDING, IN_BATCH, COMPLETED, FAILED",
            )
        })?;
    }
    if let Some(s) = &f.since {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(
            |_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "since must be an RFC 3339 time",
                )
            },
        )?;
    }
    let tenant = p.tenant.clone();
    let (orders, next) = state
        .pool
        .run(move |db| {
            let filter = service::OrderFilter {
                state: f.state.clone(),
                chain: f.chain.clone(),
                since: f.since.clone(),
            };
            let page = service::tenant_orders_page(db, &tenant, after, &filter, limit + 1)?;
            let mut orders = Vec::new();
            let mut last = None;
            for o in page.iter().take(usize::try_from(limit).unwrap_or(100)) {
                last = Some(o.id);
                orders.push(commands::orders::order_value(db, o)?);
            }
            let next = (page.len() as i64 > limit)
                .then(|| last.map(|l| l.to_string()))
                .flatten();
            Ok((orders, next))
        })
        .await?;
    ok(
        StatusCode::OK,
        json!({"orders": orders, "next_cursor": next}),
    )
}

/// `GET /v1/batches`.
async fn list_batches(AxState(state): AxState<Arc<State>>, headers: HeaderMap) -> ApiResult {
    let p = principal(&state, &headers, Scope::OrdersRead).await?;
    let tenant = p.tenant.clone();
    let data = state
        .pool
        .run(move |db| {
            Ok::<_, HubError>(
                crate::store::batches::listed(db, Some(&tenant))?
                    .into_iter()
                    .map(|b| {
                        json!({"id": b.id, "chain": b.chain, "state": b.state,
                            "created_at": b.created_at, "orders": b.orders})
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .await?;
    ok(StatusCode::OK, json!({"batches": data}))
}

/// A batch id from the path: a number, or no such batch.
fn batch_id(id: &str) -> Result<i64, ApiError> {
    id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no batch {:?}", crate::output::sanitize(id)),
        )
    })
}

/// The tenant of batch `id`, or a 404 if it is another tenant's.
fn own_batch(db: &mut Db, id: i64, tenant: &str) -> crate::error::Result<()> {
    match service::batch_tenant(db, id)?.flatten() {
        Some(t) if t == tenant => Ok(()),
        _ => Err(HubError::NotFound(format!("no batch {id}"))),
    }
}

/// Runs one of the CLI's batch commands for the principal's tenant, with
/// the same rules and states, and answers with the command's data.
async fn batch_action(
    state: &Arc<State>,
    p: Principal,
    id: Option<i64>,
    cmd: BatchCmd,
) -> ApiResult {
    let url = state.db_url.clone();
    let data = tokio::task::spawn_blocking(move || {
        let mut db = Db::open(&url, false)?;
        if let Some(id) = id {
            own_batch(&mut db, id, &p.tenant)?;
        }
        let mut ctx = Ctx {
            db,
            out: Output::captured(),
            actor: Actor {
                operator: p.operator.clone(),
            },
            tenant: Some(p.tenant.clone()),
        };
        let outcome = commands::run(&mut ctx, crate::cli::Command::Batch(cmd));
        let data = ctx.out.take_captured();
        outcome.map(|()| data.unwrap_or(Value::Null))
    })
    .await
    .map_err(|e| ApiError::from(HubError::Internal(e.to_string())))?;
    match data {
        Ok(v) => ok(StatusCode::OK, v),
        Err(HubError::Detailed { error, details }) => {
            let e = ApiError::from(*error);
            Ok((
                e.status,
                Json(json!({"error": {"kind": e.kind, "message": e.message, "details": details}})),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /v1/batches/{id}`: the batch with its items.
async fn get_batch(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let p = principal(&state, &headers, Scope::OrdersRead).await?;
    let id = batch_id(&id)?;
    batch_action(&state, p, Some(id), BatchCmd::Show { id, state: None }).await
}

/// The body of `POST /v1/batches`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBatch {
    chain: String,
    #[serde(default)]
    orders: Vec<String>,
    #[serde(default)]
    all_pending: bool,
    #[serde(default)]
    auto_build: bool,
}

async fn create_batch(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let p = principal(&state, &headers, Scope::BatchesOperate).await?;
    let b: NewBatch = json_body(&body)?;
    if b.all_pending != b.orders.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "input",
            "give either \"orders\" (a list of order ids) or \"all_pending\": true",
        ));
    }
    batch_action(
        &state,
        p,
        None,
        BatchCmd::Create {
            chain: b.chain,
            tenant: None,
            orders: b.orders,
            all_pending: b.all_pending,
            auto_build: b.auto_build,
        },
    )
    .await
}

/// The body of `POST /v1/batches/{id}/build`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BuildOptions {
    #[serde(default)]
    force: bool,
}

async fn build_batch(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let p = principal(&state, &headers, Scope::BatchesOperate).await?;
    let id = batch_id(&id)?;
    let o: BuildOptions = if body.is_empty() {
        BuildOptions::default()
    } else {
        json_body(&body)?
    };
    batch_action(&state, p, Some(id), BatchCmd::Build { id, force: o.force }).await
}

/// `GET /v1/batches/{id}/export`: the unsigned file, as a download. Its
/// orders are bound to their nonces first, as with `batch export`.
async fn export_batch(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let p = principal(&state, &headers, Scope::BatchesOperate).await?;
    let id = batch_id(&id)?;
    let dir = tempdir_for_export()?;
    let out = dir.clone();
    let data = batch_action(&state, p, Some(id), BatchCmd::Export { id, out }).await?;
    let _ = data;
    let file = std::fs::read_dir(&dir)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.path())
        .ok_or_else(|| ApiError::from(HubError::Internal("the export wrote no file".to_owned())))?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("batch.json")
        .to_owned();
    let text = std::fs::read_to_string(&file)
        .map_err(|e| ApiError::from(HubError::Internal(e.to_string())))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        text,
    )
        .into_response())
}

fn tempdir_for_export() -> Result<std::path::PathBuf, ApiError> {
    let mut bytes = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    let dir = std::env::temp_dir().join(format!("coldsign-export-{}", u64::from_le_bytes(bytes)));
    std::fs::create_dir_all(&dir).map_err(|e| ApiError::from(HubError::Internal(e.to_string())))?;
    Ok(dir)
}

/// `POST /v1/batches/{id}/upload`: the signed file as the body.
async fn upload_batch(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let p = principal(&state, &headers, Scope::BatchesOperate).await?;
    let id = batch_id(&id)?;
    let dir = tempdir_for_export()?;
    let file = dir.join("signed.json");
    std::fs::write(&file, &body).map_err(|e| ApiError::from(HubError::Internal(e.to_string())))?;
    let answer = batch_action(
        &state,
        p,
        Some(id),
        BatchCmd::Upload {
            id,
            file,
            no_send: true,
        },
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    answer
}

/// The body of `POST /v1/batches/{id}/resolve`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resolve {
    order_id: String,
    /// `on_chain`, `resend` or `rebuild`.
    how: String,
    tx_hash: Option<String>,
    block: Option<u64>,
}

async fn resolve_batch(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let p = principal(&state, &headers, Scope::BatchesOperate).await?;
    let id = batch_id(&id)?;
    let r: Resolve = json_body(&body)?;
    let (on_chain, resend, rebuild) = match r.how.as_str() {
        "on_chain" => (true, false, false),
        "resend" => (false, true, false),
        "rebuild" => (false, false, true),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "input",
                "how must be one of on_chain, resend, rebuild",
            ))
        }
    };
    batch_action(
        &state,
        p,
        Some(id),
        BatchCmd::Resolve {
            id,
            order: r.order_id,
            on_chain,
            tx_hash: r.tx_hash,
            block: r.block,
            resend,
            rebuild,
        },
    )
    .await
}

/// A batch action that takes nothing but the batch id.
async fn simple_action(
    state: &Arc<State>,
    headers: &HeaderMap,
    id: &str,
    cmd: fn(i64) -> BatchCmd,
) -> ApiResult {
    let p = principal(state, headers, Scope::BatchesOperate).await?;
    let id = batch_id(id)?;
    batch_action(state, p, Some(id), cmd(id)).await
}

async fn check_batch(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    simple_action(&state, &headers, &id, |id| BatchCmd::Check { id }).await
}

async fn resend_batch(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    simple_action(&state, &headers, &id, |id| BatchCmd::Resend { id }).await
}

async fn cancel_batch(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    simple_action(&state, &headers, &id, |id| BatchCmd::Cancel { id }).await
}

/// `GET /v1/deposits?address=&state=&since=&chain=`: the tenant's deposits.
async fn list_deposits(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    query: Result<
        Query<commands::deposits::DepositFilter>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult {
    let p = principal(&state, &headers, Scope::OrdersRead).await?;
    let Query(f) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let tenant = p.tenant.clone();
    let rows = state
        .pool
        .run(move |db| commands::deposits::list(db, &f, Some(&tenant)))
        .await
        .map_err(|e| match e.error_kind() {
            // A bad filter is a bad query parameter, as for the other lists.
            ErrorKind::Usage | ErrorKind::Input => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
            }
            _ => e.into(),
        })?;
    ok(StatusCode::OK, json!({"deposits": rows}))
}

/// The body of `POST /v1/addresses`: deposit addresses of the key's tenant.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAddresses {
    chain: String,
    addresses: Vec<commands::deposits::WatchInput>,
}

/// `POST /v1/addresses`: registers deposit addresses for the tenant (the
/// hub never needs their keys), all or none.
async fn post_addresses(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let p = principal(&state, &headers, Scope::AddressesWrite).await?;
    let a: NewAddresses = json_body(&body)?;
    if a.addresses.is_empty() || a.addresses.len() > MAX_ORDERS_PER_REQUEST {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "input",
            format!("give 1 to {MAX_ORDERS_PER_REQUEST} addresses"),
        ));
    }
    let tenant = p.tenant.clone();
    let added = state
        .pool
        .run(move |db| commands::deposits::watch(db, &a.chain, &tenant, &a.addresses))
        .await?;
    ok(StatusCode::OK, json!({"added": added}))
}
