//! Where the lake lives: settings shared by the processor, which writes it, and the query
//! service, which reads it, so that one configuration reaches the same bucket from both.

use serde::{Deserialize, Serialize};

/// Settings of the S3 client beyond what `AWS_*` environment variables give
/// (`AmazonS3Builder::from_env` reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, ...). Set values override the environment.
/// Credentials are not settings: they come from the environment (or the instance's role) only, so
/// that they never sit in a configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// e.g. `http://127.0.0.1:9000` for MinIO.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Allow plain HTTP endpoints (MinIO on localhost).
    pub allow_http: Option<bool>,
}

impl S3Config {
    /// The values that are set, as `object_store` S3 configuration keys (`AmazonS3ConfigKey`'s
    /// names), for `AmazonS3Builder::with_config` after `from_env`.
    #[must_use]
    pub fn options(&self) -> Vec<(&'static str, String)> {
        let mut options = Vec::new();
        if let Some(endpoint) = &self.endpoint {
            options.push(("aws_endpoint", endpoint.clone()));
        }
        if let Some(region) = &self.region {
            options.push(("aws_region", region.clone()));
        }
        if let Some(allow) = self.allow_http {
            options.push(("aws_allow_http", allow.to_string()));
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_settings_given_become_options() {
        assert!(S3Config::default().options().is_empty());
        let c = S3Config {
            endpoint: Some("http://127.0.0.1:9000".to_owned()),
            region: None,
            allow_http: Some(true),
        };
        assert_eq!(
            c.options(),
            [
                ("aws_endpoint", "http://127.0.0.1:9000".to_owned()),
                ("aws_allow_http", "true".to_owned())
            ]
        );
        let c: S3Config = serde_json::from_str(r#"{"region": "eu-north-1"}"#).unwrap();
        assert_eq!(c.options(), [("aws_region", "eu-north-1".to_owned())]);
        assert!(serde_json::from_str::<S3Config>(r#"{"access_key": "x"}"#).is_err());
    }
}
