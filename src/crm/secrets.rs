//! CRM credentials at rest (`secrets` tree, keyed by platform): sealed with
//! ChaCha20-Poly1305 under a key from `[crm] secret_key`, or one generated
//! once into `<storage.path>/secret.key` (mode 0600). Plain text never
//! reaches the store, the logs or a reply.

use std::path::Path;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};

use super::CrmError;

#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

/// What is stored: nonce and ciphertext, hex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sealed {
    pub nonce: String,
    pub ciphertext: String,
}

impl Sealer {
    /// From 64 hex digits (`[crm] secret_key`), else from the key file next to
    /// the database, creating it on first use.
    pub fn open(configured: Option<&str>, data_dir: &Path) -> Result<Sealer, CrmError> {
        let bytes = match configured {
            Some(hex_key) => hex::decode(hex_key).map_err(|_| CrmError::Secret("crm.secret_key is not hex".into()))?,
            None => key_file(&data_dir.join("secret.key"))?,
        };
        if bytes.len() != 32 {
            return Err(CrmError::Secret("the secret key must be 32 bytes".into()));
        }
        Ok(Sealer { cipher: ChaCha20Poly1305::new(Key::from_slice(&bytes)) })
    }

    pub fn seal(&self, plain: &str) -> Sealed {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with a fresh nonce cannot fail for inputs this small.
        let ciphertext = self.cipher.encrypt(&nonce, plain.as_bytes()).unwrap_or_default();
        Sealed { nonce: hex::encode(nonce), ciphertext: hex::encode(ciphertext) }
    }

    pub fn open_sealed(&self, sealed: &Sealed) -> Result<String, CrmError> {
        let wrong = || CrmError::Secret("a stored credential cannot be decrypted (was the secret key changed?)".into());
        let nonce = hex::decode(&sealed.nonce).map_err(|_| wrong())?;
        let ciphertext = hex::decode(&sealed.ciphertext).map_err(|_| wrong())?;
        if nonce.len() != 12 {
            return Err(wrong());
        }
        let plain = self.cipher.decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice()).map_err(|_| wrong())?;
        String::from_utf8(plain).map_err(|_| wrong())
    }
}

fn key_file(path: &Path) -> Result<Vec<u8>, CrmError> {
    match std::fs::read_to_string(path) {
        Ok(text) => hex::decode(text.trim()).map_err(|_| CrmError::Secret(format!("{} is not hex", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = ChaCha20Poly1305::generate_key(&mut OsRng);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            write_private(path, &hex::encode(key))?;
            tracing::info!(file = %path.display(), "generated the key that encrypts CRM credentials; back it up with the database");
            Ok(key.to_vec())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = Sealer::open(None, dir.path()).unwrap();
        let sealed = sealer.seal("pat-na1-secret");
        assert!(!sealed.ciphertext.contains(&hex::encode("pat-na1-secret")));
        assert_eq!(Sealer::open(None, dir.path()).unwrap().open_sealed(&sealed).unwrap(), "pat-na1-secret");
        let other = Sealer::open(Some(&"ab".repeat(32)), dir.path()).unwrap();
        assert!(other.open_sealed(&sealed).is_err());
    }
}
