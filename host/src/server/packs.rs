//! `/v1/packs…`: upload a bundle (the checks of `yagura pack import`: digests, signature
//! against the store's trusted keys, requirements, cases), list and inspect the tenant's
//! packs, activate a version (checks again, builds and `init`s the tenant's new rule set, then
//! swaps it into the running engine), roll back, remove, history.
//!
//! Packs are stored once for the whole server; a tenant sees and acts on only the versions it
//! uploaded (`tenant_packs` in the store), so one tenant cannot learn of another's packs.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::error::{ApiError, ApiResult};
use super::openapi::{Denied, ErrorBody};
use super::request::{Caller, PathParam, TenantQuery, json, optional_json, read_body};
use super::{AppState, blocking, json_response};
use crate::pack::Bundle;
use crate::store::{Imported, Scope};

pub(super) fn who(caller: &Caller) -> String {
    if caller.0.name.is_empty() {
        format!("token {}", caller.0.id)
    } else {
        format!("token {} ({})", caller.0.id, caller.0.name)
    }
}

/// Splits `name@version`.
fn split(spec: &str) -> ApiResult<(&str, &str)> {
    spec.split_once('@').ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{spec}`: expected NAME@VERSION (like yagura-core@0.1.0)"
        ))
    })
}

#[utoipa::path(
    post,
    path = "/v1/packs",
    operation_id = "upload_pack",
    tag = "packs",
    summary = "Upload a bundle (digests, signature, requirements, cases checked)",
    description = "The body is the bundle file (`yagura pack build`), as is. It is stored once for \
        the server and granted to the tenant; uploading a stored version again only grants it.",
    params(TenantQuery),
    request_body(content = inline(super::openapi::BundleBytes),
        content_type = "application/octet-stream", description = "a pack bundle"),
    responses(
        (status = 201, description = "`{name, version, signer, rules: [id], stored: \"new\" | \
            \"already_stored\"}`", body = Object),
        (status = 400, description = "a bad query string, or the body could not be read",
            body = ErrorBody),
        Denied,
        (status = 404, description = "the tenant does not exist", body = ErrorBody),
        (status = 409, description = "another bundle is stored under this name and version",
            body = ErrorBody),
        (status = 413, description = "the bundle is over the bundle limit", body = ErrorBody),
        (status = 422, description = "refused: digests, signature, untrusted key, \
            requirements or failing cases", body = ErrorBody),
    ),
    security(("token" = ["packs:write"]))
)]
pub async fn upload(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    caller.require(Scope::PacksWrite)?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let bytes = read_body(body, state.config.max_bundle_bytes, &state).await?;
    let who = who(&caller);
    let st = state.clone();
    blocking(move || {
        let origin = "the uploaded bundle";
        let bundle = Bundle::from_bytes(&bytes, origin)
            .map_err(|e| ApiError::unprocessable(format!("{e:#}")))?;
        let import = st.runtime.import(&bundle, origin, Some(&tenant), &who, None)?;
        Ok(json_response(
            StatusCode::CREATED,
            &json!({
                "name": import.name,
                "version": import.version,
                "signer": import.signer,
                "rules": import.rules,
                "stored": match import.stored { Imported::New => "new", Imported::AlreadyStored => "already_stored" },
            }),
        ))
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/packs",
    operation_id = "list_packs",
    tag = "packs",
    summary = "The tenant's pack versions",
    params(TenantQuery),
    responses(
        (status = 200, description = "`{tenant, packs: [{name, version, active}]}`", body = Object),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "the tenant does not exist", body = ErrorBody),
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
    let active = state.runtime.store.all_active()?;
    let packs: Vec<serde_json::Value> = state
        .runtime
        .store
        .tenant_packs(&tenant)?
        .into_iter()
        .map(|(name, version)| {
            let is_active = active
                .iter()
                .any(|(t, n, v)| *t == tenant && *n == name && *v == version);
            json!({ "name": name, "version": version, "active": is_active })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "tenant": tenant, "packs": packs }),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/packs/{pack}",
    operation_id = "inspect_pack",
    tag = "packs",
    summary = "Inspect NAME@VERSION",
    params(("pack" = String, Path, description = "NAME@VERSION",
        pattern = "^[^@/]+@[0-9]+\\.[0-9]+\\.[0-9]+([-+][0-9A-Za-z.+-]*)?$"), TenantQuery),
    responses(
        (status = 200, description = "`{name, version, publisher, description, license, \
            requires: {wit, host}, signer, imported_at, imported_by, source, active, rules: \
            [{id, enabled, sha256, config}], files: [{path, sha256}]}`; `source`: \
            `{repository, digest}`, the OCI repository and manifest it was pulled from, or \
            null", body = Object),
        (status = 400, description = "not NAME@VERSION, or a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "the tenant does not exist or does not hold the pack",
            body = ErrorBody),
    ),
    security(("token" = ["packs:write"]), ("token" = ["alerts:read"]))
)]
pub async fn inspect(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(spec): PathParam,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require_any(&[Scope::PacksWrite, Scope::AlertsRead])?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let (name, version) = split(&spec)?;
    if !held(&state, &tenant, name, version)? {
        return Err(not_held(&tenant, name, version));
    }
    let record = state
        .runtime
        .store
        .records()?
        .into_iter()
        .find(|r| r.name == name && r.version == version)
        .ok_or_else(|| not_held(&tenant, name, version))?;
    let manifest = crate::pack::Manifest::parse(&record.manifest, &spec)?;
    let active = state.runtime.store.active(&tenant, name)?;
    let rules: Vec<serde_json::Value> = manifest
        .rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "enabled": r.enabled,
                "sha256": r.sha256,
                "config": r.config,
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "name": record.name,
            "version": record.version,
            "publisher": manifest.pack.publisher,
            "description": manifest.pack.description,
            "license": manifest.pack.license,
            "requires": { "wit": manifest.requires.wit.to_string(), "host": manifest.requires.host.to_string() },
            "signer": record.signer,
            "imported_at": crate::event::format_rfc3339_ms(record.imported_at),
            "imported_by": record.imported_by,
            "source": state.runtime.store.tenant_source(&tenant, name, version)?.or(record.source),
            "active": active.as_deref() == Some(version),
            "rules": rules,
            "files": manifest.files.iter().map(|f| json!({ "path": f.path, "sha256": f.sha256 })).collect::<Vec<_>>(),
        }),
    ))
}

