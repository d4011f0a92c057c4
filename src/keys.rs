//! The server's token signing keys: a JSON file of `[{id, secret}]`, the first one signing. Created with
//! one fresh key on first start (owner-only), so a laptop needs no setup; in Kubernetes the file comes
//! from a Secret shared by every ingest replica.

use std::path::Path;

use anyhow::Context as _;
use callscope_ingest::TokenKey;
use callscope_ingest::registry::Secret;

pub fn load_or_create(path: &Path) -> anyhow::Result<Vec<TokenKey>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let keys: Vec<TokenKey> = serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "token keys file {} is not a JSON list of {{id, secret}}",
                    path.display()
                )
            })?;
            anyhow::ensure!(
                !keys.is_empty(),
                "token keys file {} holds no key",
                path.display()
            );
            for key in &keys {
                anyhow::ensure!(
                    key.secret.expose().len() >= 32,
                    "token key {:?} is shorter than 32 bytes",
                    key.id
                );
            }
            Ok(keys)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keys = vec![TokenKey {
                id: format!("k{}", std::process::id()),
                secret: Secret::generate(),
            }];
            callscope_ingest::registry::write_private_file(
                path,
                &serde_json::to_vec_pretty(&keys)?,
            )
            .with_context(|| format!("writing token keys file {}", path.display()))?;
            tracing::info!(path = %path.display(), "created token signing key");
            Ok(keys)
        }
        Err(e) => Err(e).with_context(|| format!("reading token keys file {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let first = load_or_create(&path).unwrap();
        let again = load_or_create(&path).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].secret.expose(), again[0].secret.expose());
        std::fs::write(&path, "[]").unwrap();
        assert!(load_or_create(&path).is_err());
    }
}
