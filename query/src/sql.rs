//! SQL for analysts: only one read-only query, checked on the parsed statement before planning
//! and once more on the logical plan, then answered as JSON, CSV or Arrow IPC.
//!
//! The check is an allow-list: the one statement must be a query (`SELECT`, `WITH`, `VALUES`,
//! set operations); everything else is refused with the reason named. Which rows a query can
//! see is not decided here but by the session it runs in ([`crate::lake::Lake::session_for`]).

use std::ops::ControlFlow;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    ObjectName, Statement as SqlStatement, TableFactor, Visit, Visitor,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;

use crate::error::{QueryError, Refusal};

/// Table functions a query may call: they generate rows and read nothing.
pub const ALLOWED_TABLE_FUNCTIONS: &[&str] = &["generate_series", "range"];

/// Deepest nesting the parser accepts; a deeper query is refused instead of exhausting the stack.
const PARSER_RECURSION_LIMIT: usize = 64;

fn refuse(reason: Refusal, message: impl Into<String>) -> QueryError {
    QueryError::Refused {
        reason,
        message: message.into(),
    }
}

/// Parses `sql` and returns its single statement if it is a read-only query.
pub fn check(sql: &str) -> Result<DfStatement, QueryError> {
    let mut statements = DFParserBuilder::new(sql)
        .with_dialect(&GenericDialect {})
        .with_recursion_limit(PARSER_RECURSION_LIMIT)
        .build()
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|e| QueryError::Sql(e.strip_backtrace()))?;
    if statements.len() > 1 {
        return Err(refuse(
            Refusal::MultipleStatements,
            format!(
                "only one statement per request is allowed, got {}",
                statements.len()
            ),
        ));
    }
    let Some(statement) = statements.pop_front() else {
        return Err(refuse(Refusal::Empty, "no SQL statement was given"));
    };
    match &statement {
        DfStatement::Statement(inner) => match inner.as_ref() {
            SqlStatement::Query(query) => {
                let mut visitor = TableFunctions;
                if let ControlFlow::Break(refusal) = query.visit(&mut visitor) {
                    return Err(refusal);
                }
            }
            other => return Err(classify(other)),
        },
        DfStatement::CreateExternalTable(_) => {
            return Err(refuse(
                Refusal::ExternalTable,
                "CREATE EXTERNAL TABLE is not allowed: queries read only the registered tables",
            ));
        }
        DfStatement::CopyTo(_) => {
            return Err(refuse(
                Refusal::Copy,
                "COPY is not allowed: the SQL endpoint is read-only",
            ));
        }
        DfStatement::Explain(_) => {
            return Err(refuse(
                Refusal::Explain,
                "EXPLAIN is not allowed: plans show storage paths",
            ));
        }
        DfStatement::Reset(_) => {
            return Err(refuse(
                Refusal::Set,
                "RESET is not allowed: session settings are fixed",
            ));
        }
    }
    Ok(statement)
}

/// Names why a statement that is not a query is refused. Only the message depends on this:
/// anything that is not a query is refused whatever it is.
fn classify(statement: &SqlStatement) -> QueryError {
    let text = statement.to_string();
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let (reason, what) = match first.as_str() {
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "REPLACE" => {
            (Refusal::Dml, "data modification (DML)")
        }
        "CREATE" | "DROP" | "ALTER" | "TRUNCATE" | "RENAME" | "COMMENT" | "GRANT" | "REVOKE" => {
            (Refusal::Ddl, "data definition (DDL)")
        }
        "COPY" | "UNLOAD" | "LOAD" | "INSTALL" | "ATTACH" | "DETACH" => {
            (Refusal::Copy, "reading or writing files (COPY)")
        }
        "SET" | "RESET" | "USE" => (Refusal::Set, "changing session settings (SET)"),
        "SHOW" => (Refusal::Show, "SHOW"),
        "EXPLAIN" | "DESCRIBE" | "DESC" => (Refusal::Explain, "EXPLAIN / DESCRIBE"),
        _ => (Refusal::NotAQuery, "this statement"),
    };
    refuse(
        reason,
        format!(
            "{what} is not allowed: only one read-only query (SELECT / WITH / VALUES) per request"
        ),
    )
}

