//! `/v1/follows…`: a tenant follows an OCI repository with a semver requirement; the server
//! checks it every `interval_s` (plus jitter), pulls the highest matching version, and imports
//! and activates it through the checks every import and activation runs. A version that fails
//! any check is recorded with the reason and not tried again until its tag points to other
//! content. With a health window, a fault or quarantine of the pack's rules soon after the
//! activation rolls it back (docs/distribution.md).
//!
//! Checks run one at a time (the registry client is the only thing that waits on the network;
//! the import, the cases and the swap run on the blocking pool). The registry's credentials are
//! the server's own: `$YAGURA_REGISTRY_USERNAME` and `$YAGURA_REGISTRY_PASSWORD`, else Docker's
//! `config.json` of the user the server runs as.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use super::error::{ApiError, ApiResult};
use super::openapi::{Denied, ErrorBody};
use super::packs::who;
use super::request::{Caller, PathParam, TenantQuery, json, whole_number};
use super::{AppState, blocking, json_response};
use crate::pack::Bundle;
use crate::pack::oci::{ContentError, PackRef, Registry, RegistryOptions};
use crate::store::{
    Activated, FollowRecord, FollowStatus, Gate, PackSource, Refusal, Scope, now_ms,
};

/// Follows a tenant may have.
const MAX_FOLLOWS: usize = 64;
/// Bounds of a follow's settings, seconds.
const MAX_INTERVAL_S: u64 = 86_400;
const MAX_JITTER_S: u64 = 3_600;
const MAX_WINDOW_S: u64 = 86_400;
const DEFAULT_INTERVAL_S: u64 = 300;
/// While a health gate runs, the follow is checked at least this often, seconds.
const GATE_CHECK_S: u64 = 5;
/// Versions above the active one looked at (a manifest `HEAD` each), and versions pulled and
/// tried, in one check; the rest wait for the next check.
const MAX_LOOKED_AT: usize = 16;
const MAX_TRIED: usize = 3;
/// Refusals a follow keeps (the highest versions), and the longest text of one reason or of
/// a check's result, bytes.
const MAX_REFUSALS: usize = 32;
const MAX_TEXT: usize = 4096;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct FollowRequest {
    /// `oci://HOST[:PORT]/REPO`, without tag or digest
    repository: String,
    /// a semver requirement (`^1.2`, `>=1.2, <2`); the highest matching version runs
    req: String,
    /// seconds between two checks: 1 to 86,400; default 300
    #[schema(minimum = 1, maximum = 86_400)]
    #[serde(default, deserialize_with = "whole_number")]
    interval_s: Option<u64>,
    /// up to this many seconds more each time, at random: 0 to 3,600; default a tenth of the
    /// interval, at most 3,600
    #[schema(minimum = 0, maximum = 3_600)]
    #[serde(default, deserialize_with = "whole_number")]
    jitter_s: Option<u64>,
    /// seconds after an activation in which a fault or quarantine of the pack's rules rolls
    /// it back: 1 to 86,400; absent: no health gate
    #[schema(minimum = 1, maximum = 86_400)]
    #[serde(default, deserialize_with = "whole_number")]
    health_window_s: Option<u64>,
}

