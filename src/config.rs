//! The binary's configuration: one struct holding each service's typed section, layered defaults < file
//! (`--config`) < environment (`CALLSCOPE__SECTION__KEY`) < flags.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use callscope_ingest::IngestConfig;
use callscope_processor::config::ProcessorConfig;
use callscope_query::QueryConfig;
use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded log, the app registry, the token keys and (by default) Parquet live.
    pub data_dir: PathBuf,
    /// The app registry file; default `<data_dir>/apps.json`.
    pub registry_file: Option<PathBuf>,
    /// Server token signing keys; default `<data_dir>/token-keys.json`, created on first start.
    pub keys_file: Option<PathBuf>,
    pub bus: BusSettings,
    pub ingest: IngestConfig,
    pub processor: ProcessorConfig,
    pub query: QueryConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            registry_file: None,
            keys_file: None,
            bus: BusSettings::default(),
            ingest: IngestConfig::default(),
            processor: ProcessorConfig::default(),
            query: QueryConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusSettings {
    /// Kafka bootstrap servers; unset means the embedded log under `data_dir`.
    pub kafka: Option<String>,
    /// Partitions of the ingest topic when callscope creates it.
    pub partitions: i32,
    pub replication_factor: i32,
    /// Producer queue (messages) before sends fail fast with 503.
    pub producer_queue: usize,
}

impl Default for BusSettings {
    fn default() -> Self {
        Self {
            kafka: None,
            partitions: 12,
            replication_factor: 1,
            producer_queue: 100_000,
        }
    }
}

impl Config {
    /// Layers the sources; `flags` holds only what was given on the command line.
    pub fn load(file: Option<&Path>, flags: Figment) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            anyhow::ensure!(
                path.exists(),
                "config file {} does not exist",
                path.display()
            );
            figment = figment.merge(Toml::file(path));
        }
        figment
            .merge(Env::prefixed("CALLSCOPE__").split("__"))
            .merge(flags)
            .extract()
            .context("invalid configuration")
    }

    pub fn registry_path(&self) -> PathBuf {
        self.registry_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("apps.json"))
    }

    pub fn keys_path(&self) -> PathBuf {
        self.keys_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("token-keys.json"))
    }
}

#[cfg(test)]
// figment's Jail API fixes the closure's error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn layers_defaults_file_environment_flags_in_that_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("callscope.toml", "data_dir = \"/from-file\"\n[ingest]\nlisten = \"127.0.0.1:9001\"\nmax_body_bytes = 1000\n")?;
            jail.set_env("CALLSCOPE__INGEST__MAX_BODY_BYTES", "2000");
            jail.set_env("CALLSCOPE__BUS__KAFKA", "k:9092");
            let flags =
                Figment::new().merge(Serialized::default("ingest.listen", "127.0.0.1:9002"));
            let config = Config::load(Some(Path::new("callscope.toml")), flags)
                .map_err(|e| e.to_string())?;
            assert_eq!(config.data_dir, PathBuf::from("/from-file"));
            assert_eq!(config.ingest.max_body_bytes, 2000, "environment beats file");
            assert_eq!(
                config.ingest.listen.to_string(),
                "127.0.0.1:9002",
                "flags beat everything"
            );
            assert_eq!(config.bus.kafka.as_deref(), Some("k:9092"));
            assert_eq!(
                config.ingest.rate_per_token,
                IngestConfig::default().rate_per_token,
                "defaults fill the rest"
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[ingest]\nlisten_typo = \"x\"\n")?;
            let err = Config::load(Some(Path::new("bad.toml")), Figment::new()).unwrap_err();
            assert!(format!("{err:#}").contains("listen_typo"), "{err:#}");
            Ok(())
        });
    }
}