fn held(state: &AppState, tenant: &str, name: &str, version: &str) -> ApiResult<bool> {
    Ok(state
        .runtime
        .store
        .tenant_packs(tenant)?
        .iter()
        .any(|(n, v)| n == name && v == version))
}

fn not_held(tenant: &str, name: &str, version: &str) -> ApiError {
    ApiError::not_found(format!("tenant `{tenant}` has no pack {name}@{version}"))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Activation {
    /// an exact version or a requirement (`^1.2`: the highest held version matching); anything
    /// else is 422
    version: String,
    /// why, for the history
    #[serde(default)]
    reason: String,
}

#[utoipa::path(
    post,
    path = "/v1/packs/{name}/activate",
    operation_id = "activate_pack",
    tag = "packs",
    summary = "Activate {version (exact or requirement), reason}",
    description = "Checks the bundle again (signature against today's trusted keys, \
        requirements, cases), builds and `init`s the tenant's new rule set, then swaps it in.",
    params(("name" = String, Path, description = "the pack's name"), TenantQuery),
    request_body = Activation,
    responses(
        (status = 200, description = "`{tenant, name, version, previous, rules: [id], changed}`; \
            `changed` is false when the version was already active (nothing recorded or \
            swapped)", body = Object),
        (status = 400, description = "a bad body or query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant, or no held version matches",
            body = ErrorBody),
        (status = 409, description = "the store refused the activation", body = ErrorBody),
        (status = 413, description = "the body is over the JSON limit", body = ErrorBody),
        (status = 422, description = "`version` is neither a version nor a requirement, or \
            the bundle or the new rule set is refused; the active version is unchanged",
            body = ErrorBody),
    ),
    security(("token" = ["packs:write"]))
)]
pub async fn activate(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(name): PathParam,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    caller.require(Scope::PacksWrite)?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let body: Activation = json(body, &state).await?;
    let who = who(&caller);
    let st = state.clone();
    blocking(move || {
        let done = st
            .runtime
            .activate(&tenant, &name, &body.version, &who, &body.reason)?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "tenant": tenant, "name": name, "version": done.version, "previous": done.previous, "rules": done.rules, "changed": done.changed }),
        ))
    })
    .await
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Reason {
    /// why, for the history
    #[serde(default)]
    reason: String,
}

