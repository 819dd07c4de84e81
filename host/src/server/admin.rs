//! `/v1/tenants`, `/v1/tokens` and `/v1/keys`: management of who may call the API (admin) and
//! whose packs the server accepts (store-wide keys: admin; a tenant's own keys: its
//! `packs:write` token or an admin).
//!
//! `PUT /v1/rules/{id}/enabled`: switches one rule of the tenant's active packs off or on. Like
//! a config change (`ingest::put_config`), the tenant's rule set is rebuilt without (or with)
//! the rule and swapped in between two batches; the choice is stored (sled tree
//! `rule_disabled`), so it holds across restarts and later activations.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::openapi::{AdminOnly, Denied, ErrorBody, KEY_TENANT, TENANT};
use super::request::{Caller, PathParam, TenantQuery, json, parse_query};
use super::{AppState, blocking, json_response};
use crate::pack::PublicKey;
use crate::store::{Scope, TokenRecord};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    /// the new tenant's name: 1-64 of a-z, 0-9, `-` and `_`, starting with a letter or digit
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    name: String,
}

#[utoipa::path(
    post,
    path = "/v1/tenants",
    tag = "admin",
    summary = "Create a tenant: {name}",
    request_body = NewTenant,
    responses(
        (status = 201, description = "the tenant: `{name, created_at}` (ms)", body = Object),
        (status = 400, description = "a bad body or tenant name", body = ErrorBody),
        AdminOnly,
        (status = 409, description = "the tenant exists", body = ErrorBody),
        (status = 413, description = "the body is over the JSON limit", body = ErrorBody),
    ),
    security(("token" = ["admin"]))
)]
pub(crate) async fn create_tenant(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    let body: NewTenant = json(body, &state).await?;
    // a bad name is a 400, a taken one a 409 (StoreError → ApiError)
    let record = state.runtime.store.create_tenant(&body.name)?;
    state.runtime.engine(&record.name)?;
    Ok(json_response(StatusCode::CREATED, &record))
}

#[utoipa::path(
    get,
    path = "/v1/tenants",
    tag = "admin",
    summary = "List tenants",
    responses(
        (status = 200, description = "`{tenants: [{name, created_at}]}`", body = Object),
        AdminOnly,
    ),
    security(("token" = ["admin"]))
)]
pub(crate) async fn list_tenants(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    let tenants = state.runtime.store.tenants()?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "tenants": tenants }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    /// default: the caller's tenant
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    tenant: Option<String>,
    /// what the token is for (at most 256 characters)
    #[serde(default)]
    #[schema(max_length = 256)]
    name: String,
    /// one or more
    #[schema(value_type = Vec<super::openapi::ScopeName>, min_items = 1)]
    scopes: Vec<Scope>,
}

/// A token as listed: never its secret nor its hash.
#[derive(Serialize)]
struct TokenView<'a> {
    id: &'a str,
    tenant: &'a str,
    name: &'a str,
    scopes: &'a [Scope],
    created_at: i64,
}

fn view(t: &TokenRecord) -> TokenView<'_> {
    TokenView {
        id: &t.id,
        tenant: &t.tenant,
        name: &t.name,
        scopes: &t.scopes,
        created_at: t.created_at,
    }
}

#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "admin",
    summary = "Create a token: {tenant?, name, scopes}; the answer holds the token, once",
    request_body = NewToken,
    responses(
        (status = 201, description = "`{id, tenant, name, scopes, created_at, token}`: `token` \
            is the secret, shown this once", body = Object),
        (status = 400, description = "a bad body, or no scopes", body = ErrorBody),
        AdminOnly,
        (status = 404, description = "the tenant does not exist", body = ErrorBody),
        (status = 413, description = "the body is over the JSON limit", body = ErrorBody),
    ),
    security(("token" = ["admin"]))
)]
pub(crate) async fn create_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    let body: NewToken = json(body, &state).await?;
    let tenant = caller.tenant(&state, body.tenant.as_deref())?;
    if body.scopes.is_empty() {
        return Err(ApiError::bad_request(
            "`scopes` is empty; give one or more of admin, packs:write, events:write, alerts:read",
        ));
    }
    if body.name.chars().count() > 256 {
        return Err(ApiError::bad_request(
            "`name` is longer than 256 characters",
        ));
    }
    let new = state
        .runtime
        .store
        .create_token(&tenant, &body.name, &body.scopes)?;
    let mut answer = serde_json::to_value(view(&new.record))
        .map_err(|e| ApiError::internal(&anyhow::anyhow!("{e}")))?;
    answer["token"] = serde_json::Value::String(new.token);
    Ok(json_response(StatusCode::CREATED, &answer))
}

