//! Packs through a real OCI registry: Debian's `docker-registry` (CNCF distribution 2.8),
//! started by each test on a loopback port with a folder of its own, without auth or with
//! htpasswd basic auth. Everything goes through the `yagura` binary, as a user types it.
//!
//! Needs `docker-registry` on PATH (or `$YAGURA_TEST_REGISTRY`): `cargo xtask test` installs
//! it. Needs the `vertical-port-scan` component, as `store` does.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use base64::Engine as _;

use crate::store::bundle;
use crate::support::POLLS;
use yagura::pack::SecretKey;

/// A registry process on loopback, killed when dropped.
pub(crate) struct Registry {
    child: Child,
    /// its storage folder
    data: PathBuf,
    /// `127.0.0.1:PORT`
    pub(crate) host: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Starts one in `dir`; with `user`, only that user (password `password`) may use it.
    pub(crate) fn start(dir: &Path, user: Option<(&str, &str)>) -> Registry {
        let program = std::env::var_os("YAGURA_TEST_REGISTRY").unwrap_or("docker-registry".into());
        let data = dir.join("registry");
        let mut auth = String::new();
        if let Some((user, password)) = user {
            let hash = bcrypt::hash(password, 4).expect("bcrypt");
            let htpasswd = dir.join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).expect("htpasswd");
            auth = format!(
                "auth:\n  htpasswd:\n    realm: yagura-tests\n    path: {}\n",
                htpasswd.display()
            );
        }
        // a port the kernel just gave out; another process taking it before the registry binds
        // it makes the registry exit, and the next try takes another one
        for _ in 0..5 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let config = dir.join("registry.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    \
                     rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: \
                     127.0.0.1:{port}\n{auth}",
                    data.display()
                ),
            )
            .expect("registry config");
            let mut child = match Command::new(&program)
                .arg("serve")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(child) => child,
                Err(e) => panic!(
                    "cannot start {} ({e}): install Debian's docker-registry (`cargo xtask \
                     test` does) or set YAGURA_TEST_REGISTRY",
                    program.to_string_lossy()
                ),
            };
            for _ in 0..POLLS {
                if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                    return Registry {
                        child,
                        data,
                        host: format!("127.0.0.1:{port}"),
                    };
                }
                if child.try_wait().expect("registry status").is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("the registry did not start (five ports tried)");
    }

    pub(crate) fn repo(&self, name: &str) -> String {
        format!("oci://{}/{name}", self.host)
    }

    /// The file holding blob `digest` (`sha256:…`) in the registry's storage.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.data
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    store: String,
    key: SecretKey,
    public: String,
    /// an empty Docker config folder, so no developer's credentials leak in
    docker: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().to_path_buf();
    let key = SecretKey::generate().expect("key");
    let public = path.join("acme.pub");
    std::fs::write(&public, key.public().to_text()).expect("pub");
    let docker = path.join("docker");
    std::fs::create_dir_all(&docker).expect("docker config dir");
    Fixture {
        store: path.join("store").to_str().expect("utf-8").to_owned(),
        public: public.to_str().expect("utf-8").to_owned(),
        dir: path,
        _dir: dir,
        key,
        docker,
    }
}

impl Fixture {
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_yagura"));
        cmd.args(args)
            .env("USER", "tester")
            .env("DOCKER_CONFIG", &self.docker)
            .env_remove("YAGURA_REGISTRY_USERNAME")
            .env_remove("YAGURA_REGISTRY_PASSWORD")
            .env_remove("YAGURA_CRASH_AT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("yagura runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out, text)
    }

    fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let (out, text) = self.run(args, env);
        assert!(out.status.success(), "yagura {args:?} failed:\n{text}");
        text
    }

    fn refused(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let (out, text) = self.run(args, env);
        assert_eq!(
            out.status.code(),
            Some(1),
            "yagura {args:?} is refused:\n{text}"
        );
        text
    }

    /// `pack pull REFERENCE` with the fixture's key trusted, refused: its output, once the
    /// store is shown to hold nothing.
    fn pull_refused(&self, reference: &str) -> String {
        let args = [
            "pack",
            "pull",
            reference,
            "--trust",
            &self.public,
            "--store",
            &self.store,
        ];
        let e = self.refused(&args, &[]);
        let list = self.ok(&["pack", "list", "--store", &self.store], &[]);
        assert!(list.contains("no packs"), "{list}");
        e
    }

    /// A signed bundle of `version`, its manifest edited by `edit`, in a folder of its own.
    fn bundle(&self, folder: &str, version: &str, edit: impl Fn(String) -> String) -> String {
        bundle(&self.dir.join(folder), &self.key, version, edit)
            .to_str()
            .expect("utf-8")
            .to_owned()
    }
}

