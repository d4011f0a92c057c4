//! Parquet files and where they go.
//!
//! - [`Store`]: a local directory (files written to a temporary name, fsynced, renamed, and the
//!   directory fsynced) or an S3-compatible bucket through `object_store` (a PUT is atomic);
//! - [`plan_files`]: the files of one flush, named from what they cover so a replay rewrites
//!   instead of duplicating:
//!   `{table}/app_id={app}/date={YYYY-MM-DD}/p{partition}-o{first:020}-{last:020}.parquet` for
//!   the per-message tables, `p{partition}-c{segment_first_offset:020}.parquet` for the summary
//!   tables of the segments closed in a flush, named after the first of them to open (a suffix
//!   `-e{index}` when that segment started at envelope `index` > 0 of a batch);
//! - [`encode_parquet`]: zstd, sorted by the table's sort key (see [`crate::rows::to_batch`]),
//!   with the sort order recorded in the file metadata.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use callscope_schemas::tables;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::config::{OutputLocation, ProcessorConfig};
use crate::error::ProcessorError;
use crate::rows::{ColumnRows, ColumnSet, Row, RowError, file_schema, to_batch};
use crate::state::{Output, Position, Summary};

/// zstd level: 3 is zstd's default, a good ratio at a speed that keeps up with ingest.
const ZSTD_LEVEL: i32 = 3;

/// Where tables and checkpoints live. Paths are relative to the output root, `/`-separated.
#[derive(Clone, Debug)]
pub enum Store {
    Local {
        root: PathBuf,
    },
    Object {
        store: Arc<dyn ObjectStore>,
        prefix: String,
    },
}

impl Store {
    /// The store of the configured output. S3 credentials, region and endpoint come from the
    /// `AWS_*` environment (`AmazonS3Builder::from_env`), overridden by `config.s3`.
    pub fn open(config: &ProcessorConfig) -> Result<Self, ProcessorError> {
        match config.output_location()? {
            OutputLocation::Local(root) => {
                std::fs::create_dir_all(&root).map_err(|e| ProcessorError::io(&root, e))?;
                Ok(Store::Local { root })
            }
            OutputLocation::S3 { bucket, prefix } => {
                let mut builder =
                    object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
                for (key, value) in config.s3.options() {
                    builder = builder.with_config(key.parse()?, value);
                }
                Ok(Store::Object {
                    store: Arc::new(builder.build()?),
                    prefix,
                })
            }
        }
    }

    /// A store on any `ObjectStore` (tests use `InMemory`).
    #[must_use]
    pub fn object(store: Arc<dyn ObjectStore>, prefix: impl Into<String>) -> Self {
        Store::Object {
            store,
            prefix: prefix.into(),
        }
    }

    /// `Path::parse` keeps the name as given: `Path::from` would percent-encode the `%` of
    /// Hive-encoded partition values a second time.
    fn object_path(prefix: &str, rel: &str) -> Result<ObjectPath, ProcessorError> {
        let full = if prefix.is_empty() {
            rel.to_owned()
        } else {
            format!("{prefix}/{rel}")
        };
        ObjectPath::parse(full).map_err(|e| ProcessorError::ObjectStore(e.into()))
    }

    /// Writes `bytes` at `rel` atomically and durably: once this returns, a reader sees the whole
    /// file and a crash cannot take it back; before, a reader sees the old file or none.
    pub async fn put(&self, rel: &str, bytes: Bytes) -> Result<(), ProcessorError> {
        match self {
            Store::Local { root } => {
                let root = root.clone();
                let rel = rel.to_owned();
                tokio::task::spawn_blocking(move || put_local(&root, &rel, &bytes))
                    .await
                    .map_err(|e| ProcessorError::Task(e.to_string()))?
            }
            Store::Object { store, prefix } => {
                store
                    .put(&Self::object_path(prefix, rel)?, PutPayload::from(bytes))
                    .await?;
                Ok(())
            }
        }
    }

