//! The Parquet lake as DataFusion sees it: one listing table per table of
//! `callscope_schemas::tables`, and a fresh per-request session in which each table name is a view
//! of one app's rows.
//!
//! Layout (written by the processor): `{root}/{table}/app_id={app}/date={YYYY-MM-DD}/*.parquet`.
//! Files appear atomically (temporary name, then rename), so only names ending in `.parquet` are
//! read. `{root}/_checkpoints/` and anything else beside the table directories is never listed.
//! Every listing goes through [`VisibleFiles`]: a file replaced by a compacted file is left out
//! (`callscope_schemas::lake_files::visible`), so a query reads each row once whatever the
//! state of a compaction.

use std::sync::Arc;

use arrow::datatypes::DataType;
use callscope_schemas::storage::S3Config;
use callscope_schemas::tables;
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider, TableProvider,
};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext, col, lit};
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path as StorePath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// Names of the default catalog and schema in which a request's views live.
const CATALOG: &str = "datafusion";
const SCHEMA: &str = "public";

/// The lake: shared, read-only, cheap to use from many requests at once.
pub struct Lake {
    /// Normalised root URL (`file:///...` or `s3://bucket/prefix`), ending with `/`.
    root: String,
    tables: Vec<(&'static str, Arc<dyn TableProvider>)>,
    /// Functions, configuration and runtime (memory pool, object stores) of every session; its
    /// own catalog stays empty: sessions get a fresh one each (see [`Lake::session_for`]).
    template: SessionState,
    store: Arc<dyn ObjectStore>,
    store_prefix: StorePath,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl Lake {
    /// Opens the lake at `location` (a local directory or `s3://bucket/prefix`). Nothing is read
    /// yet: a lake the processor has not written to is an empty lake, not an error.
    pub fn open(
        location: &str,
        s3: &S3Config,
        memory_limit_bytes: usize,
        threads: usize,
    ) -> Result<Self> {
        let runtime = RuntimeEnvBuilder::new()
            // One pool for every query of the process: the limit bounds the service, not a query.
            .with_memory_limit(memory_limit_bytes, 1.0)
            // No spilling: a query that does not fit fails with a clear error instead of filling
            // the disk of a service whose only job is reading.
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            // DataFusion caches directory listings forever by default, and lists the whole table
            // (every app) on a miss; the processor adds files every few seconds, so every query
            // lists again, only under its app's prefix.
            .with_object_list_cache_limit(0)
            .build_arc()?;

        let root = normalise_root(location)?;
        let root_url = ListingTableUrl::parse(&root)?;
        let store_url = root_url.object_store();
        if root_url.scheme() == "s3" {
            let bucket = root_url
                .get_url()
                .host_str()
                .ok_or_else(|| DataFusionError::Configuration(format!("{root}: no bucket")))?
                .to_owned();
            let mut builder =
                object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
            for (key, value) in s3.options() {
                builder = builder.with_config(key.parse()?, value);
            }
            let s3 = builder.build()?;
            runtime.register_object_store(store_url.as_ref(), VisibleFiles::wrap(Arc::new(s3)));
        } else if root_url.scheme() == "file" {
            runtime.register_object_store(
                store_url.as_ref(),
                VisibleFiles::wrap(Arc::new(object_store::local::LocalFileSystem::new())),
            );
        } else {
            return Err(DataFusionError::Configuration(format!(
                "lake {root}: only local directories and s3:// are supported"
            )));
        }
        let store = runtime.object_store(&store_url)?;
        let store_prefix = root_url.prefix().clone();

        let mut config = SessionConfig::new()
            .with_information_schema(false)
            .with_target_partitions(threads.max(1));
        {
            let options = config.options_mut();
            // Evaluate filters while decoding (late materialisation): a conference_id lookup then
            // decodes only the matching rows.
            options.execution.parquet.pushdown_filters = true;
            options.execution.parquet.reorder_filters = true;
            options.execution.parquet.pruning = true;
            options.execution.collect_statistics = true;
        }
        let template = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(Arc::clone(&runtime))
            .with_default_features()
            .build();

        let mut providers: Vec<(&'static str, Arc<dyn TableProvider>)> = Vec::new();
        for (name, schema) in tables::all_tables() {
            let url = ListingTableUrl::parse(format!("{root}{name}/"))?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet")
                .with_table_partition_cols(
                    tables::PARTITION_COLUMNS
                        .iter()
                        .map(|c| ((*c).to_owned(), DataType::Utf8))
                        .collect(),
                );
            let config = ListingTableConfig::new(url)
                .with_listing_options(options)
                .with_schema(tables::file_schema(&schema));
            let table = ListingTable::try_new(config)?;
            debug_assert_eq!(
                table.schema().fields().len(),
                schema.fields().len(),
                "{name}: listing schema differs from the table schema"
            );
            providers.push((name, Arc::new(table)));
        }
        Ok(Self {
            root,
            tables: providers,
            template,
            store,
            store_prefix,
        })
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    /// The base table (every app's rows). Never registered under a name a query can reach.
    pub fn base_table(&self, name: &str) -> Option<Arc<dyn TableProvider>> {
        self.tables
            .iter()
            .find_map(|(n, t)| (*n == name).then(|| Arc::clone(t)))
    }

    /// A new session in which every table name is a view of `app_id`'s rows only.
    ///
    /// Tenant isolation is done by the engine: the base tables are not in this session's
    /// catalog at all (each view holds its plan, which scans the base table through a filter on
    /// the `app_id` partition column), so a query can only ever reach the filtered views,
    /// whatever it says. The filter also prunes the listing to the app's directory.
    pub fn session_for(&self, app_id: &str) -> Result<SessionContext> {
        let catalogs = Arc::new(MemoryCatalogProviderList::new());
        let catalog = Arc::new(MemoryCatalogProvider::new());
        catalog.register_schema(SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
        catalogs.register_catalog(CATALOG.to_owned(), catalog);
        let state = SessionStateBuilder::new_from_existing(self.template.clone())
            .with_catalog_list(catalogs)
            .build();
        let ctx = SessionContext::new_with_state(state);
        for (name, table) in &self.tables {
            let view = ctx
                .read_table(Arc::clone(table))?
                .filter(col("app_id").eq(lit(app_id)))?
                .into_view();
            ctx.register_table(*name, view)?;
        }
        Ok(ctx)
    }

    /// Readiness: the store answers a listing of the lake root.
    pub async fn check(&self) -> std::result::Result<(), String> {
        match self
            .store
            .list_with_delimiter(Some(&self.store_prefix))
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// An object store whose listings leave out the files a compacted file replaces
/// (`callscope_schemas::lake_files`, "the rule"), judged per directory over the whole listing.
/// Everything else is the inner store's. DataFusion lists a table (or an app's prefix) with
/// `list`, recursively: every directory it reads is listed whole, so the rule sees every file
/// of each directory.
#[derive(Debug)]
pub struct VisibleFiles {
    inner: Arc<dyn ObjectStore>,
}

impl VisibleFiles {
    #[must_use]
    pub fn wrap(inner: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        Arc::new(Self { inner })
    }
}

impl std::fmt::Display for VisibleFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VisibleFiles({})", self.inner)
    }
}

/// The entries of a listing a reader reads.
fn keep_visible(mut metas: Vec<ObjectMeta>) -> Vec<ObjectMeta> {
    let paths: Vec<&str> = metas.iter().map(|m| m.location.as_ref()).collect();
    let keep = callscope_schemas::lake_files::visible_paths(&paths);
    let mut keep = keep.into_iter();
    metas.retain(|_| keep.next().unwrap_or(true));
    metas
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = object_store::Result<T>> + Send + 'a>>;

// `async_trait`'s expansion, written out (the crate does not depend on `async-trait`).
impl ObjectStore for VisibleFiles {
    fn put_opts<'a, 'b, 'async_trait>(
        &'a self,
        location: &'b StorePath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> BoxFut<'async_trait, PutResult>
    where
        'a: 'async_trait,
        'b: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.put_opts(location, payload, opts)
    }

    fn put_multipart_opts<'a, 'b, 'async_trait>(
        &'a self,
        location: &'b StorePath,
        opts: PutMultipartOptions,
    ) -> BoxFut<'async_trait, Box<dyn MultipartUpload>>
    where
        'a: 'async_trait,
        'b: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.put_multipart_opts(location, opts)
    }

    fn get_opts<'a, 'b, 'async_trait>(
        &'a self,
        location: &'b StorePath,
        options: GetOptions,
    ) -> BoxFut<'async_trait, GetResult>
    where
        'a: 'async_trait,
        'b: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.get_opts(location, options)
    }

    fn get_ranges<'a, 'b, 'c, 'async_trait>(
        &'a self,
        location: &'b StorePath,
        ranges: &'c [Range<u64>],
    ) -> BoxFut<'async_trait, Vec<Bytes>>
    where
        'a: 'async_trait,
        'b: 'async_trait,
        'c: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.get_ranges(location, ranges)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<StorePath>>,
    ) -> BoxStream<'static, object_store::Result<StorePath>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&StorePath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let listing = self.inner.list(prefix);
        futures::stream::once(async move {
            let metas: Vec<ObjectMeta> = listing.try_collect().await?;
            Ok::<_, object_store::Error>(futures::stream::iter(
                keep_visible(metas).into_iter().map(Ok),
            ))
        })
        .try_flatten()
        .boxed()
    }

    fn list_with_delimiter<'a, 'b, 'async_trait>(
        &'a self,
        prefix: Option<&'b StorePath>,
    ) -> BoxFut<'async_trait, ListResult>
    where
        'a: 'async_trait,
        'b: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let mut result = self.inner.list_with_delimiter(prefix).await?;
            result.objects = keep_visible(result.objects);
            Ok(result)
        })
    }

    fn copy_opts<'a, 'b, 'c, 'async_trait>(
        &'a self,
        from: &'b StorePath,
        to: &'c StorePath,
        options: CopyOptions,
    ) -> BoxFut<'async_trait, ()>
    where
        'a: 'async_trait,
        'b: 'async_trait,
        'c: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.copy_opts(from, to, options)
    }
}

