//! The per-partition checkpoint: what is durable, what a crashed flush may have left behind,
//! and what a replay needs to rebuild the same state (docs/processor.md, "Exactly once").

use serde::{Deserialize, Serialize};

use crate::error::ProcessorError;
use crate::state::HistoryEntry;
use crate::writer::Store;

/// Format version of the checkpoint object; a newer one is refused rather than misread.
pub const CHECKPOINT_VERSION: u32 = 1;

/// `_checkpoints/{topic}/p{partition}.json`, relative to the output root.
#[must_use]
pub fn checkpoint_path(topic: &str, partition: i32) -> String {
    format!("_checkpoints/{topic}/p{partition}.json")
}

/// Files a flush is about to write; set before the first of them is written and cleared once
/// all are durable, so a crash in between is recognised and undone at the next start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// First and last offset of the per-message rows in the flush, if any.
    pub range: Option<(i64, i64)>,
    /// Paths relative to the output root.
    pub files: Vec<String>,
}

/// One partition's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub topic: String,
    pub partition: i32,
    /// Every row of offsets up to this one is in durable files: a replay of these offsets
    /// rebuilds state only.
    pub flushed_through_offset: Option<i64>,
    /// The offset last committed to the bus before this checkpoint was written: messages
    /// below it are never needed again.
    pub committed_offset: Option<i64>,
    /// The partition's event clock (highest `received_at_ms`) at `flushed_through_offset`.
    pub clock_ms: Option<i64>,
    pub pending: Option<Pending>,
    /// Closed segments a replay needs (see [`crate::state::PartitionState::history`]).
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

impl Checkpoint {
    #[must_use]
    pub fn empty(topic: &str, partition: i32) -> Self {
        Self {
            version: CHECKPOINT_VERSION,
            topic: topic.to_owned(),
            partition,
            flushed_through_offset: None,
            committed_offset: None,
            clock_ms: None,
            pending: None,
            history: Vec::new(),
        }
    }

    /// Reads a partition's checkpoint; an empty one when none was written yet.
    pub async fn load(store: &Store, topic: &str, partition: i32) -> Result<Self, ProcessorError> {
        let path = checkpoint_path(topic, partition);
        let Some(bytes) = store.get(&path).await? else {
            return Ok(Self::empty(topic, partition));
        };
        let checkpoint: Checkpoint =
            serde_json::from_slice(&bytes).map_err(|e| ProcessorError::Checkpoint {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if checkpoint.version != CHECKPOINT_VERSION {
            return Err(ProcessorError::Checkpoint {
                path,
                reason: format!(
                    "version {} is not {CHECKPOINT_VERSION}; upgrade the processor",
                    checkpoint.version
                ),
            });
        }
        if checkpoint.topic != topic || checkpoint.partition != partition {
            return Err(ProcessorError::Checkpoint {
                path,
                reason: format!("written for {}[{}]", checkpoint.topic, checkpoint.partition),
            });
        }
        Ok(checkpoint)
    }

    /// Writes the checkpoint atomically (temp + fsync + rename locally, one PUT on S3).
    pub async fn save(&self, store: &Store) -> Result<(), ProcessorError> {
        let path = checkpoint_path(&self.topic, self.partition);
        let bytes = serde_json::to_vec(self).map_err(|e| ProcessorError::Checkpoint {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        store.put(&path, bytes.into()).await
    }

    /// Undoes a flush that crashed between writing `pending` and clearing it: deletes its files
    /// (some may be complete, some missing) and clears `pending`. Their rows are produced again
    /// by the replay, under names the next flush chooses.
    pub async fn recover(&mut self, store: &Store) -> Result<usize, ProcessorError> {
        let Some(pending) = self.pending.take() else {
            return Ok(0);
        };
        for file in &pending.files {
            store.delete(file).await?;
        }
        tracing::warn!(
            topic = %self.topic,
            partition = self.partition,
            files = pending.files.len(),
            range = ?pending.range,
            "deleted the files of an unfinished flush"
        );
        self.save(store).await?;
        Ok(pending.files.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_and_recovery_delete_pending_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::Local {
            root: dir.path().to_path_buf(),
        };
        let mut cp = Checkpoint::load(&store, "t", 2).await.unwrap();
        assert_eq!(cp, Checkpoint::empty("t", 2));
        store
            .put(
                "events/app_id=1/date=d/p2-x.parquet",
                b"half".to_vec().into(),
            )
            .await
            .unwrap();
        cp.flushed_through_offset = Some(9);
        cp.pending = Some(Pending {
            range: Some((10, 20)),
            files: vec![
                "events/app_id=1/date=d/p2-x.parquet".into(),
                "errors/app_id=1/date=d/p2-x.parquet".into(),
            ],
        });
        cp.save(&store).await.unwrap();
        assert!(dir.path().join("_checkpoints/t/p2.json").is_file());

        let mut back = Checkpoint::load(&store, "t", 2).await.unwrap();
        assert_eq!(back, cp);
        assert_eq!(back.recover(&store).await.unwrap(), 2);
        assert!(
            !dir.path()
                .join("events/app_id=1/date=d/p2-x.parquet")
                .exists()
        );
        let after = Checkpoint::load(&store, "t", 2).await.unwrap();
        assert_eq!(after.pending, None);
        assert_eq!(after.flushed_through_offset, Some(9));
        assert!(
            Checkpoint::load(&store, "t", 3)
                .await
                .unwrap()
                .pending
                .is_none()
        );
        // A checkpoint of another partition is refused, not misread.
        std::fs::copy(
            dir.path().join("_checkpoints/t/p2.json"),
            dir.path().join("_checkpoints/t/p4.json"),
        )
        .unwrap();
        assert!(Checkpoint::load(&store, "t", 4).await.is_err());
    }
}
