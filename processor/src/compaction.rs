//! Compaction: merges the small files of one directory and bus partition into one file whose
//! name states the range it replaces (docs/processor.md, "Compaction").
//!
//! - Which files a reader reads is decided by `callscope_schemas::lake_files::visible`: a
//!   compacted file hides every file of its bus partition whose range lies inside its own.
//! - Only durable, final files are merged: per-message files up to the partition's
//!   `flushed_through_offset`, summary files of segments opened before the oldest open
//!   conference (and up to `flushed_through_offset`). No later write can land inside a merged
//!   range: flushes write offsets after `flushed_through_offset`, and a summary file is written
//!   when its segment closes, which for these segments has already happened.
//! - The merged file is written atomically (temporary name, fsync, rename). The files it
//!   replaces are deleted only once it has existed for `grace_ms`, by a later pass, so a query
//!   that listed them before still reads them. A crash at any point leaves either the inputs
//!   alone, or inputs and merged file (the inputs hidden), or the merged file alone.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use arrow::record_batch::RecordBatch;
use callscope_schemas::lake_files::{FileKind, FileRange, visible};
use callscope_schemas::tables;
use futures::TryStreamExt as _;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::config::CompactionConfig;
use crate::error::ProcessorError;
use crate::metrics::Metrics;
use crate::rows::RowError;
use crate::writer::{Store, encode_parquet};

/// A file as listed: its path relative to the output root, size and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    pub rel: String,
    pub size: u64,
    pub modified_ms: i64,
}

impl Store {
    /// Every file under `dir` (relative to the output root), recursively, hidden temporary
    /// files included; an absent directory is empty.
    pub async fn list_files(&self, dir: &str) -> Result<Vec<ListedFile>, ProcessorError> {
        match self {
            Store::Local { root } => {
                let root = root.clone();
                let dir = dir.to_owned();
                tokio::task::spawn_blocking(move || {
                    let mut out = Vec::new();
                    list_local(&root, &dir, &mut out)?;
                    out.sort_by(|a, b| a.rel.cmp(&b.rel));
                    Ok(out)
                })
                .await
                .map_err(|e| ProcessorError::Task(e.to_string()))?
            }
            Store::Object { store, prefix } => {
                let full = if prefix.is_empty() {
                    dir.to_owned()
                } else {
                    format!("{prefix}/{dir}")
                };
                let path = object_store::path::Path::parse(&full)
                    .map_err(|e| ProcessorError::ObjectStore(e.into()))?;
                let metas: Vec<object_store::ObjectMeta> =
                    store.list(Some(&path)).try_collect().await?;
                let strip = if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}/")
                };
                let mut out: Vec<ListedFile> = metas
                    .into_iter()
                    .filter_map(|m| {
                        let location = m.location.as_ref();
                        let rel = location.strip_prefix(strip.as_str())?.to_owned();
                        Some(ListedFile {
                            rel,
                            size: m.size,
                            modified_ms: m.last_modified.timestamp_millis(),
                        })
                    })
                    .collect();
                out.sort_by(|a, b| a.rel.cmp(&b.rel));
                Ok(out)
            }
        }
    }
}

fn list_local(
    root: &std::path::Path,
    rel: &str,
    out: &mut Vec<ListedFile>,
) -> Result<(), ProcessorError> {
    let mut path = root.to_path_buf();
    path.extend(rel.split('/').filter(|s| !s.is_empty()));
    let entries = match std::fs::read_dir(&path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ProcessorError::io(&path, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| ProcessorError::io(&path, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{}/{name}", rel.trim_end_matches('/'))
        };
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            // Deleted while listing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(ProcessorError::io(entry.path(), e)),
        };
        if meta.is_dir() {
            list_local(root, &child, out)?;
        } else {
            let modified_ms = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            out.push(ListedFile {
                rel: child,
                size: meta.len(),
                modified_ms,
            });
        }
    }
    Ok(())
}

/// Up to which offsets a bus partition's files are final, so they may be merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Per-message files whose last offset is at most this (`flushed_through_offset`).
    pub rows: i64,
    /// Summary files whose segment opened at or before this: before the oldest open
    /// conference's first offset, and at most `flushed_through_offset`.
    pub summaries: i64,
}

impl Bounds {
    /// The bounds of a partition flushed through `flushed_through` whose oldest open conference
    /// (if any) opened at `oldest_open`.
    #[must_use]
    pub fn new(flushed_through: i64, oldest_open: Option<i64>) -> Self {
        Self {
            rows: flushed_through,
            summaries: oldest_open.map_or(flushed_through, |o| flushed_through.min(o - 1)),
        }
    }