/// The `sha256:…` a push printed.
fn pushed_digest(out: &str) -> String {
    let at = out.find("(sha256:").expect("a digest in the push's output") + 1;
    out[at..at + 71].to_owned()
}

#[test]
fn push_then_pull_gives_the_same_bytes_verified_and_pinned_to_the_digest() {
    let f = fixture();
    let registry = Registry::start(&f.dir, None);
    let repo = registry.repo("acme/scans");
    let v1 = f.bundle("a", "1.0.0", |m| m);

    // the tag is the version
    let out = f.ok(&["pack", "push", &v1, &repo], &[]);
    assert!(
        out.contains(&format!("pushed acme@1.0.0 → {repo}:1.0.0")),
        "{out}"
    );
    let digest = pushed_digest(&out);
    // the same bytes again: the same manifest, nothing changes
    let again = f.ok(&["pack", "push", &v1, &repo], &[]);
    assert!(
        again.contains("already there") && again.contains(&digest),
        "{again}"
    );
    assert_eq!(f.ok(&["pack", "versions", &repo], &[]), "1.0.0\n");

    // pulled: the same bytes, checked like an import (the key is not trusted yet)
    let refused = f.refused(
        &[
            "pack",
            "pull",
            &format!("{repo}:1.0.0"),
            "--store",
            &f.store,
        ],
        &[],
    );
    assert!(refused.contains("not trusted here"), "{refused}");
    let copy = f.dir.join("pulled.ypack");
    let out = f.ok(
        &[
            "pack",
            "pull",
            &format!("{repo}:1.0.0"),
            "--trust",
            &f.public,
            "--store",
            &f.store,
            "--out",
            copy.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(
        out.contains(&format!("pulled {repo}:1.0.0 ({digest})"))
            && out.contains("cases: 6 passed, 0 failed")
            && out.contains("imported acme@1.0.0"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&copy).expect("pulled bundle"),
        std::fs::read(&v1).expect("pushed bundle"),
        "the registry gives back the bytes pushed"
    );
    let out = f.ok(
        &[
            "pack",
            "verify",
            copy.to_str().expect("utf-8"),
            "--trust",
            &f.public,
        ],
        &[],
    );
    assert!(out.contains("verified"), "{out}");

    // the store keeps where it came from; the history says which content went live
    let list = f.ok(&["pack", "list", "--store", &f.store], &[]);
    assert!(list.contains(&format!("from {repo}@{digest}")), "{list}");
    f.ok(&["key", "trust", &f.public, "--store", &f.store], &[]);
    f.ok(
        &["pack", "activate", "acme", "1.0.0", "--store", &f.store],
        &[],
    );
    let history = f.ok(&["pack", "history", "acme", "--store", &f.store], &[]);
    assert!(
        history.contains(&format!("none → 1.0.0 ({digest})")),
        "{history}"
    );

    // by digest, and without a tag (the highest version): the same content, already stored
    let by_digest = f.ok(
        &[
            "pack",
            "pull",
            &format!("{repo}@{digest}"),
            "--store",
            &f.store,
        ],
        &[],
    );
    assert!(
        by_digest.contains("already in the store, with the same content"),
        "{by_digest}"
    );
    let v2 = f.bundle("b", "1.2.0", |m| m);
    f.ok(&["pack", "push", &v2, &repo], &[]);
    let latest = f.ok(&["pack", "pull", &repo, "--store", &f.store], &[]);
    assert!(
        latest.contains(&format!("pulled {repo}:1.2.0")) && latest.contains("imported acme@1.2.0"),
        "{latest}"
    );

    // a tag that is not there, a repository that does not exist, a registry that is down
    let e = f.refused(
        &[
            "pack",
            "pull",
            &format!("{repo}:9.9.9"),
            "--store",
            &f.store,
        ],
        &[],
    );
    assert!(e.contains("no such tag or digest"), "{e}");
    let empty = f.run(&["pack", "versions", &registry.repo("acme/none")], &[]);
    assert!(
        empty.0.status.success() && empty.0.stdout.is_empty(),
        "{}",
        empty.1
    );
    let host = registry.host.clone();
    drop(registry);
    let e = f.refused(
        &["pack", "versions", &format!("oci://{host}/acme/scans")],
        &[],
    );
    assert!(e.contains(&format!("cannot reach {host}")), "{e}");
}

#[test]
fn a_tampered_layer_is_refused_and_nothing_is_imported() {
    let f = fixture();
    let registry = Registry::start(&f.dir, None);
    let repo = registry.repo("acme/scans");
    let v1 = f.bundle("a", "1.0.0", |m| m);
    f.ok(&["pack", "push", &v1, &repo], &[]);

    // change one byte of the pack layer where the registry keeps it
    let bytes = std::fs::read(&v1).expect("bundle");
    let layer = format!("sha256:{}", yagura::pack::bundle::sha256_hex(&bytes));
    let file = registry.blob_file(&layer);
    let mut stored = std::fs::read(&file).expect("the registry holds the layer");
    assert_eq!(stored, bytes);
    let last = stored.len() - 600;
    stored[last] ^= 0x20;
    std::fs::write(&file, &stored).expect("tamper");

    let e = f.pull_refused(&format!("{repo}:1.0.0"));
    assert!(e.contains("changed after it was pushed"), "{e}");
}

#[test]
fn a_layer_that_names_other_addresses_is_refused() {
    use oci_client::client::{ClientConfig, ClientProtocol};
    use oci_client::manifest::OCI_IMAGE_MEDIA_TYPE;
    use yagura::pack::oci::{ARTIFACT_TYPE, CONFIG_TYPE, LAYER_TYPE};

    let f = fixture();
    let registry = Registry::start(&f.dir, None);
    let bytes = std::fs::read(f.bundle("a", "1.0.0", |m| m)).expect("bundle");
    let digest_of = |b: &[u8]| format!("sha256:{}", yagura::pack::bundle::sha256_hex(b));
    let config = b"{}".to_vec();
    // a pack's manifest whose layer also names an address elsewhere: the client would fetch
    // it from there if the registry did not have it
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_MEDIA_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": { "mediaType": CONFIG_TYPE, "digest": digest_of(&config), "size": 2 },
        "layers": [{
            "mediaType": LAYER_TYPE, "digest": digest_of(&bytes), "size": bytes.len(),
            "urls": ["http://127.0.0.1:9/elsewhere"],
        }],
    });
    let client = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    });
    let reference = oci_client::Reference::with_tag(
        registry.host.clone(),
        "acme/scans".to_owned(),
        "1.0.0".to_owned(),
    );
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async {
            client
                .push_blob(&reference, &bytes, &digest_of(&bytes))
                .await?;
            client
                .push_blob(&reference, &config, &digest_of(&config))
                .await?;
            client
                .push_manifest_raw(
                    &reference,
                    serde_json::to_vec(&manifest).expect("json"),
                    OCI_IMAGE_MEDIA_TYPE.parse().expect("a header value"),
                )
                .await
        })
        .expect("pushed by hand");

    let repo = registry.repo("acme/scans");
    let e = f.pull_refused(&format!("{repo}:1.0.0"));
    assert!(e.contains("names other addresses (`urls`)"), "{e}");
}

