//! `yagura serve`'s API as the commands that talk to a running server reach it
//! (`pack shadow`, `pack follow`): where it is, the token, the tenant, one JSON call.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::Value as Json;

/// How to reach the server.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The server's base URL
    #[arg(
        long,
        value_name = "URL",
        env = "YAGURA_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// A token with the packs:write scope (alerts:read is enough to read: `shadow status`,
    /// `follows`)
    #[arg(
        long,
        value_name = "TOKEN",
        env = "YAGURA_TOKEN",
        hide_env_values = true
    )]
    pub token: String,
    /// Act on this tenant (admin tokens; default: the token's own)
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// Trust these CA certificates (PEM) for an https server, besides the public roots
    #[arg(long, value_name = "PEM")]
    pub ca: Option<PathBuf>,
}

/// Runs `work` on a runtime of its own: the HTTP and registry clients are async, the CLI is
/// not.
pub(super) fn block_on<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime of the command")?
        .block_on(work)
}

/// `yagura serve`'s API, as a command reaches it.
pub(super) struct Client<'a> {
    http: reqwest::Client,
    args: &'a ServerArgs,
}

impl<'a> Client<'a> {
    /// A client for `args`'s server; `whose` names the command in errors.
    pub(super) fn new(args: &'a ServerArgs, whose: &str) -> anyhow::Result<Client<'a>> {
        Ok(Client {
            http: crate::alert::sink::http_client(
                whose,
                Duration::from_secs(300),
                args.ca.as_deref(),
            )?,
            args,
        })
    }

    /// `METHOD {server}{path}?tenant=…&{query}`, the answer's JSON; an error answer becomes
    /// an error naming the request and the server's message.
    pub(super) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &str,
        body: Option<Json>,
    ) -> anyhow::Result<Json> {
        let mut url = format!("{}{path}", self.args.server.trim_end_matches('/'));
        let mut params: Vec<String> = Vec::new();
        if let Some(tenant) = &self.args.tenant {
            params.push(format!("tenant={tenant}"));
        }
        if !query.is_empty() {
            params.push(query.to_owned());
        }
        if !params.is_empty() {
            url = format!("{url}?{}", params.join("&"));
        }
        let what = format!("{method} {url}");
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(&self.args.token);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{what}: no answer (is `yagura serve` running there?)"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("{what}: the answer could not be read"))?;
        let value: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
        if !status.is_success() {
            let message = value["error"]["message"].as_str().map_or_else(
                || String::from_utf8_lossy(&bytes).into_owned(),
                str::to_owned,
            );
            anyhow::bail!("{what}: {status}: {message}");
        }
        Ok(value)
    }
}
