//! Times the processor's stages in one thread on the records of a filled embedded log, without
//! the disk: decoding (`decode_record`), the state machine (`PartitionState::apply`), and a
//! flush's encoding (`plan_files`: rows to Arrow to zstd Parquet), every `FLUSH_RECORDS` records
//! of a partition. It splits the cost that `scripts/bench-processor` measures end to end.
//! Usage: `cargo run --release -p callscope-processor --example stages -- DATA_DIR [FLUSH_RECORDS]`
//! where DATA_DIR holds the `bus.redb` that `callscope ingest --data-dir DATA_DIR` filled.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use callscope_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use callscope_bus::{Bus, ConsumerEvent, Message};
use callscope_processor::ProcessorConfig;
use callscope_processor::state::{Mode, PartitionState, Position};
use callscope_processor::writer::plan_files;
use callscope_schemas::{Payload, decode_record};

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

    let started = Instant::now();
    let mut decoded = Vec::with_capacity(messages.len());
    for m in &messages {
        decoded.push(decode_record(&m.payload)?);
    }
    let decode = started.elapsed();
    // STAGES_DECODE_ONLY=N decodes N more times and stops: a profile of decoding alone.
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
    let samples = decoded
        .iter()
        .flatten()
        .filter(|e| matches!(e.payload, Payload::StatsSample(_)))
        .count();

    let mut states: BTreeMap<i32, Partition> = BTreeMap::new();
    let (mut apply, mut plan) = (Duration::ZERO, Duration::ZERO);
    let (mut files, mut file_bytes, mut rows) = (0usize, 0usize, 0usize);
    let mut flush = |state: &mut PartitionState,
                     partition: i32,
                     range: Option<(i64, i64)>|
     -> Result<Duration, Box<dyn std::error::Error>> {
        let started = Instant::now();
        let out = state.take_output();
        rows += out.row_count();
        let planned = plan_files(partition, range, &out, config.row_group_rows)?;
        files += planned.len();
        file_bytes += planned.iter().map(|f| f.bytes.len()).sum::<usize>();
        drop(out);
        Ok(started.elapsed())
    };
    for (m, envelopes) in messages.iter().zip(&decoded) {
        let (state, pending, range) = states.entry(m.partition).or_insert_with(|| {
            (
                PartitionState::new(m.partition, config.state_config()),
                0,
                None,
            )
        });
        let started = Instant::now();
        for (i, env) in envelopes.iter().enumerate() {
            state.apply(env, Position::new(m.offset, i as u32), Mode::Live);
        }
        apply += started.elapsed();
        *range = Some(range.map_or((m.offset, m.offset), |(f, _)| (f, m.offset)));
        *pending += 1;
        if *pending >= flush_records {
            plan += flush(state, m.partition, range.take())?;
            *pending = 0;
        }
    }
    for (partition, (state, _, range)) in &mut states {
        let started = Instant::now();
        state.expire(i64::MAX / 2);
        apply += started.elapsed();
        plan += flush(state, *partition, range.take())?;
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / samples as f64;
    let total = decode + apply + plan;
    println!(
        "{} records ({:.1} MB), {samples} stats samples, {rows} rows, {files} files ({:.1} MB)",
        messages.len(),
        bytes as f64 / 1e6,
        file_bytes as f64 / 1e6
    );
    println!("decode {:>7.2} us/sample", per(decode));
    println!("apply  {:>7.2} us/sample", per(apply));
    println!("plan   {:>7.2} us/sample", per(plan));
    println!(
        "total  {:>7.2} us/sample = {:.0} samples/s on one thread (no disk)",
        per(total),
        samples as f64 / total.as_secs_f64()
    );
    Ok(())
}
