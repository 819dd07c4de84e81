//! `yagura pack shadow`: start, read, promote and discard a shadow on a running `yagura serve`,
//! through its API (`/v1/packs/{name}/shadow…`, docs/shadow.md). Unlike the other `pack`
//! commands it does not open the store: a shadow runs beside live rules, in the server.

use std::io::Write;

use clap::Subcommand;
use serde_json::{Value as Json, json};

use super::api::{Client, ServerArgs, block_on};

use crate::runtime::{Carry, ShadowStart};

#[derive(Debug, Subcommand)]
pub enum ShadowCommand {
    /// Run VERSION of pack NAME beside the active version, on the same events, after the
    /// checks of an activation. Its findings are kept apart and compared with the live ones.
    Start {
        #[arg(value_name = "NAME")]
        name: String,
        /// An exact version or a requirement (`^1.2`: the highest the tenant holds)
        #[arg(value_name = "VERSION")]
        version: String,
        /// The state the shadow's rules start with: a copy of the live rules' or none
        #[arg(long, value_enum, default_value = "copy")]
        start: StartArg,
        /// Seconds after which the shadow stops itself (1 to 2592000; default one day)
        #[arg(long, value_name = "SECONDS")]
        duration_s: Option<u64>,
        /// Stop the shadow once its rules faulted more than this many times (default 100)
        #[arg(long, value_name = "N")]
        max_faults: Option<u64>,
        /// Stop the shadow once it is this many events behind the live rules (default 100000)
        #[arg(long, value_name = "N")]
        max_lag: Option<u64>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show the difference: per rule, events, findings and alerts in the active version only,
    /// in the shadow only and in both, faults and call latency, then the alerts themselves.
    Status {
        #[arg(value_name = "NAME")]
        name: String,
        /// Alerts listed of each kind (0 to 1000)
        #[arg(long, value_name = "N", default_value_t = 20)]
        limit: usize,
        /// Print the API's JSON as it is
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Activate the shadow's version, its rules keeping the shadow's state (default) or the
    /// live rules'.
    Promote {
        #[arg(value_name = "NAME")]
        name: String,
        /// Whose state the pack's rules keep
        #[arg(long, value_enum, default_value = "shadow")]
        state: StateArg,
        /// Why, for the history
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// End the shadow; the active version runs on, untouched.
    Discard {
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StartArg {
    Copy,
    Empty,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StateArg {
    Shadow,
    Active,
}

/// Who asks, in errors.
const WHOSE: &str = "yagura pack shadow";

/// The shadow route of pack `name`.
fn path(name: &str) -> String {
    format!("/v1/packs/{name}/shadow")
}

/// Runs a `yagura pack shadow` command against the server.
pub fn run_shadow(command: &ShadowCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    block_on(run(command, out))
}

async fn run(command: &ShadowCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        ShadowCommand::Start {
            name,
            version,
            start,
            duration_s,
            max_faults,
            max_lag,
            server,
        } => {
            let start = match start {
                StartArg::Copy => ShadowStart::Copy,
                StartArg::Empty => ShadowStart::Empty,
            };
            let body = json!({
                "version": version,
                "start": start,
                "duration_s": duration_s,
                "max_faults": max_faults,
                "max_lag": max_lag,
            });
            let report = Client::new(server, WHOSE)?
                .call(reqwest::Method::POST, &path(name), "", Some(body))
                .await?;
            writeln!(
                out,
                "{name}@{}: shadow started beside {} for tenant `{}` ({} state), until {}",
                text(&report["version"]),
                report["active_version"]
                    .as_str()
                    .map_or("no active version".to_owned(), |v| format!("{name}@{v}")),
                text(&report["tenant"]),
                text(&report["start"]),
                text(&report["ends_at"]),
            )?;
            writeln!(out, "see the difference: yagura pack shadow status {name}")?;
        }
        ShadowCommand::Status {
            name,
            limit,
            json,
            server,
        } => {
            let report = Client::new(server, WHOSE)?
                .call(
                    reqwest::Method::GET,
                    &path(name),
                    &format!("limit={limit}"),
                    None,
                )
                .await?;
            if *json {
                writeln!(out, "{report:#}")?;
            } else {
                print_report(&report, out)?;
            }
        }
        ShadowCommand::Promote {
            name,
            state,
            reason,
            server,
        } => {
            let state = match state {
                StateArg::Shadow => Carry::Shadow,
                StateArg::Active => Carry::Active,
            };
            let done = Client::new(server, WHOSE)?
                .call(
                    reqwest::Method::POST,
                    &format!("{}/promote", path(name)),
                    "",
                    Some(json!({ "state": state, "reason": reason })),
                )
                .await?;
            writeln!(
                out,
                "{name}: {} active for tenant `{}` (was {}), its rules keeping the {} state",
                text(&done["version"]),
                text(&done["tenant"]),
                done["previous"].as_str().unwrap_or("none"),
                text(&done["state"]),
            )?;
        }
        ShadowCommand::Discard { name, server } => {
            let report = Client::new(server, WHOSE)?
                .call(reqwest::Method::DELETE, &path(name), "", None)
                .await?;
            writeln!(
                out,
                "{name}@{}: shadow discarded for tenant `{}`; the active version runs on",
                text(&report["version"]),
                text(&report["tenant"]),
            )?;
        }
    }
    Ok(())
}

pub(super) fn text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Null => "-".into(),
        other => other.to_string(),
    }
}

/// `a/s`: a value of each side.
fn sides(row: &Json, field: &str) -> String {
    format!(
        "{}/{}",
        text(&row["active"][field]),
        text(&row["shadow"][field])
    )
}

fn latency(row: &Json, q: &str) -> String {
    format!(
        "{}/{}",
        text(&row["active"]["latency_ms"][q]),
        text(&row["shadow"]["latency_ms"][q])
    )
}

fn split(counts: &Json) -> String {
    format!(
        "{}/{}/{}",
        text(&counts["active_only"]),
        text(&counts["shadow_only"]),
        text(&counts["both"])
    )
}

/// The difference as a person reads it.
fn print_report(r: &Json, out: &mut dyn Write) -> anyhow::Result<()> {
    let name = text(&r["name"]);
    writeln!(
        out,
        "shadow {name}@{} beside {} for tenant `{}`: {}{}",
        text(&r["version"]),
        r["active_version"]
            .as_str()
            .map_or("no active version".to_owned(), |v| format!("{name}@{v}")),
        text(&r["tenant"]),
        text(&r["status"]),
        r["reason"]
            .as_str()
            .map(|reason| format!(" ({reason})"))
            .unwrap_or_default(),
    )?;
    writeln!(
        out,
        "  started {}, ends {}; {} events still to evaluate in the shadow",
        text(&r["started_at"]),
        text(&r["ends_at"]),
        text(&r["lag_events"]),
    )?;
    for what in ["findings", "alerts"] {
        writeln!(
            out,
            "  {what:<9} {} in the active version only, {} in the shadow only, {} in both",
            text(&r[what]["active_only"]),
            text(&r[what]["shadow_only"]),
            text(&r[what]["both"]),
        )?;
    }
    writeln!(
        out,
        "\n  {:<28} {:>13} {:>19} {:>19} {:>9} {:>13} {:>13}",
        "RULE",
        "EVENTS a/s",
        "FINDINGS a/s/both",
        "ALERTS a/s/both",
        "FAULTS",
        "P50 ms a/s",
        "P99 ms a/s"
    )?;
    for row in r["rules"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  {:<28} {:>13} {:>19} {:>19} {:>9} {:>13} {:>13}",
            text(&row["id"]),
            sides(row, "events"),
            split(&row["findings"]),
            split(&row["alerts"]),
            sides(row, "faults"),
            latency(row, "p50"),
            latency(row, "p99"),
        )?;
    }
    for (kind, title) in [
        (
            "active_only",
            "in the active version only (lost if promoted)",
        ),
        ("shadow_only", "in the shadow only (new if promoted)"),
        ("both", "in both"),
    ] {
        let alerts = r["alert_list"][kind]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if alerts.is_empty() {
            continue;
        }
        writeln!(out, "\n  alerts {title}:")?;
        for a in alerts {
            writeln!(
                out,
                "    {} [{}] {} — {} finding(s), {} to {}",
                text(&a["rule"]),
                text(&a["dedup_key"]),
                text(&a["title"]),
                text(&a["findings"]),
                text(&a["first_time"]),
                text(&a["last_time"]),
            )?;
        }
    }
    Ok(())
}
