//! `GET /v1/openapi.json`: the OpenAPI 3.1 description of the routes, written here beside the
//! router (the handlers read raw bodies with their own limits, so a derive would describe
//! little). `host/tests/server.rs` checks that every routed path and method is in it.

use serde_json::{Map, Value, json};

/// One operation: summary, the scopes that allow it (empty: no token), query parameters,
/// request body media type, and the success status.
struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    scopes: &'static [&'static str],
    query: &'static [(&'static str, &'static str)],
    body: Option<&'static str>,
    ok: &'static str,
}

const TENANT: (&str, &str) = (
    "tenant",
    "act on this tenant (admin tokens only, unless it is the token's own)",
);

/// `/v1/keys`: an admin without it manages the store-wide keys.
const KEY_TENANT: (&str, &str) = (
    "tenant",
    "this tenant's own keys (default: the token's tenant; an admin without it: the store-wide keys)",
);

const OPS: &[Op] = &[
    Op {
        method: "get",
        path: "/healthz",
        summary: "Liveness",
        scopes: &[],
        query: &[],
        body: None,
        ok: "200",
    },
    Op {
        method: "get",
        path: "/readyz",
        summary: "Readiness (503 once shutdown began)",
        scopes: &[],
        query: &[],
        body: None,
        ok: "200",
    },
    Op {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics (a non-admin token sees its tenant's series)",
        scopes: &["any"],
        query: &[],
        body: None,
        ok: "200",
    },
    Op {
        method: "get",
        path: "/v1/openapi.json",
        summary: "This document",
        scopes: &[],
        query: &[],
        body: None,
        ok: "200",
    },
    Op {
        method: "get",
        path: "/v1/tenants",
        summary: "List tenants",
        scopes: &["admin"],
        query: &[],
        body: None,
        ok: "200",
    },
    Op {
        method: "post",
        path: "/v1/tenants",
        summary: "Create a tenant: {name}",
        scopes: &["admin"],
        query: &[],
        body: Some("application/json"),
        ok: "201",
    },
    Op {
        method: "get",
        path: "/v1/tokens",
        summary: "List tokens (never their secrets)",
        scopes: &["admin"],
        query: &[("tenant", "only this tenant's")],
        body: None,
        ok: "200",
    },
    Op {
        method: "post",
        path: "/v1/tokens",
        summary: "Create a token: {tenant?, name, scopes}; the answer holds the token, once",
        scopes: &["admin"],
        query: &[],
        body: Some("application/json"),
        ok: "201",
    },
    Op {
        method: "delete",
        path: "/v1/tokens/{id}",
        summary: "Revoke a token",
        scopes: &["admin"],
        query: &[],
        body: None,
        ok: "200",
    },
    Op {
        method: "get",
        path: "/v1/keys",
        summary: "List trusted publisher keys: the store-wide ones, and a tenant's own (admin: with ?tenant=; packs:write: its tenant's)",
        scopes: &["admin", "packs:write"],
        query: &[KEY_TENANT],
        body: None,
        ok: "200",
    },
    Op {
        method: "post",
        path: "/v1/keys",
        summary: "Trust a publisher key: {public_key}; store-wide (admin without ?tenant=) or for a tenant",
        scopes: &["admin", "packs:write"],
        query: &[KEY_TENANT],
        body: Some("application/json"),
        ok: "201",
    },
    Op {
        method: "delete",
        path: "/v1/keys/{id}",
        summary: "Stop trusting a key, store-wide (admin without ?tenant=) or for a tenant",
        scopes: &["admin", "packs:write"],
        query: &[KEY_TENANT],
        body: None,
        ok: "200",
    },
    Op {
        method: "get",
        path: "/v1/packs",
        summary: "The tenant's pack versions",
        scopes: &["packs:write", "alerts:read"],
        query: &[TENANT],
        body: None,
        ok: "200",
    },
    Op {
        method: "post",
        path: "/v1/packs",
        summary: "Upload a bundle (digests, signature, requirements, cases checked)",
        scopes: &["packs:write"],
        query: &[TENANT],
        body: Some("application/octet-stream"),
        ok: "201",
    },
    Op {
        method: "get",
        path: "/v1/packs/{pack}",
        summary: "Inspect NAME@VERSION",
        scopes: &["packs:write", "alerts:read"],
        query: &[TENANT],
        body: None,
        ok: "200",
    },
    Op {
        method: "delete",
        path: "/v1/packs/{pack}",
        summary: "Remove NAME@VERSION from the tenant",
        scopes: &["packs:write"],
        query: &[TENANT],
        body: None,
        ok: "200",
    },
    Op {
        method: "post",
        path: "/v1/packs/{name}/activate",
        summary: "Activate {version (exact or requirement), reason}",
        scopes: &["packs:write"],
        query: &[TENANT],
        body: Some("application/json"),
        ok: "200",
    },
    Op {
        method: "post",
        path: "/v1/packs/{name}/rollback",
        summary: "Return to the previously active version: {reason} (optional)",
        scopes: &["packs:write"],
        query: &[TENANT],
        body: Some("application/json"),
        ok: "200",
    },
    Op {
        method: "get",
        path: "/v1/packs/{name}/history",
        summary: "Activation history",
        scopes: &["packs:write", "alerts:read"],
        query: &[TENANT],
        body: None,
        ok: "200",
    },
    Op {
        method: "get",
        path: "/v1/rules",
        summary: "Running rules and their counters; rules the tenant switched off with enabled: false",
        scopes: &["packs:write", "alerts:read"],
        query: &[TENANT],
        body: None,
        ok: "200",
    },
    Op {
        method: "get",
        path: "/v1/rules/{id}/config",
        summary: "The tenant's parameter values for a rule",
        scopes: &["packs:write", "alerts:read"],
        query: &[TENANT],
        body: None,
        ok: "200",
    },
    Op {
        method: "put",
        path: "/v1/rules/{id}/config",
        summary: "Set the tenant's parameter values for a rule: {config}; checked by the rule's init, then swapped in",
        scopes: &["packs:write"],
        query: &[TENANT],
        body: Some("application/json"),
        ok: "200",
    },
    Op {
        method: "post",
        path: "/v1/rules/{id}/enable",
        summary: "Re-enable a quarantined rule (no body); answers whether it was quarantined",
        scopes: &["packs:write"],
        query: &[TENANT],
        body: None,
        ok: "200",
    },
    Op {
        method: "put",
        path: "/v1/rules/{id}/enabled",
        summary: "Switch a rule of the tenant's active packs off or on: {enabled, reason}; the rule set is rebuilt and swapped in (a switched-off rule's state is dropped)",
        scopes: &["packs:write"],
        query: &[TENANT],
        body: Some("application/json"),
        ok: "200",
    },
    Op {
        method: "post",
        path: "/v1/events",
        summary: "Ingest events (NDJSON or JSON array, any supported format, gzip allowed)",
        scopes: &["events:write"],
        query: &[
            TENANT,
            (
                "format",
                "auto (default), ndjson, ocsf, evtx, winevent-json, ecs, zeek-conn, syslog",
            ),
        ],
        body: Some("application/x-ndjson"),
        ok: "200",
    },
    Op {
        method: "get",
        path: "/v1/alerts",
        summary: "Query alerts, newest first",
        scopes: &["alerts:read"],
        query: &[
            TENANT,
            ("since", "event time, ms or RFC 3339"),
            ("until", "event time, ms or RFC 3339"),
            ("rule", "rule id"),
            ("severity", "this or higher"),
            ("host", "a host named"),
            ("user", "a user named"),
            ("text", "substring"),
            ("limit", "1-1000, default 100"),
            ("cursor", "next_cursor of the previous page"),
        ],
        body: None,
        ok: "200",
    },
    Op {
        method: "get",
        path: "/v1/alerts/{id}",
        summary: "One alert",
        scopes: &["alerts:read"],
        query: &[TENANT],
        body: None,
        ok: "200",
    },
    Op {
        method: "get",
        path: "/v1/alerts/stream",
        summary: "New and updated alerts as Server-Sent Events",
        scopes: &["alerts:read"],
        query: &[TENANT],
        body: None,
        ok: "200",
    },
];

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in OPS {
        let mut parameters: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        parameters.extend(op.query.iter().map(|(name, desc)| {
            json!({ "name": name, "in": "query", "required": false, "description": desc, "schema": { "type": "string" } })
        }));
        let mut responses = Map::new();
        responses.insert(op.ok.into(), json!({ "description": "success" }));
        for (status, why) in [
            ("400", "bad request"),
            ("401", "missing or wrong token"),
            ("403", "insufficient scope, or another tenant"),
            ("404", "not found"),
        ] {
            if op.scopes.is_empty() && status != "400" {
                continue;
            }
            responses.insert(
                status.into(),
                json!({ "description": why, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }),
            );
        }
        let mut operation = json!({
            "summary": op.summary,
            "parameters": parameters,
            "responses": responses,
        });
        if op.scopes.is_empty() {
            operation["security"] = json!([]);
        } else {
            operation["x-scopes"] = json!(op.scopes);
        }
        if let Some(media) = op.body {
            operation["requestBody"] = json!({ "content": { media: {} } });
        }
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        entry[op.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Yagura",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Yagura's management API: tenants, tokens, packs, events, alerts (docs/api.md).",
        },
        "security": [{ "bearer": [] }],
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": { "code": { "type": "string" }, "message": { "type": "string" } },
                    } },
                },
            },
        },
        "paths": paths,
    })
}
