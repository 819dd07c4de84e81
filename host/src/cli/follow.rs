//! `yagura pack follow | follows | unfollow`: a running `yagura serve` follows an OCI
//! repository with a semver requirement, through its API (`/v1/follows…`,
//! docs/distribution.md). The server does the polling, pulling and activating.

use std::io::Write;

use clap::Args;
use serde_json::{Value as Json, json};

use super::api::{Client, ServerArgs, block_on};
use super::shadow::text;

/// Who asks, in errors.
const WHOSE: &str = "yagura pack follow";

/// `yagura pack follow`.
#[derive(Debug, Args)]
pub struct FollowArgs {
    /// oci://HOST[:PORT]/REPO
    #[arg(value_name = "REPOSITORY")]
    pub repository: String,
    /// The semver requirement; the highest matching version runs
    #[arg(long, value_name = "REQ")]
    pub req: String,
    /// Seconds between two checks (1 to 86400; default 300)
    #[arg(long, value_name = "SECONDS")]
    pub interval_s: Option<u64>,
    /// Up to this many seconds more each time, at random (0 to 3600; default a tenth of the
    /// interval, at most 3600)
    #[arg(long, value_name = "SECONDS")]
    pub jitter_s: Option<u64>,
    /// After an activation, roll it back if one of the pack's rules faults or is quarantined
    /// within this many seconds (1 to 86400; default: no health gate)
    #[arg(long, value_name = "SECONDS")]
    pub health_window_s: Option<u64>,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `yagura pack follows`.
#[derive(Debug, Args)]
pub struct FollowsArgs {
    /// Check this follow now (its id), then list
    #[arg(long, value_name = "ID")]
    pub check: Option<String>,
    /// Print the API's JSON as it is
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub fn follow(args: &FollowArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let body = json!({
        "repository": args.repository,
        "req": args.req,
        "interval_s": args.interval_s,
        "jitter_s": args.jitter_s,
        "health_window_s": args.health_window_s,
    });
    let made = block_on(async {
        Client::new(&args.server, WHOSE)?
            .call(reqwest::Method::POST, "/v1/follows", "", Some(body))
            .await
    })?;
    writeln!(
        out,
        "follow {}: tenant `{}` runs the highest version of {} matching {}, checked every {} s \
         (+ up to {} s); see it with `yagura pack follows`",
        text(&made["id"]),
        text(&made["tenant"]),
        text(&made["repository"]),
        text(&made["req"]),
        text(&made["interval_s"]),
        text(&made["jitter_s"]),
    )?;
    Ok(())
}

pub fn follows(args: &FollowsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let list = block_on(async {
        let client = Client::new(&args.server, WHOSE)?;
        if let Some(id) = &args.check {
            client
                .call(
                    reqwest::Method::POST,
                    &format!("/v1/follows/{id}/check"),
                    "",
                    None,
                )
                .await?;
        }
        client
            .call(reqwest::Method::GET, "/v1/follows", "", None)
            .await
    })?;
    if args.json {
        writeln!(out, "{list:#}")?;
        return Ok(());
    }
    let follows = list["follows"].as_array().cloned().unwrap_or_default();
    if follows.is_empty() {
        writeln!(out, "tenant `{}` follows nothing", text(&list["tenant"]))?;
    }
    for f in &follows {
        print_follow(f, out)?;
    }
    Ok(())
}

fn print_follow(f: &Json, out: &mut dyn Write) -> anyhow::Result<()> {
    let status = &f["status"];
    writeln!(
        out,
        "{}  {} {}  pack {}  every {} s (+{} s){}",
        text(&f["id"]),
        text(&f["repository"]),
        text(&f["req"]),
        text(&f["pack"]),
        text(&f["interval_s"]),
        text(&f["jitter_s"]),
        f["health_window_s"]
            .as_u64()
            .map(|w| format!(", health gate {w} s"))
            .unwrap_or_default(),
    )?;
    writeln!(
        out,
        "  checks {}, last {}: {}",
        text(&status["checks"]),
        status["last_check_at"]
            .as_i64()
            .map_or("never".to_owned(), crate::event::format_rfc3339_ms),
        text(&status["last_result"]),
    )?;
    if let Some(activated) = status["activated"].as_object() {
        writeln!(
            out,
            "  activated {} ({}) at {}, was {}",
            text(&activated["version"]),
            text(&activated["digest"]),
            activated["at"]
                .as_i64()
                .map_or("?".to_owned(), crate::event::format_rfc3339_ms),
            text(&activated["previous"]),
        )?;
    }
    if let Some(gate) = status["gate"].as_object() {
        writeln!(
            out,
            "  health gate of {} until {}",
            text(&gate["version"]),
            gate["until"]
                .as_i64()
                .map_or("?".to_owned(), crate::event::format_rfc3339_ms),
        )?;
    }
    if let Some(error) = status["registry_error"].as_str() {
        writeln!(out, "  REGISTRY ERROR (what runs is unchanged): {error}")?;
    }
    if let Some(refused) = status["refused"].as_object() {
        for (version, r) in refused {
            writeln!(
                out,
                "  refused {version} ({}): {}",
                text(&r["digest"]),
                text(&r["reason"])
            )?;
        }
    }
    Ok(())
}

pub fn unfollow(id: &str, server: &ServerArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let done = block_on(async {
        Client::new(server, WHOSE)?
            .call(
                reqwest::Method::DELETE,
                &format!("/v1/follows/{id}"),
                "",
                None,
            )
            .await
    })?;
    writeln!(
        out,
        "follow {id} removed for tenant `{}`; what runs stays as it is",
        text(&done["tenant"])
    )?;
    Ok(())
}
