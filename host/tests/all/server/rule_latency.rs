//! `yagura_rule_eval_seconds`: the histogram of each call into a rule in `/metrics`, checked
//! against the rule's own counters in `GET /v1/rules`.

use super::*;

/// `/metrics` as the admin sees it.
async fn metrics_text(router: &Router, token: &str) -> String {
    let (status, body) = get(router, "/metrics", token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_str()
        .unwrap_or_else(|| panic!("/metrics is not text: {body}"))
        .to_owned()
}

/// The value of the line `series` (name and labels, exactly) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        Some(
            value
                .parse()
                .unwrap_or_else(|e| panic!("`{line}`: not a number ({e})")),
        )
    })
}

#[tokio::test]
async fn each_call_into_a_rule_is_counted_in_its_latency_histogram() {
    let f = fixture();
    let r = &f.router;
    let (status, body) = post(
        r,
        "/v1/packs",
        &f.admin,
        scan_bundle(f.dir.path(), Some(&f.key), "1.0.0"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post(
        r,
        "/v1/packs/acme/activate",
        &f.admin,
        r#"{"version":"1.0.0"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let scan = std::fs::read(root().join("rules/vertical-port-scan/cases/30-ports.ndjson"))
        .expect("events");
    let (status, body) = post(r, "/v1/events", &f.admin, scan).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // the alert is stored once the quiet engine evaluated the batch
    wait_for_alerts(r, &f.admin, "rule=vertical-port-scan").await;

    let labels = r#"tenant="default",rule="vertical-port-scan""#;
    let count_series = format!("yagura_rule_eval_seconds_count{{{labels}}}");
    // the rules' counters and the metrics are published together after each job: poll until
    // a listing and the metrics between two equal listings agree
    let (mut text, mut rule) = (String::new(), Value::Null);
    for _ in 0..POLLS {
        let (_, before) = get(r, "/v1/rules", &f.admin).await;
        text = metrics_text(r, &f.admin).await;
        let (_, after) = get(r, "/v1/rules", &f.admin).await;
        rule = after["rules"][0].clone();
        let calls = rule["calls"].as_u64();
        // (the alert is stored before the counters of the job that made it are published)
        if calls >= Some(1)
            && before["rules"][0]["calls"].as_u64() == calls
            && calls.map(|c| c as f64) == sample(&text, &count_series)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rule["id"], "vertical-port-scan", "{rule}");
    let calls = rule["calls"].as_u64().expect("calls") as f64;
    assert!(calls >= 1.0, "the rule was called: {rule}");
    assert_eq!(
        sample(&text, &count_series),
        Some(calls),
        "_count is the calls of GET /v1/rules ({rule}):\n{text}"
    );
    assert!(
        text.contains("# TYPE yagura_rule_eval_seconds histogram"),
        "{text}"
    );

    let les = [
        "0.00001", "0.00005", "0.0001", "0.0005", "0.001", "0.005", "0.01", "0.05", "0.1", "0.5",
        "1", "+Inf",
    ];
    let buckets: Vec<f64> = les
        .iter()
        .map(|le| {
            let series = format!("yagura_rule_eval_seconds_bucket{{{labels},le=\"{le}\"}}");
            sample(&text, &series).unwrap_or_else(|| panic!("no `{series}` in:\n{text}"))
        })
        .collect();
    assert!(
        buckets.windows(2).all(|w| w[0] <= w[1]),
        "buckets are cumulative: {buckets:?}"
    );
    assert_eq!(buckets[11], calls, "+Inf holds every call");
    let bucket_lines = text
        .lines()
        .filter(|l| l.starts_with(&format!("yagura_rule_eval_seconds_bucket{{{labels},")))
        .count();
    assert_eq!(bucket_lines, les.len(), "one line per bucket:\n{text}");

    // _sum is the same wall time as busy_ms, in seconds
    let sum = sample(&text, &format!("yagura_rule_eval_seconds_sum{{{labels}}}"))
        .unwrap_or_else(|| panic!("no _sum in:\n{text}"));
    let busy_ms = rule["busy_ms"].as_f64().expect("busy_ms");
    assert!(sum > 0.0, "{sum}");
    assert!(
        (sum * 1e3 - busy_ms).abs() <= 1e-6 * busy_ms.max(1.0),
        "_sum {sum} s vs busy_ms {busy_ms}"
    );
    // the API's listing does not carry the histogram
    assert!(rule.get("latency").is_none(), "{rule}");
}