#[utoipa::path(
    post,
    path = "/v1/follows",
    operation_id = "create_follow",
    tag = "packs",
    summary = "Follow an OCI repository {repository, req, interval_s, jitter_s, \
        health_window_s}",
    description = "The server checks the repository every `interval_s` (plus up to `jitter_s` \
        at random), picks the highest version tag matching `req`, pulls it and imports and \
        activates it for the tenant with the checks of `pack import` and `activate`. A version \
        refused by any check is recorded with its reason and not tried again until its tag \
        points to other content. The first check runs at once (`POST …/check` runs one \
        whenever asked).",
    params(TenantQuery),
    request_body = FollowRequest,
    responses(
        (status = 201, description = "the follow, with its `status`", body = FollowRecord),
        (status = 400, description = "a bad body or query string, or a number out of range",
            body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant", body = ErrorBody),
        (status = 409, description = "the tenant follows this repository already, or has \
            64 follows", body = ErrorBody),
        (status = 413, description = "the body is over the JSON limit", body = ErrorBody),
        (status = 422, description = "`repository` is no oci://HOST/REPO, or its registry is \
            not one this server may follow (`yagura serve --follow-registries`), or `req` is \
            no semver requirement", body = ErrorBody),
    ),
    security(("token" = ["packs:write"]))
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    caller.require(Scope::PacksWrite)?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let body: FollowRequest = json(body, &state).await?;
    let repo = PackRef::parse(&body.repository)
        .map_err(|e| ApiError::unprocessable(format!("`repository`: {e}")))?;
    if repo.tag.is_some() || repo.digest.is_some() {
        return Err(ApiError::unprocessable(format!(
            "`repository`: {repo}: name the repository only (oci://HOST/REPO); `req` chooses \
             the version"
        )));
    }
    allowed(&state, &repo).map_err(ApiError::unprocessable)?;
    semver::VersionReq::parse(&body.req).map_err(|e| {
        ApiError::unprocessable(format!(
            "`req`: `{}` is not a semver requirement (like ^1.2): {e}",
            body.req
        ))
    })?;
    let interval_s = body.interval_s.unwrap_or(DEFAULT_INTERVAL_S);
    if !(1..=MAX_INTERVAL_S).contains(&interval_s) {
        return Err(ApiError::bad_request(format!(
            "`interval_s` must be 1-{MAX_INTERVAL_S}"
        )));
    }
    let jitter_s = body.jitter_s.unwrap_or((interval_s / 10).min(MAX_JITTER_S));
    if jitter_s > MAX_JITTER_S {
        return Err(ApiError::bad_request(format!(
            "`jitter_s` must be 0-{MAX_JITTER_S}"
        )));
    }
    if let Some(w) = body.health_window_s
        && !(1..=MAX_WINDOW_S).contains(&w)
    {
        return Err(ApiError::bad_request(format!(
            "`health_window_s` must be 1-{MAX_WINDOW_S}"
        )));
    }
    let mut id = [0u8; 8];
    getrandom::fill(&mut id)
        .map_err(|e| ApiError::internal(&anyhow::anyhow!("no random id: {e}")))?;
    let record = FollowRecord {
        id: hex::encode(id),
        tenant: tenant.clone(),
        repository: repo.repository_url(),
        req: body.req.clone(),
        interval_s,
        jitter_s,
        health_window_s: body.health_window_s,
        created_by: who(&caller),
        created_at: now_ms(),
        pack: None,
        status: FollowStatus::default(),
    };
    let st = state.clone();
    let saved = record.clone();
    blocking(move || {
        let _one = st.follows.create.lock();
        let existing = st.runtime.store.follows(Some(&tenant))?;
        if existing.iter().any(|f| f.repository == saved.repository) {
            return Err(ApiError::conflict(format!(
                "tenant `{tenant}` follows {} already; remove that follow first",
                saved.repository
            )));
        }
        if existing.len() >= MAX_FOLLOWS {
            return Err(ApiError::conflict(format!(
                "tenant `{tenant}` has {MAX_FOLLOWS} follows, the most it may have"
            )));
        }
        st.runtime.store.save_follow(&saved)?;
        Ok(())
    })
    .await?;
    // the first check at once, from the poller
    state.follows.wake.notify_one();
    Ok(json_response(StatusCode::CREATED, &record))
}

#[utoipa::path(
    get,
    path = "/v1/follows",
    operation_id = "list_follows",
    tag = "packs",
    summary = "The tenant's follows, each with its last check, refusals and health gate",
    params(TenantQuery),
    responses(
        (status = 200, description = "`{tenant, follows: [follow]}`", body = Object),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant", body = ErrorBody),
    ),
    security(("token" = ["packs:write"]), ("token" = ["alerts:read"]))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require_any(&[Scope::PacksWrite, Scope::AlertsRead])?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let follows = state.runtime.store.follows(Some(&tenant))?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "tenant": tenant, "follows": follows }),
    ))
}

fn not_followed(tenant: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("tenant `{tenant}` has no follow `{id}`"))
}

#[utoipa::path(
    get,
    path = "/v1/follows/{id}",
    operation_id = "get_follow",
    tag = "packs",
    summary = "One follow and its status",
    params(("id" = String, Path, description = "the follow's id"), TenantQuery),
    responses(
        (status = 200, description = "the follow", body = FollowRecord),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant or follow", body = ErrorBody),
    ),
    security(("token" = ["packs:write"]), ("token" = ["alerts:read"]))
)]
pub async fn one(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(id): PathParam,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require_any(&[Scope::PacksWrite, Scope::AlertsRead])?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let record = state
        .runtime
        .store
        .follow(&tenant, &id)?
        .ok_or_else(|| not_followed(&tenant, &id))?;
    Ok(json_response(StatusCode::OK, &record))
}