#[test]
fn a_version_never_changes_in_the_registry_nor_in_the_store() {
    let f = fixture();
    let registry = Registry::start(&f.dir, None);
    let repo = registry.repo("acme/scans");
    let v1 = f.bundle("a", "1.0.0", |m| m);
    let other = f.bundle("b", "1.0.0", |m| {
        m.replace("threshold = 20", "threshold = 25")
    });
    let first = pushed_digest(&f.ok(&["pack", "push", &v1, &repo], &[]));

    // the version tag keeps its content
    let e = f.refused(&["pack", "push", &other, &repo], &[]);
    assert!(
        e.contains(&format!(
            "{repo}:1.0.0 already holds other content ({first}"
        )) && e.contains("with a higher version"),
        "{e}"
    );
    // a tag that is no version (a channel) may move; versions lists only versions
    f.ok(&["pack", "push", &v1, &format!("{repo}:stable")], &[]);
    f.ok(&["pack", "push", &other, &format!("{repo}:stable")], &[]);
    let v10 = f.bundle("c", "1.10.0", |m| m);
    let v2 = f.bundle("d", "1.2.0", |m| m);
    f.ok(&["pack", "push", &v10, &repo], &[]);
    f.ok(&["pack", "push", &v2, &repo], &[]);
    assert_eq!(
        f.ok(&["pack", "versions", &repo], &[]),
        "1.0.0\n1.2.0\n1.10.0\n"
    );

    // the store has 1.0.0 from one repository; another's other 1.0.0 is a conflict
    let trust = ["--trust", f.public.as_str(), "--store", f.store.as_str()];
    f.ok(
        &[&["pack", "pull", &format!("{repo}:1.0.0")][..], &trust].concat(),
        &[],
    );
    let e = f.refused(
        &[&["pack", "pull", &format!("{repo}:stable")][..], &trust].concat(),
        &[],
    );
    assert!(
        e.contains("acme@1.0.0 is already stored with other content"),
        "{e}"
    );
}