/// `s3://bucket/prefix` and local paths (relative ones resolved against the working directory)
/// become a URL string ending with `/`.
fn normalise_root(location: &str) -> Result<String> {
    let location = location.trim();
    if location.is_empty() {
        return Err(DataFusionError::Configuration(
            "lake: empty location".to_owned(),
        ));
    }
    let with_slash = if location.ends_with('/') {
        location.to_owned()
    } else {
        format!("{location}/")
    };
    if location.contains("://") {
        return Ok(with_slash);
    }
    let absolute = std::path::absolute(&with_slash)
        .map_err(|e| DataFusionError::Configuration(format!("lake {location}: {e}")))?;
    let url = ListingTableUrl::parse(format!(
        "{}/",
        absolute.display().to_string().trim_end_matches('/')
    ))?;
    let text = url.as_str().to_owned();
    Ok(if text.ends_with('/') {
        text
    } else {
        format!("{text}/")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listings_leave_out_files_a_compacted_file_replaces() {
        use object_store::ObjectStoreExt as _;
        let inner: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let dir = "lake/events/app_id=1/date=2023-11-14";
        let small = |lo: i64, hi: i64| format!("p0-o{lo:020}-{hi:020}.parquet");
        let merged = "p0-o00000000000000000000-00000000000000000019-compacted.parquet";
        let names = [
            small(0, 9),
            small(10, 19),
            small(20, 29),
            merged.to_owned(),
            "p1-o00000000000000000000-00000000000000000019.parquet".to_owned(),
        ];
        for name in &names {
            inner
                .put(
                    &StorePath::from(format!("{dir}/{name}")),
                    PutPayload::from_static(b"x"),
                )
                .await
                .unwrap();
        }
        // The same small name in another app's directory stays visible.
        inner
            .put(
                &StorePath::from(format!(
                    "lake/events/app_id=2/date=2023-11-14/{}",
                    small(0, 9)
                )),
                PutPayload::from_static(b"x"),
            )
            .await
            .unwrap();
        let store = VisibleFiles::wrap(inner);
        let listed: Vec<String> = store
            .list(Some(&StorePath::from("lake/events")))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        let mut listed = listed;
        listed.sort();
        assert_eq!(
            listed,
            vec![
                format!("{dir}/{merged}"),
                format!("{dir}/{}", small(20, 29)),
                format!("{dir}/p1-o00000000000000000000-00000000000000000019.parquet"),
                format!("lake/events/app_id=2/date=2023-11-14/{}", small(0, 9)),
            ]
        );
        let one_dir = store
            .list_with_delimiter(Some(&StorePath::from(dir)))
            .await
            .unwrap();
        assert_eq!(one_dir.objects.len(), 3);
    }

    #[test]
    fn roots_are_urls_ending_with_a_slash() {
        assert_eq!(normalise_root("s3://b/p").unwrap(), "s3://b/p/");
        assert_eq!(normalise_root("/tmp/lake").unwrap(), "file:///tmp/lake/");
        assert_eq!(normalise_root("/tmp/lake/").unwrap(), "file:///tmp/lake/");
        assert!(normalise_root("  ").is_err());
    }

    #[test]
    fn every_table_has_the_schema_of_the_schemas_crate() {
        let lake = Lake::open("/nonexistent/lake", &S3Config::default(), 1 << 20, 1).unwrap();
        for (name, schema) in tables::all_tables() {
            let table = lake.base_table(name).unwrap();
            let got: Vec<_> = table
                .schema()
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect();
            let want: Vec<_> = schema
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }
}
