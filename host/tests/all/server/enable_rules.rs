//! `PUT /v1/rules/{id}/enabled`: a tenant switches one rule of its active pack off (its rule set
//! is rebuilt without it and swapped in; the other rule keeps running) and on again; the choice
//! is listed by `GET /v1/rules`, survives a restart, and no other tenant can make it.

use super::*;

/// A signed bundle `duo@1.0.0`: vertical-port-scan (threshold 20, with its cases) and
/// scan-detection, both subscribed to network events.
fn duo_bundle(dir: &Path, key: &SecretKey) -> Vec<u8> {
    let rule_dir = dir.join("src-duo");
    support::copy_scan_cases(&rule_dir);
    let manifest = format!(
        "[pack]\nname = \"duo\"\nversion = \"1.0.0\"\npublisher = \"ACME\"\n\
         description = \"two scan rules\"\nlicense = \"Apache-2.0\"\n\
         [requires]\nwit = \"^0.1\"\nhost = \">=0.1.0\"\n\
         [[rule]]\nid = \"vertical-port-scan\"\ncomponent = \"{}\"\ncases = \"cases.toml\"\n\
         [rule.config]\nthreshold = 20\n\
         [[rule]]\nid = \"scan-detection\"\ncomponent = \"{}\"\n",
        component("vertical-port-scan").display(),
        component("scan-detection").display()
    );
    let manifest_path = rule_dir.join("pack.toml");
    std::fs::write(&manifest_path, manifest).expect("manifest");
    let mut bundle = Bundle::build(&manifest_path).expect("builds");
    bundle.sign(key);
    bundle.to_bytes().expect("bytes")
}

/// Round `round`'s vertical scan: one new source probing 20 ports, an hour after the last
/// round (20 events).
fn scan(round: i64) -> String {
    let mut out = String::new();
    for port in 1..=20 {
        let time = 1_714_557_600_000_i64 + round * 3_600_000 + port * 10;
        out.push_str(&format!(
            r#"{{"time":{time},"class":"network","activity":"open","outcome":"failure","src":{{"ip":"10.1.{round}.5","port":40000}},"dst":{{"ip":"10.0.0.9","port":{port}}}}}"#
        ));
        out.push('\n');
    }
    out
}

/// `GET /v1/rules`, the rule `id`'s entry.
fn rule<'a>(rules: &'a Value, id: &str) -> &'a Value {
    rules["rules"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["id"] == id))
        .unwrap_or_else(|| panic!("`{id}` is not listed: {rules}"))
}

