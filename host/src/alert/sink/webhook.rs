//! The webhook sink: each alert is one HTTP POST (http or https through rustls, with the
//! bundled Mozilla roots and the sink's `ca_file`), retried with capped exponential backoff.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;

use super::{Line, SinkThread};
use crate::metrics;

pub(super) struct Webhook {
    pub(super) url: String,
    pub(super) tries: u32,
    pub(super) backoff: Duration,
    pub(super) max_backoff: Duration,
    /// has the timeout per post and the trusted roots
    pub(super) client: reqwest::Client,
}

/// An HTTP client (a webhook sink's, `yagura pack shadow`'s): rustls with the bundled roots and
/// the certificates of `ca_file`. Errors start with `whose` (like "sink `soar`") and name the
/// file.
pub(crate) fn client(
    whose: &str,
    timeout: Duration,
    ca_file: Option<&Path>,
) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().timeout(timeout);
    if let Some(path) = ca_file {
        let at = || format!("{whose}: the CA file {}", path.display());
        let pem = std::fs::read(path).with_context(|| format!("{}: cannot read it", at()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{}: not PEM certificates", at()))?;
        if certificates.is_empty() {
            anyhow::bail!("{}: holds no `-----BEGIN CERTIFICATE-----` block", at());
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
        // the certificates are parsed here: a block that is no certificate fails the build
        return builder
            .build()
            .with_context(|| format!("{}: not a usable CA certificate", at()));
    }
    builder
        .build()
        .with_context(|| format!("{whose}: cannot build its HTTP client"))
}

impl SinkThread {
    pub(super) fn post_all(&self, mut receiver: mpsc::Receiver<Line>, webhook: &Webhook) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(sink = %self.name, error = %e, "cannot start the webhook's runtime; its alerts are dropped");
                return self.fail_all(receiver);
            }
        };
        runtime.block_on(async {
            while let Some(line) = receiver.recv().await {
                if self.post(webhook, &line).await {
                    self.count(metrics::SINK_DELIVERED);
                } else {
                    self.count(metrics::SINK_FAILED);
                }
            }
        });
    }

    /// Posts one alert with retries; whether it was taken.
    async fn post(&self, webhook: &Webhook, line: &str) -> bool {
        let mut wait = webhook.backoff;
        for attempt in 1..=webhook.tries {
            let answer = webhook
                .client
                .post(&webhook.url)
                .header("content-type", "application/json")
                .body(line.to_owned())
                .send()
                .await;
            let problem = match answer {
                Ok(r) if r.status().is_success() => return true,
                Ok(r) => format!("answered {}", r.status()),
                // the chain: reqwest's own message is only "error sending request"
                Err(e) => format!("{:#}", anyhow::Error::new(e)),
            };
            if attempt == webhook.tries || self.closing.load(Ordering::SeqCst) {
                tracing::warn!(sink = %self.name, url = %webhook.url, attempts = attempt, problem = %problem, "webhook gave up on an alert");
                return false;
            }
            tracing::debug!(sink = %self.name, attempt, problem = %problem, "webhook will retry");
            self.count(metrics::SINK_RETRIES);
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(webhook.max_backoff);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_bad_ca_file_is_an_error_naming_the_sink_and_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let timeout = Duration::from_secs(1);
        let missing = dir.path().join("missing.pem");
        let e = client("sink `soar`", timeout, Some(&missing)).expect_err("missing");
        let text = format!("{e:#}");
        assert!(
            text.contains("sink `soar`") && text.contains(&missing.display().to_string()),
            "{text}"
        );
        assert!(text.contains("cannot read it"), "{text}");

        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "just text\n").expect("write");
        let e = client("sink `soar`", timeout, Some(&not_pem)).expect_err("no certificate");
        let text = format!("{e:#}");
        assert!(
            text.contains("sink `soar`")
                && text.contains(&not_pem.display().to_string())
                && text.contains("no `-----BEGIN CERTIFICATE-----` block"),
            "{text}"
        );

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let e = client("sink `soar`", timeout, Some(&garbage)).expect_err("not a certificate");
        let text = format!("{e:#}");
        assert!(
            text.contains("sink `soar`") && text.contains(&garbage.display().to_string()),
            "{text}"
        );

        client("sink `soar`", timeout, None).expect("no CA file: the bundled roots");
    }
}