/// Finds table functions other than [`ALLOWED_TABLE_FUNCTIONS`] (file readers such as
/// `read_parquet`, URL readers), however deeply nested.
struct TableFunctions;

impl Visitor for TableFunctions {
    type Break = QueryError;

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<QueryError> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            } if !is_allowed_function(name) => ControlFlow::Break(table_function(name)),
            TableFactor::Function { name, .. } => ControlFlow::Break(table_function(name)),
            TableFactor::TableFunction { expr, .. } => ControlFlow::Break(refuse(
                Refusal::TableFunction,
                format!("table function TABLE({expr}) is not allowed"),
            )),
            _ => ControlFlow::Continue(()),
        }
    }
}

fn is_allowed_function(name: &ObjectName) -> bool {
    let text = name.to_string().to_ascii_lowercase();
    ALLOWED_TABLE_FUNCTIONS.contains(&text.as_str())
}

fn table_function(name: &ObjectName) -> QueryError {
    refuse(
        Refusal::TableFunction,
        format!(
            "table function {name} is not allowed: only {} may be called in FROM",
            ALLOWED_TABLE_FUNCTIONS.join(", ")
        ),
    )
}

/// The second line of defence, on the planned statement: DataFusion's own read-only check.
pub fn verify_plan(plan: &LogicalPlan) -> Result<(), QueryError> {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|e| {
            let message = e.strip_backtrace();
            let reason = match plan {
                LogicalPlan::Dml(_) | LogicalPlan::Copy(_) => Refusal::Dml,
                LogicalPlan::Ddl(_) => Refusal::Ddl,
                LogicalPlan::Statement(_) => Refusal::Set,
                _ => Refusal::NotAQuery,
            };
            refuse(reason, format!("not a read-only query: {message}"))
        })
}

/// The answer formats of `POST /api/v1/sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Csv,
    Arrow,
}

impl Format {
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        match text.to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "arrow" => Ok(Format::Arrow),
            _ => Err(QueryError::BadRequest(format!(
                "format: {:?} is not one of json, csv, arrow",
                text.chars().take(32).collect::<String>()
            ))),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.stream",
        }
    }
}

/// A query's answer, cut at the row limit.
#[derive(Debug, Clone)]
pub struct ResultSet {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: usize,
    pub truncated: bool,
}

#[derive(serde::Serialize)]
struct Column<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    data_type: String,
}

