//! The app registry: who may send data (AppID + AppSecret, third-party JWT keys), from which origins, and
//! who may read it (query API keys). Stored as one JSON file, written atomically with owner-only
//! permissions; in Kubernetes the same file comes from a Secret.
//!
//! Secrets never appear in `Debug` output or logs. Query keys are stored as SHA-256 hashes: they are only
//! ever compared, so the registry cannot leak them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::origin::{Origin, OriginError};

/// Current version of the registry file format.
pub const REGISTRY_VERSION: u32 = 1;

/// A secret string: serialised as is (the registry file must hold it), never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Only for verifying signatures and HMACs: never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// 32 random bytes, base64url: 256 bits, as strong as the HMAC-SHA256 it keys.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Signature algorithms accepted for third-party JWTs, as the callstats docs allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    HS256,
    ES256,
}

/// A key an app's origin server signs third-party JWTs with, found by the token's `keyID` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtKey {
    pub key_id: String,
    pub algorithm: JwtAlgorithm,
    /// HS256: the shared secret. ES256: the PEM public key (not secret, but kept with the others).
    pub material: Secret,
}

/// A key for the query API, stored only as its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryKey {
    pub key_id: String,
    pub sha256: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub app_id: String,
    pub name: String,
    pub secret: Secret,
    /// Allowed browser origins, normalised. Empty: requests without an Origin header (servers, SDKs) and
    /// from any origin are accepted.
    #[serde(default)]
    pub origins: Vec<String>,
    #[serde(default)]
    pub jwt_keys: Vec<JwtKey>,
    #[serde(default)]
    pub query_keys: Vec<QueryKey>,
    pub created_at_ms: i64,
}

impl App {
    /// Whether a request from `origin` (the Origin header, if any) may use this app.
    pub fn allows_origin(&self, origin: Option<&Origin>) -> bool {
        match origin {
            None => true,
            Some(_) if self.origins.is_empty() => true,
            Some(o) => self.origins.iter().any(|allowed| allowed == o.as_str()),
        }
    }

    pub fn jwt_key(&self, key_id: &str) -> Option<&JwtKey> {
        self.jwt_keys.iter().find(|k| k.key_id == key_id)
    }

    /// The query key `presented`, if it is one of this app's.
    pub fn query_key(&self, presented: &str) -> Option<&QueryKey> {
        let hash = hash_key(presented);
        self.query_keys
            .iter()
            .find(|k| constant_time_eq(&k.sha256, &hash))
    }
}

/// What the management commands print once: the only time a secret or key is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issued {
    pub app_id: String,
    pub secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("unknown app {0:?}")]
    UnknownApp(String),
    #[error("app {0:?} already exists")]
    Exists(String),
    #[error(transparent)]
    Origin(#[from] OriginError),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("registry file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct RegistryFile {
    version: u32,
    apps: Vec<App>,
}

/// The registry, shared by the services: cheap to clone, safe to read concurrently.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    apps: Arc<RwLock<BTreeMap<String, App>>>,
    path: Option<PathBuf>,
}

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

impl Registry {
    /// An empty registry kept only in memory (tests).
    pub fn in_memory(apps: Vec<App>) -> Self {
        Self {
            apps: Arc::new(RwLock::new(
                apps.into_iter().map(|a| (a.app_id.clone(), a)).collect(),
            )),
            path: None,
        }
    }

