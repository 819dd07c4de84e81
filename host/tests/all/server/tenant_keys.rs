//! Publisher keys per tenant: a key a tenant trusts gates that tenant's uploads and
//! activations only; the store-wide keys (admin) apply to every tenant.

use super::*;

async fn trust(f: &Fixture, token: &str, query: &str, key: &SecretKey) -> (StatusCode, Value) {
    post(
        &f.router,
        &format!("/v1/keys{query}"),
        token,
        json!({ "public_key": key.public().to_text() }).to_string(),
    )
    .await
}

#[tokio::test]
async fn a_key_trusted_by_tenant_a_does_not_let_tenant_b_upload_a_pack_signed_with_it() {
    let f = fixture();
    let a = tenant_token(&f, "tenant-a", &["packs:write"]).await;
    let b = tenant_token(&f, "tenant-b", &["packs:write"]).await;
    let publisher = SecretKey::generate().expect("key");
    let id = publisher.public().id();
    let bundle = scan_bundle(f.dir.path(), Some(&publisher), "3.0.0");

    // A's packs:write token trusts the key for A
    let (status, body) = trust(&f, &a, "", &publisher).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["id"].as_str(), body["tenant"].as_str()),
        (Some(id.as_str()), Some("tenant-a"))
    );
    // B cannot upload it, A can (the same bytes after)
    let (status, body) = post(&f.router, "/v1/packs", &b, bundle.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = post(&f.router, "/v1/packs", &a, bundle.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post(&f.router, "/v1/packs", &b, bundle.clone()).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "stored by A, still refused to B: {body}"
    );

    // each tenant lists the store-wide keys and its own
    let (status, list) = get(&f.router, "/v1/keys", &a).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["id"] == id && k["tenant"] == "tenant-a"),
        "{list}"
    );
    let (_, list) = get(&f.router, "/v1/keys", &b).await;
    assert!(
        !list.to_string().contains(&id),
        "B does not see A's key: {list}"
    );
    let (_, list) = get(&f.router, "/v1/keys", &f.admin).await;
    assert!(
        !list.to_string().contains(&id),
        "not a store-wide key: {list}"
    );
    let (_, list) = get(&f.router, "/v1/keys?tenant=tenant-a", &f.admin).await;
    assert!(
        list.to_string().contains(&id),
        "the admin sees A's keys by naming A: {list}"
    );
    // B can neither remove A's key nor name A
    let (status, _) = delete(&f.router, &format!("/v1/keys/{id}"), &b).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = delete(&f.router, &format!("/v1/keys/{id}?tenant=tenant-a"), &b).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // an admin may trust a key for B by naming it; then B may upload
    let (status, body) = trust(&f, &f.admin, "?tenant=tenant-b", &publisher).await;
    assert_eq!(
        (status, body["tenant"].as_str()),
        (StatusCode::CREATED, Some("tenant-b")),
        "{body}"
    );
    let (status, body) = post(&f.router, "/v1/packs", &b, bundle).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // once A stops trusting it, A cannot activate the pack it holds
    let (status, _) = delete(&f.router, &format!("/v1/keys/{id}"), &a).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = post(
        &f.router,
        "/v1/packs/acme/activate",
        &a,
        r#"{"version":"3.0.0"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = post(
        &f.router,
        "/v1/packs/acme/activate",
        &b,
        r#"{"version":"3.0.0"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "B still trusts it: {body}");
}