#[utoipa::path(
    post,
    path = "/v1/packs/{name}/rollback",
    operation_id = "rollback_pack",
    tag = "packs",
    summary = "Return to the previously active version: {reason} (optional)",
    params(("name" = String, Path, description = "the pack's name"), TenantQuery),
    request_body(content = Option<Reason>,
        description = "optional: an empty body or `null` is no reason"),
    responses(
        (status = 200, description = "`{tenant, name, version, previous}`", body = Object),
        (status = 400, description = "a bad body or query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant, or the pack is not active",
            body = ErrorBody),
        (status = 409, description = "no previous version to return to", body = ErrorBody),
        (status = 413, description = "the body is over the JSON limit", body = ErrorBody),
        (status = 422, description = "the previous version does not load; the active one stays",
            body = ErrorBody),
    ),
    security(("token" = ["packs:write"]))
)]
pub async fn rollback(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(name): PathParam,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    caller.require(Scope::PacksWrite)?;
    let tenant = caller.tenant_of(&state, &uri)?;
    // `null` is no reason too, as the document says (the body is nullable)
    let body: Reason = optional_json(body, &state).await?;
    let who = who(&caller);
    let st = state.clone();
    blocking(move || {
        let done = st.runtime.rollback(&tenant, &name, &who, &body.reason)?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "tenant": tenant, "name": name, "version": done.to, "previous": done.from }),
        ))
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/packs/{name}/history",
    operation_id = "pack_history",
    tag = "packs",
    summary = "Activation history",
    params(("name" = String, Path, description = "the pack's name"), TenantQuery),
    responses(
        (status = 200, description = "`{tenant, name, history: [{at, who, action, from, to, \
            reason, digest}]}`; `digest`: the OCI manifest `to` was pulled as (null when it was \
            not pulled from a registry)", body = Object),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant, or it has no such pack", body = ErrorBody),
    ),
    security(("token" = ["packs:write"]), ("token" = ["alerts:read"]))
)]
pub async fn history(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(name): PathParam,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require_any(&[Scope::PacksWrite, Scope::AlertsRead])?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let history = state.runtime.store.history(&tenant, &name)?;
    if history.is_empty() && state.runtime.held_versions(&tenant, &name)?.is_empty() {
        return Err(ApiError::not_found(format!(
            "tenant `{tenant}` has no pack `{name}`"
        )));
    }
    let entries: Vec<serde_json::Value> = history
        .iter()
        .map(|e| {
            json!({
                "at": crate::event::format_rfc3339_ms(e.at),
                "who": e.who,
                "action": e.action,
                "from": e.from,
                "to": e.to,
                "reason": e.reason,
                "digest": e.digest,
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "tenant": tenant, "name": name, "history": entries }),
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/packs/{pack}",
    operation_id = "remove_pack",
    tag = "packs",
    summary = "Remove NAME@VERSION from the tenant",
    description = "The stored copy goes when no tenant holds or runs it any more.",
    params(("pack" = String, Path, description = "NAME@VERSION",
        pattern = "^[^@/]+@[0-9]+\\.[0-9]+\\.[0-9]+([-+][0-9A-Za-z.+-]*)?$"), TenantQuery),
    responses(
        (status = 200, description = "`{tenant, removed: \"NAME@VERSION\", deleted_from_store}`",
            body = Object),
        (status = 400, description = "not NAME@VERSION, or a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "the tenant does not exist or does not hold the pack",
            body = ErrorBody),
        (status = 409, description = "the version is active for the tenant", body = ErrorBody),
    ),
    security(("token" = ["packs:write"]))
)]
pub async fn remove(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(spec): PathParam,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require(Scope::PacksWrite)?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let (name, version) = split(&spec)?;
    let (name, version) = (name.to_owned(), version.to_owned());
    let st = state.clone();
    blocking(move || {
        let deleted = st.runtime.remove(&tenant, &name, &version)?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "tenant": tenant, "removed": format!("{name}@{version}"), "deleted_from_store": deleted }),
        ))
    })
    .await
}