/// Polls `GET /v1/rules` until `scan-detection` has taken in `events` events; the listing.
async fn until_scan_detection_has(router: &Router, token: &str, events: u64) -> Value {
    let mut rules = Value::Null;
    for _ in 0..POLLS {
        let (status, body) = get(router, "/v1/rules", token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        rules = body;
        if rule(&rules, "scan-detection")["events_in"].as_u64() >= Some(events) {
            return rules;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("scan-detection never took in {events} events: {rules}");
}

async fn put_enabled(router: &Router, token: &str, uri: &str, body: &str) -> (StatusCode, Value) {
    call(router, Method::PUT, uri, Some(token), body.to_owned()).await
}

async fn scan_alerts(router: &Router, token: &str) -> usize {
    let (status, body) = get(router, "/v1/alerts?rule=vertical-port-scan", token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["alerts"].as_array().map_or(0, Vec::len)
}

const URI: &str = "/v1/rules/vertical-port-scan/enabled";

#[tokio::test]
async fn a_switched_off_rule_gets_no_events_while_the_others_run_and_runs_again_once_on() {
    let f = fixture();
    let token = tenant_token(&f, "acme", &["packs:write", "alerts:read", "events:write"]).await;
    let r = &f.router;
    let (status, _) = put_enabled(r, &token, URI, r#"{"enabled":false}"#).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no active pack holds it yet");
    let (status, body) = post(r, "/v1/packs", &token, duo_bundle(f.dir.path(), &f.key)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post(
        r,
        "/v1/packs/duo/activate",
        &token,
        r#"{"version":"1.0.0"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // round 0: both rules run, the scan is found
    let (status, _) = post(r, "/v1/events", &token, scan(0)).await;
    assert_eq!(status, StatusCode::OK);
    wait_for_alerts(r, &token, "rule=vertical-port-scan").await;
    let rules = until_scan_detection_has(r, &token, 20).await;
    assert_eq!(
        rule(&rules, "vertical-port-scan")["enabled"],
        true,
        "{rules}"
    );
    assert_eq!(
        rule(&rules, "vertical-port-scan")["events_in"],
        20,
        "{rules}"
    );
    assert_eq!(rule(&rules, "scan-detection")["enabled"], true, "{rules}");

    // switched off: listed as such, with its counters as they were
    let (status, body) = put_enabled(
        r,
        &token,
        URI,
        r#"{"enabled":false,"reason":"noisy on the scanner subnet"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["enabled"], &body["was_enabled"]),
        (&json!(false), &json!(true))
    );
    let (_, rules) = get(r, "/v1/rules", &token).await;
    let off = rule(&rules, "vertical-port-scan");
    assert_eq!(off["enabled"], false, "{rules}");
    assert_eq!(
        off["disabled_reason"], "noisy on the scanner subnet",
        "{rules}"
    );
    assert_eq!(off["events_in"], 20, "{rules}");
    assert_eq!(off["version"], "0.1.0", "{rules}");

    // round 1: scan-detection takes the events in, vertical-port-scan neither sees nor finds
    let (status, _) = post(r, "/v1/events", &token, scan(1)).await;
    assert_eq!(status, StatusCode::OK);
    let rules = until_scan_detection_has(r, &token, 40).await;
    let off = rule(&rules, "vertical-port-scan");
    assert_eq!(
        (&off["enabled"], &off["events_in"]),
        (&json!(false), &json!(20)),
        "{rules}"
    );
    assert_eq!(
        scan_alerts(r, &token).await,
        1,
        "no finding of the switched-off rule"
    );
    // its config can still be read and set (checked by init); it applies once it is on
    let (status, body) = get(r, "/v1/rules/vertical-port-scan/config", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        r,
        Method::PUT,
        "/v1/rules/vertical-port-scan/config",
        Some(&token),
        r#"{"config":{"threshold":"many"}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // switching it off again changes nothing but the answer
    let (status, body) = put_enabled(r, &token, URI, r#"{"enabled":false}"#).await;
    assert_eq!(
        (status, &body["was_enabled"]),
        (StatusCode::OK, &json!(false)),
        "{body}"
    );

    // on again: round 2 reaches it, and it finds the scan
    let (status, body) = put_enabled(r, &token, URI, r#"{"enabled":true,"reason":"tuned"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["enabled"], &body["was_enabled"]),
        (&json!(true), &json!(false))
    );
    let (status, _) = post(r, "/v1/events", &token, scan(2)).await;
    assert_eq!(status, StatusCode::OK);
    let rules = until_scan_detection_has(r, &token, 60).await;
    let on = rule(&rules, "vertical-port-scan");
    assert_eq!(on["enabled"], true, "{rules}");
    assert!(on.get("disabled_reason").is_none(), "{rules}");
    assert_eq!(on["events_in"], 40, "its counters continue: {rules}");
    for _ in 0..POLLS {
        if scan_alerts(r, &token).await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(scan_alerts(r, &token).await, 2, "round 2's scan is found");

    // the metric counts each switch
    let request = Request::get("/metrics")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let response = r.clone().oneshot(request).await.expect("infallible");
    let text = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains(r#"yagura_activations_total{tenant="acme",action="disable"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"yagura_activations_total{tenant="acme",action="enable"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_switched_off_rule_stays_off_across_a_restart() {
    let f = fixture();
    let token = tenant_token(&f, "acme", &["packs:write", "alerts:read", "events:write"]).await;
    let r = &f.router;
    let (status, _) = post(r, "/v1/packs", &token, duo_bundle(f.dir.path(), &f.key)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = post(
        r,
        "/v1/packs/duo/activate",
        &token,
        r#"{"version":"1.0.0"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = put_enabled(r, &token, URI, r#"{"enabled":false,"reason":"r"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let Fixture {
        dir, app, router, ..
    } = f;
    tokio::task::spawn_blocking(move || app.close())
        .await
        .expect("joins")
        .expect("closes");
    // the store is let go with the last handle on the server
    drop(router);

    let (app, admin) = App::open(config(dir.path())).expect("reopens");
    assert!(admin.is_none(), "the store has tokens");
    let router = app.router();
    let (_, rules) = get(&router, "/v1/rules", &token).await;
    let off = rule(&rules, "vertical-port-scan");
    assert_eq!(
        (&off["enabled"], &off["disabled_reason"]),
        (&json!(false), &json!("r")),
        "{rules}"
    );
    let (status, _) = post(&router, "/v1/events", &token, scan(0)).await;
    assert_eq!(status, StatusCode::OK);
    let rules = until_scan_detection_has(&router, &token, 20).await;
    assert_eq!(
        rule(&rules, "vertical-port-scan")["events_in"],
        0,
        "{rules}"
    );
    assert_eq!(scan_alerts(&router, &token).await, 0);
    let closing = app.clone();
    tokio::task::spawn_blocking(move || closing.close())
        .await
        .expect("joins")
        .expect("closes");
}

#[tokio::test]
async fn switching_a_rule_takes_packs_write_a_valid_body_and_the_tenants_own_rule() {
    let f = fixture();
    let all = ["packs:write", "alerts:read", "events:write"];
    let a = tenant_token(&f, "tenant-a", &all).await;
    let b = tenant_token(&f, "tenant-b", &all).await;
    let reader = tenant_token(&f, "tenant-b", &["alerts:read"]).await;
    let r = &f.router;
    let (status, _) = post(r, "/v1/packs", &b, duo_bundle(f.dir.path(), &f.key)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = post(r, "/v1/packs/duo/activate", &b, r#"{"version":"1.0.0"}"#).await;
    assert_eq!(status, StatusCode::OK);

    // A: B's rule is not A's (404), and B's tenant cannot be named (403)
    let (status, body) = put_enabled(r, &a, URI, r#"{"enabled":false}"#).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let uri_b = format!("{URI}?tenant=tenant-b");
    let (status, body) = put_enabled(r, &a, &uri_b, r#"{"enabled":false}"#).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // B without packs:write
    let (status, body) = put_enabled(r, &reader, URI, r#"{"enabled":false}"#).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // B: bad bodies, a rule its packs do not hold
    for bad in [
        "",
        "{}",
        r#"{"enabled":"no"}"#,
        r#"{"enabled":false,"why":"x"}"#,
        "null",
    ] {
        let (status, body) = put_enabled(r, &b, URI, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (status, body) = put_enabled(r, &b, "/v1/rules/nope/enabled", r#"{"enabled":false}"#).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // nothing of the above changed B's rules; the admin may act on B
    let (_, rules) = get(r, "/v1/rules", &b).await;
    assert_eq!(
        rule(&rules, "vertical-port-scan")["enabled"],
        true,
        "{rules}"
    );
    let (status, body) = put_enabled(r, &f.admin, &uri_b, r#"{"enabled":false}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, rules) = get(r, "/v1/rules", &b).await;
    assert_eq!(
        rule(&rules, "vertical-port-scan")["enabled"],
        false,
        "{rules}"
    );
    // A's listing is still empty
    let (_, rules) = get(r, "/v1/rules", &a).await;
    assert_eq!(rules["rules"], json!([]));
}
