//! Slow and idle clients on a real listener: an idle connection, one whose headers never end
//! and one whose body never ends are each closed (408 for the body) by the server's deadlines;
//! past the connection cap a connection is closed at once and counted, and once clients let
//! go the server answers again. Every wait is for something the server does (a close, an
//! answer), never a fixed sleep.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use yagura::server::ConnectionLimits;

use super::*;

/// A server on 127.0.0.1 with `limits`: its address, the admin token and a handle that
/// stops it.
async fn start(
    dir: &Path,
    limits: ConnectionLimits,
) -> (String, String, tokio::sync::oneshot::Sender<()>) {
    start_with(dir, |c| ServerConfig {
        connections: limits,
        ..c
    })
    .await
}

/// [`start`] with the config `edit` makes of the tests' config.
async fn start_with(
    dir: &Path,
    edit: impl FnOnce(ServerConfig) -> ServerConfig,
) -> (String, String, tokio::sync::oneshot::Sender<()>) {
    let (app, admin) = App::open(edit(config(dir))).expect("opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(yagura::server::serve(app, listener, async {
        let _ = stopped.await;
    }));
    (addr, admin.expect("a fresh store's admin token"), stop)
}

/// Everything the server sends until it closes the connection (the test's own bound is far
/// past any deadline here: reaching it means the server never closed).
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(120), stream.read_to_end(&mut out));
    match read.await {
        Ok(Ok(_)) => {}
        // closed with data of ours unread: a reset, which is a close too
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Err(e)) => panic!("the connection failed instead of closing: {e}"),
        Err(_) => panic!("the server kept the connection open"),
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_header_connections_are_closed() {
    let dir = tempfile::tempdir().expect("tmp");
    let (addr, _, _stop) = start(
        dir.path(),
        ConnectionLimits {
            header_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
            max_connections: 64,
        },
    )
    .await;

    // connects and says nothing
    let mut idle = TcpStream::connect(&addr).await.expect("connect");
    assert_eq!(
        until_closed(&mut idle).await,
        "",
        "closed without an answer"
    );

    // headers that never end
    let mut slow = TcpStream::connect(&addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    assert_eq!(until_closed(&mut slow).await, "");

    // a kept-alive connection is closed when the next request does not come
    let mut kept = TcpStream::connect(&addr).await.expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let answer = until_closed(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_ends_is_answered_408() {
    let dir = tempfile::tempdir().expect("tmp");
    let (addr, admin, _stop) = start(
        dir.path(),
        ConnectionLimits {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(1),
            max_connections: 64,
        },
    )
    .await;
    let mut body = TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\
         Content-Length: 1000\r\n\r\n{{\"name\":"
    );
    body.write_all(head.as_bytes()).await.expect("write");
    let answer = until_closed(&mut body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_a_connection_is_closed_at_once_and_counted() {
    let dir = tempfile::tempdir().expect("tmp");
    let (addr, admin, _stop) = start(
        dir.path(),
        ConnectionLimits {
            // long: the held connections stay for the whole test
            header_timeout: Duration::from_secs(600),
            body_timeout: Duration::from_secs(600),
            max_connections: 3,
        },
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(&addr).await.expect("connect"));
    }
    // the server takes connections in order: the three above hold every place
    let mut over = TcpStream::connect(&addr).await.expect("connect");
    assert_eq!(
        until_closed(&mut over).await,
        "",
        "refused without an answer"
    );

    // clients let go: the server answers again (each try is a new connection; the places
    // come back as the server notices the closes)
    drop(held);
    let client = reqwest::Client::new();
    let mut answered = false;
    for _ in 0..POLLS {
        if let Ok(r) = client.get(format!("http://{addr}/healthz")).send().await
            && r.status() == 200
        {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        answered,
        "the server answers once the held connections are gone"
    );
    let metrics = client
        .get(format!("http://{addr}/metrics"))
        .header("authorization", format!("Bearer {admin}"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    // the one over the cap, and any try above that came before the places were back
    let refused = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"yagura_http_connections_refused_total{listener="http"} "#))
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_default();
    assert!(refused >= 1.0, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_share_of_requests_in_flight_a_tenant_is_answered_429_unread() {
    let dir = tempfile::tempdir().expect("tmp");
    let (addr, admin, _stop) = start_with(dir.path(), |c| ServerConfig {
        ingest: yagura::server::IngestLimits {
            per_tenant: 2,
            decoders: 1,
        },
        // the held requests stay in flight for the whole test, however slow the machine
        connections: ConnectionLimits {
            body_timeout: Duration::from_secs(600),
            ..ConnectionLimits::default()
        },
        ..c
    })
    .await;
    // two requests whose bodies have not come: both are in flight
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        let head = format!(
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\
             Content-Length: 100000\r\n\r\n{{"
        );
        s.write_all(head.as_bytes()).await.expect("write");
        held.push(s);
    }
    let client = reqwest::Client::new();
    let metrics = || async {
        client
            .get(format!("http://{addr}/metrics"))
            .header("authorization", format!("Bearer {admin}"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    let in_flight = r#"yagura_ingest_requests_in_flight{tenant="default"} 2"#;
    let mut seen = false;
    for _ in 0..POLLS {
        if metrics().await.contains(in_flight) {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the two held requests are in flight");
    // the third is refused before its body is read: not even gzip, and still a 429
    let post = || {
        client
            .post(format!("http://{addr}/v1/events"))
            .header("authorization", format!("Bearer {admin}"))
            .body(vec![0x1f, 0x8b, 0, 1, 2, 3])
            .send()
    };
    let refused = post().await.expect("answers");
    assert_eq!(refused.status(), 429);
    let text = refused.text().await.expect("body");
    assert!(text.contains("requests in flight"), "{text}");
    let text = metrics().await;
    assert!(
        text.contains(
            r#"yagura_ingest_requests_refused_total{tenant="default",reason="in_flight"} 1"#
        ),
        "{text}"
    );
    // the held requests go away: the tenant's places come back, and the same body is read
    // (and refused for what it is)
    drop(held);
    let mut answered = None;
    for _ in 0..POLLS {
        let status = post().await.expect("answers").status();
        if status != 429 {
            answered = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        answered.map(|s| s.as_u16()),
        Some(422),
        "read once there is room (and broken gzip is not events: 422)"
    );
}
