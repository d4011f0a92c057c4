//! The deployment's alert rules and dashboard are checked (by `scripts/test-deploy`) against
//! `deploy/metrics-exported.txt`; this test keeps that file equal to what the services really export, so a
//! renamed metric fails the build instead of silently breaking an alert. It also loads the deployment's
//! TOML configuration through the services' config types, so a renamed key fails here too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::BTreeSet;

#[test]
fn deploy_metric_list_is_exactly_what_the_services_export() {
    let exported: BTreeSet<&str> = callscope_ingest::metrics::METRIC_NAMES
        .iter()
        .chain(callscope_processor::metrics::METRIC_NAMES)
        .chain(callscope_query::METRIC_NAMES)
        .copied()
        .collect();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/metrics-exported.txt");
    let text = std::fs::read_to_string(path).expect("deploy/metrics-exported.txt");
    let listed: BTreeSet<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        listed, exported,
        "deploy/metrics-exported.txt must list exactly the services' METRIC_NAMES"
    );
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // only deserialized, to prove the deployment's keys exist
struct DeployedConfig {
    #[serde(default)]
    data_dir: Option<String>,
    #[serde(default)]
    registry_file: Option<String>,
    #[serde(default)]
    keys_file: Option<String>,
    #[serde(default)]
    bus: Option<toml::Value>,
    #[serde(default)]
    ingest: Option<callscope_ingest::IngestConfig>,
    #[serde(default)]
    processor: Option<callscope_processor::config::ProcessorConfig>,
    #[serde(default)]
    query: Option<callscope_query::QueryConfig>,
}

#[test]
fn deployment_configuration_files_use_only_known_keys() {
    for file in [
        "deploy/k8s/base/config/callscope.toml",
        "deploy/k8s/overlays/dev/callscope.toml",
    ] {
        let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        toml::from_str::<DeployedConfig>(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}
