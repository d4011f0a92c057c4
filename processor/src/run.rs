//! The consumer loop: bus → state → Parquet, exactly once (docs/processor.md).
//!
//! Per partition, in offset order: a record is decoded (or dead-lettered) and applied to the
//! partition's [`PartitionState`]; every `flush_interval_ms` (or once `max_rows_per_file` rows
//! wait) the partition is flushed:
//!
//! 1. the checkpoint is written with `pending` = the files about to be written;
//! 2. the files are written (each atomically and durably);
//! 3. the checkpoint is written with `flushed_through_offset` = the last offset and no pending;
//! 4. the bus offset is committed: the smallest of the next offset, the first offset after
//!    `flushed_through_offset`, and the first offset of the oldest conference still open, so an
//!    open conference can always be rebuilt by replay.
//!
//! On assignment the checkpoint is read and the files of an unfinished flush are deleted;
//! replayed offsets up to `flushed_through_offset` rebuild state without writing rows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use callscope_bus::{
    Bus, BusError, Consumer, ConsumerEvent, DEAD_LETTER_TOPIC, DeadLetter, Message, TopicPartition,
};
use callscope_schemas::decode_record;

use crate::checkpoint::{Checkpoint, Pending};
use crate::compaction::{self, Bounds};
use crate::config::ProcessorConfig;
use crate::error::ProcessorError;
use crate::metrics::Metrics;
use crate::state::{Mode, PartitionState, Position, StateConfig};
use crate::writer::{Store, plan_files};

/// The end offset (next offset to be written) of each partition of a topic, for the lag
/// metric. `EmbeddedBus::end_offsets` fits: see [`embedded_end_offsets`].
pub type EndOffsets = Arc<dyn Fn(&str) -> Result<Vec<i64>, BusError> + Send + Sync>;

/// The end offsets of an embedded bus.
#[must_use]
pub fn embedded_end_offsets(bus: callscope_bus::embedded::EmbeddedBus) -> EndOffsets {
    Arc::new(move |topic: &str| bus.end_offsets(topic))
}

