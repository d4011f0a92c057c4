//! Times the processor's stages in one thread on the records of a filled embedded log, without
//! the disk: decoding (`decode_record`), the state machine (`PartitionState::apply`, with the
//! drop of the decoded record), and a
//! flush's encoding (`plan_files`: rows to Arrow to zstd Parquet), every `FLUSH_RECORDS` records
//! of a partition. It splits the cost that `scripts/bench-processor` measures end to end.
//! Usage: `cargo run --release -p callscope-processor --example stages -- DATA_DIR [FLUSH_RECORDS]`
//! where DATA_DIR holds the `bus.redb` that `callscope ingest --data-dir DATA_DIR` filled.
//!
//! `plan` is also split by table for `events`, `stats_samples` and `track_quality`: their sorted
//! batches, then their Parquet encoding. `STAGES_FLOOR=N` instead
//! times N passes of what no design of the processor can skip on this bus: serde_json scanning each
//! record without building anything (`IgnoredAny`), next to the full `decode_record`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use callscope_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use callscope_bus::{Bus, ConsumerEvent, Message};
use callscope_processor::ProcessorConfig;
use callscope_processor::state::{Mode, PartitionState, Position};
use callscope_processor::writer::{encode_parquet, plan_files};
use callscope_schemas::{Payload, decode_record};

/// Counts allocations, to split them by stage as the time is split.
#[global_allocator]
static GLOBAL: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

fn allocs() -> u64 {
    let stats = GLOBAL.stats();
    (stats.allocations + stats.reallocations) as u64
}