#[utoipa::path(
    delete,
    path = "/v1/follows/{id}",
    operation_id = "delete_follow",
    tag = "packs",
    summary = "Stop following (what runs stays as it is)",
    params(("id" = String, Path, description = "the follow's id"), TenantQuery),
    responses(
        (status = 200, description = "`{tenant, removed}`", body = Object),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant or follow", body = ErrorBody),
    ),
    security(("token" = ["packs:write"]))
)]
pub async fn remove(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(id): PathParam,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require(Scope::PacksWrite)?;
    let tenant = caller.tenant_of(&state, &uri)?;
    // not during a check of it: the check would write its status back
    let _one = state.follows.check.lock().await;
    if !state.runtime.store.remove_follow(&tenant, &id)? {
        return Err(not_followed(&tenant, &id));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({ "tenant": tenant, "removed": id }),
    ))
}

#[utoipa::path(
    post,
    path = "/v1/follows/{id}/check",
    operation_id = "check_follow",
    tag = "packs",
    summary = "Check the follow now (no body); answers with its status after the check",
    description = "What the poller does every interval: the health gate, then the registry: \
        the highest matching version not refused, pulled, imported and activated. A registry \
        that cannot be read is reported in `status.registry_error`; the running rules are not \
        touched.",
    params(("id" = String, Path, description = "the follow's id"), TenantQuery),
    responses(
        (status = 200, description = "the follow after the check", body = FollowRecord),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant or follow", body = ErrorBody),
    ),
    security(("token" = ["packs:write"]))
)]
pub async fn check_now(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(id): PathParam,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require(Scope::PacksWrite)?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let record = check(&state, &tenant, &id)
        .await?
        .ok_or_else(|| not_followed(&tenant, &id))?;
    Ok(json_response(StatusCode::OK, &record))
}

/// What the follows share in the server.
#[derive(Debug, Default)]
pub(crate) struct Follows {
    /// one check at a time
    check: tokio::sync::Mutex<()>,
    /// one creation at a time (the duplicate and count checks)
    create: std::sync::Mutex<()>,
    /// wakes the poller (a follow was created)
    wake: tokio::sync::Notify,
}

/// Checks the follow `id` of `tenant`: its health gate, then the registry. The follow as it
/// is after the check, or none when there is no such follow.
pub(crate) async fn check(
    state: &Arc<AppState>,
    tenant: &str,
    id: &str,
) -> anyhow::Result<Option<FollowRecord>> {
    let _one = state.follows.check.lock().await;
    let Some(mut record) = state.runtime.store.follow(tenant, id)? else {
        return Ok(None);
    };
    record.status.checks += 1;
    record.status.last_check_at = Some(now_ms());
    let mut said = Vec::new();
    if let Some(text) = gate(state, &mut record).await? {
        said.push(text);
    }
    match registry(state, &mut record).await {
        Ok(text) => {
            record.status.registry_error = None;
            said.push(text);
        }
        Err(e) => {
            let e = format!("{e:#}");
            tracing::warn!(tenant = %tenant, follow = %id, error = %e, "a follow cannot read its registry; what runs is unchanged");
            said.push(format!(
                "the registry could not be read; what runs is unchanged: {e}"
            ));
            record.status.registry_error = Some(e);
        }
    }
    record.status.last_result = Some(cut(said.join("; ")));
    let st = state.clone();
    let saved = record.clone();
    tokio::task::spawn_blocking(move || st.runtime.store.update_follow_status(&saved)).await??;
    Ok(Some(record))
}

