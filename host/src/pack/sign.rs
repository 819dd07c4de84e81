//! Publisher keys and signatures (ed25519).
//!
//! Key files are one line of text: `yagura-ed25519-secret:<64 hex>` (the 32-byte seed; keep it
//! private, the file is written 0600) and `yagura-ed25519-public:<64 hex>`. A key's id is the
//! first 16 hex digits of the sha256 of the public key, shown wherever a key is named.

use std::path::Path;

use anyhow::{Context, bail};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

const SECRET_PREFIX: &str = "yagura-ed25519-secret:";
const PUBLIC_PREFIX: &str = "yagura-ed25519-public:";

/// A publisher's signing key.
pub struct SecretKey(SigningKey);

/// A publisher's public key, as trusted by a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.public().id())
    }
}

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> anyhow::Result<SecretKey> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| anyhow::anyhow!("no randomness for a new key: {e}"))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The key file's text.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}\n", hex::encode(self.0.to_bytes()))
    }

    pub fn parse(text: &str, origin: &str) -> anyhow::Result<SecretKey> {
        let bytes = parse_key_line(text, SECRET_PREFIX, origin, "secret")?;
        Ok(SecretKey(SigningKey::from_bytes(&bytes)))
    }

    pub fn load(path: &Path) -> anyhow::Result<SecretKey> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read key {}", path.display()))?;
        SecretKey::parse(&text, &path.display().to_string())
    }

    /// The signature of `message`, 64 bytes.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl PublicKey {
    /// First 16 hex digits of the key's sha256.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..8])
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    pub fn from_hex(hex_text: &str) -> anyhow::Result<PublicKey> {
        let bytes: [u8; 32] = hex::decode(hex_text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .context("a public key is 64 hex digits")?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|e| anyhow::anyhow!("not an ed25519 public key: {e}"))
    }

    /// The key file's text.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_PREFIX}{}\n", self.to_hex())
    }

    pub fn parse(text: &str, origin: &str) -> anyhow::Result<PublicKey> {
        let bytes = parse_key_line(text, PUBLIC_PREFIX, origin, "public")?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|e| anyhow::anyhow!("{origin}: not an ed25519 public key: {e}"))
    }

    pub fn load(path: &Path) -> anyhow::Result<PublicKey> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read key {}", path.display()))?;
        PublicKey::parse(&text, &path.display().to_string())
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        self.0.verify(message, &signature).is_ok()
    }
}

fn parse_key_line(text: &str, prefix: &str, origin: &str, kind: &str) -> anyhow::Result<[u8; 32]> {
    let line = text.trim();
    let Some(hex_text) = line.strip_prefix(prefix) else {
        if line.starts_with(SECRET_PREFIX) || line.starts_with(PUBLIC_PREFIX) {
            bail!("{origin}: this is not a {kind} key");
        }
        bail!("{origin}: not a Yagura key file (expected `{prefix}<64 hex digits>`)");
    };
    hex::decode(hex_text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .with_context(|| format!("{origin}: the key is not 64 hex digits"))
}

/// Writes a new key pair to `<base>.key` (0600) and `<base>.pub`; refuses to overwrite.
pub(crate) fn generate_files(
    base: &Path,
) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf, PublicKey)> {
    let secret_path = base.with_extension("key");
    let public_path = base.with_extension("pub");
    for path in [&secret_path, &public_path] {
        if path.exists() {
            bail!("{} exists; not overwriting a key", path.display());
        }
    }
    let key = SecretKey::generate()?;
    write_private(&secret_path, key.to_text().as_bytes())?;
    std::fs::write(&public_path, key.public().to_text())
        .with_context(|| format!("cannot write {}", public_path.display()))?;
    Ok((secret_path, public_path, key.public()))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sign() {
        let key = SecretKey::generate().expect("a key");
        let again = SecretKey::parse(&key.to_text(), "k").expect("parses");
        assert_eq!(again.public(), key.public());
        let public = PublicKey::parse(&key.public().to_text(), "p").expect("parses");
        let sig = key.sign(b"manifest");
        assert!(public.verifies(b"manifest", &sig));
        assert!(!public.verifies(b"manifest!", &sig));
        assert!(!public.verifies(b"manifest", &sig[..63]));
        let other = SecretKey::generate().expect("a key");
        assert!(!other.public().verifies(b"manifest", &sig));
        assert_eq!(key.public().id().len(), 16);
    }

    #[test]
    fn key_files_are_checked() {
        let key = SecretKey::generate().expect("a key");
        let e = PublicKey::parse(&key.to_text(), "k.key").expect_err("a secret is not public");
        assert!(e.to_string().contains("not a public key"), "{e}");
        let e = SecretKey::parse("hello", "x").expect_err("garbage");
        assert!(e.to_string().contains("not a Yagura key file"), "{e}");
        let e = SecretKey::parse("yagura-ed25519-secret:abc", "x").expect_err("short");
        assert!(e.to_string().contains("64 hex digits"), "{e}");
    }

    #[test]
    fn generate_writes_a_private_secret_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("tmp");
        let base = dir.path().join("acme");
        let (secret, public, key) = generate_files(&base).expect("generated");
        assert_eq!(PublicKey::load(&public).expect("loads"), key);
        assert_eq!(SecretKey::load(&secret).expect("loads").public(), key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&secret)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let e = generate_files(&base).expect_err("exists");
        assert!(e.to_string().contains("not overwriting"), "{e}");
    }
}