#[utoipa::path(
    get,
    path = "/v1/tokens",
    tag = "admin",
    summary = "List tokens (never their secrets)",
    params(("tenant" = Option<String>, Query, description = "only this tenant's")),
    responses(
        (status = 200, description = "`{tokens: [{id, tenant, name, scopes, created_at}]}`",
            body = Object),
        (status = 400, description = "a bad query string", body = ErrorBody),
        AdminOnly,
        (status = 404, description = "the tenant does not exist", body = ErrorBody),
    ),
    security(("token" = ["admin"]))
)]
pub(crate) async fn list_tokens(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    let q: TenantQuery = parse_query(&uri)?;
    if let Some(t) = &q.tenant
        && !state.runtime.store.tenant_exists(t)?
    {
        return Err(ApiError::not_found(format!("tenant `{t}` does not exist")));
    }
    let tokens = state.runtime.store.tokens(q.tenant.as_deref())?;
    let views: Vec<TokenView<'_>> = tokens.iter().map(view).collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "tokens": views }),
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/tokens/{id}",
    tag = "admin",
    summary = "Revoke a token",
    params(("id" = String, Path, description = "the token's id")),
    responses(
        (status = 200, description = "`{revoked: id}`", body = Object),
        (status = 400, description = "a bad path", body = ErrorBody),
        AdminOnly,
        (status = 404, description = "no such token", body = ErrorBody),
    ),
    security(("token" = ["admin"]))
)]
pub(crate) async fn revoke_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(id): PathParam,
) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    if !state.runtime.store.revoke_token(&id)? {
        return Err(ApiError::not_found(format!("no token `{id}`")));
    }
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "revoked": id }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewKey {
    /// the `.pub` file's text, or the key's 64 hex digits
    #[schema(
        pattern = "^[ \\t\\n\\r\\f]*(yagura-ed25519-public:)?[0-9a-fA-F]{64}[ \\t\\n\\r\\f]*$"
    )]
    public_key: String,
}

/// Whose keys a `/v1/keys` request manages: `None` for the store-wide ones.
///
/// An admin token without `?tenant=` manages the store-wide keys; with `?tenant=T`, T's. A
/// `packs:write` token manages its own tenant's keys (and names no other tenant).
fn key_owner(state: &AppState, caller: &Caller, uri: &Uri) -> ApiResult<Option<String>> {
    caller.require(Scope::PacksWrite)?;
    let q: TenantQuery = parse_query(uri)?;
    if q.tenant.is_none() && caller.is_admin() {
        return Ok(None);
    }
    Ok(Some(caller.tenant(state, q.tenant.as_deref())?))
}

fn key_json(key: &PublicKey, tenant: Option<&str>) -> serde_json::Value {
    serde_json::json!({ "id": key.id(), "public_key": key.to_hex(), "tenant": tenant })
}

/// `POST /v1/keys[?tenant=]`: trust a publisher key, store-wide (admin) or for one tenant
/// (its `packs:write` token, or an admin naming the tenant).
#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "keys",
    summary = "Trust a publisher key: {public_key}; store-wide (admin without ?tenant=) or for a tenant",
    params(("tenant" = Option<String>, Query, description = KEY_TENANT)),
    request_body = NewKey,
    responses(
        (status = 201, description = "`{id, public_key, tenant}` (`tenant` null: store-wide)",
            body = Object),
        (status = 400, description = "a bad body, key form or query string", body = ErrorBody),
        Denied,
        (status = 404, description = "the tenant does not exist", body = ErrorBody),
        (status = 413, description = "the body is over the JSON limit", body = ErrorBody),
        (status = 422, description = "64 hex digits that are not an ed25519 public key",
            body = ErrorBody),
    ),
    security(("token" = ["admin"]), ("token" = ["packs:write"]))
)]
pub async fn trust_key(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    let owner = key_owner(&state, &caller, &uri)?;
    let body: NewKey = json(body, &state).await?;
    // the blanks the document's pattern allows around the key (ASCII, as `.pub` files have)
    let text = body
        .public_key
        .trim_matches(|c: char| c.is_ascii_whitespace());
    let hex = text.strip_prefix("yagura-ed25519-public:").unwrap_or(text);
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "`public_key`: not a `.pub` file's text (`yagura-ed25519-public:` and 64 hex \
             digits) nor 64 hex digits",
        ));
    }
    // of the right form, but not a point of the curve: 422
    let key = PublicKey::from_hex(hex)
        .map_err(|e| ApiError::unprocessable(format!("`public_key`: {e:#}")))?;
    match &owner {
        None => state.runtime.store.trust_key(&key)?,
        Some(tenant) => state.runtime.store.trust_tenant_key(tenant, &key)?,
    }
    Ok(json_response(
        StatusCode::CREATED,
        &key_json(&key, owner.as_deref()),
    ))
}