/// A partition's state, its records since the last flush, and their offset range.
type Partition = (PartitionState, usize, Option<(i64, i64)>);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: stages DATA_DIR [FLUSH_RECORDS]")?,
    );
    let flush_records: usize = args.next().map_or(Ok(1000), |s| s.parse())?;
    let bus = EmbeddedBus::open(EmbeddedConfig::new(dir.join("bus.redb")))?;
    let config = ProcessorConfig::default();
    let group = format!("stages-{}", std::process::id());
    let mut consumer = bus.consumer(&group, &[config.topic.as_str()])?;
    let mut messages: Vec<Message> = Vec::new();
    while let Ok(event) = tokio::time::timeout(Duration::from_secs(2), consumer.next()).await {
        if let ConsumerEvent::Message(m) = event? {
            messages.push(m);
        }
    }
    let bytes: usize = messages.iter().map(|m| m.payload.len()).sum();

    // STAGES_DECODE_ONLY=N decodes every record N times and stops: a profile of decoding alone.
    if let Some(n) = std::env::var("STAGES_DECODE_ONLY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        for _ in 0..n {
            for m in &messages {
                std::hint::black_box(decode_record(&m.payload)?);
            }
        }
        return Ok(());
    }
    let samples_in = |messages: &[Message]| -> Result<usize, Box<dyn std::error::Error>> {
        let mut n = 0;
        for m in messages {
            n += decode_record(&m.payload)?
                .iter()
                .filter(|e| matches!(e.payload, Payload::StatsSample(_)))
                .count();
        }
        Ok(n)
    };
    if let Some(passes) = std::env::var("STAGES_FLOOR")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        let samples = samples_in(&messages)? as f64 * f64::from(passes.max(1));
        let started = Instant::now();
        for _ in 0..passes.max(1) {
            for m in &messages {
                let text = std::str::from_utf8(&m.payload)?;
                std::hint::black_box(serde_json::from_str::<serde::de::IgnoredAny>(text)?);
            }
        }
        let scan = started.elapsed();
        let started = Instant::now();
        for _ in 0..passes.max(1) {
            for m in &messages {
                std::hint::black_box(decode_record(&m.payload)?);
            }
        }
        let decode = started.elapsed();
        println!(
            "json scan (IgnoredAny) {:>7.2} us/sample",
            scan.as_secs_f64() * 1e6 / samples
        );
        println!(
            "decode_record          {:>7.2} us/sample",
            decode.as_secs_f64() * 1e6 / samples
        );
        return Ok(());
    }
    let mut samples = 0usize;
    // The part of `plan` of each table held as columns: its sorted batches, then their Parquet
    // encoding.
    let mut split_times = [(Duration::ZERO, Duration::ZERO); 3];
    let mut states: BTreeMap<i32, Partition> = BTreeMap::new();
    let (mut decode, mut apply, mut plan) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    // Allocations (and reallocations) made by each stage.
    let (mut decode_n, mut apply_n, mut plan_n) = (0u64, 0u64, 0u64);
    let (mut files, mut file_bytes, mut rows) = (0usize, 0usize, 0usize);
    let mut flush = |state: &mut PartitionState,
                     partition: i32,
                     range: Option<(i64, i64)>|
     -> Result<Duration, Box<dyn std::error::Error>> {
        let started = Instant::now();
        let mut out = state.take_output();
        rows += out.row_count();
        // The three tables held as columns are encoded here as `plan_files` encodes them, each
        // timed on its own, then cleared; `plan_files` encodes the rest.
        macro_rules! split {
            ($i:expr, $table:expr, $rows:expr) => {
                let split = Instant::now();
                let batches = $rows.batches()?;
                split_times[$i].0 += split.elapsed();
                let split = Instant::now();
                for (_, batch) in &batches {
                    let bytes = encode_parquet($table, batch, config.row_group_rows)?;
                    files += 1;
                    file_bytes += bytes.len();
                }
                drop(batches);
                $rows.clear();
                split_times[$i].1 += split.elapsed();
            };
        }
        split!(0, "events", out.events);
        split!(1, "stats_samples", out.stats_samples);
        split!(2, "track_quality", out.track_quality);
        let planned = plan_files(partition, range, &out, config.row_group_rows)?;
        files += planned.len();
        file_bytes += planned.iter().map(|f| f.bytes.len()).sum::<usize>();
        Ok(started.elapsed())
    };
    // Each record is decoded, applied and dropped in turn, as the processor does: decoding
    // them all first would leave apply reading cold memory.
    for m in &messages {
        let (started, before) = (Instant::now(), allocs());
        let envelopes = decode_record(&m.payload)?;
        decode += started.elapsed();
        decode_n += allocs() - before;
        samples += envelopes
            .iter()
            .filter(|e| matches!(e.payload, Payload::StatsSample(_)))
            .count();
        let (state, pending, range) = states.entry(m.partition).or_insert_with(|| {
            (
                PartitionState::new(m.partition, config.state_config()),
                0,
                None,
            )
        });
        let (started, before) = (Instant::now(), allocs());
        for (i, env) in envelopes.iter().enumerate() {
            state.apply(env, Position::new(m.offset, i as u32), Mode::Live);
        }
        drop(envelopes);
        apply += started.elapsed();
        apply_n += allocs() - before;
        *range = Some(range.map_or((m.offset, m.offset), |(f, _)| (f, m.offset)));
        *pending += 1;
        if *pending >= flush_records {
            let before = allocs();
            plan += flush(state, m.partition, range.take())?;
            plan_n += allocs() - before;
            *pending = 0;
        }
    }
    for (partition, (state, _, range)) in &mut states {
        let (started, before) = (Instant::now(), allocs());
        state.expire(i64::MAX / 2);
        apply += started.elapsed();
        apply_n += allocs() - before;
        let before = allocs();
        plan += flush(state, *partition, range.take())?;
        plan_n += allocs() - before;
    }
    let each = |n: u64| n as f64 / samples as f64;
    let per = |d: Duration| d.as_secs_f64() * 1e6 / samples as f64;
    let total = decode + apply + plan;
    println!(
        "{} records ({:.1} MB), {samples} stats samples, {rows} rows, {files} files ({:.1} MB)",
        messages.len(),
        bytes as f64 / 1e6,
        file_bytes as f64 / 1e6
    );
    println!(
        "decode {:>7.2} us/sample {:>7.1} allocations/sample",
        per(decode),
        each(decode_n)
    );
    println!(
        "apply  {:>7.2} us/sample {:>7.1} allocations/sample",
        per(apply),
        each(apply_n)
    );
    println!(
        "plan   {:>7.2} us/sample {:>7.1} allocations/sample",
        per(plan),
        each(plan_n)
    );
    for (table, (batches, parquet)) in ["events", "stats_samples", "track_quality"]
        .iter()
        .zip(split_times)
    {
        println!(
            "  {table:<14} batches {:>6.2} us/sample, parquet {:>6.2} us/sample",
            per(batches),
            per(parquet)
        );
    }
    println!(
        "total  {:>7.2} us/sample = {:.0} samples/s on one thread (no disk)",
        per(total),
        samples as f64 / total.as_secs_f64()
    );
    Ok(())
}