    /// Loads the registry file; a missing file is an empty registry that will be created on first change.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, RegistryError> {
        let path = path.into();
        let file = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<RegistryFile>(&bytes).map_err(|e| RegistryError::File {
                    path: path.clone(),
                    reason: e.to_string(),
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RegistryFile {
                version: REGISTRY_VERSION,
                apps: Vec::new(),
            },
            Err(e) => {
                return Err(RegistryError::File {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        if file.version > REGISTRY_VERSION {
            return Err(RegistryError::File {
                path,
                reason: format!(
                    "format version {} is newer than this build understands ({REGISTRY_VERSION})",
                    file.version
                ),
            });
        }
        Ok(Self {
            apps: Arc::new(RwLock::new(
                file.apps
                    .into_iter()
                    .map(|a| (a.app_id.clone(), a))
                    .collect(),
            )),
            path: Some(path),
        })
    }

    pub fn get(&self, app_id: &str) -> Option<App> {
        self.apps
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(app_id)
            .cloned()
    }

    pub fn list(&self) -> Vec<App> {
        self.apps
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Finds the app a query key belongs to.
    pub fn app_for_query_key(&self, presented: &str) -> Option<(App, QueryKey)> {
        let apps = self.apps.read().unwrap_or_else(PoisonError::into_inner);
        apps.values()
            .find_map(|app| app.query_key(presented).map(|k| (app.clone(), k.clone())))
    }

    fn modify<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, App>) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut apps = self.apps.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = apps.clone();
        let out = f(&mut next)?;
        if let Some(path) = &self.path {
            save(path, &next)?;
        }
        *apps = next;
        Ok(out)
    }

    /// Registers a new app with a fresh AppSecret. `app_id` defaults to a random 9-digit number, the
    /// shape callstats AppIDs had.
    pub fn add(&self, name: &str, app_id: Option<&str>) -> Result<Issued, RegistryError> {
        let app_id = match app_id {
            Some(id) => id.to_owned(),
            None => {
                let n = rand::rngs::OsRng.next_u32() % 900_000_000 + 100_000_000;
                n.to_string()
            }
        };
        if app_id.is_empty()
            || app_id.len() > 64
            || !app_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(RegistryError::Invalid {
                field: "appID",
                reason: "1 to 64 characters of letters, digits, '-' or '_'".to_owned(),
            });
        }
        if name.len() > 256 {
            return Err(RegistryError::Invalid {
                field: "name",
                reason: "at most 256 bytes".to_owned(),
            });
        }
        let secret = Secret::generate();
        let app = App {
            app_id: app_id.clone(),
            name: name.to_owned(),
            secret: secret.clone(),
            origins: Vec::new(),
            jwt_keys: Vec::new(),
            query_keys: Vec::new(),
            created_at_ms: now_ms(),
        };
        self.modify(|apps| {
            if apps.contains_key(&app_id) {
                return Err(RegistryError::Exists(app_id.clone()));
            }
            apps.insert(app_id.clone(), app);
            Ok(())
        })?;
        Ok(Issued {
            app_id,
            secret: secret.0,
        })
    }

    /// Replaces the AppSecret; tokens already issued stay valid until they expire.
    pub fn rotate_secret(&self, app_id: &str) -> Result<Issued, RegistryError> {
        let secret = Secret::generate();
        self.modify(|apps| {
            let app = apps
                .get_mut(app_id)
                .ok_or_else(|| RegistryError::UnknownApp(app_id.to_owned()))?;
            app.secret = secret.clone();
            Ok(())
        })?;
        Ok(Issued {
            app_id: app_id.to_owned(),
            secret: secret.0,
        })
    }

    pub fn add_origin(&self, app_id: &str, origin: &str) -> Result<Origin, RegistryError> {
        let origin = Origin::parse(origin)?;
        self.modify(|apps| {
            let app = apps
                .get_mut(app_id)
                .ok_or_else(|| RegistryError::UnknownApp(app_id.to_owned()))?;
            if !app.origins.iter().any(|o| o == origin.as_str()) {
                app.origins.push(origin.as_str().to_owned());
            }
            Ok(())
        })?;
        Ok(origin)
    }

    /// Adds (or replaces) a third-party JWT key. ES256 material must be a PEM public key.
    pub fn add_jwt_key(
        &self,
        app_id: &str,
        key_id: &str,
        algorithm: JwtAlgorithm,
        material: &str,
    ) -> Result<(), RegistryError> {
        if key_id.is_empty() || key_id.len() > 128 {
            return Err(RegistryError::Invalid {
                field: "keyID",
                reason: "1 to 128 bytes".to_owned(),
            });
        }
        match algorithm {
            JwtAlgorithm::HS256 if material.len() < 16 => {
                return Err(RegistryError::Invalid {
                    field: "material",
                    reason: "an HS256 secret needs at least 16 bytes".to_owned(),
                });
            }
            JwtAlgorithm::ES256 => {
                jsonwebtoken::DecodingKey::from_ec_pem(material.as_bytes()).map_err(|e| {
                    RegistryError::Invalid {
                        field: "material",
                        reason: format!("not an EC public key in PEM: {e}"),
                    }
                })?;
            }
            JwtAlgorithm::HS256 => {}
        }
        let key = JwtKey {
            key_id: key_id.to_owned(),
            algorithm,
            material: Secret::new(material),
        };
        self.modify(|apps| {
            let app = apps
                .get_mut(app_id)
                .ok_or_else(|| RegistryError::UnknownApp(app_id.to_owned()))?;
            app.jwt_keys.retain(|k| k.key_id != key.key_id);
            app.jwt_keys.push(key);
            Ok(())
        })
    }

    /// Creates a query API key and returns it: the only time it is shown.
    pub fn add_query_key(&self, app_id: &str) -> Result<String, RegistryError> {
        let key_id = random_token(6);
        let key = format!("csq_{key_id}_{}", random_token(24));
        let entry = QueryKey {
            key_id,
            sha256: hash_key(&key),
            created_at_ms: now_ms(),
        };
        self.modify(|apps| {
            let app = apps
                .get_mut(app_id)
                .ok_or_else(|| RegistryError::UnknownApp(app_id.to_owned()))?;
            app.query_keys.push(entry);
            Ok(())
        })?;
        Ok(key)
    }
}

/// Writes the whole registry to a temporary file (owner-only), fsyncs it and renames it over the old one:
/// a crash leaves either the old or the new registry, never half of one.
fn save(path: &Path, apps: &BTreeMap<String, App>) -> Result<(), RegistryError> {
    let err = |reason: String| RegistryError::File {
        path: path.to_owned(),
        reason,
    };
    let file = RegistryFile {
        version: REGISTRY_VERSION,
        apps: apps.values().cloned().collect(),
    };
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| err(e.to_string()))?;
    write_private_file(path, &bytes).map_err(|e| err(e.to_string()))
}

/// Writes a file of secrets: owner-only, to a temporary name, fsynced, renamed over the old one, and the
/// rename made durable. A crash leaves the old or the new file, never half of one.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".part");
    let tmp = PathBuf::from(tmp_name);
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        d.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let registry = Registry::in_memory(Vec::new());
        let issued = registry.add("demo", Some("123")).unwrap();
        let app = registry.get("123").unwrap();
        let debug = format!("{app:?}");
        assert!(!debug.contains(&issued.secret), "{debug}");
        assert!(debug.contains("Secret(***)"));
    }

    #[test]
    fn registry_survives_reopen_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apps.json");
        let registry = Registry::open(&path).unwrap();
        let issued = registry.add("demo", None).unwrap();
        assert_eq!(issued.app_id.len(), 9);
        registry
            .add_origin(&issued.app_id, "https://Call.Example.com:443/")
            .unwrap();
        let key = registry.add_query_key(&issued.app_id).unwrap();
        let reopened = Registry::open(&path).unwrap();
        let app = reopened.get(&issued.app_id).unwrap();
        assert_eq!(app.secret.expose(), issued.secret);
        assert_eq!(app.origins, vec!["https://call.example.com"]);
        assert!(app.query_key(&key).is_some());
        assert!(app.query_key("csq_wrong").is_none());
        let on_disk = std::fs::read_to_string(&path).unwrap();
        assert!(!on_disk.contains(&key), "query keys are stored hashed");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let registry = Registry::in_memory(Vec::new());
        registry.add("a", Some("1")).unwrap();
        assert!(matches!(
            registry.add("b", Some("1")),
            Err(RegistryError::Exists(_))
        ));
        assert!(matches!(
            registry.add("b", Some("bad id!")),
            Err(RegistryError::Invalid { field: "appID", .. })
        ));
        assert!(matches!(
            registry.rotate_secret("2"),
            Err(RegistryError::UnknownApp(_))
        ));
        assert!(matches!(
            registry.add_origin("1", "not an origin"),
            Err(RegistryError::Origin(_))
        ));
        assert!(matches!(
            registry.add_jwt_key("1", "k", JwtAlgorithm::HS256, "short"),
            Err(RegistryError::Invalid {
                field: "material",
                ..
            })
        ));
        assert!(matches!(
            registry.add_jwt_key("1", "k", JwtAlgorithm::ES256, "not pem"),
            Err(RegistryError::Invalid {
                field: "material",
                ..
            })
        ));
        assert!(matches!(
            registry.add_jwt_key("1", "", JwtAlgorithm::HS256, "0123456789abcdef"),
            Err(RegistryError::Invalid { field: "keyID", .. })
        ));
    }

    #[test]
    fn rotation_replaces_the_secret() {
        let registry = Registry::in_memory(Vec::new());
        let first = registry.add("a", Some("1")).unwrap();
        let second = registry.rotate_secret("1").unwrap();
        assert_ne!(first.secret, second.secret);
        assert_eq!(registry.get("1").unwrap().secret.expose(), second.secret);
    }

    #[test]
    fn origin_whitelist() {
        let registry = Registry::in_memory(Vec::new());
        registry.add("a", Some("1")).unwrap();
        let open = registry.get("1").unwrap();
        assert!(open.allows_origin(Some(&Origin::parse("https://x.example").unwrap())));
        registry.add_origin("1", "https://call.example").unwrap();
        let app = registry.get("1").unwrap();
        assert!(app.allows_origin(None), "servers send no Origin");
        assert!(app.allows_origin(Some(&Origin::parse("https://call.example:443").unwrap())));
        assert!(!app.allows_origin(Some(&Origin::parse("http://call.example").unwrap())));
        assert!(!app.allows_origin(Some(&Origin::parse("https://evil.example").unwrap())));
    }
}
