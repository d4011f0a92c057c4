//! Times the Parquet encoding of a flush (`writer::encode_parquet`, zstd, sorted batches) on the
//! files of an existing lake, to split the processor's flush cost from the rest of the pipeline.
//! Usage: `cargo run -p callscope-processor --example encode -- LAKE_DIR [ITERATIONS]`.
//! Reads every `events` and `stats_samples` file of the lake, re-encodes each table's rows as one
//! batch of ~10,000 rows at a time (the size of one partition's flush in `scripts/bench-processor`)
//! and prints the time per row and the bytes written.

use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;
use callscope_processor::writer::encode_parquet;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let lake = PathBuf::from(args.next().ok_or("usage: encode LAKE_DIR [ITERATIONS]")?);
    let iterations: usize = args.next().map_or(Ok(3), |s| s.parse())?;
    for table in ["events", "stats_samples"] {
        let mut paths = Vec::new();
        files(&lake.join(table), &mut paths);
        let mut batches: Vec<RecordBatch> = Vec::new();
        for path in &paths {
            let bytes = bytes::Bytes::from(std::fs::read(path)?);
            for batch in ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()? {
                batches.push(batch?);
            }
        }
        let Some(first) = batches.first() else {
            continue;
        };
        let all = concat_batches(&first.schema(), &batches)?;
        let chunk = 10_000.min(all.num_rows()).max(1);
        let mut best = f64::MAX;
        let mut size = 0;
        for _ in 0..iterations {
            let started = Instant::now();
            size = 0;
            let mut offset = 0;
            while offset < all.num_rows() {
                let len = chunk.min(all.num_rows() - offset);
                size += encode_parquet(
                    callscope_schemas::tables::all_tables()
                        .into_iter()
                        .map(|(name, _)| name)
                        .find(|name| *name == table)
                        .ok_or("unknown table")?,
                    &all.slice(offset, len),
                    131_072,
                )?
                .len();
                offset += len;
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        let rows = all.num_rows() as f64;
        println!(
            "{table}: {} rows in {} files, encode {:.2} us/row (best of {iterations}), {:.0} bytes/row",
            all.num_rows(),
            paths.len(),
            best * 1e6 / rows,
            size as f64 / rows
        );
    }
    Ok(())
}