    fn of(&self, kind: FileKind) -> i64 {
        match kind {
            FileKind::Rows => self.rows,
            FileKind::Summaries => self.summaries,
        }
    }
}

/// A file of one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirFile {
    pub name: String,
    pub size: u64,
    pub modified_ms: i64,
}

/// What a pass does in one directory for one bus partition: indices into its files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirPlan {
    /// Runs of files to merge, each into one compacted file, in offset order.
    pub merges: Vec<Vec<usize>>,
    /// Files hidden by a compacted file that has existed for the grace period.
    pub deletes: Vec<usize>,
}

/// Plans one directory (`files`: its `.parquet` files, every bus partition's) for bus partition
/// `partition`. Pure: the rule, the bounds, the sizes and the clock decide.
#[must_use]
pub fn plan_dir(
    files: &[DirFile],
    partition: i32,
    bounds: Bounds,
    config: &CompactionConfig,
    now_ms: i64,
) -> DirPlan {
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    let shown = visible(&names);
    let ranges: Vec<Option<FileRange>> = names
        .iter()
        .map(|n| FileRange::parse(n).filter(|r| r.partition == partition))
        .collect();
    let grace = i64::try_from(config.grace_ms).unwrap_or(i64::MAX);
    let mut plan = DirPlan::default();

    // Hidden files go once the oldest compacted file hiding them is older than the grace.
    for (i, range) in ranges.iter().enumerate() {
        let Some(range) = range else { continue };
        if shown[i] {
            continue;
        }
        let hidden_since = ranges
            .iter()
            .zip(files)
            .filter_map(|(c, f)| c.filter(|c| c.covers(range)).map(|_| f.modified_ms))
            .min();
        if hidden_since.is_some_and(|since| now_ms.saturating_sub(since) >= grace) {
            plan.deletes.push(i);
        }
    }

    // Runs of consecutive small, final, visible files, per kind, in offset order.
    for kind in [FileKind::Rows, FileKind::Summaries] {
        let mut order: Vec<(FileRange, usize)> = ranges
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.filter(|r| r.kind == kind && shown[i]).map(|r| (r, i)))
            .collect();
        order.sort();
        let bound = bounds.of(kind);
        let mut run: Vec<usize> = Vec::new();
        let mut run_bytes: u64 = 0;
        let mut close = |run: &mut Vec<usize>, run_bytes: &mut u64| {
            if run.len() >= config.min_files.max(2) {
                plan.merges.push(std::mem::take(run));
            } else {
                run.clear();
            }
            *run_bytes = 0;
        };
        for (range, i) in &order {
            let size = files[*i].size;
            let eligible = range.hi <= bound && size < config.target_bytes;
            if !eligible {
                close(&mut run, &mut run_bytes);
                continue;
            }
            if !run.is_empty() && run_bytes.saturating_add(size) > config.target_bytes {
                close(&mut run, &mut run_bytes);
            }
            run.push(*i);
            run_bytes = run_bytes.saturating_add(size);
        }
        close(&mut run, &mut run_bytes);
    }
    // A merged range must hold exactly its run: no other visible file of the partition may
    // lie inside or across it (impossible by construction; checked, never assumed).
    plan.merges.retain(|run| {
        let (lo, hi) = run_range(&ranges, run);
        let kind = run.first().and_then(|i| ranges[*i]).map(|r| r.kind);
        ranges.iter().enumerate().all(|(i, r)| match r {
            Some(r) if shown[i] && Some(r.kind) == kind && !run.contains(&i) => {
                r.hi < lo || r.lo > hi
            }
            _ => true,
        })
    });
    plan
}

