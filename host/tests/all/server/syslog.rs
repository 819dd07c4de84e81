//! Syslog listeners on real loopback sockets: one listener per tenant, each feeding only its
//! own tenant's engine; RFC 6587 octet counting and newline-delimited frames on one TCP
//! connection; bad frames counted as rejected while the connection's later messages flow.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;

use super::*;

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().expect("addr")
}

/// One netfilter DROP of `src` probing `port` of 10.0.0.10, `port` seconds after 10:00.
fn drop_line(src: &str, port: u16) -> String {
    format!(
        "<4>1 2024-05-01T10:00:{:02}Z fw01 kernel - - - DROP IN=eth0 OUT= SRC={src} \
         DST=10.0.0.10 LEN=40 PROTO=TCP SPT=40001 DPT={port} WINDOW=1024 SYN",
        port % 60
    )
}

/// `message` octet-counted (RFC 6587 §3.4.1).
fn counted(message: &str) -> Vec<u8> {
    format!("{} {message}", message.len()).into_bytes()
}

/// The value of the line `series` (name and labels, exactly) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// An app with `listeners` (tenants created through the API before they start) and a signed
/// scan pack active for each tenant; the fixture, the bound listeners and each tenant's token.
async fn app_with_listeners(
    listeners: Vec<SyslogListener>,
) -> (Fixture, Vec<SyslogListener>, Vec<String>) {
    let f = fixture_with(|c| ServerConfig {
        syslog: listeners.clone(),
        ..c
    });
    let mut tokens = Vec::new();
    for l in &listeners {
        let token = tenant_token(&f, &l.tenant, &["packs:write", "alerts:read"]).await;
        let bundle = scan_bundle(f.dir.path(), Some(&f.key), "1.0.0");
        let (status, body) = post(&f.router, "/v1/packs", &token, bundle).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = post(
            &f.router,
            "/v1/packs/acme/activate",
            &token,
            r#"{"version":"1.0.0"}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        tokens.push(token);
    }
    let bound = f.app.start_syslog().await.expect("listeners start");
    (f, bound, tokens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_listener_feeds_only_its_own_tenant() {
    let listener = |tenant: &str| SyslogListener {
        tenant: tenant.into(),
        udp: Some(any()),
        tcp: Some(any()),
        missing_time: MissingTime::Receipt,
    };
    let (f, bound, tokens) = app_with_listeners(vec![listener("acme"), listener("globex")]).await;
    assert_eq!(
        bound.iter().map(|l| l.tenant.as_str()).collect::<Vec<_>>(),
        ["acme", "globex"]
    );
    let (acme, globex) = (&bound[0], &bound[1]);
    assert_ne!(acme.tcp, globex.tcp, "each listener has its own socket");

    // acme: a scan from .1 over TCP, octet-counted and newline-delimited in turn
    let mut stream = tokio::net::TcpStream::connect(acme.tcp.expect("tcp"))
        .await
        .expect("connect");
    for port in 1..=20 {
        let line = drop_line("198.51.100.1", port);
        let frame = if port % 2 == 0 {
            counted(&line)
        } else {
            format!("{line}\n").into_bytes()
        };
        stream.write_all(&frame).await.expect("write");
    }
    stream.shutdown().await.expect("close");
    // globex: a scan from .2 over UDP
    let socket = tokio::net::UdpSocket::bind(any())
        .await
        .expect("udp client");
    for port in 1..=20 {
        let line = drop_line("198.51.100.2", port);
        socket
            .send_to(line.as_bytes(), globex.udp.expect("udp"))
            .await
            .expect("send");
    }

    let accepted = |tenant: &str, source: &str| {
        format!("yagura_events_accepted_total{{tenant=\"{tenant}\",source=\"{source}\"}}")
    };
    let text = metrics_until(&f.router, &f.admin, |t| {
        sample(t, &accepted("acme", "syslog-tcp")) == Some(20.0)
            && sample(t, &accepted("globex", "syslog-udp")) == Some(20.0)
    })
    .await;
    assert_eq!(
        sample(&text, &accepted("acme", "syslog-tcp")),
        Some(20.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &accepted("globex", "syslog-udp")),
        Some(20.0),
        "{text}"
    );
    for (tenant, source) in [("acme", "syslog-udp"), ("globex", "syslog-tcp")] {
        assert_eq!(sample(&text, &accepted(tenant, source)), None, "{text}");
    }
    assert!(
        !text.contains("yagura_events_rejected_total{tenant=\"acme\""),
        "every frame parsed: {text}"
    );

    for (token, own, other) in [
        (&tokens[0], "198.51.100.1", "198.51.100.2"),
        (&tokens[1], "198.51.100.2", "198.51.100.1"),
    ] {
        let alerts = wait_for_alerts(&f.router, token, "rule=vertical-port-scan").await;
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let title = alerts[0]["title"].as_str().expect("title");
        assert!(title.contains(own), "{title}");
        assert!(!title.contains(other), "{title}");
        // the engine took in its own 20 events, none of the other tenant's (its counters are
        // published after the job whose finding made the alert)
        let mut rules = Value::Null;
        for _ in 0..POLLS {
            rules = get(&f.router, "/v1/rules", token).await.1;
            if rules["rules"][0]["events_in"].as_u64() >= Some(20) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(rules["rules"][0]["events_in"], 20, "{rules}");
    }
    f.app.begin_shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_reads_octet_counted_and_lf_frames_and_goes_on_past_bad_ones() {
    let (f, bound, _) = app_with_listeners(vec![SyslogListener {
        tenant: "default".into(),
        udp: None,
        tcp: Some(any()),
        missing_time: MissingTime::Receipt,
    }])
    .await;
    assert_eq!(bound[0].udp, None);
    let mut stream = tokio::net::TcpStream::connect(bound[0].tcp.expect("tcp"))
        .await
        .expect("connect");
    let src = "198.51.100.7";
    let mut bytes = counted(&drop_line(src, 1));
    bytes.extend(format!("{}\r\n", drop_line(src, 2)).into_bytes());
    // over 1 MiB announced: skipped whole, counted
    let oversize = (1 << 20) + 1;
    bytes.extend(format!("{oversize} ").into_bytes());
    bytes.extend(std::iter::repeat_n(b'x', oversize));
    bytes.extend(counted(&drop_line(src, 3)));
    // a length that cannot be one: skipped to the line end, counted
    bytes.extend(b"123456789012 not a frame\n");
    bytes.extend(format!("{}\n", drop_line(src, 4)).into_bytes());
    // a counted message with a line end inside, last, without a line end of its own
    bytes.extend(counted(&drop_line(src, 5).replacen(" DROP", "\nDROP", 1)));
    stream.write_all(&bytes).await.expect("write");
    stream.shutdown().await.expect("close");

    let accepted = "yagura_events_accepted_total{tenant=\"default\",source=\"syslog-tcp\"}";
    let rejected = "yagura_events_rejected_total{tenant=\"default\",source=\"syslog-tcp\"}";
    let text = metrics_until(&f.router, &f.admin, |t| sample(t, accepted) == Some(5.0)).await;
    assert_eq!(sample(&text, accepted), Some(5.0), "{text}");
    // the last message was delivered after every frame before it was read
    assert_eq!(sample(&text, rejected), Some(2.0), "{text}");
    f.app.begin_shutdown();
}

/// `logger --rfc5424=notime` sends `-` for the time: a listener stamps it with the time of
/// receipt unless its `missing_time` is `reject`. What a listener rejects is counted and
/// sampled, with the sender and the reason, for `GET /v1/syslog`, per tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clockless_message_is_stamped_or_rejected_and_rejections_are_sampled_for_the_api() {
    let (f, bound, tokens) = app_with_listeners(vec![
        SyslogListener {
            tenant: "acme".into(),
            udp: None,
            tcp: Some(any()),
            missing_time: MissingTime::Receipt,
        },
        SyslogListener {
            tenant: "globex".into(),
            udp: Some(any()),
            tcp: None,
            missing_time: MissingTime::Reject,
        },
    ])
    .await;
    let clockless = "<13>1 - ws01 tester - - - hello from a clockless sender";
    let bad = "<999>1 2024-05-01T10:00:00Z h a - - - x";
    let mut stream = tokio::net::TcpStream::connect(bound[0].tcp.expect("tcp"))
        .await
        .expect("connect");
    let tcp_peer = stream.local_addr().expect("peer").to_string();
    stream
        .write_all(format!("{clockless}\n{bad}\n").as_bytes())
        .await
        .expect("write");
    stream.shutdown().await.expect("close");
    let socket = tokio::net::UdpSocket::bind(any())
        .await
        .expect("udp client");
    let udp_peer = socket.local_addr().expect("peer").to_string();
    socket
        .send_to(clockless.as_bytes(), bound[1].udp.expect("udp"))
        .await
        .expect("send");

    let series = |what: &str, tenant: &str, source: &str| {
        format!("yagura_events_{what}_total{{tenant=\"{tenant}\",source=\"{source}\"}}")
    };
    let text = metrics_until(&f.router, &f.admin, |t| {
        sample(t, &series("rejected", "acme", "syslog-tcp")) == Some(1.0)
            && sample(t, &series("rejected", "globex", "syslog-udp")) == Some(1.0)
    })
    .await;
    assert_eq!(
        sample(&text, &series("accepted", "acme", "syslog-tcp")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &series("rejected", "acme", "syslog-tcp")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &series("accepted", "globex", "syslog-udp")),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &series("rejected", "globex", "syslog-udp")),
        Some(1.0),
        "{text}"
    );

    // each tenant sees its own listener, what it rejected and why
    let (status, acme) = get(&f.router, "/v1/syslog", &tokens[0]).await;
    assert_eq!(status, StatusCode::OK, "{acme}");
    assert_eq!(acme["tenant"], "acme");
    let listeners = acme["listeners"].as_array().expect("listeners");
    assert_eq!(listeners.len(), 1, "{acme}");
    let l = &listeners[0];
    assert_eq!(l["tcp"], bound[0].tcp.expect("tcp").to_string());
    assert!(l.get("udp").is_none(), "{l}");
    assert_eq!(l["missing_time"], "receipt");
    assert_eq!(l["rejected"], 1);
    let s = &l["samples"][0];
    assert_eq!(s["transport"], "tcp");
    assert_eq!(s["peer"], tcp_peer);
    assert!(
        s["error"].as_str().expect("error").contains("PRI: <999>"),
        "{s}"
    );
    assert_eq!(s["message"], bad);

    let (_, globex) = get(&f.router, "/v1/syslog", &tokens[1]).await;
    let l = &globex["listeners"][0];
    assert_eq!(
        globex["listeners"].as_array().map(Vec::len),
        Some(1),
        "{globex}"
    );
    assert_eq!(l["missing_time"], "reject");
    let s = &l["samples"][0];
    assert_eq!(
        (&s["transport"], &s["peer"]),
        (&json!("udp"), &json!(udp_peer))
    );
    assert!(
        s["error"]
            .as_str()
            .expect("error")
            .contains("TIMESTAMP: `-`"),
        "{s}"
    );
    assert_eq!(s["message"], clockless);

    // a tenant's token cannot read another tenant's listeners
    let (status, _) = get(&f.router, "/v1/syslog?tenant=globex", &tokens[0]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    f.app.begin_shutdown();
}

#[tokio::test]
async fn a_listener_for_a_tenant_that_does_not_exist_does_not_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let (app, _) = App::open(ServerConfig {
        syslog: vec![
            SyslogListener {
                tenant: "default".into(),
                udp: Some(any()),
                tcp: None,
                missing_time: MissingTime::Receipt,
            },
            SyslogListener {
                tenant: "nobody".into(),
                udp: None,
                tcp: Some(any()),
                missing_time: MissingTime::Receipt,
            },
        ],
        ..config(dir.path())
    })
    .expect("opens");
    let e = app.start_syslog().await.expect_err("unknown tenant");
    let text = format!("{e:#}");
    assert!(
        text.contains("syslog listener #2 (tenant `nobody`)") && text.contains("does not exist"),
        "{text}"
    );
}

/// The OTRF Empire PsExec capture (real Windows events as NXLog writes them, JSON) sent over
/// syslog TCP the way NXLog's `om_tcp` with `to_syslog_ietf()` and octet counting sends it: each
/// event's JSON is the message of an RFC 5424 line. The core pack, active for the listener's
/// tenant, reports the lateral movement to WORKSTATION6, read back through `/v1/alerts`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_events_forwarded_as_json_over_syslog_reach_the_core_pack() {
    let f = fixture_with(|c| ServerConfig {
        syslog: vec![SyslogListener {
            tenant: "default".into(),
            udp: None,
            tcp: Some(any()),
            missing_time: MissingTime::Receipt,
        }],
        ..c
    });
    let (app, router, admin) = (&f.app, &f.router, &f.admin);
    let mut bundle = Bundle::build(&root().join("rules/pack.toml")).expect("the core pack builds");
    bundle.sign(&f.key);
    let (status, body) = post(
        router,
        "/v1/packs",
        admin,
        bundle.to_bytes().expect("bytes"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post(
        router,
        "/v1/packs/yagura-core/activate",
        admin,
        br#"{"version":"^0.1","reason":"syslog e2e"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bound = app.start_syslog().await.expect("listeners");
    let tcp = bound[0].tcp.expect("tcp");

    let gz =
        std::fs::read(root().join("tests/data/windows/otrf_empire_psexec_lines_1150-1449.json.gz"))
            .expect("capture");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut text)
        .expect("gunzip");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut frames = Vec::new();
    for line in &lines {
        let message = format!("<14>1 2020-09-21T12:00:00Z collector nxlog - - - {line}");
        frames.extend(counted(&message));
    }
    let mut stream = tokio::net::TcpStream::connect(tcp)
        .await
        .expect("tcp client");
    stream.write_all(&frames).await.expect("write");
    stream.shutdown().await.expect("shutdown");

    let metrics = metrics_until(router, admin, |m| {
        sample(
            m,
            "yagura_events_accepted_total{tenant=\"default\",source=\"syslog-tcp\"}",
        ) == Some(lines.len() as f64)
    })
    .await;
    assert_eq!(
        sample(
            &metrics,
            "yagura_events_accepted_total{tenant=\"default\",source=\"syslog-tcp\"}"
        ),
        Some(lines.len() as f64),
        "every forwarded event is accepted: {metrics}"
    );
    let mut list = Vec::new();
    for _ in 0..POLLS {
        let (status, body) = get(
            router,
            "/v1/alerts?rule=lateral-movement&host=WORKSTATION6",
            admin,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        list = body["alerts"].as_array().cloned().unwrap_or_default();
        if !list.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!list.is_empty(), "a lateral-movement alert on WORKSTATION6");
    let finding = list[0]["finding"].to_string();
    assert!(finding.contains("WORKSTATION6"), "{finding}");
}