#[test]
fn a_registry_with_basic_auth_takes_credentials_from_the_environment_or_docker() {
    let f = fixture();
    let registry = Registry::start(&f.dir, Some(("publisher", "s3cret")));
    let repo = registry.repo("acme/scans");
    let v1 = f.bundle("a", "1.0.0", |m| m);

    let e = f.refused(&["pack", "push", &v1, &repo], &[]);
    assert!(
        e.contains("the registry refused no credentials") && e.contains("YAGURA_REGISTRY_USERNAME"),
        "{e}"
    );
    let wrong = [
        ("YAGURA_REGISTRY_USERNAME", "publisher"),
        ("YAGURA_REGISTRY_PASSWORD", "guess"),
    ];
    let e = f.refused(&["pack", "push", &v1, &repo], &wrong);
    assert!(e.contains("the registry refused user `publisher`"), "{e}");
    let e = f.refused(
        &["pack", "push", &v1, &repo],
        &[("YAGURA_REGISTRY_USERNAME", "publisher")],
    );
    assert!(e.contains("no password"), "{e}");

    let right = [
        ("YAGURA_REGISTRY_USERNAME", "publisher"),
        ("YAGURA_REGISTRY_PASSWORD", "s3cret"),
    ];
    f.ok(&["pack", "push", &v1, &repo], &right);
    assert_eq!(f.ok(&["pack", "versions", &repo], &right), "1.0.0\n");

    // `docker login`'s config.json
    let auth = base64::engine::general_purpose::STANDARD.encode("publisher:s3cret");
    std::fs::write(
        f.docker.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, registry.host),
    )
    .expect("config.json");
    let out = f.ok(
        &[
            "pack",
            "pull",
            &format!("{repo}:1.0.0"),
            "--trust",
            &f.public,
            "--store",
            &f.store,
        ],
        &[],
    );
    assert!(out.contains("imported acme@1.0.0"), "{out}");
}
