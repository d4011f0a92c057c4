//! Web origins (RFC 6454): the scheme, host and port a browser puts in the `Origin` header. Two origins
//! are the same only when all three are equal, after the normalisation a user agent applies (lower-case
//! scheme and host, default port dropped).

use std::fmt;

/// A serialised origin: `scheme://host[:port]`, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid origin {input:?}: {reason}")]
pub struct OriginError {
    pub input: String,
    pub reason: &'static str,
}

impl Origin {
    /// Parses an origin as a browser sends it, or as an operator whitelists it. Paths, queries, fragments
    /// and user info are refused: an origin has none.
    pub fn parse(input: &str) -> Result<Self, OriginError> {
        let err = |reason| OriginError {
            input: input.to_owned(),
            reason,
        };
        let trimmed = input.trim();
        let (scheme, rest) = trimmed
            .split_once("://")
            .ok_or_else(|| err("missing scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(err("bad scheme"));
        }
        // A trailing slash is tolerated in configuration ("https://a.example/"), nothing else after the host.
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Err(err("missing host"));
        }
        if rest.contains(['/', '?', '#', '@']) {
            return Err(err("an origin has no path, query, fragment or user info"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| err("unclosed IPv6 literal"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| err("bad port"))?),
            };
            (format!("[{}]", addr.to_ascii_lowercase()), port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
                None => (rest.to_ascii_lowercase(), None),
            }
        };
        if host.is_empty() || host.chars().any(char::is_whitespace) {
            return Err(err("bad host"));
        }
        let port = match port {
            None => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| err("bad port"))?),
        };
        let default = match scheme.as_str() {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            _ => None,
        };
        let serialised = match port {
            Some(p) if Some(p) != default => format!("{scheme}://{host}:{p}"),
            _ => format!("{scheme}://{host}"),
        };
        Ok(Self(serialised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Origin;

    fn o(s: &str) -> String {
        Origin::parse(s)
            .map(|o| o.0)
            .unwrap_or_else(|e| format!("ERR {}", e.reason))
    }

    #[test]
    fn normalises_like_a_user_agent() {
        assert_eq!(o("https://App.Example.com"), "https://app.example.com");
        assert_eq!(o("HTTPS://app.example.com:443"), "https://app.example.com");
        assert_eq!(o("http://app.example.com:80/"), "http://app.example.com");
        assert_eq!(o("http://localhost:8080"), "http://localhost:8080");
        assert_eq!(o("http://[::1]:3000"), "http://[::1]:3000");
        assert_eq!(o("https://[::1]:443"), "https://[::1]");
    }

    #[test]
    fn different_scheme_host_or_port_is_a_different_origin() {
        assert_ne!(o("http://a.example"), o("https://a.example"));
        assert_ne!(o("https://a.example"), o("https://b.example"));
        assert_ne!(o("https://a.example"), o("https://a.example:8443"));
        assert_ne!(o("https://a.example"), o("https://sub.a.example"));
    }

    #[test]
    fn refuses_what_is_not_an_origin() {
        assert_eq!(o("a.example"), "ERR missing scheme");
        assert_eq!(o("https://"), "ERR missing host");
        assert_eq!(
            o("https://a.example/path"),
            "ERR an origin has no path, query, fragment or user info"
        );
        assert_eq!(
            o("https://user@a.example"),
            "ERR an origin has no path, query, fragment or user info"
        );
        assert_eq!(o("https://a.example:99999"), "ERR bad port");
        assert_eq!(o("https://a.example:x"), "ERR bad port");
        assert_eq!(o("null"), "ERR missing scheme");
    }
}