/// The health gate of the last activation: a fault or quarantine since rolls the version
/// back (and refuses it); past its window it is passed.
async fn gate(state: &Arc<AppState>, record: &mut FollowRecord) -> anyhow::Result<Option<String>> {
    let (Some(gate), Some(pack)) = (record.status.gate.clone(), record.pack.clone()) else {
        return Ok(None);
    };
    let (st, tenant) = (state.clone(), record.tenant.clone());
    let (active, health) = {
        let pack = pack.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            Ok((
                st.runtime.store.active(&tenant, &pack)?,
                st.runtime.pack_health(&tenant, &pack)?,
            ))
        })
        .await??
    };
    let label = format!("{pack}@{}", gate.version);
    if active.as_deref() != Some(gate.version.as_str()) {
        record.status.gate = None;
        return Ok(Some(format!(
            "the health gate of {label} ended: {} is active now",
            active.as_deref().unwrap_or("no version")
        )));
    }
    // a fault seen up to two gate checks after the window may have happened in it
    let grace = i64::try_from(2 * GATE_CHECK_S * 1000).unwrap_or(0);
    let over = now_ms() >= gate.until.saturating_add(grace);
    let worse = if over {
        None
    } else {
        health.worse_than(&gate.faults_before)
    };
    let Some(why) = worse else {
        if now_ms() >= gate.until {
            record.status.gate = None;
            return Ok(Some(format!("{label} passed its health gate")));
        }
        return Ok(Some(format!(
            "{label} is in its health gate, healthy so far"
        )));
    };
    let reason = format!("{why} within the health window after the follow activated it");
    let (st, tenant, who) = (state.clone(), record.tenant.clone(), follower(record));
    let rollback_reason = format!("{label}: {reason}");
    let back = {
        let pack = pack.clone();
        tokio::task::spawn_blocking(move || {
            st.runtime.rollback(&tenant, &pack, &who, &rollback_reason)
        })
        .await?
    };
    record.status.gate = None;
    let text = match back {
        Ok(back) => format!("{label}: {reason}; rolled back to {}", back.to),
        Err(e) => format!("{label}: {reason}; it could not be rolled back: {e}"),
    };
    if let Ok(version) = semver::Version::parse(&gate.version) {
        refuse(record, &version, gate.digest, cut(text.clone()));
    }
    Ok(Some(text))
}

/// Whether the server may connect to `repo`'s registry (`yagura serve --follow-registries`);
/// why not.
fn allowed(state: &AppState, repo: &PackRef) -> Result<(), String> {
    let hosts = &state.config.follow_registries;
    if hosts.contains(&repo.registry) {
        return Ok(());
    }
    Err(format!(
        "this server may follow only the registries its operator named (yagura serve \
         --follow-registries): {}; not {}",
        if hosts.is_empty() {
            "none".to_owned()
        } else {
            hosts.join(", ")
        },
        repo.registry
    ))
}

/// Records that `version` (manifest `digest`) is refused, keeping the highest
/// [`MAX_REFUSALS`] refusals.
fn refuse(record: &mut FollowRecord, version: &semver::Version, digest: String, reason: String) {
    let refused = &mut record.status.refused;
    refused.insert(
        version.to_string(),
        Refusal {
            digest,
            reason,
            at: now_ms(),
        },
    );
    while refused.len() > MAX_REFUSALS {
        let lowest = refused
            .keys()
            .filter_map(|v| semver::Version::parse(v).ok().map(|p| (p, v.clone())))
            .min()
            .map(|(_, v)| v)
            .or_else(|| refused.keys().next().cloned());
        match lowest {
            Some(v) => refused.remove(&v),
            None => break,
        };
    }
}