/// `GET /v1/keys[?tenant=]`: the store-wide keys; with a tenant (named, or the caller's when
/// it is not admin), also the tenant's own, each with its `tenant` (`null`: store-wide).
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "keys",
    summary = "List trusted publisher keys: the store-wide ones, and a tenant's own (admin: with ?tenant=; packs:write: its tenant's)",
    params(("tenant" = Option<String>, Query, description = KEY_TENANT)),
    responses(
        (status = 200, description = "`{keys: [{id, public_key, tenant}]}` (`tenant` null: \
            store-wide)", body = Object),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "the tenant does not exist", body = ErrorBody),
    ),
    security(("token" = ["admin"]), ("token" = ["packs:write"]))
)]
pub(crate) async fn list_keys(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Response> {
    let owner = key_owner(&state, &caller, &uri)?;
    let mut keys: Vec<serde_json::Value> = state
        .runtime
        .store
        .trusted_keys()?
        .iter()
        .map(|k| key_json(k, None))
        .collect();
    if let Some(tenant) = &owner {
        keys.extend(
            state
                .runtime
                .store
                .tenant_keys(tenant)?
                .iter()
                .map(|k| key_json(k, Some(tenant))),
        );
    }
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "keys": keys }),
    ))
}

/// `DELETE /v1/keys/{id}[?tenant=]`: stop trusting a key, store-wide (admin) or for a tenant.
/// Stored packs it signed stay stored and running, but cannot be activated again.
#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "keys",
    summary = "Stop trusting a key, store-wide (admin without ?tenant=) or for a tenant",
    description = "Stored packs it signed stay stored and running, but cannot be activated again.",
    params(
        ("id" = String, Path, description = "the key's id"),
        ("tenant" = Option<String>, Query, description = KEY_TENANT),
    ),
    responses(
        (status = 200, description = "`{untrusted: id, tenant}`", body = Object),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such key, or no such tenant", body = ErrorBody),
    ),
    security(("token" = ["admin"]), ("token" = ["packs:write"]))
)]
pub(crate) async fn untrust_key(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(id): PathParam,
    uri: Uri,
) -> ApiResult<Response> {
    let owner = key_owner(&state, &caller, &uri)?;
    let had = match &owner {
        None => state.runtime.store.untrust_key(&id)?,
        Some(tenant) => state.runtime.store.untrust_tenant_key(tenant, &id)?,
    };
    if !had {
        return Err(ApiError::not_found(match &owner {
            None => format!("no store-wide trusted key `{id}`"),
            Some(t) => format!("tenant `{t}` trusts no key `{id}` of its own"),
        }));
    }
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "untrusted": id, "tenant": owner }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewEnabled {
    /// `false` switches the rule off, `true` back on
    enabled: bool,
    /// why, for the rule list and the log
    #[serde(default)]
    reason: String,
}

#[utoipa::path(
    put,
    path = "/v1/rules/{id}/enabled",
    operation_id = "put_rule_enabled",
    tag = "rules",
    summary = "Switch a rule of the tenant's active packs off or on: {enabled, reason}; the rule set is rebuilt and swapped in (a switched-off rule's state is dropped)",
    params(
        ("id" = String, Path, description = "the rule's id"),
        ("tenant" = Option<String>, Query, description = TENANT),
    ),
    request_body = NewEnabled,
    responses(
        (status = 200, description = "`{tenant, rule, enabled, was_enabled, reason}`",
            body = Object),
        (status = 400, description = "a bad body or query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant, or the rule is not in its active packs",
            body = ErrorBody),
        (status = 413, description = "the body is over the JSON limit", body = ErrorBody),
        (status = 422, description = "the rebuilt rule set does not load; nothing changed",
            body = ErrorBody),
    ),
    security(("token" = ["packs:write"]))
)]
pub async fn put_enabled(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(rule): PathParam,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    caller.require(Scope::PacksWrite)?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let body: NewEnabled = json(body, &state).await?;
    let st = state.clone();
    blocking(move || {
        let was_enabled = st
            .runtime
            .set_enabled(&tenant, &rule, body.enabled, &body.reason)?;
        Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({
                "tenant": tenant,
                "rule": rule,
                "enabled": body.enabled,
                "was_enabled": was_enabled,
                "reason": body.reason,
            }),
        ))
    })
    .await
}