    /// The file at `rel`, `None` when there is none.
    pub async fn get(&self, rel: &str) -> Result<Option<Bytes>, ProcessorError> {
        match self {
            Store::Local { root } => {
                let path = local_path(root, rel);
                tokio::task::spawn_blocking(move || match std::fs::read(&path) {
                    Ok(bytes) => Ok(Some(Bytes::from(bytes))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(ProcessorError::io(&path, e)),
                })
                .await
                .map_err(|e| ProcessorError::Task(e.to_string()))?
            }
            Store::Object { store, prefix } => {
                match store.get(&Self::object_path(prefix, rel)?).await {
                    Ok(result) => Ok(Some(result.bytes().await?)),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// Deletes the file at `rel` (and, locally, a temporary file left by a crash while writing
    /// it); a missing file is not an error.
    pub async fn delete(&self, rel: &str) -> Result<(), ProcessorError> {
        match self {
            Store::Local { root } => {
                let root = root.clone();
                let rel = rel.to_owned();
                tokio::task::spawn_blocking(move || delete_local(&root, &rel))
                    .await
                    .map_err(|e| ProcessorError::Task(e.to_string()))?
            }
            Store::Object { store, prefix } => {
                match store.delete(&Self::object_path(prefix, rel)?).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }
}

fn local_path(root: &Path, rel: &str) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(rel.split('/').filter(|s| !s.is_empty()));
    path
}

/// The temporary name of a file being written: hidden (`.`-prefixed) and not ending in
/// `.parquet`, so that no reader (pyarrow ignores `.` files, globs want `*.parquet`) sees it.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

fn sync_dir(dir: &Path) -> Result<(), ProcessorError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ProcessorError::io(dir, e))
}

/// Creates the missing directories of `dir`, fsyncing each new one's parent so that the new
/// directory entries survive a crash as well.
fn create_dirs(root: &Path, dir: &Path) -> Result<(), ProcessorError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut cur = dir;
    while !cur.is_dir() {
        missing.push(cur.to_path_buf());
        match cur.parent() {
            Some(parent) if cur != root => cur = parent,
            _ => break,
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| ProcessorError::io(dir, e))?;
    for created in missing.iter().rev() {
        if let Some(parent) = created.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// object_store's `LocalFileSystem` renames a staged file into place but never fsyncs, so a
/// power loss could leave a renamed but empty file: local files are written here instead.
fn put_local(root: &Path, rel: &str, bytes: &[u8]) -> Result<(), ProcessorError> {
    let path = local_path(root, rel);
    let dir = path
        .parent()
        .map_or_else(|| root.to_path_buf(), Path::to_path_buf);
    create_dirs(root, &dir)?;
    let tmp = temp_path(&path);
    {
        let mut file = std::fs::File::create(&tmp).map_err(|e| ProcessorError::io(&tmp, e))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| ProcessorError::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| ProcessorError::io(&path, e))?;
    sync_dir(&dir)
}

fn delete_local(root: &Path, rel: &str) -> Result<(), ProcessorError> {
    let path = local_path(root, rel);
    let mut removed = false;
    for p in [temp_path(&path), path.clone()] {
        match std::fs::remove_file(&p) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ProcessorError::io(&p, e)),
        }
    }
    match path.parent() {
        Some(dir) if removed => sync_dir(dir),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Parquet
// ---------------------------------------------------------------------------------------------

/// Encodes a (sorted) batch of a table as one Parquet file.
pub fn encode_parquet(
    table: &'static str,
    batch: &RecordBatch,
    row_group_rows: usize,
) -> Result<Bytes, ProcessorError> {
    let schema = batch.schema();
    let sorting: Vec<SortingColumn> = tables::sort_key(table)
        .iter()
        .filter_map(|name| schema.index_of(name).ok())
        .filter_map(|i| i32::try_from(i).ok())
        .map(|column_idx| SortingColumn {
            column_idx,
            descending: false,
            // arrow's lexsort default puts nulls first.
            nulls_first: true,
        })
        .collect();
    let mut props = WriterProperties::builder();
    // Numbers are written plain (then zstd), not dictionary-encoded: counters, times and
    // rates rarely repeat, so the dictionary filled up, was dropped for plain encoding, and
    // cost a hash lookup per value on the way. Measured on the bench input: files 22 % smaller
    // and encoding 8 % faster (docs/benchmarks.md). Strings keep their dictionaries (ids repeat).
    for field in schema.fields() {
        if matches!(
            field.data_type(),
            DataType::Int32 | DataType::Int64 | DataType::Float64 | DataType::Timestamp(..)
        ) {
            props =
                props.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    let props = props
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(sorting))
        .set_created_by(concat!("callscope-processor ", env!("CARGO_PKG_VERSION")).to_owned())
        .build();
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() / 4 + 1024);
    let mut writer = ArrowWriter::try_new(&mut buf, schema, Some(props))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(Bytes::from(buf))
}

/// One file of a flush, encoded.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    pub table: &'static str,
    /// Relative to the output root.
    pub path: String,
    pub rows: usize,
    pub bytes: Bytes,
}

/// Percent-encodes a Hive partition value (anything but `[A-Za-z0-9._-]`), as Hive and pyarrow
/// decode it, so a value cannot add a directory level or an `=`.
#[must_use]
pub fn hive_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        // An empty value would be an empty directory name; Hive's marker for it.
        out.push_str("__HIVE_DEFAULT_PARTITION__");
    }
    out
}

/// `{table}/app_id={app}/date={date}`.
#[must_use]
pub fn partition_dir(table: &str, app_id: &str, date: &str) -> String {
    format!(
        "{table}/app_id={}/date={}",
        hive_value(app_id),
        hive_value(date)
    )
}

/// File name of the per-message tables for a flush of offsets `first..=last`.
#[must_use]
pub fn row_file_name(partition: i32, first: i64, last: i64) -> String {
    format!("p{partition}-o{first:020}-{last:020}.parquet")
}

/// File name of the summary tables for the segment that opened at `first`.
#[must_use]
pub fn summary_file_name(partition: i32, first: Position) -> String {
    if first.index == 0 {
        format!("p{partition}-c{:020}.parquet", first.offset)
    } else {
        format!(
            "p{partition}-c{:020}-e{}.parquet",
            first.offset, first.index
        )
    }
}

fn encode_columns<R: Row, C: ColumnSet>(
    rows: &ColumnRows<R, C>,
    name: &str,
    row_group_rows: usize,
    out: &mut Vec<PlannedFile>,
) -> Result<(), ProcessorError> {
    for ((app_id, date), batch) in rows.batches()? {
        out.push(PlannedFile {
            table: R::TABLE,
            path: format!("{}/{name}", partition_dir(R::TABLE, app_id, date)),
            rows: batch.num_rows(),
            bytes: encode_parquet(R::TABLE, &batch, row_group_rows)?,
        });
    }
    Ok(())
}

fn encode_groups<'a, R: Row + 'a>(
    rows: impl IntoIterator<Item = &'a R>,
    name: &str,
    row_group_rows: usize,
    out: &mut Vec<PlannedFile>,
) -> Result<(), ProcessorError> {
    let mut groups: BTreeMap<(&str, &str), Vec<&R>> = BTreeMap::new();
    for row in rows {
        groups.entry(row.partition()).or_default().push(row);
    }
    for ((app_id, date), group) in groups {
        let batch = to_batch(&group)?;
        let bytes = encode_parquet(R::TABLE, &batch, row_group_rows)?;
        out.push(PlannedFile {
            table: R::TABLE,
            path: format!("{}/{name}", partition_dir(R::TABLE, app_id, date)),
            rows: group.len(),
            bytes,
        });
    }
    Ok(())
}

/// Encodes the files of one flush of `partition`: the per-message rows of `offsets`
/// (`first..=last`, required when there are any) and the summaries of the segments closed.
pub fn plan_files(
    partition: i32,
    offsets: Option<(i64, i64)>,
    output: &Output,
    row_group_rows: usize,
) -> Result<Vec<PlannedFile>, ProcessorError> {
    let mut files = Vec::new();
    if output.row_count() > 0 {
        let Some((first, last)) = offsets else {
            return Err(ProcessorError::Rows(RowError::Width {
                table: tables::EVENTS,
                got: output.row_count(),
                want: 0,
            }));
        };
        let name = row_file_name(partition, first, last);
        encode_columns(&output.events, &name, row_group_rows, &mut files)?;
        encode_columns(&output.stats_samples, &name, row_group_rows, &mut files)?;
        encode_columns(&output.track_quality, &name, row_group_rows, &mut files)?;
        encode_groups(&output.errors, &name, row_group_rows, &mut files)?;
        encode_groups(&output.feedback, &name, row_group_rows, &mut files)?;
        encode_groups(&output.integration, &name, row_group_rows, &mut files)?;
    }
    // All rows of a segment share its partition values. The segments closed in one flush
    // share a file per table and partition, named after the first of them to open: one file
    // per segment cost a Parquet writer (and its zstd contexts) per column and conference,
    // most of a flush's encoding time on short calls (docs/benchmarks.md).
    let mut by_partition: BTreeMap<(&str, &str), Vec<&Summary>> = BTreeMap::new();
    for summary in &output.summaries {
        by_partition
            .entry((summary.app_id.as_str(), summary.date.as_str()))
            .or_default()
            .push(summary);
    }
    for group in by_partition.values() {
        plan_summaries(partition, group, row_group_rows, &mut files)?;
    }
    Ok(files)
}

fn plan_summaries(
    partition: i32,
    group: &[&Summary],
    row_group_rows: usize,
    files: &mut Vec<PlannedFile>,
) -> Result<(), ProcessorError> {
    let Some(first) = group.iter().map(|s| s.first).min() else {
        return Ok(());
    };
    let name = summary_file_name(partition, first);
    let conferences = group.iter().map(|s| &s.conference);
    encode_groups(conferences, &name, row_group_rows, files)?;
    let fabrics = group.iter().flat_map(|s| &s.fabrics);
    encode_groups(fabrics, &name, row_group_rows, files)?;
    let users = group.iter().flat_map(|s| &s.users);
    encode_groups(users, &name, row_group_rows, files)?;
    Ok(())
}

/// The file schema of every table, for readers and tests.
pub fn file_schemas() -> Result<Vec<(&'static str, arrow::datatypes::SchemaRef)>, RowError> {
    tables::all_tables()
        .into_iter()
        .map(|(name, _)| file_schema(name).map(|s| (name, s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::rows::FeedbackRow;

    #[test]
    fn names_are_deterministic_and_zero_padded() {
        assert_eq!(
            row_file_name(3, 7, 1234),
            "p3-o00000000000000000007-00000000000000001234.parquet"
        );
        assert_eq!(
            summary_file_name(0, Position::new(42, 0)),
            "p0-c00000000000000000042.parquet"
        );
        assert_eq!(
            summary_file_name(0, Position::new(42, 2)),
            "p0-c00000000000000000042-e2.parquet"
        );
        assert_eq!(
            partition_dir("events", "740123", "2024-01-02"),
            "events/app_id=740123/date=2024-01-02"
        );
        assert_eq!(hive_value("a/b=c"), "a%2Fb%3Dc");
    }

    #[test]
    fn local_put_is_atomic_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        put_local(dir.path(), "t/app_id=1/date=d/f.parquet", b"one").unwrap();
        put_local(dir.path(), "t/app_id=1/date=d/f.parquet", b"two").unwrap();
        let file_dir = dir.path().join("t/app_id=1/date=d");
        let names: Vec<String> = std::fs::read_dir(&file_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["f.parquet"]);
        assert_eq!(std::fs::read(file_dir.join("f.parquet")).unwrap(), b"two");
        // A temp file left by a crash is removed with the file it was for.
        std::fs::write(file_dir.join(".f.parquet.tmp"), b"x").unwrap();
        delete_local(dir.path(), "t/app_id=1/date=d/f.parquet").unwrap();
        assert_eq!(std::fs::read_dir(&file_dir).unwrap().count(), 0);
        delete_local(dir.path(), "t/app_id=1/date=d/f.parquet").unwrap();
    }

    #[tokio::test]
    async fn object_store_keys_keep_hive_encoding_under_the_prefix() {
        let memory = Arc::new(object_store::memory::InMemory::new());
        let store = Store::object(memory.clone(), "tables/v1");
        let rel = format!("{}/f.parquet", partition_dir("events", "a/b", "2024-01-01"));
        store.put(&rel, Bytes::from_static(b"x")).await.unwrap();
        let key =
            ObjectPath::parse("tables/v1/events/app_id=a%2Fb/date=2024-01-01/f.parquet").unwrap();
        assert_eq!(memory.get(&key).await.unwrap().bytes().await.unwrap(), "x");
        assert_eq!(store.get(&rel).await.unwrap().as_deref(), Some(&b"x"[..]));
        store.delete(&rel).await.unwrap();
        store.delete(&rel).await.unwrap();
        assert_eq!(store.get(&rel).await.unwrap(), None);
    }

    #[test]
    fn parquet_is_zstd_sorted_and_in_the_file_schema() {
        let row = |conf: &str, t: i64| FeedbackRow {
            app_id: "1".into(),
            date: "d".into(),
            received_at: t,
            conference_id: conf.into(),
            user_id: "u".into(),
            overall: 4,
            ..FeedbackRow::default()
        };
        let rows = [row("b", 1), row("a", 2), row("a", 1)];
        let refs: Vec<&FeedbackRow> = rows.iter().collect();
        let batch = to_batch(&refs).unwrap();
        let bytes = encode_parquet(tables::FEEDBACK, &batch, 1024).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let meta = reader.metadata().clone();
        let rg = meta.row_group(0);
        assert!(matches!(rg.column(0).compression(), Compression::ZSTD(_)));
        assert_eq!(rg.sorting_columns().map(Vec::len), Some(2));
        let schema = reader.schema().clone();
        assert!(schema.field_with_name("app_id").is_err());
        // Numbers plain, strings with a dictionary, every column chunk zstd.
        let descr = meta.file_metadata().schema_descr();
        for (i, chunk) in rg.columns().iter().enumerate() {
            let name = descr.column(i).name().to_owned();
            assert!(
                matches!(chunk.compression(), Compression::ZSTD(_)),
                "{name}"
            );
            let dictionary = chunk.dictionary_page_offset().is_some();
            match name.as_str() {
                "received_at" | "overall" => assert!(!dictionary, "{name}"),
                "conference_id" | "user_id" => assert!(dictionary, "{name}"),
                _ => {}
            }
        }
        let back: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(back[0], batch);
    }

    /// The segments closed in one flush share one file per table and partition, named after
    /// the first of them to open, and every row is in it.
    #[test]
    fn summaries_of_a_flush_share_a_file_per_partition_named_after_the_first_to_open() {
        use crate::rows::{ConferenceRow, FabricRow, UserQualityRow};
        let summary = |app: &str, conf: &str, first: Position, fabrics: usize| Summary {
            app_id: app.into(),
            date: "2024-01-02".into(),
            first,
            conference: ConferenceRow {
                app_id: app.into(),
                date: "2024-01-02".into(),
                conference_id: conf.into(),
                ..ConferenceRow::default()
            },
            fabrics: (0..fabrics)
                .map(|i| FabricRow {
                    app_id: app.into(),
                    date: "2024-01-02".into(),
                    conference_id: conf.into(),
                    connection_id: format!("pc{i}"),
                    user_id: "u".into(),
                    ..FabricRow::default()
                })
                .collect(),
            users: vec![UserQualityRow {
                app_id: app.into(),
                date: "2024-01-02".into(),
                conference_id: conf.into(),
                user_id: "u".into(),
                ..UserQualityRow::default()
            }],
        };
        let output = Output {
            summaries: vec![
                summary("1", "late", Position::new(9, 0), 2),
                summary("2", "other-app", Position::new(7, 0), 1),
                summary("1", "early", Position::new(4, 2), 3),
            ],
            ..Output::default()
        };
        let files = plan_files(5, None, &output, 1024).unwrap();
        let mut got: Vec<(String, usize)> =
            files.iter().map(|f| (f.path.clone(), f.rows)).collect();
        got.sort();
        let want = [
            (
                "conferences/app_id=1/date=2024-01-02/p5-c00000000000000000004-e2.parquet",
                2,
            ),
            (
                "conferences/app_id=2/date=2024-01-02/p5-c00000000000000000007.parquet",
                1,
            ),
            (
                "fabrics/app_id=1/date=2024-01-02/p5-c00000000000000000004-e2.parquet",
                5,
            ),
            (
                "fabrics/app_id=2/date=2024-01-02/p5-c00000000000000000007.parquet",
                1,
            ),
            (
                "user_quality/app_id=1/date=2024-01-02/p5-c00000000000000000004-e2.parquet",
                2,
            ),
            (
                "user_quality/app_id=2/date=2024-01-02/p5-c00000000000000000007.parquet",
                1,
            ),
        ]
        .map(|(p, n)| (p.to_owned(), n));
        assert_eq!(got, want);
        // Sorted by conference inside the file: "early" before "late".
        let conferences = files
            .iter()
            .find(|f| f.path.starts_with("conferences/app_id=1/"))
            .unwrap();
        let batch = ParquetRecordBatchReaderBuilder::try_new(conferences.bytes.clone())
            .unwrap()
            .build()
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let ids = arrow::array::AsArray::as_string::<i32>(
            batch.column_by_name("conference_id").unwrap().as_ref(),
        );
        assert_eq!((ids.value(0), ids.value(1)), ("early", "late"));
    }
}