/// `text`, cut to [`MAX_TEXT`] bytes.
fn cut(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let end = text.floor_char_boundary(MAX_TEXT - 3);
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Who a follow acts as, for the history.
fn follower(record: &FollowRecord) -> String {
    format!("follow {} ({})", record.id, record.repository)
}

/// The registry's part of a check: what it did, in words. An error: the registry could not
/// be read (nothing changed).
async fn registry(state: &Arc<AppState>, record: &mut FollowRecord) -> anyhow::Result<String> {
    let repo = PackRef::parse(&record.repository)?;
    allowed(state, &repo).map_err(anyhow::Error::msg)?;
    let req = semver::VersionReq::parse(&record.req)?;
    let options = RegistryOptions {
        // plain HTTP to loopback registries only: a tenant cannot have the server send its
        // registry credentials in the clear
        insecure: false,
        ca: state.config.registry_ca.clone(),
        username: std::env::var("YAGURA_REGISTRY_USERNAME").ok(),
        password: std::env::var("YAGURA_REGISTRY_PASSWORD").ok(),
    };
    let client = options.connect(&repo)?;
    let mut matching: Vec<semver::Version> = client
        .versions()
        .await?
        .into_iter()
        .filter(|v| req.matches(v))
        .collect();
    if matching.is_empty() {
        return Ok(format!("no version of {repo} matches {req}"));
    }
    matching.reverse();
    let mut said = Vec::new();
    let (mut looked_at, mut tried) = (0, 0);
    for version in matching {
        if looked_at == MAX_LOOKED_AT || tried == MAX_TRIED {
            said.push(format!(
                "more versions to look at from {version} down: the next check goes on"
            ));
            break;
        }
        let active = match &record.pack {
            Some(pack) => active_version(state, &record.tenant, pack).await?,
            None => None,
        };
        if let Some(active) = active.as_ref().filter(|a| version <= **a) {
            let pack = record.pack.as_deref().unwrap_or("?");
            said.push(if version == *active {
                format!("up to date: {pack}@{active} is active, the highest match of {req}")
            } else {
                format!(
                    "up to date: {pack}@{active} is active, newer than {version}, the highest \
                     match of {req} that can run"
                )
            });
            return Ok(said.join("; "));
        }
        let at = repo.at_tag(&version.to_string());
        looked_at += 1;
        let Some(digest) = client.manifest_digest(&at).await? else {
            continue; // the tag went away since the listing
        };
        if let Some(refusal) = record.status.refused.get(&version.to_string())
            && refusal.digest == digest
        {
            continue; // refused before, and the registry still holds the same content
        }
        tried += 1;
        match install(state, record, &client, &at, &version, &digest).await? {
            Ok(text) => {
                said.push(text);
                return Ok(said.join("; "));
            }
            Err(reason) => {
                let reason = cut(reason);
                said.push(format!("refused {at}: {reason}"));
                refuse(record, &version, digest, reason);
            }
        }
    }
    if said.is_empty() {
        said.push(format!(
            "every version of {repo} matching {req} was refused before and is unchanged"
        ));
    }
    Ok(said.join("; "))
}

async fn active_version(
    state: &Arc<AppState>,
    tenant: &str,
    pack: &str,
) -> anyhow::Result<Option<semver::Version>> {
    let (st, tenant, pack) = (state.clone(), tenant.to_owned(), pack.to_owned());
    let active =
        tokio::task::spawn_blocking(move || st.runtime.store.active(&tenant, &pack)).await??;
    Ok(active.and_then(|v| semver::Version::parse(&v).ok()))
}

/// Pulls `at` and installs it. `Ok(Err(reason))`: the version is refused; `Err`: the registry
/// could not be read.
async fn install(
    state: &Arc<AppState>,
    record: &mut FollowRecord,
    client: &Registry,
    at: &PackRef,
    version: &semver::Version,
    digest: &str,
) -> anyhow::Result<Result<String, String>> {
    let pulled = match client.pull(&at.at_digest(digest)).await {
        Ok(pulled) => pulled,
        Err(e) if e.downcast_ref::<ContentError>().is_some() => return Ok(Err(format!("{e:#}"))),
        Err(e) => return Err(e),
    };
    let origin = at.to_string();
    let bundle = match Bundle::from_bytes(&pulled.bytes, &origin) {
        Ok(bundle) => bundle,
        Err(e) => return Ok(Err(format!("{e:#}"))),
    };
    let name = bundle.manifest.pack.name.clone();
    if bundle.manifest.pack.version != *version {
        return Ok(Err(format!(
            "the tag says {version}, the pack inside is {}",
            bundle.manifest.label()
        )));
    }
    if let Some(pack) = &record.pack
        && *pack != name
    {
        return Ok(Err(format!(
            "it is pack `{name}`; this follow runs `{pack}`"
        )));
    }
    // a version of the pack already active at or above this one (activated by hand): the
    // follow learns the pack and leaves it
    if let Some(active) = active_version(state, &record.tenant, &name).await?
        && active >= *version
    {
        record.pack = Some(name.clone());
        return Ok(Ok(format!(
            "up to date: {name}@{active} is active, not older than {version}, the highest match \
             that can run"
        )));
    }
    let source = PackSource {
        repository: at.repository_url(),
        digest: pulled.digest.clone(),
    };
    let (st, tenant, who) = (state.clone(), record.tenant.clone(), follower(record));
    let reason = format!("follow of {} {}: {digest}", record.repository, record.req);
    let pack = name.clone();
    let installed = tokio::task::spawn_blocking(move || {
        let done = st
            .runtime
            .install(&tenant, &bundle, &origin, source, &who, &reason)?;
        let health = st.runtime.pack_health(&tenant, &pack)?;
        Ok::<_, crate::runtime::RuntimeError>((done, health))
    })
    .await?;
    let (done, health) = match installed {
        Ok(done) => done,
        Err(crate::runtime::RuntimeError::Internal(e)) => return Err(e),
        Err(e) => return Ok(Err(e.to_string())),
    };
    record.pack = Some(name.clone());
    let now = now_ms();
    record.status.activated = Some(Activated {
        version: version.to_string(),
        digest: digest.to_owned(),
        previous: done.previous.clone(),
        at: now,
    });
    record.status.gate = record.health_window_s.map(|window| Gate {
        version: version.to_string(),
        digest: digest.to_owned(),
        until: now.saturating_add(
            i64::try_from(window)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000),
        ),
        faults_before: health.faults,
    });
    Ok(Ok(format!(
        "activated {name}@{version} ({digest}), was {}{}",
        done.previous.as_deref().unwrap_or("none"),
        record
            .health_window_s
            .map(|w| format!("; health gate for {w} s"))
            .unwrap_or_default()
    )))
}

