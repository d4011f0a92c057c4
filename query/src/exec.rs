//! Running plans within the limits: on a runtime of their own, cancelled at the time limit, cut
//! at the row limit, inside the shared memory pool of [`crate::lake::Lake`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use futures::StreamExt as _;

use crate::error::QueryError;
use crate::metrics::Metrics;
use crate::sql::ResultSet;

/// The runtime DataFusion plans run on. Plans are CPU-bound for milliseconds to seconds; on the
/// HTTP workers' executors they would stall every other request of the worker.
pub struct QueryRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for QueryRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryRuntime").finish_non_exhaustive()
    }
}

impl QueryRuntime {
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("callscope-query")
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Runs `job` on the query runtime; past `timeout` it is cancelled (dropping a DataFusion
    /// stream stops its tasks) and the answer is [`QueryError::Timeout`]. If the caller goes away
    /// first (client disconnected), the job is cancelled too.
    pub async fn run<T, F>(&self, timeout: Duration, job: F) -> Result<T, QueryError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, QueryError>> + Send + 'static,
    {
        let Some(runtime) = &self.runtime else {
            return Err(QueryError::Unavailable("shutting down".to_owned()));
        };
        let handle = runtime.spawn(tokio::time::timeout(timeout, job));
        let mut guard = AbortOnDrop(handle);
        match (&mut guard.0).await {
            Ok(Ok(result)) => result,
            Ok(Err(_elapsed)) => Err(QueryError::Timeout {
                ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }),
            Err(e) => Err(QueryError::Internal(format!("query task failed: {e}"))),
        }
    }
}

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end, which panics inside another runtime
        // (the HTTP server's); queries still running are abandoned instead.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Executes `df`, keeping at most `max_rows` rows (`truncated` says whether there were more), and
/// counts the rows its Parquet scans produced.
///
/// The processor's compaction may delete a file between the listing and the read; such a query
/// is planned (and so listed) once more before it fails.
pub async fn collect(
    df: DataFrame,
    max_rows: usize,
    metrics: &Metrics,
) -> Result<ResultSet, DataFusionError> {
    match collect_once(df.clone(), max_rows, metrics).await {
        Err(e) if is_not_found(&e) => {
            tracing::debug!(error = %e, "a file vanished during the query; listing again");
            collect_once(df, max_rows, metrics).await
        }
        other => other,
    }
}

async fn collect_once(
    df: DataFrame,
    max_rows: usize,
    metrics: &Metrics,
) -> Result<ResultSet, DataFusionError> {
    let task_ctx = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await?;
    let schema = plan.schema();
    let mut stream = execute_stream(Arc::clone(&plan), task_ctx)?;
    let mut batches = Vec::new();
    let mut rows = 0usize;
    let mut truncated = false;
    let mut failure = None;
    while let Some(next) = stream.next().await {
        let batch = match next {
            Ok(batch) => batch,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let n = batch.num_rows();
        if n == 0 {
            continue;
        }
        // One batch past the limit is read to know whether the answer is complete.
        if rows == max_rows {
            truncated = true;
            break;
        }
        let take = n.min(max_rows - rows);
        batches.push(if take < n {
            batch.slice(0, take)
        } else {
            batch
        });
        rows += take;
        if take < n {
            truncated = true;
            break;
        }
    }
    // Stops the scan's tasks before reading its metrics.
    drop(stream);
    metrics.rows_scanned.inc_by(scanned_rows(&plan));
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(ResultSet {
        schema,
        batches,
        rows,
        truncated,
    })
}

/// Rows produced by the plan's data source nodes (the Parquet scans).
fn scanned_rows(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![Arc::clone(plan)];
    while let Some(node) = stack.pop() {
        if node.name() == "DataSourceExec"
            && let Some(rows) = node.metrics().and_then(|m| m.output_rows())
        {
            total = total.saturating_add(u64::try_from(rows).unwrap_or(u64::MAX));
        }
        stack.extend(node.children().into_iter().cloned());
    }
    total
}

fn is_not_found(e: &DataFusionError) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(object_store::Error::NotFound { .. }) =
            err.downcast_ref::<object_store::Error>()
        {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::NotFound
        {
            return true;
        }
        current = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_is_recognised_through_wrappers() {
        let e = DataFusionError::Context(
            "reading".into(),
            Box::new(DataFusionError::ObjectStore(Box::new(
                object_store::Error::NotFound {
                    path: "x".into(),
                    source: "gone".into(),
                },
            ))),
        );
        assert!(is_not_found(&e));
        assert!(!is_not_found(&DataFusionError::Plan("x".into())));
    }

    #[tokio::test]
    async fn a_job_past_the_time_limit_is_cancelled() {
        let runtime = QueryRuntime::new(1).unwrap();
        let result: Result<(), QueryError> = runtime
            .run(Duration::from_millis(20), async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            })
            .await;
        assert!(matches!(result, Err(QueryError::Timeout { ms: 20 })));
        assert_eq!(
            runtime
                .run(Duration::from_secs(1), async { Ok(7) })
                .await
                .unwrap(),
            7
        );
    }
}
