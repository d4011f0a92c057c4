//! The bus conformance suite against the embedded log, on real files; "restart" closes the log and opens
//! the same file again.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod conformance;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use callscope_bus::Bus;
use callscope_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use conformance::Harness;

struct Embedded {
    _dir: tempfile::TempDir,
    path: PathBuf,
    counter: AtomicUsize,
}

impl Embedded {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log").join("bus.redb");
        Self {
            _dir: dir,
            path,
            counter: AtomicUsize::new(0),
        }
    }

    async fn open_config(&self, config: EmbeddedConfig) -> Arc<dyn Bus> {
        // A blocking read cancelled by a test's timeout can hold the previous instance for a moment.
        for _ in 0..50 {
            match EmbeddedBus::open(config.clone()) {
                Ok(bus) => return Arc::new(bus),
                Err(e) if e.to_string().contains("already open") => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("open embedded log: {e}"),
            }
        }
        panic!("embedded log still open after 5 s");
    }
}

#[async_trait]
impl Harness for Embedded {
    async fn open(&self) -> Arc<dyn Bus> {
        self.open_config(EmbeddedConfig::new(&self.path)).await
    }

    async fn open_with_queue(&self, capacity: usize) -> Arc<dyn Bus> {
        let mut config = EmbeddedConfig::new(&self.path);
        config.queue_capacity = capacity;
        self.open_config(config).await
    }

    fn unique(&self, name: &str) -> String {
        format!("{name}-{}", self.counter.fetch_add(1, Ordering::Relaxed))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_ordering_per_key() {
    conformance::ordering_per_key(&Embedded::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_redelivery_after_crash_before_commit() {
    conformance::redelivery_after_crash_before_commit(&Embedded::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_resume_from_committed_offset_after_restart() {
    conformance::resume_from_committed_offset_after_restart(&Embedded::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_poison_message_goes_to_dead_letter() {
    conformance::poison_message_goes_to_dead_letter(&Embedded::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_producer_backpressure_is_an_error() {
    conformance::producer_backpressure_is_an_error(&Embedded::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_acknowledged_sends_survive_restart() {
    conformance::acknowledged_sends_survive_restart(&Embedded::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_oversized_message_is_refused() {
    conformance::oversized_message_is_refused(&Embedded::new()).await;
}

/// The embedded log serves one process: a second live member of a group is refused, not silently split.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_group_has_one_live_member() {
    let h = Embedded::new();
    let bus = h.open().await;
    let first = bus.consumer("g", &["t"]).expect("first member");
    let second = bus.consumer("g", &["t"]);
    assert!(
        matches!(second, Err(callscope_bus::BusError::GroupBusy { ref group }) if group == "g")
    );
    drop(first);
    bus.consumer("g", &["t"])
        .expect("the group is free again once the member is gone");
}