/// Checks every follow when it is due, until shutdown: at start, then every interval plus
/// jitter; every 5 s while a health gate runs; a new follow at once.
pub(crate) async fn poll(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let mut due: HashMap<(String, String), i64> = HashMap::new();
    loop {
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            () = state.follows.wake.notified() => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
        let st = state.clone();
        let follows =
            match tokio::task::spawn_blocking(move || st.runtime.store.follows(None)).await {
                Ok(Ok(follows)) => follows,
                Ok(Err(e)) => {
                    tracing::error!(error = %format!("{e:#}"), "cannot read the follows");
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the follows");
                    continue;
                }
            };
        due.retain(|(tenant, id), _| follows.iter().any(|f| f.tenant == *tenant && f.id == *id));
        for follow in follows {
            let key = (follow.tenant.clone(), follow.id.clone());
            let now = now_ms();
            // first seen (a new follow, or the server started): due an interval after its
            // last check, at once if never checked or a health gate runs
            let at = *due
                .entry(key.clone())
                .or_insert_with(|| match follow.status.last_check_at {
                    Some(last) if follow.status.gate.is_none() => {
                        last.saturating_add(next_in_ms(&follow))
                    }
                    _ => 0,
                });
            // a gate started by a check the poller did not run (POST …/check) is checked
            // every few seconds all the same
            let gate_due = follow
                .status
                .gate
                .as_ref()
                .and(follow.status.last_check_at)
                .map(|last| last.saturating_add(i64::try_from(GATE_CHECK_S * 1000).unwrap_or(0)));
            if now < at && gate_due.is_none_or(|g| now < g) {
                continue;
            }
            if *shutdown.borrow() {
                return;
            }
            let after = match check(&state, &follow.tenant, &follow.id).await {
                Ok(Some(after)) => after,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(tenant = %follow.tenant, follow = %follow.id, error = %format!("{e:#}"), "a follow's check failed");
                    follow
                }
            };
            due.insert(key, now_ms().saturating_add(next_in_ms(&after)));
        }
    }
}

/// How long until a follow's next check, ms.
fn next_in_ms(follow: &FollowRecord) -> i64 {
    let mut s = follow.interval_s;
    if follow.status.gate.is_some() {
        s = s.min(GATE_CHECK_S);
    }
    let mut ms = s.saturating_mul(1000);
    if follow.jitter_s > 0 {
        let mut r = [0u8; 8];
        if getrandom::fill(&mut r).is_ok() {
            ms = ms
                .saturating_add(u64::from_le_bytes(r) % (follow.jitter_s.saturating_mul(1000) + 1));
        }
    }
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> FollowRecord {
        FollowRecord {
            id: "0".repeat(16),
            tenant: "default".into(),
            repository: "oci://localhost:5000/acme".into(),
            req: "^1".into(),
            interval_s: 300,
            jitter_s: 0,
            health_window_s: None,
            created_by: "test".into(),
            created_at: 0,
            pack: None,
            status: FollowStatus::default(),
        }
    }

    #[test]
    fn a_follow_keeps_its_highest_refusals_only() {
        let mut r = record();
        for minor in 0..40 {
            let v = semver::Version::new(1, minor, 0);
            refuse(&mut r, &v, format!("sha256:{minor}"), "bad".into());
        }
        assert_eq!(r.status.refused.len(), MAX_REFUSALS);
        assert!(r.status.refused.contains_key("1.39.0"));
        assert!(r.status.refused.contains_key("1.8.0"));
        assert!(
            !r.status.refused.contains_key("1.7.0"),
            "the lowest go first"
        );
    }

    #[test]
    fn long_texts_are_cut_on_a_character_boundary() {
        let text = "é".repeat(MAX_TEXT);
        let cut = cut(text);
        assert!(cut.len() <= MAX_TEXT && cut.ends_with('…'), "{}", cut.len());
        assert_eq!(super::cut("short".into()), "short");
    }
}
