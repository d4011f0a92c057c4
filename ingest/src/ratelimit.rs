//! Per-app and per-token request rate limits (GCRA token buckets from `governor`), answered with 429 and
//! the time until the next request would be allowed.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests per second for one app, all its users together.
    pub per_app_per_second: u32,
    /// Requests per second for one token (one user of one app).
    pub per_token_per_second: u32,
    /// Extra requests allowed in a burst, as a multiple of the per-second rate.
    pub burst_seconds: u32,
}

impl Default for Limits {
    fn default() -> Self {
        // A browser sends about one batch every few seconds; 20/s per token leaves room for a reconnect
        // flush. An app of a few thousand concurrent users stays under 5000/s.
        Self {
            per_app_per_second: 5_000,
            per_token_per_second: 20,
            burst_seconds: 5,
        }
    }
}

pub struct RateLimiter {
    apps: DefaultKeyedRateLimiter<String>,
    tokens: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").finish_non_exhaustive()
    }
}

/// Which limit was hit and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub scope: &'static str,
    pub retry_after: Duration,
}

fn quota(per_second: u32, burst_seconds: u32) -> Quota {
    let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(per_second.max(1).saturating_mul(burst_seconds.max(1)))
        .unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(burst)
}

impl RateLimiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            apps: governor::RateLimiter::keyed(quota(
                limits.per_app_per_second,
                limits.burst_seconds,
            )),
            tokens: governor::RateLimiter::keyed(quota(
                limits.per_token_per_second,
                limits.burst_seconds,
            )),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request of `app_id` (and of the token `token_id`, when authenticated).
    pub fn check(&self, app_id: &str, token_id: Option<&str>) -> Result<(), Limited> {
        let now = self.clock.now();
        if let Some(token) = token_id
            && let Err(not_until) = self.tokens.check_key(&token.to_owned())
        {
            return Err(Limited {
                scope: "token",
                retry_after: not_until.wait_time_from(now),
            });
        }
        self.apps
            .check_key(&app_id.to_owned())
            .map_err(|not_until| Limited {
                scope: "app",
                retry_after: not_until.wait_time_from(now),
            })?;
        Ok(())
    }

    /// Forgets keys that are back to a full bucket, so memory follows the active keys only.
    pub fn prune(&self) {
        self.apps.retain_recent();
        self.tokens.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_limit_refuses_after_the_burst_with_a_retry_time() {
        let limiter = RateLimiter::new(Limits {
            per_app_per_second: 1000,
            per_token_per_second: 2,
            burst_seconds: 2,
        });
        // Burst of 2/s × 2 s = 4 requests, then refused.
        for _ in 0..4 {
            limiter.check("app", Some("t1")).unwrap();
        }
        let limited = limiter.check("app", Some("t1")).unwrap_err();
        assert_eq!(limited.scope, "token");
        assert!(
            limited.retry_after > Duration::ZERO
                && limited.retry_after <= Duration::from_millis(500)
        );
        // Another token of the same app is not affected.
        limiter.check("app", Some("t2")).unwrap();
    }

    #[test]
    fn app_limit_covers_all_tokens_of_the_app() {
        let limiter = RateLimiter::new(Limits {
            per_app_per_second: 3,
            per_token_per_second: 100,
            burst_seconds: 1,
        });
        for t in 0..3 {
            limiter.check("app", Some(&format!("t{t}"))).unwrap();
        }
        assert_eq!(limiter.check("app", Some("t9")).unwrap_err().scope, "app");
        limiter.check("other-app", Some("t9")).unwrap();
    }
}