/// Encodes a result set. JSON: `{"columns": [...], "rows": [{...}], "row_count", "truncated"}`
/// with rows as an array of objects (nulls written out); CSV with a header line; Arrow: an IPC
/// stream.
pub fn encode(result: &ResultSet, format: Format) -> Result<Vec<u8>, QueryError> {
    let internal = |e: arrow::error::ArrowError| QueryError::Internal(format!("encoding: {e}"));
    match format {
        Format::Json => {
            let mut rows = Vec::new();
            {
                let mut writer = arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow::json::writer::JsonArray>(&mut rows);
                for batch in &result.batches {
                    writer.write(batch).map_err(internal)?;
                }
                writer.finish().map_err(internal)?;
            }
            if rows.is_empty() {
                rows.extend_from_slice(b"[]");
            }
            let columns: Vec<Column<'_>> = result
                .schema
                .fields()
                .iter()
                .map(|f| Column {
                    name: f.name(),
                    data_type: f.data_type().to_string(),
                })
                .collect();
            let head = serde_json::json!({
                "columns": columns,
                "row_count": result.rows,
                "truncated": result.truncated,
            });
            // `head` is an object; splice the rows (already JSON) in as its last member instead
            // of parsing them back.
            let mut out = serde_json::to_vec(&head)
                .map_err(|e| QueryError::Internal(format!("encoding: {e}")))?;
            out.pop();
            out.extend_from_slice(b",\"rows\":");
            out.extend_from_slice(&rows);
            out.push(b'}');
            Ok(out)
        }
        Format::Csv => {
            if let Some(field) = result
                .schema
                .fields()
                .iter()
                .find(|f| !csv_writable(f.data_type()))
            {
                return Err(QueryError::BadRequest(format!(
                    "column {} of type {} cannot be written as CSV; select it as text (e.g. CAST({} AS VARCHAR)) or use format json or arrow",
                    field.name(),
                    field.data_type(),
                    field.name()
                )));
            }
            let mut out = Vec::new();
            {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out);
                if result.batches.is_empty() {
                    // The header is written with the first batch: an empty answer still has one.
                    writer
                        .write(&RecordBatch::new_empty(result.schema.clone()))
                        .map_err(internal)?;
                }
                for batch in &result.batches {
                    writer.write(batch).map_err(internal)?;
                }
            }
            Ok(out)
        }
        Format::Arrow => {
            let mut out = Vec::new();
            {
                let mut writer =
                    arrow::ipc::writer::StreamWriter::try_new(&mut out, &result.schema)
                        .map_err(internal)?;
                for batch in &result.batches {
                    writer.write(batch).map_err(internal)?;
                }
                writer.finish().map_err(internal)?;
            }
            Ok(out)
        }
    }
}

fn csv_writable(data_type: &DataType) -> bool {
    !matches!(
        data_type,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::Struct(_)
            | DataType::Map(..)
            | DataType::Union(..)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(sql: &str) -> Refusal {
        match check(sql) {
            Err(QueryError::Refused { reason, .. }) => reason,
            other => panic!("{sql}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn queries_pass() {
        for sql in [
            "SELECT 1",
            "select * from conferences where app_id = 'x'",
            "WITH a AS (SELECT 1 AS x) SELECT x FROM a UNION ALL SELECT 2",
            "SELECT * FROM generate_series(1, 3)",
            "SELECT * FROM (SELECT conference_id FROM fabrics) f JOIN conferences c USING (conference_id)",
        ] {
            assert!(check(sql).is_ok(), "{sql}");
        }
    }

    #[test]
    fn every_other_statement_kind_is_refused_with_its_reason() {
        assert_eq!(reason(""), Refusal::Empty);
        assert_eq!(reason("SELECT 1; SELECT 2"), Refusal::MultipleStatements);
        assert_eq!(reason("CREATE TABLE t (x INT)"), Refusal::Ddl);
        assert_eq!(reason("CREATE VIEW v AS SELECT 1"), Refusal::Ddl);
        assert_eq!(reason("DROP TABLE conferences"), Refusal::Ddl);
        assert_eq!(reason("INSERT INTO conferences VALUES (1)"), Refusal::Dml);
        assert_eq!(reason("DELETE FROM conferences"), Refusal::Dml);
        assert_eq!(reason("UPDATE conferences SET users = 1"), Refusal::Dml);
        assert_eq!(reason("COPY conferences TO '/tmp/x.csv'"), Refusal::Copy);
        assert_eq!(
            reason("CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/tmp/x'"),
            Refusal::ExternalTable
        );
        assert_eq!(
            reason("SET datafusion.execution.batch_size = 1"),
            Refusal::Set
        );
        assert_eq!(reason("SHOW TABLES"), Refusal::Show);
        assert_eq!(reason("EXPLAIN SELECT 1"), Refusal::Explain);
        assert_eq!(
            reason("SELECT * FROM read_parquet('/etc/passwd')"),
            Refusal::TableFunction
        );
        assert_eq!(
            reason(
                "SELECT * FROM conferences WHERE conference_id IN (SELECT x FROM read_csv('http://x/y'))"
            ),
            Refusal::TableFunction
        );
    }
}