fn run_range(ranges: &[Option<FileRange>], run: &[usize]) -> (i64, i64) {
    let lo = run
        .iter()
        .filter_map(|i| ranges[*i])
        .map(|r| r.lo)
        .min()
        .unwrap_or(0);
    let hi = run
        .iter()
        .filter_map(|i| ranges[*i])
        .map(|r| r.hi)
        .max()
        .unwrap_or(0);
    (lo, hi)
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassStats {
    /// Compacted files written.
    pub written: usize,
    /// Input files merged into them.
    pub merged: usize,
    /// Hidden files deleted after the grace period.
    pub deleted: usize,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One compaction pass over every table, for the bus partitions in `partitions` (those this
/// processor owns, flushed and caught up, with their bounds).
pub async fn compact(
    store: &Store,
    partitions: &BTreeMap<i32, Bounds>,
    config: &CompactionConfig,
    row_group_rows: usize,
    metrics: &Metrics,
) -> Result<PassStats, ProcessorError> {
    let mut stats = PassStats::default();
    if partitions.is_empty() {
        return Ok(stats);
    }
    for (table, _) in tables::all_tables() {
        let listed = store.list_files(table).await?;
        let mut dirs: BTreeMap<&str, Vec<DirFile>> = BTreeMap::new();
        for file in &listed {
            let Some((dir, name)) = file.rel.rsplit_once('/') else {
                continue;
            };
            if name.starts_with('.') || !name.ends_with(".parquet") {
                continue;
            }
            dirs.entry(dir).or_default().push(DirFile {
                name: name.to_owned(),
                size: file.size,
                modified_ms: file.modified_ms,
            });
        }
        for (dir, files) in dirs {
            for (partition, bounds) in partitions {
                let plan = plan_dir(&files, *partition, *bounds, config, now_ms());
                for i in &plan.deletes {
                    store.delete(&format!("{dir}/{}", files[*i].name)).await?;
                    stats.deleted += 1;
                    metrics
                        .compaction_files
                        .with_label_values(&["deleted"])
                        .inc();
                }
                for run in &plan.merges {
                    let names: Vec<&str> = run.iter().map(|i| files[*i].name.as_str()).collect();
                    let (written, merged) =
                        merge(store, table, dir, *partition, &names, row_group_rows).await?;
                    stats.written += written;
                    stats.merged += merged;
                    metrics
                        .compaction_files
                        .with_label_values(&["written"])
                        .inc_by(written as u64);
                    metrics
                        .compaction_files
                        .with_label_values(&["merged"])
                        .inc_by(merged as u64);
                }
            }
        }
    }
    metrics.compaction_runs.inc();
    Ok(stats)
}

/// Merges the files `names` of `dir` (a run of one bus partition, in offset order) into
/// compacted files: one per maximal sub-run of files with the same schema (a table that gained
/// a column has older files without it) of at least two files. Returns (written, merged).
async fn merge(
    store: &Store,
    table: &'static str,
    dir: &str,
    partition: i32,
    names: &[&str],
    row_group_rows: usize,
) -> Result<(usize, usize), ProcessorError> {
    let mut inputs: Vec<(FileRange, Vec<RecordBatch>)> = Vec::new();
    for name in names {
        let Some(range) = FileRange::parse(name) else {
            continue;
        };
        let Some(bytes) = store.get(&format!("{dir}/{name}")).await? else {
            // Gone since the listing (another pass?): merge nothing of this run.
            tracing::warn!(dir, name, "compaction input vanished; run skipped");
            return Ok((0, 0));
        };
        let batches = tokio::task::spawn_blocking(move || -> Result<_, ProcessorError> {
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
            let batches: Vec<RecordBatch> = reader
                .collect::<Result<_, _>>()
                .map_err(|source| RowError::Arrow { table, source })?;
            Ok(batches)
        })
        .await
        .map_err(|e| ProcessorError::Task(e.to_string()))??;
        inputs.push((range, batches));
    }
    let schema_of = |batches: &[RecordBatch]| batches.first().map(RecordBatch::schema);
    let mut written = 0;
    let mut merged = 0;
    let mut start = 0;
    while start < inputs.len() {
        let schema = schema_of(&inputs[start].1);
        let mut end = start + 1;
        while end < inputs.len() && schema_of(&inputs[end].1) == schema {
            end += 1;
        }
        let group = &inputs[start..end];
        start = end;
        let (Some(schema), true) = (schema, group.len() >= 2) else {
            continue;
        };
        let lo = group.iter().map(|(r, _)| r.lo).min().unwrap_or(0);
        let hi = group.iter().map(|(r, _)| r.hi).max().unwrap_or(0);
        let kind = group[0].0.kind;
        let batches: Vec<RecordBatch> = group.iter().flat_map(|(_, b)| b.iter().cloned()).collect();
        let bytes = tokio::task::spawn_blocking(move || -> Result<_, ProcessorError> {
            let all = concat_batches(&schema, &batches)
                .map_err(|source| RowError::Arrow { table, source })?;
            let sorted = sort(table, &all)?;
            encode_parquet(table, &sorted, row_group_rows)
        })
        .await
        .map_err(|e| ProcessorError::Task(e.to_string()))??;
        let name = FileRange::compacted_name(partition, kind, lo, hi);
        store.put(&format!("{dir}/{name}"), bytes).await?;
        tracing::info!(dir, name, inputs = group.len(), "compacted");
        written += 1;
        merged += group.len();
    }
    Ok((written, merged))
}

/// Sorts merged rows by the table's sort key, as every file is.
fn sort(table: &'static str, batch: &RecordBatch) -> Result<RecordBatch, ProcessorError> {
    let columns: Vec<SortColumn> = tables::sort_key(table)
        .iter()
        .filter_map(|name| batch.column_by_name(name))
        .map(|values| SortColumn {
            values: values.clone(),
            options: None,
        })
        .collect();
    if columns.is_empty() || batch.num_rows() < 2 {
        return Ok(batch.clone());
    }
    let indices =
        lexsort_to_indices(&columns, None).map_err(|source| RowError::Arrow { table, source })?;
    Ok(take_record_batch(batch, &indices).map_err(|source| RowError::Arrow { table, source })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_file(lo: i64, hi: i64, size: u64) -> DirFile {
        DirFile {
            name: format!("p0-o{lo:020}-{hi:020}.parquet"),
            size,
            modified_ms: 0,
        }
    }

    fn config() -> CompactionConfig {
        CompactionConfig {
            enabled: true,
            interval_ms: 1,
            min_files: 3,
            target_bytes: 100,
            grace_ms: 1_000,
        }
    }

    #[test]
    fn runs_of_small_final_files_are_merged_up_to_the_target_size() {
        // Offsets 0..=69 in 7 files of 30 bytes; a 100-byte file at 70..=79 (too big), then
        // 80..=99 small but past the flushed offset 89 for the second.
        let mut files: Vec<DirFile> = (0..7).map(|k| rows_file(k * 10, k * 10 + 9, 30)).collect();
        files.push(rows_file(70, 79, 100));
        files.push(rows_file(80, 89, 10));
        files.push(rows_file(90, 99, 10));
        // Another bus partition's files are never touched.
        files.push(DirFile {
            name: "p1-o00000000000000000000-00000000000000000099.parquet".into(),
            size: 1,
            modified_ms: 0,
        });
        let plan = plan_dir(&files, 0, Bounds::new(89, None), &config(), 0);
        // 30+30+30 = 90 ≤ 100, a fourth would make 120: runs of 3, 3, and 1 (too few); the
        // big file ends the run; 80..=89 alone is too few; 90..=99 is not flushed.
        assert_eq!(plan.merges, vec![vec![0, 1, 2], vec![3, 4, 5]]);
        assert!(plan.deletes.is_empty());
    }

    #[test]
    fn summaries_stop_before_the_oldest_open_conference() {
        let summary = |first: i64| DirFile {
            name: format!("p0-c{first:020}.parquet"),
            size: 1,
            modified_ms: 0,
        };
        let files: Vec<DirFile> = [3, 10, 17, 25, 40].into_iter().map(summary).collect();
        // Flushed through 100, a conference open since offset 25: the segments opened at 3,
        // 10 and 17 are closed for good; those named 25 and 40 are not below 25, so they wait
        // (a segment opened after an open one is not merged before it).
        let plan = plan_dir(&files, 0, Bounds::new(100, Some(25)), &config(), 0);
        assert_eq!(Bounds::new(100, Some(25)).summaries, 24);
        assert_eq!(plan.merges, vec![vec![0, 1, 2]]);
        // Nothing open: all five.
        let plan = plan_dir(&files, 0, Bounds::new(100, None), &config(), 0);
        assert_eq!(plan.merges, vec![vec![0, 1, 2, 3, 4]]);
    }

    #[test]
    fn hidden_files_are_deleted_only_after_the_grace_period() {
        let mut files: Vec<DirFile> = (0..3).map(|k| rows_file(k * 10, k * 10 + 9, 30)).collect();
        files.push(DirFile {
            name: FileRange::compacted_name(0, FileKind::Rows, 0, 29),
            size: 90,
            modified_ms: 5_000,
        });
        files.push(rows_file(30, 39, 30));
        // At 5 999 the merged file is 999 ms old: nothing deleted; the merged file and the
        // one after it are two files only, below min_files 3.
        let plan = plan_dir(&files, 0, Bounds::new(39, None), &config(), 5_999);
        assert_eq!(plan, DirPlan::default());
        // At 6 000 (1 000 ms): the three inputs go.
        let plan = plan_dir(&files, 0, Bounds::new(39, None), &config(), 6_000);
        assert_eq!(plan.deletes, vec![0, 1, 2]);
        assert!(plan.merges.is_empty());
    }

    #[test]
    fn a_second_pass_merges_the_merged_file_with_newer_ones() {
        let mut files = vec![DirFile {
            name: FileRange::compacted_name(0, FileKind::Rows, 0, 29),
            size: 40,
            modified_ms: 0,
        }];
        files.extend((3..6).map(|k| rows_file(k * 10, k * 10 + 9, 10)));
        let plan = plan_dir(&files, 0, Bounds::new(59, None), &config(), 0);
        assert_eq!(plan.merges, vec![vec![0, 1, 2, 3]]);
    }
}