/// Runs the processor until `shutdown` becomes `true` (or its sender is dropped), then flushes
/// and commits what it has and returns. Consumer lag is reported as 0; use [`run_with_lag`] to
/// give it the bus's end offsets.
pub async fn run(
    bus: Arc<dyn Bus>,
    config: ProcessorConfig,
    metrics: Metrics,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ProcessorError> {
    run_with_lag(bus, None, config, metrics, shutdown).await
}

/// [`run`], with a source of end offsets for the consumer lag metric.
pub async fn run_with_lag(
    bus: Arc<dyn Bus>,
    end_offsets: Option<EndOffsets>,
    config: ProcessorConfig,
    metrics: Metrics,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ProcessorError> {
    config.validate()?;
    let store = Store::open(&config)?;
    let dead_letter = DeadLetter::new(bus.producer()?, DEAD_LETTER_TOPIC);
    let mut consumer = bus.consumer(&config.consumer_group, &[config.topic.as_str()])?;
    tracing::info!(
        bus = bus.name(),
        topic = %config.topic,
        group = %config.consumer_group,
        output = %config.output,
        "processor started"
    );
    let mut processor = Processor::new(config, store, metrics, dead_letter, end_offsets);
    let mut tick = tokio::time::interval(processor.config.flush_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick completes at once; the first flush is due one interval from now.
    tick.tick().await;
    let result = loop {
        if *shutdown.borrow() {
            break Ok(());
        }
        tokio::select! {
            biased;
            changed = shutdown.changed() => {
                // A dropped sender can no longer tell us to stop: stop now, cleanly.
                if changed.is_err() || *shutdown.borrow() {
                    break Ok(());
                }
            }
            _ = tick.tick() => {
                if let Err(e) = processor.on_tick(consumer.as_mut()).await {
                    break Err(e);
                }
            }
            // Both consumers' `next` are cancel-safe: a message is consumed only when returned.
            event = consumer.next() => {
                let handled = match event {
                    Ok(ConsumerEvent::Message(m)) => processor.on_message(m, consumer.as_mut()).await,
                    Ok(ConsumerEvent::Assigned(tps)) => processor.on_assigned(tps).await,
                    Ok(ConsumerEvent::Revoked(tps)) => {
                        processor.on_revoked(&tps);
                        Ok(())
                    }
                    Err(e) if e.is_retriable() => {
                        tracing::warn!(error = %e, "consumer error; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        Ok(())
                    }
                    Err(e) => Err(e.into()),
                };
                if let Err(e) = handled {
                    break Err(e);
                }
            }
        }
    };
    match result {
        Ok(()) => {
            processor.flush_all(consumer.as_mut()).await?;
            processor.save_commits().await?;
            tracing::info!("processor stopped");
            Ok(())
        }
        Err(e) => {
            // Nothing is committed past what is durable; a restart replays from the checkpoint.
            tracing::error!(error = %e, "processor failed");
            Err(e)
        }
    }
}

/// One owned partition.
struct Part {
    tp: TopicPartition,
    state: PartitionState,
    /// The last checkpoint written (or read).
    checkpoint: Checkpoint,
    /// The last offset processed in this run.
    last_processed: Option<i64>,
    /// Offsets processed in live mode since the last flush.
    live_range: Option<(i64, i64)>,
    /// Something was processed or closed since the last flush.
    dirty: bool,
    /// `committed_offset` as last written to the checkpoint.
    saved_committed: Option<i64>,
    last_message_at: Instant,
}

impl Part {
    fn flushed_through(&self) -> Option<i64> {
        self.checkpoint.flushed_through_offset
    }

    /// Past every offset whose rows are already durable: closing rules that depend on time
    /// (wall-clock idle, eviction) may act without diverging from what was written before.
    fn caught_up(&self) -> bool {
        match self.flushed_through() {
            None => true,
            Some(f) => self.last_processed.is_some_and(|p| p >= f),
        }
    }

    /// The offset to commit: nothing past the next unprocessed offset, past what is durable,
    /// or past the first message of a conference still open.
    fn commit_offset(&self) -> Option<i64> {
        let next = self.last_processed? + 1;
        let durable = self.flushed_through().map_or(0, |f| f + 1);
        let mut offset = next.min(durable);
        if let Some(open) = self.state.oldest_open_offset() {
            offset = offset.min(open);
        }
        Some(offset)
    }
}

struct Processor {
    config: ProcessorConfig,
    state_config: StateConfig,
    store: Store,
    metrics: Metrics,
    dead_letter: DeadLetter,
    end_offsets: Option<EndOffsets>,
    parts: BTreeMap<i32, Part>,
    /// When the last compaction pass ran (or the processor started).
    last_compaction: Instant,
}

fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Processor {
    fn new(
        config: ProcessorConfig,
        store: Store,
        metrics: Metrics,
        dead_letter: DeadLetter,
        end_offsets: Option<EndOffsets>,
    ) -> Self {
        Self {
            state_config: config.state_config(),
            config,
            store,
            metrics,
            dead_letter,
            end_offsets,
            parts: BTreeMap::new(),
            last_compaction: Instant::now(),
        }
    }

    async fn load(&self, partition: i32) -> Result<Part, ProcessorError> {
        let topic = &self.config.topic;
        let mut checkpoint = Checkpoint::load(&self.store, topic, partition).await?;
        checkpoint.recover(&self.store).await?;
        let state = PartitionState::restored(
            partition,
            self.state_config,
            checkpoint.history.clone(),
            checkpoint.clock_ms,
        );
        tracing::info!(
            topic = %topic,
            partition,
            flushed_through = ?checkpoint.flushed_through_offset,
            committed = ?checkpoint.committed_offset,
            remembered = checkpoint.history.len(),
            "partition assigned"
        );
        Ok(Part {
            tp: TopicPartition::new(topic.clone(), partition),
            state,
            saved_committed: checkpoint.committed_offset,
            checkpoint,
            last_processed: None,
            live_range: None,
            dirty: false,
            last_message_at: Instant::now(),
        })
    }

    async fn on_assigned(&mut self, tps: Vec<TopicPartition>) -> Result<(), ProcessorError> {
        for tp in tps {
            if tp.topic != self.config.topic || self.parts.contains_key(&tp.partition) {
                continue;
            }
            let part = self.load(tp.partition).await?;
            self.parts.insert(tp.partition, part);
        }
        self.update_open_gauge();
        Ok(())
    }

    /// Drops the state of revoked partitions without committing: the new owner replays from
    /// the last commit and the checkpoint, which are consistent on their own.
    fn on_revoked(&mut self, tps: &[TopicPartition]) {
        for tp in tps {
            if tp.topic == self.config.topic && self.parts.remove(&tp.partition).is_some() {
                tracing::info!(partition = tp.partition, "partition revoked; state dropped");
                self.metrics
                    .consumer_lag
                    .with_label_values(&[&tp.partition.to_string()])
                    .set(0);
            }
        }
        self.update_open_gauge();
    }

    async fn on_message(
        &mut self,
        message: Message,
        consumer: &mut dyn Consumer,
    ) -> Result<(), ProcessorError> {
        if message.topic != self.config.topic {
            return Ok(());
        }
        let partition = message.partition;
        if !self.parts.contains_key(&partition) {
            // Assignment always comes first; should a bus ever skip it, load lazily rather
            // than process without the checkpoint.
            let part = self.load(partition).await?;
            self.parts.insert(partition, part);
        }
        self.metrics.messages.inc();
        let Some(part) = self.parts.get_mut(&partition) else {
            return Ok(());
        };
        let offset = message.offset;
        part.last_message_at = Instant::now();
        let skip = part
            .checkpoint
            .committed_offset
            .is_some_and(|committed| offset < committed);
        let mode = if part.flushed_through().is_some_and(|f| offset <= f) {
            Mode::Rebuild
        } else {
            Mode::Live
        };
        if !skip {
            match decode_record(&message.payload) {
                Ok(envelopes) => {
                    for (index, envelope) in envelopes.iter().enumerate() {
                        let index = u32::try_from(index).unwrap_or(u32::MAX);
                        part.state
                            .apply(envelope, Position::new(offset, index), mode);
                    }
                }
                Err(e) if mode == Mode::Live => {
                    send_dead_letter(&self.dead_letter, &message, &e.to_string()).await?;
                    self.metrics.dead_letters.inc();
                }
                // Dead-lettered before this offset was flushed.
                Err(_) => {}
            }
        }
        part.last_processed = Some(offset);
        if mode == Mode::Live {
            part.live_range = Some(
                part.live_range
                    .map_or((offset, offset), |(f, _)| (f, offset)),
            );
        }
        part.dirty = true;
        let full = part.state.pending_rows() >= self.config.max_rows_per_file;
        self.enforce_open_limit();
        self.update_open_gauge();
        if full {
            self.flush(partition, consumer).await?;
        }
        Ok(())
    }

    /// Closes the conferences closest to their timeout while more than `max_open_conferences`
    /// are open. Partitions still replaying durable offsets are left alone: closing there
    /// would rewrite a summary already written with a truncated one.
    fn enforce_open_limit(&mut self) {
        let mut open: usize = self.parts.values().map(|p| p.state.open_count()).sum();
        while open > self.config.max_open_conferences {
            let victim = self
                .parts
                .iter()
                .filter(|(_, p)| p.caught_up())
                .filter_map(|(id, p)| p.state.next_deadline().map(|d| (d, *id)))
                .min();
            let Some((_, id)) = victim else {
                break;
            };
            let Some(part) = self.parts.get_mut(&id) else {
                break;
            };
            if !part.state.evict_one() {
                break;
            }
            part.dirty = true;
            open -= 1;
        }
    }

    fn update_open_gauge(&self) {
        let open: usize = self.parts.values().map(|p| p.state.open_count()).sum();
        self.metrics
            .open_conferences
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    async fn on_tick(&mut self, consumer: &mut dyn Consumer) -> Result<(), ProcessorError> {
        let timeout = self.config.conference_timeout();
        let now_ms = now_unix_ms();
        for part in self.parts.values_mut() {
            // A silent partition has no event clock moving: the wall clock closes its idle
            // conferences instead, once it has been silent for the whole timeout (a partition
            // with a backlog is never silent that long).
            if part.caught_up()
                && part.state.open_count() > 0
                && part.last_message_at.elapsed() >= timeout
                && part.state.expire(now_ms) > 0
            {
                part.dirty = true;
            }
        }
        self.update_open_gauge();
        self.flush_all(consumer).await?;
        self.update_lag().await;
        self.maybe_compact().await;
        Ok(())
    }

    /// A compaction pass over the owned partitions, every `compaction.interval_ms`, right after
    /// a flush tick: each partition's rows are then all in files, and nothing is written while
    /// the pass runs (this loop does both). Only partitions whose files are final up to their
    /// checkpoint take part (see [`crate::compaction`]); a failed pass leaves the lake readable
    /// and is retried at the next interval.
    async fn maybe_compact(&mut self) {
        let compaction = &self.config.compaction;
        if !compaction.enabled || self.last_compaction.elapsed() < compaction.interval() {
            return;
        }
        self.last_compaction = Instant::now();
        let bounds: BTreeMap<i32, Bounds> = self
            .parts
            .iter()
            .filter(|(_, p)| !p.dirty && p.checkpoint.pending.is_none())
            .filter_map(|(id, p)| {
                let flushed = p.flushed_through()?;
                let mut oldest_open = p.state.oldest_open_offset();
                // Until the replay has reached `flushed`, a conference open in the log may not
                // be known yet; it opened at or after the bus commit, which is at or after the
                // checkpoint's `committed_offset`.
                if !p.caught_up() {
                    let floor = p.checkpoint.committed_offset.unwrap_or(0);
                    oldest_open = Some(oldest_open.map_or(floor, |o| o.min(floor)));
                }
                Some((*id, Bounds::new(flushed, oldest_open)))
            })
            .collect();
        let started = Instant::now();
        match compaction::compact(
            &self.store,
            &bounds,
            compaction,
            self.config.row_group_rows,
            &self.metrics,
        )
        .await
        {
            Ok(stats) => tracing::debug!(
                partitions = bounds.len(),
                written = stats.written,
                merged = stats.merged,
                deleted = stats.deleted,
                elapsed_ms = started.elapsed().as_millis(),
                "compaction pass"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "compaction pass failed; retried at the next interval")
            }
        }
    }

    async fn update_lag(&self) {
        let Some(end_offsets) = self.end_offsets.clone() else {
            return;
        };
        let topic = self.config.topic.clone();
        let ends = match tokio::task::spawn_blocking(move || end_offsets(&topic)).await {
            Ok(Ok(ends)) => ends,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "end offsets unavailable");
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "end offsets task failed");
                return;
            }
        };
        for (partition, part) in &self.parts {
            let Some(end) = usize::try_from(*partition).ok().and_then(|i| ends.get(i)) else {
                continue;
            };
            let position = part
                .last_processed
                .map(|p| p + 1)
                .or(part.checkpoint.committed_offset)
                .unwrap_or(0);
            self.metrics
                .consumer_lag
                .with_label_values(&[&partition.to_string()])
                .set((end - position).max(0));
        }
    }

    /// At a clean stop: each checkpoint is written once more with the offset committed after
    /// it was last saved, so the next start knows where the bus resumes (compaction relies on
    /// it to know that nothing before it is to be replayed).
    async fn save_commits(&mut self) -> Result<(), ProcessorError> {
        for part in self.parts.values_mut() {
            if part.checkpoint.pending.is_some()
                || part.saved_committed == part.checkpoint.committed_offset
            {
                continue;
            }
            part.checkpoint.save(&self.store).await?;
            part.saved_committed = part.checkpoint.committed_offset;
        }
        Ok(())
    }

    async fn flush_all(&mut self, consumer: &mut dyn Consumer) -> Result<(), ProcessorError> {
        let partitions: Vec<i32> = self
            .parts
            .iter()
            .filter(|(_, p)| p.dirty)
            .map(|(id, _)| *id)
            .collect();
        for partition in partitions {
            self.flush(partition, consumer).await?;
        }
        Ok(())
    }

    /// The flush protocol of one partition (module docs).
    async fn flush(
        &mut self,
        partition: i32,
        consumer: &mut dyn Consumer,
    ) -> Result<(), ProcessorError> {
        let started = Instant::now();
        let row_group_rows = self.config.row_group_rows;
        let Some(part) = self.parts.get_mut(&partition) else {
            return Ok(());
        };
        let output = part.state.take_output();
        let range = part.live_range.take();
        // Encoding is CPU work (sorting, zstd): off the async executor.
        let files = tokio::task::spawn_blocking(move || {
            plan_files(partition, range, &output, row_group_rows)
        })
        .await
        .map_err(|e| ProcessorError::Task(e.to_string()))??;

        if !files.is_empty() {
            // (a) Announce the files, so a crash before (c) is undone at the next start.
            part.checkpoint.pending = Some(Pending {
                range,
                files: files.iter().map(|f| f.path.clone()).collect(),
            });
            part.checkpoint.save(&self.store).await?;
            // (b) Write them, each atomically and durably.
            for file in &files {
                self.store.put(&file.path, file.bytes.clone()).await?;
                self.metrics
                    .files_written
                    .with_label_values(&[file.table])
                    .inc();
                self.metrics
                    .rows_written
                    .with_label_values(&[file.table])
                    .inc_by(u64::try_from(file.rows).unwrap_or(u64::MAX));
            }
        }
        // (c) Everything processed is durable now.
        if let Some((_, last)) = range {
            let flushed = part
                .checkpoint
                .flushed_through_offset
                .map_or(last, |f| f.max(last));
            part.checkpoint.flushed_through_offset = Some(flushed);
        }
        part.checkpoint.pending = None;
        part.checkpoint.clock_ms = part.state.clock_ms();
        // Pruned by the offset committed before this flush: the bus may still replay from it
        // if the commit below is lost.
        part.checkpoint.history = part.state.history(part.checkpoint.committed_offset);
        part.checkpoint.save(&self.store).await?;
        part.saved_committed = part.checkpoint.committed_offset;
        part.dirty = false;

        // (d) Commit no further than what a replay needs.
        if let Some(offset) = part.commit_offset()
            && part.checkpoint.committed_offset.is_none_or(|c| offset > c)
        {
            match consumer.commit(&[(part.tp.clone(), offset)]).await {
                Ok(()) => part.checkpoint.committed_offset = Some(offset),
                // A commit only shortens a future replay; the files and the checkpoint are
                // consistent without it, so a transient failure (a rebalance in progress) waits
                // for the next flush instead of stopping the processor.
                Err(e) if e.is_retriable() => {
                    part.dirty = true;
                    tracing::warn!(partition, offset, error = %e, "commit failed; retried at the next flush");
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.metrics
            .flush_duration
            .observe(started.elapsed().as_secs_f64());
        tracing::debug!(
            partition,
            files = files.len(),
            range = ?range,
            committed = ?part.checkpoint.committed_offset,
            open = part.state.open_count(),
            "flushed"
        );
        Ok(())
    }
}

/// Dead-letters a record, retrying while the bus says a retry can succeed: the record's offset
/// may be counted as processed only once it is in the dead-letter topic.
async fn send_dead_letter(
    dead_letter: &DeadLetter,
    message: &Message,
    reason: &str,
) -> Result<(), ProcessorError> {
    let mut delay = Duration::from_millis(50);
    let mut attempt = 0;
    loop {
        match dead_letter.send(message, reason).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_retriable() && attempt < 10 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "dead-letter send failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
