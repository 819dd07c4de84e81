//! The webhook sink over https, against a real TLS listener on 127.0.0.1 whose certificate a
//! CA made at test time signed: with that CA as the sink's `ca_file` the alerts arrive;
//! without it the handshake fails, the alerts are counted as failed and ingest goes on; a
//! missing CA file stops the start with an error naming the sink and the file.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use yagura::server::{SinkConfig, SinkKind};

use super::sinks::{metric, metrics, scans, with_sinks};
use super::*;

/// A test CA's certificate (PEM) and the TLS config of a server it signed a certificate for
/// (`localhost` and 127.0.0.1).
fn pki() -> (String, rustls::ServerConfig) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Yagura test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("CA key"))
        .expect("CA certificate");
    let key = KeyPair::generate().expect("server key");
    let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server params")
        .signed_by(&key, &ca)
        .expect("server certificate");
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![server.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server TLS config");
    (ca.pem(), config)
}

/// A TLS listener for `axum::serve`: each connection's handshake is done in `accept`; one
/// that fails is counted and skipped.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    failed_handshakes: Arc<AtomicUsize>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            match self.acceptor.accept(tcp).await {
                Ok(tls) => return (tls, addr),
                Err(_) => {
                    self.failed_handshakes.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An https webhook receiver: its URL, the JSON bodies it took and its failed handshakes.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    failed_handshakes: Arc<AtomicUsize>,
}

async fn https_receiver(tls: rustls::ServerConfig) -> Receiver {
    async fn hook(State(bodies): State<Arc<Mutex<Vec<Value>>>>, body: String) -> StatusCode {
        let body = serde_json::from_str(&body).expect("a JSON body");
        bodies.lock().expect("lock").push(body);
        StatusCode::NO_CONTENT
    }
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let failed_handshakes = Arc::new(AtomicUsize::new(0));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
        failed_handshakes: failed_handshakes.clone(),
    };
    let router = Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(bodies.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Receiver {
        url: format!("https://{addr}/hook"),
        bodies,
        failed_handshakes,
    }
}

fn https_webhook(url: String, ca_file: Option<PathBuf>) -> SinkConfig {
    SinkConfig {
        name: "soar".into(),
        queue: 100,
        tenants: None,
        kind: SinkKind::Webhook {
            url,
            tries: 2,
            backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            timeout: Duration::from_secs(60),
            ca_file,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_sink_posts_over_https_to_a_server_its_ca_file_trusts() {
    let (ca_pem, tls) = pki();
    let receiver = https_receiver(tls).await;
    let dir = tempfile::tempdir().expect("tmp");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("write the CA");
    let sink = https_webhook(receiver.url.clone(), Some(ca_file));
    let (_app, router, admin) = with_sinks(dir.path(), vec![sink]).await;
    let (status, body) = post(&router, "/v1/events", &admin, scans(2)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for _ in 0..POLLS {
        if receiver.bodies.lock().expect("lock").len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    {
        let bodies = receiver.bodies.lock().expect("lock");
        assert_eq!(bodies.len(), 2, "both alerts arrive over https: {bodies:?}");
        for body in bodies.iter() {
            assert_eq!(body["change"], "new");
            assert_eq!(body["rule_id"], "vertical-port-scan");
            assert_eq!(body["tenant"], "default");
            assert_eq!(body["finding"]["class_uid"], 2004);
        }
    }
    assert_eq!(receiver.failed_handshakes.load(Ordering::SeqCst), 0);
    // the sink counts a delivery once the receiver's answer is back
    let text = metrics_until(&router, &admin, |t| {
        metric(t, "yagura_sink_delivered_total{sink=\"soar\"}") == Some(2.0)
    })
    .await;
    assert_eq!(
        metric(&text, "yagura_sink_delivered_total{sink=\"soar\"}"),
        Some(2.0),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_ca_file_the_webhook_fails_the_tls_handshake_and_ingest_goes_on() {
    let (_, tls) = pki();
    let receiver = https_receiver(tls).await;
    let dir = tempfile::tempdir().expect("tmp");
    // only the bundled public roots: the test CA is unknown
    let sink = https_webhook(receiver.url.clone(), None);
    let (_app, router, admin) = with_sinks(dir.path(), vec![sink]).await;
    // a guard against an ingest that waits on the sink (the handshake fails at once)
    let answer = tokio::time::timeout(
        Duration::from_secs(300),
        post(&router, "/v1/events", &admin, scans(2)),
    )
    .await
    .expect("ingest answers while the webhook fails");
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);

    let failed = "yagura_sink_failed_total{sink=\"soar\"}";
    let mut text = String::new();
    for _ in 0..POLLS {
        text = metrics(&router, &admin).await;
        if metric(&text, failed) == Some(2.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        metric(&text, failed),
        Some(2.0),
        "both alerts given up: {text}"
    );
    assert_eq!(
        metric(&text, "yagura_sink_retries_total{sink=\"soar\"}"),
        Some(2.0),
        "each retried once (tries = 2): {text}"
    );
    assert_eq!(
        metric(&text, "yagura_sink_delivered_total{sink=\"soar\"}").unwrap_or(0.0),
        0.0,
        "{text}"
    );
    assert!(receiver.bodies.lock().expect("lock").is_empty());
    assert!(
        receiver.failed_handshakes.load(Ordering::SeqCst) >= 1,
        "the client refused the server's certificate in the handshake"
    );
    // the alerts are stored all the same
    let (status, body) = get(&router, "/v1/alerts?limit=100", &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["alerts"].as_array().map(Vec::len), Some(2), "{body}");
}

#[test]
fn a_missing_ca_file_stops_the_start_naming_the_sink_and_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca_file = dir.path().join("no-such-ca.pem");
    let sink = https_webhook("https://127.0.0.1:9/hook".into(), Some(ca_file.clone()));
    let e = App::open(ServerConfig {
        sinks: vec![sink],
        ..config(dir.path())
    })
    .expect_err("the server does not start");
    let text = format!("{e:#}");
    assert!(
        text.contains("sink `soar`") && text.contains(&ca_file.display().to_string()),
        "{text}"
    );
}
