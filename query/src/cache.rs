//! A small TTL cache of dashboard answers, keyed by (app, path and query string): a dashboard
//! polled by many viewers costs one scan per TTL. Only successful answers are kept, and each app's
//! answers are reachable only under its own key.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;

#[derive(Debug, Clone)]
pub struct Cached {
    pub content_type: &'static str,
    pub body: Bytes,
}

#[derive(Debug)]
pub struct ResponseCache {
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<(String, String), (Instant, Cached)>>,
}

impl ResponseCache {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.max_entries > 0
    }

    pub fn get(&self, app_id: &str, uri: &str) -> Option<Cached> {
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, cached) = entries.get(&(app_id.to_owned(), uri.to_owned()))?;
        (at.elapsed() < self.ttl).then(|| cached.clone())
    }

    pub fn put(&self, app_id: &str, uri: &str, value: Cached) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.max_entries {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        if entries.len() >= self.max_entries {
            // Still full of fresh answers: drop the oldest, so the cache never grows past its bound.
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert((app_id.to_owned(), uri.to_owned()), (Instant::now(), value));
    }

    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &'static str) -> Cached {
        Cached {
            content_type: "application/json",
            body: Bytes::from_static(text.as_bytes()),
        }
    }

    #[test]
    fn answers_are_per_app_and_expire() {
        let cache = ResponseCache::new(Duration::from_millis(50), 10);
        cache.put("A", "/x?y=1", value("a"));
        assert_eq!(cache.get("A", "/x?y=1").unwrap().body, "a");
        assert!(cache.get("B", "/x?y=1").is_none());
        assert!(cache.get("A", "/x?y=2").is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("A", "/x?y=1").is_none());
    }

    #[test]
    fn size_is_bounded() {
        let cache = ResponseCache::new(Duration::from_secs(60), 2);
        cache.put("A", "1", value("1"));
        cache.put("A", "2", value("2"));
        cache.put("A", "3", value("3"));
        assert_eq!(cache.len(), 2);
        assert!(cache.get("A", "3").is_some());
    }

    #[test]
    fn zero_ttl_disables() {
        let cache = ResponseCache::new(Duration::ZERO, 10);
        cache.put("A", "1", value("1"));
        assert!(cache.get("A", "1").is_none());
        assert!(cache.is_empty());
    }
}
