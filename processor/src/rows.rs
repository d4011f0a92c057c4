//! One Rust struct per Parquet table, and their conversion to Arrow record batches.
//!
//! The state machine ([`crate::state`]) produces these plain structs, so its tests can look at
//! named fields. The tables with rows for every sample (`events`, `stats_samples`,
//! `track_quality`) append each row to Arrow builders as soon as it is made ([`ColumnRows`]);
//! the others are kept as structs until the flush, where [`to_batch`] turns them into a batch.
//! Either way a batch has the table's [`callscope_schemas::tables::file_schema`] (the table
//! schema without the Hive partition columns, whose values live in the directory names) and is
//! sorted by the table's [`callscope_schemas::tables::sort_key`].
//!
//! Each struct lists its columns in schema order through [`Row::cells`]; [`to_batch`] checks
//! every cell against the schema's type and nullability, so a drift between a struct and
//! `schemas/src/tables.rs` fails the first test that writes a row, never silently.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder, MapBuilder,
    StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use callscope_schemas::tables;

/// One value of a row, in the column's Arrow type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Str(&'a str),
    I32(i32),
    I64(i64),
    F64(f64),
    Bool(bool),
    /// Unix milliseconds, for `Timestamp(Millisecond, "UTC")` columns.
    Ts(i64),
    Strs(&'a [String]),
    Counts(&'a [(String, i64)]),
}

impl<'a> Cell<'a> {
    fn opt_str(v: &'a Option<String>) -> Self {
        v.as_deref().map_or(Cell::Null, Cell::Str)
    }
    fn opt_as_str<S: AsRef<str>>(v: Option<&'a S>) -> Self {
        v.map_or(Cell::Null, |s| Cell::Str(s.as_ref()))
    }
    fn opt_i32(v: Option<i32>) -> Self {
        v.map_or(Cell::Null, Cell::I32)
    }
    fn opt_i64(v: Option<i64>) -> Self {
        v.map_or(Cell::Null, Cell::I64)
    }
    /// Non-finite floats are stored as null: NaN in a column poisons every aggregate over it.
    fn opt_f64(v: Option<f64>) -> Self {
        v.filter(|x| x.is_finite()).map_or(Cell::Null, Cell::F64)
    }
    fn opt_bool(v: Option<bool>) -> Self {
        v.map_or(Cell::Null, Cell::Bool)
    }
    fn opt_ts(v: Option<i64>) -> Self {
        v.map_or(Cell::Null, Cell::Ts)
    }
    fn opt_strs(v: &'a Option<Vec<String>>) -> Self {
        v.as_deref().map_or(Cell::Null, Cell::Strs)
    }
    fn opt_counts(v: &'a Option<Vec<(String, i64)>>) -> Self {
        v.as_deref().map_or(Cell::Null, Cell::Counts)
    }
}

/// A row of one table.
pub trait Row {
    /// The table name, one of `callscope_schemas::tables`' constants.
    const TABLE: &'static str;
    /// The Hive partition values: `app_id` and `date` (`YYYY-MM-DD`).
    fn partition(&self) -> (&str, &str);
    /// Gives the values of the file schema's columns, in order, to `out`: a `Vec` for
    /// [`to_batch`] (one serves every row of a batch), the column builders themselves for
    /// [`ColumnRows`], so a row costs no buffer of its own.
    fn cells<'a, E: Extend<Cell<'a>>>(&'a self, out: &mut E);
}

/// Another form of a row of `R`'s table, such as one that borrows its strings, which
/// [`ColumnRows::push_as`] appends without making an `R`.
pub trait RowOf<R: Row>: Row {
    /// The row as an `R` (tests keep pushed rows as structs).
    fn to_owned_row(&self) -> R;
}

/// Why rows could not become a batch: always a programming error (a struct that no longer
/// matches its schema), reported with the table and column.
#[derive(Debug, thiserror::Error)]
#[must_use]
pub enum RowError {
    #[error("{table}: unknown table")]
    UnknownTable { table: &'static str },
    /// A row refused when it was produced, reported at the flush.
    #[error("{table}: a row was refused: {reason}")]
    Refused { table: &'static str, reason: String },
    #[error("{table}: row has {got} cells, the file schema has {want} columns")]
    Width {
        table: &'static str,
        got: usize,
        want: usize,
    },
    #[error("{table}.{column}: cell {cell} does not fit the column type {data_type}")]
    Type {
        table: &'static str,
        column: String,
        cell: String,
        data_type: DataType,
    },
    #[error("{table}: {source}")]
    Arrow {
        table: &'static str,
        #[source]
        source: arrow::error::ArrowError,
    },
}

/// The Arrow builder of one column.
enum Column {
    Str(StringBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Ts(TimestampMillisecondBuilder),
    Strs(ListBuilder<StringBuilder>),
    Counts(MapBuilder<StringBuilder, Int64Builder>),
}

impl Column {
    fn for_type(data_type: &DataType, capacity: usize) -> Option<Self> {
        Some(match data_type {
            DataType::Utf8 => Column::Str(StringBuilder::with_capacity(capacity, capacity * 16)),
            DataType::Int32 => Column::I32(Int32Builder::with_capacity(capacity)),
            DataType::Int64 => Column::I64(Int64Builder::with_capacity(capacity)),
            DataType::Float64 => Column::F64(Float64Builder::with_capacity(capacity)),
            DataType::Boolean => Column::Bool(BooleanBuilder::with_capacity(capacity)),
            DataType::Timestamp(TimeUnit::Millisecond, tz) => Column::Ts(
                TimestampMillisecondBuilder::with_capacity(capacity).with_timezone_opt(tz.clone()),
            ),
            t if *t == tables::string_list_type() => {
                Column::Strs(ListBuilder::new(StringBuilder::new()))
            }
            t if *t == tables::count_map_type() => Column::Counts(MapBuilder::new(
                None,
                StringBuilder::new(),
                Int64Builder::new(),
            )),
            _ => return None,
        })
    }

    /// Appends a cell; `false` when the cell does not fit the column type.
    fn push(&mut self, cell: &Cell<'_>) -> bool {
        match (self, cell) {
            (Column::Str(b), Cell::Null) => b.append_null(),
            (Column::Str(b), Cell::Str(s)) => b.append_value(s),
            (Column::I32(b), Cell::Null) => b.append_null(),
            (Column::I32(b), Cell::I32(v)) => b.append_value(*v),
            (Column::I64(b), Cell::Null) => b.append_null(),
            (Column::I64(b), Cell::I64(v)) => b.append_value(*v),
            (Column::F64(b), Cell::Null) => b.append_null(),
            (Column::F64(b), Cell::F64(v)) => b.append_value(*v),
            (Column::Bool(b), Cell::Null) => b.append_null(),
            (Column::Bool(b), Cell::Bool(v)) => b.append_value(*v),
            (Column::Ts(b), Cell::Null) => b.append_null(),
            (Column::Ts(b), Cell::Ts(v)) => b.append_value(*v),
            (Column::Strs(b), Cell::Null) => b.append(false),
            (Column::Strs(b), Cell::Strs(items)) => {
                for item in *items {
                    b.values().append_value(item);
                }
                b.append(true);
            }
            (Column::Counts(b), Cell::Null) => {
                // A null map cannot fail to append: only a length mismatch of keys and values
                // can, and a null entry appends neither.
                return b.append(false).is_ok();
            }
            (Column::Counts(b), Cell::Counts(entries)) => {
                for (k, v) in *entries {
                    b.keys().append_value(k);
                    b.values().append_value(*v);
                }
                return b.append(true).is_ok();
            }
            _ => return false,
        }
        true
    }

    fn finish_cloned(&self) -> ArrayRef {
        match self {
            Column::Str(b) => Arc::new(b.finish_cloned()),
            Column::I32(b) => Arc::new(b.finish_cloned()),
            Column::I64(b) => Arc::new(b.finish_cloned()),
            Column::F64(b) => Arc::new(b.finish_cloned()),
            Column::Bool(b) => Arc::new(b.finish_cloned()),
            Column::Ts(b) => Arc::new(b.finish_cloned()),
            Column::Strs(b) => Arc::new(b.finish_cloned()),
            Column::Counts(b) => Arc::new(b.finish_cloned()),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Column::Str(mut b) => Arc::new(b.finish()),
            Column::I32(mut b) => Arc::new(b.finish()),
            Column::I64(mut b) => Arc::new(b.finish()),
            Column::F64(mut b) => Arc::new(b.finish()),
            Column::Bool(mut b) => Arc::new(b.finish()),
            Column::Ts(mut b) => Arc::new(b.finish()),
            Column::Strs(mut b) => Arc::new(b.finish()),
            Column::Counts(mut b) => Arc::new(b.finish()),
        }
    }
}

/// The file schema (table schema without `app_id` and `date`) of a table.
pub fn file_schema(table: &'static str) -> Result<SchemaRef, RowError> {
    tables::schema(table)
        .map(|s| tables::file_schema(&s))
        .ok_or(RowError::UnknownTable { table })
}

fn builders(
    table: &'static str,
    schema: &SchemaRef,
    capacity: usize,
) -> Result<Vec<Column>, RowError> {
    schema
        .fields()
        .iter()
        .map(|field| {
            Column::for_type(field.data_type(), capacity).ok_or_else(|| RowError::Type {
                table,
                column: field.name().clone(),
                cell: "(no builder for this type)".to_owned(),
                data_type: field.data_type().clone(),
            })
        })
        .collect()
}

/// Appends one row's cells to the builders, checking each against the schema.
fn push_cells(
    table: &'static str,
    schema: &SchemaRef,
    columns: &mut [Column],
    cells: &[Cell<'_>],
) -> Result<(), RowError> {
    if cells.len() != columns.len() {
        return Err(RowError::Width {
            table,
            got: cells.len(),
            want: columns.len(),
        });
    }
    for ((column, cell), field) in columns.iter_mut().zip(cells).zip(schema.fields()) {
        if !column.push(cell) {
            return Err(RowError::Type {
                table,
                column: field.name().clone(),
                cell: format!("{cell:?}"),
                data_type: field.data_type().clone(),
            });
        }
    }
    Ok(())
}

/// The Arrow builders of one table's rows in one Hive partition.
pub trait ColumnSet: Sized {
    fn create(table: &'static str, schema: &SchemaRef, capacity: usize) -> Result<Self, RowError>;
    /// The columns so far, in the file schema's order; the builders keep them.
    fn arrays(&self) -> Vec<ArrayRef>;
}

/// A [`ColumnSet`] that appends rows of type `V`.
pub trait PushRow<V>: ColumnSet {
    fn push_row(
        &mut self,
        table: &'static str,
        schema: &SchemaRef,
        row: &V,
    ) -> Result<(), RowError>;
}

/// Builders made from the file schema, one per column, fed through [`Row::cells`]: any table.
pub struct DynColumns(Vec<Column>);

impl ColumnSet for DynColumns {
    fn create(table: &'static str, schema: &SchemaRef, capacity: usize) -> Result<Self, RowError> {
        builders(table, schema, capacity).map(DynColumns)
    }

    fn arrays(&self) -> Vec<ArrayRef> {
        self.0.iter().map(Column::finish_cloned).collect()
    }
}

impl<V: Row> PushRow<V> for DynColumns {
    fn push_row(
        &mut self,
        table: &'static str,
        schema: &SchemaRef,
        row: &V,
    ) -> Result<(), RowError> {
        let columns = &mut self.0;
        let want = columns.len();
        let mut sink = ColumnSink {
            columns,
            at: 0,
            refused: None,
        };
        row.cells(&mut sink);
        let (got, refused) = (sink.at, sink.refused);
        if got != want {
            return Err(RowError::Width { table, got, want });
        }
        match refused {
            None => Ok(()),
            Some((i, cell)) => {
                let field = schema.field(i);
                Err(RowError::Type {
                    table,
                    column: field.name().clone(),
                    cell,
                    data_type: field.data_type().clone(),
                })
            }
        }
    }
}

/// Appends a row's cells to the column builders as [`Row::cells`] gives them. A cell that
/// does not fit its column is remembered, with its column, for the caller to refuse the row.
struct ColumnSink<'c> {
    columns: &'c mut [Column],
    /// Cells given so far.
    at: usize,
    refused: Option<(usize, String)>,
}

impl<'a> Extend<Cell<'a>> for ColumnSink<'_> {
    fn extend<I: IntoIterator<Item = Cell<'a>>>(&mut self, cells: I) {
        for cell in cells {
            if self.refused.is_none()
                && let Some(column) = self.columns.get_mut(self.at)
                && !column.push(&cell)
            {
                self.refused = Some((self.at, format!("{cell:?}")));
            }
            self.at += 1;
        }
    }
}

/// A batch of one Hive partition: `((app_id, date), batch)`.
pub type PartitionBatch<'a> = ((&'a str, &'a str), RecordBatch);

/// The rows of one table held as Arrow columns, one set of builders per Hive partition (app and
/// date), filled as the rows are produced. For `stats_samples`, ten rows of 54 columns a sample:
/// kept as structs until the flush, they were about 1 KB each plus their strings, and growing
/// and faulting in that memory was the largest single cost of applying a sample
/// (docs/benchmarks.md). In tests the rows are also kept as structs, for the tests to read.
pub struct ColumnRows<R: Row, C: ColumnSet = DynColumns> {
    schema: Option<SchemaRef>,
    groups: Vec<((String, String), C)>,
    len: usize,
    /// The first row refused: the columns are no longer whole, and the next flush fails with
    /// this rather than write them.
    refused: Option<String>,
    #[cfg(test)]
    pub rows: Vec<R>,
    #[cfg(not(test))]
    row: std::marker::PhantomData<fn(&R)>,
}

impl<R: Row, C: ColumnSet> Default for ColumnRows<R, C> {
    fn default() -> Self {
        Self {
            schema: None,
            groups: Vec::new(),
            len: 0,
            refused: None,
            #[cfg(test)]
            rows: Vec::new(),
            #[cfg(not(test))]
            row: std::marker::PhantomData,
        }
    }
}

impl<R: Row, C: ColumnSet> std::fmt::Debug for ColumnRows<R, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnRows")
            .field("table", &R::TABLE)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl<R: Row + PartialEq, C: ColumnSet> PartialEq for ColumnRows<R, C> {
    fn eq(&self, other: &Self) -> bool {
        self.rows == other.rows
    }
}

#[cfg(test)]
impl<R: Row + Clone, C: PushRow<R>> ColumnRows<R, C> {
    /// Appends a row (tests keep it as a struct too). A row that does not fit the schema (a
    /// programming error) fails the next [`ColumnRows::batches`].
    pub fn push(&mut self, row: &R) {
        if self.push_columns(row) {
            self.rows.push(row.clone());
        }
    }
}

#[cfg(test)]
impl<R: Row, C: ColumnSet> ColumnRows<R, C> {
    /// Appends a row given in another form, as [`ColumnRows::push`].
    pub fn push_as<V: RowOf<R>>(&mut self, row: &V)
    where
        C: PushRow<V>,
    {
        if self.push_columns(row) {
            self.rows.push(row.to_owned_row());
        }
    }
}

#[cfg(not(test))]
impl<R: Row, C: ColumnSet> ColumnRows<R, C> {
    /// Appends a row. A row that does not fit the schema (a programming error) fails the next
    /// [`ColumnRows::batches`].
    pub fn push(&mut self, row: &R)
    where
        C: PushRow<R>,
    {
        self.push_columns(row);
    }

    /// Appends a row given in another form, as [`ColumnRows::push`].
    pub fn push_as<V: RowOf<R>>(&mut self, row: &V)
    where
        C: PushRow<V>,
    {
        self.push_columns(row);
    }
}

impl<R: Row, C: ColumnSet> ColumnRows<R, C> {
    fn push_columns<V: Row>(&mut self, row: &V) -> bool
    where
        C: PushRow<V>,
    {
        if self.refused.is_some() {
            return false;
        }
        match self.try_push(row) {
            Ok(()) => {
                self.len += 1;
                true
            }
            Err(e) => {
                self.refused = Some(e.to_string());
                false
            }
        }
    }

    fn try_push<V: Row>(&mut self, row: &V) -> Result<(), RowError>
    where
        C: PushRow<V>,
    {
        let table = R::TABLE;
        if V::TABLE != table {
            return Err(RowError::Refused {
                table,
                reason: format!("a row of {} given to {table}", V::TABLE),
            });
        }
        let schema = match &self.schema {
            Some(schema) => Arc::clone(schema),
            None => {
                let schema = file_schema(table)?;
                self.schema = Some(Arc::clone(&schema));
                schema
            }
        };
        let (app_id, date) = row.partition();
        // Nearly always one partition, the last one used: a scan, no key to allocate.
        let at = match self
            .groups
            .iter()
            .rposition(|((a, d), _)| a == app_id && d == date)
        {
            Some(at) => at,
            None => {
                // Small at first: a flush may see many apps and dates, and builders double.
                let columns = C::create(table, &schema, 128)?;
                self.groups
                    .push(((app_id.to_owned(), date.to_owned()), columns));
                self.groups.len() - 1
            }
        };
        self.groups[at].1.push_row(table, &schema, row)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every row.
    pub fn clear(&mut self) {
        self.groups.clear();
        self.len = 0;
        self.refused = None;
        #[cfg(test)]
        self.rows.clear();
    }

    /// One batch per partition (app, date), in the file schema, sorted by the table's sort key;
    /// rows with equal keys keep the order they were pushed in.
    pub fn batches(&self) -> Result<Vec<PartitionBatch<'_>>, RowError> {
        let table = R::TABLE;
        if let Some(reason) = &self.refused {
            return Err(RowError::Refused {
                table,
                reason: reason.clone(),
            });
        }
        let Some(schema) = &self.schema else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(self.groups.len());
        for ((app_id, date), columns) in &self.groups {
            let arrays = columns.arrays();
            let batch = RecordBatch::try_new(Arc::clone(schema), arrays)
                .map_err(|source| RowError::Arrow { table, source })?;
            out.push((
                (app_id.as_str(), date.as_str()),
                sort_stable(table, &batch)?,
            ));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        // Every test that flushes also checks that the columns hold the rows the tests read.
        #[cfg(test)]
        for ((app_id, date), batch) in &out {
            let group: Vec<&R> = self
                .rows
                .iter()
                .filter(|r| r.partition() == (*app_id, *date))
                .collect();
            assert_eq!(*batch, to_batch(&group)?, "{table} {app_id} {date}");
        }
        Ok(out)
    }
}

/// Sorts a batch by the table's sort key (ascending, nulls first, as arrow's `lexsort`), ties
/// in their original order, so a replay writes the same file.
fn sort_stable(table: &'static str, batch: &RecordBatch) -> Result<RecordBatch, RowError> {
    let key = tables::sort_key(table);
    let rows = batch.num_rows();
    if key.is_empty() || rows < 2 {
        return Ok(batch.clone());
    }
    let mut columns = Vec::with_capacity(key.len());
    for name in key {
        let array = batch.column_by_name(name).ok_or_else(|| RowError::Type {
            table,
            column: (*name).to_owned(),
            cell: "(sort key column missing)".to_owned(),
            data_type: DataType::Null,
        })?;
        columns.push(
            KeyColumn::new(array.as_ref()).ok_or_else(|| RowError::Type {
                table,
                column: (*name).to_owned(),
                cell: "(no comparison for a sort key of this type)".to_owned(),
                data_type: array.data_type().clone(),
            })?,
        );
    }
    let n = u32::try_from(rows).map_err(|_| RowError::Width {
        table,
        got: rows,
        want: u32::MAX as usize,
    })?;
    // A stable sort of row numbers with typed comparisons: cheaper than `lexsort_to_indices`'
    // dynamic comparators, which also needed the row number as a last key to be stable.
    let mut order: Vec<u32> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        columns
            .iter()
            .map(|c| c.compare(a, b))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if order.iter().enumerate().all(|(i, &o)| i == o as usize) {
        return Ok(batch.clone());
    }
    arrow::compute::take_record_batch(batch, &arrow::array::UInt32Array::from(order))
        .map_err(|source| RowError::Arrow { table, source })
}

/// A sort key column, typed.
enum KeyColumn<'a> {
    Str(&'a arrow::array::StringArray),
    I32(&'a arrow::array::Int32Array),
    I64(&'a arrow::array::Int64Array),
    Ts(&'a arrow::array::TimestampMillisecondArray),
}

impl<'a> KeyColumn<'a> {
    fn new(array: &'a dyn arrow::array::Array) -> Option<Self> {
        use arrow::array::AsArray;
        use arrow::datatypes::{Int32Type, Int64Type, TimestampMillisecondType};
        Some(match array.data_type() {
            DataType::Utf8 => KeyColumn::Str(array.as_string_opt::<i32>()?),
            DataType::Int32 => KeyColumn::I32(array.as_primitive_opt::<Int32Type>()?),
            DataType::Int64 => KeyColumn::I64(array.as_primitive_opt::<Int64Type>()?),
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                KeyColumn::Ts(array.as_primitive_opt::<TimestampMillisecondType>()?)
            }
            _ => return None,
        })
    }

    fn compare(&self, a: usize, b: usize) -> std::cmp::Ordering {
        use arrow::array::Array;
        use std::cmp::Ordering;
        let nulls = |array: &dyn Array| match (array.is_null(a), array.is_null(b)) {
            (false, false) => None,
            (true, true) => Some(Ordering::Equal),
            (true, false) => Some(Ordering::Less),
            (false, true) => Some(Ordering::Greater),
        };
        match self {
            KeyColumn::Str(c) => nulls(*c).unwrap_or_else(|| c.value(a).cmp(c.value(b))),
            KeyColumn::I32(c) => nulls(*c).unwrap_or_else(|| c.value(a).cmp(&c.value(b))),
            KeyColumn::I64(c) => nulls(*c).unwrap_or_else(|| c.value(a).cmp(&c.value(b))),
            KeyColumn::Ts(c) => nulls(*c).unwrap_or_else(|| c.value(a).cmp(&c.value(b))),
        }
    }
}

/// Builds one batch of `rows` in the table's file schema, sorted by its sort key.
pub fn to_batch<R: Row>(rows: &[&R]) -> Result<RecordBatch, RowError> {
    let table = R::TABLE;
    let schema = file_schema(table)?;
    let mut columns = builders(table, &schema, rows.len())?;
    let mut key = Vec::new();
    for name in tables::sort_key(table) {
        key.push(schema.index_of(name).map_err(|_| RowError::Type {
            table,
            column: (*name).to_owned(),
            cell: "(sort key column missing)".to_owned(),
            data_type: DataType::Null,
        })?);
    }
    // The rows are put in order before their columns are built, rather than the built batch
    // sorted: sorting a batch copies every column once more.
    let order = sort_order(table, rows, &key, columns.len())?;
    let mut cells = Vec::with_capacity(columns.len());
    for i in order {
        cells.clear();
        rows[i].cells(&mut cells);
        push_cells(table, &schema, &mut columns, &cells)?;
    }
    let arrays: Vec<ArrayRef> = columns.into_iter().map(Column::finish).collect();
    // try_new checks every non-nullable column for nulls, so a missing required value fails here.
    RecordBatch::try_new(Arc::clone(&schema), arrays)
        .map_err(|source| RowError::Arrow { table, source })
}

/// The order of `rows` by the table's sort key (ENGINEERING: conference, then time), so readers
/// can prune row groups and pages by conference and the query planner can trust `WITH ORDER`.
/// Ascending, nulls first, as arrow's `lexsort` orders; stable, so rows with equal keys keep the
/// order they were produced in and a replay writes the same file.
fn sort_order<R: Row>(
    table: &'static str,
    rows: &[&R],
    key: &[usize],
    width: usize,
) -> Result<Vec<usize>, RowError> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    if key.is_empty() || rows.len() < 2 {
        return Ok(order);
    }
    let mut keys: Vec<Cell<'_>> = Vec::with_capacity(rows.len() * key.len());
    let mut cells = Vec::with_capacity(width);
    for row in rows {
        cells.clear();
        row.cells(&mut cells);
        for &k in key {
            let cell = cells.get(k).copied().ok_or(RowError::Width {
                table,
                got: cells.len(),
                want: width,
            })?;
            keys.push(cell);
        }
    }
    let n = key.len();
    order.sort_by(|&a, &b| {
        keys[a * n..a * n + n]
            .iter()
            .zip(&keys[b * n..b * n + n])
            .map(|(x, y)| compare_cells(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    Ok(order)
}

/// Compares two cells of one column: nulls first, strings by bytes as arrow does.
fn compare_cells(a: &Cell<'_>, b: &Cell<'_>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Cell::Null, Cell::Null) => Ordering::Equal,
        (Cell::Null, _) => Ordering::Less,
        (_, Cell::Null) => Ordering::Greater,
        (Cell::Str(x), Cell::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Cell::I32(x), Cell::I32(y)) => x.cmp(y),
        (Cell::I64(x), Cell::I64(y)) | (Cell::Ts(x), Cell::Ts(y)) => x.cmp(y),
        (Cell::F64(x), Cell::F64(y)) => x.total_cmp(y),
        (Cell::Bool(x), Cell::Bool(y)) => x.cmp(y),
        // Lists and maps are never sort keys, and one column holds one type.
        _ => Ordering::Equal,
    }
}

/// The UTC date (`YYYY-MM-DD`) of unix milliseconds: the `date` partition value.
#[must_use]
pub fn utc_date(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms", `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    // d is in 1..=31 and m in 1..=12 by construction.
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

// ---------------------------------------------------------------------------------------------
// Row tables: one row per message (or per report / interval of a message)
// ---------------------------------------------------------------------------------------------

/// `events`: every accepted envelope, flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow<S = String> {
    pub app_id: S,
    pub date: S,
    pub received_at: i64,
    pub client_ts: Option<i64>,
    pub kind: &'static str,
    pub event_type: Option<&'static str>,
    pub origin: &'static str,
    pub schema_version: i32,
    pub conference_id: S,
    pub uc_id: Option<S>,
    pub user_id: Option<S>,
    pub connection_id: Option<S>,
    pub remote_user_id: Option<S>,
    pub payload_json: String,
    pub bus_partition: Option<i32>,
    pub bus_offset: Option<i64>,
}

impl<S: AsRef<str>> Row for EventRow<S> {
    const TABLE: &'static str = tables::EVENTS;
    fn partition(&self) -> (&str, &str) {
        (self.app_id.as_ref(), self.date.as_ref())
    }
    fn cells<'a, E: Extend<Cell<'a>>>(&'a self, out: &mut E) {
        out.extend([
            Cell::Ts(self.received_at),
            Cell::opt_ts(self.client_ts),
            Cell::Str(self.kind),
            self.event_type.map_or(Cell::Null, Cell::Str),
            Cell::Str(self.origin),
            Cell::I32(self.schema_version),
            Cell::Str(self.conference_id.as_ref()),
            Cell::opt_as_str(self.uc_id.as_ref()),
            Cell::opt_as_str(self.user_id.as_ref()),
            Cell::opt_as_str(self.connection_id.as_ref()),
            Cell::opt_as_str(self.remote_user_id.as_ref()),
            Cell::Str(&self.payload_json),
            Cell::opt_i32(self.bus_partition),
            Cell::opt_i64(self.bus_offset),
        ]);
    }
}

impl<S: AsRef<str>> RowOf<EventRow> for EventRow<S> {
    fn to_owned_row(&self) -> EventRow<String> {
        EventRow {
            app_id: self.app_id.as_ref().to_owned(),
            date: self.date.as_ref().to_owned(),
            received_at: self.received_at,
            client_ts: self.client_ts,
            kind: self.kind,
            event_type: self.event_type,
            origin: self.origin,
            schema_version: self.schema_version,
            conference_id: self.conference_id.as_ref().to_owned(),
            uc_id: self.uc_id.as_ref().map(|v| v.as_ref().to_owned()),
            user_id: self.user_id.as_ref().map(|v| v.as_ref().to_owned()),
            connection_id: self.connection_id.as_ref().map(|v| v.as_ref().to_owned()),
            remote_user_id: self.remote_user_id.as_ref().map(|v| v.as_ref().to_owned()),
            payload_json: self.payload_json.clone(),
            bus_partition: self.bus_partition,
            bus_offset: self.bus_offset,
        }
    }
}

/// `stats_samples`: key getStats members, one row per report.
///
/// Generic over its strings: the state machine builds a `StatsSampleRow<&str>` borrowing from
/// the envelope, whose columns are appended at once, so a report costs no string copies on the
/// way to Arrow (ten rows a sample made them a large share of applying one). Tests keep
/// `StatsSampleRow<String>` rows ([`StatsSampleRow::to_owned_row`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSampleRow<S = String> {
    pub app_id: S,
    pub date: S,
    pub received_at: i64,
    pub sample_ts: i64,
    pub conference_id: S,
    pub uc_id: Option<S>,
    pub user_id: S,
    pub remote_user_id: Option<S>,
    pub connection_id: S,
    pub report_id: S,
    pub report_type: S,
    pub ssrc: Option<i64>,
    pub kind: Option<S>,
    pub mid: Option<S>,
    pub track_identifier: Option<S>,
    pub codec_id: Option<S>,
    pub mime_type: Option<S>,
    pub packets_sent: Option<i64>,
    pub packets_received: Option<i64>,
    pub packets_lost: Option<i64>,
    pub bytes_sent: Option<i64>,
    pub bytes_received: Option<i64>,
    pub jitter_s: Option<f64>,
    pub fraction_lost: Option<f64>,
    pub round_trip_time_s: Option<f64>,
    pub total_round_trip_time_s: Option<f64>,
    pub round_trip_time_measurements: Option<i64>,
    pub frames_per_second: Option<f64>,
    pub frame_width: Option<i32>,
    pub frame_height: Option<i32>,
    pub frames_encoded: Option<i64>,
    pub frames_decoded: Option<i64>,
    pub frames_dropped: Option<i64>,
    pub freeze_count: Option<i64>,
    pub total_freezes_duration_s: Option<f64>,
    pub concealed_samples: Option<i64>,
    pub total_samples_received: Option<i64>,
    pub audio_level: Option<f64>,
    pub jitter_buffer_delay_s: Option<f64>,
    pub jitter_buffer_emitted_count: Option<i64>,
    pub quality_limitation_reason: Option<S>,
    pub target_bitrate: Option<f64>,
    pub state: Option<S>,
    pub nominated: Option<bool>,
    pub current_round_trip_time_s: Option<f64>,
    pub available_outgoing_bitrate: Option<f64>,
    pub local_candidate_id: Option<S>,
    pub remote_candidate_id: Option<S>,
    pub selected_candidate_pair_id: Option<S>,
    pub candidate_type: Option<S>,
    pub protocol: Option<S>,
    pub relay_protocol: Option<S>,
    pub other_json: Option<S>,
}

impl<S: AsRef<str>> Row for StatsSampleRow<S> {
    const TABLE: &'static str = tables::STATS_SAMPLES;
    fn partition(&self) -> (&str, &str) {
        (self.app_id.as_ref(), self.date.as_ref())
    }
    fn cells<'a, E: Extend<Cell<'a>>>(&'a self, out: &mut E) {
        out.extend([
            Cell::Ts(self.received_at),
            Cell::Ts(self.sample_ts),
            Cell::Str(self.conference_id.as_ref()),
            Cell::opt_as_str(self.uc_id.as_ref()),
            Cell::Str(self.user_id.as_ref()),
            Cell::opt_as_str(self.remote_user_id.as_ref()),
            Cell::Str(self.connection_id.as_ref()),
            Cell::Str(self.report_id.as_ref()),
            Cell::Str(self.report_type.as_ref()),
            Cell::opt_i64(self.ssrc),
            Cell::opt_as_str(self.kind.as_ref()),
            Cell::opt_as_str(self.mid.as_ref()),
            Cell::opt_as_str(self.track_identifier.as_ref()),
            Cell::opt_as_str(self.codec_id.as_ref()),
            Cell::opt_as_str(self.mime_type.as_ref()),
            Cell::opt_i64(self.packets_sent),
            Cell::opt_i64(self.packets_received),
            Cell::opt_i64(self.packets_lost),
            Cell::opt_i64(self.bytes_sent),
            Cell::opt_i64(self.bytes_received),
            Cell::opt_f64(self.jitter_s),
            Cell::opt_f64(self.fraction_lost),
            Cell::opt_f64(self.round_trip_time_s),
            Cell::opt_f64(self.total_round_trip_time_s),
            Cell::opt_i64(self.round_trip_time_measurements),
            Cell::opt_f64(self.frames_per_second),
            Cell::opt_i32(self.frame_width),
            Cell::opt_i32(self.frame_height),
            Cell::opt_i64(self.frames_encoded),
            Cell::opt_i64(self.frames_decoded),
            Cell::opt_i64(self.frames_dropped),
            Cell::opt_i64(self.freeze_count),
            Cell::opt_f64(self.total_freezes_duration_s),
            Cell::opt_i64(self.concealed_samples),
            Cell::opt_i64(self.total_samples_received),
            Cell::opt_f64(self.audio_level),
            Cell::opt_f64(self.jitter_buffer_delay_s),
            Cell::opt_i64(self.jitter_buffer_emitted_count),
            Cell::opt_as_str(self.quality_limitation_reason.as_ref()),
            Cell::opt_f64(self.target_bitrate),
            Cell::opt_as_str(self.state.as_ref()),
            Cell::opt_bool(self.nominated),
            Cell::opt_f64(self.current_round_trip_time_s),
            Cell::opt_f64(self.available_outgoing_bitrate),
            Cell::opt_as_str(self.local_candidate_id.as_ref()),
            Cell::opt_as_str(self.remote_candidate_id.as_ref()),
            Cell::opt_as_str(self.selected_candidate_pair_id.as_ref()),
            Cell::opt_as_str(self.candidate_type.as_ref()),
            Cell::opt_as_str(self.protocol.as_ref()),
            Cell::opt_as_str(self.relay_protocol.as_ref()),
            Cell::opt_as_str(self.other_json.as_ref()),
        ]);
    }
}

impl<S: AsRef<str>> RowOf<StatsSampleRow> for StatsSampleRow<S> {
    fn to_owned_row(&self) -> StatsSampleRow<String> {
        StatsSampleRow {
            app_id: self.app_id.as_ref().to_owned(),
            date: self.date.as_ref().to_owned(),
            received_at: self.received_at,
            sample_ts: self.sample_ts,
            conference_id: self.conference_id.as_ref().to_owned(),
            uc_id: self.uc_id.as_ref().map(|v| v.as_ref().to_owned()),
            user_id: self.user_id.as_ref().to_owned(),
            remote_user_id: self.remote_user_id.as_ref().map(|v| v.as_ref().to_owned()),
            connection_id: self.connection_id.as_ref().to_owned(),
            report_id: self.report_id.as_ref().to_owned(),
            report_type: self.report_type.as_ref().to_owned(),
            ssrc: self.ssrc,
            kind: self.kind.as_ref().map(|v| v.as_ref().to_owned()),
            mid: self.mid.as_ref().map(|v| v.as_ref().to_owned()),
            track_identifier: self
                .track_identifier
                .as_ref()
                .map(|v| v.as_ref().to_owned()),
            codec_id: self.codec_id.as_ref().map(|v| v.as_ref().to_owned()),
            mime_type: self.mime_type.as_ref().map(|v| v.as_ref().to_owned()),
            packets_sent: self.packets_sent,
            packets_received: self.packets_received,
            packets_lost: self.packets_lost,
            bytes_sent: self.bytes_sent,
            bytes_received: self.bytes_received,
            jitter_s: self.jitter_s,
            fraction_lost: self.fraction_lost,
            round_trip_time_s: self.round_trip_time_s,
            total_round_trip_time_s: self.total_round_trip_time_s,
            round_trip_time_measurements: self.round_trip_time_measurements,
            frames_per_second: self.frames_per_second,
            frame_width: self.frame_width,
            frame_height: self.frame_height,
            frames_encoded: self.frames_encoded,
            frames_decoded: self.frames_decoded,
            frames_dropped: self.frames_dropped,
            freeze_count: self.freeze_count,
            total_freezes_duration_s: self.total_freezes_duration_s,
            concealed_samples: self.concealed_samples,
            total_samples_received: self.total_samples_received,
            audio_level: self.audio_level,
            jitter_buffer_delay_s: self.jitter_buffer_delay_s,
            jitter_buffer_emitted_count: self.jitter_buffer_emitted_count,
            quality_limitation_reason: self
                .quality_limitation_reason
                .as_ref()
                .map(|v| v.as_ref().to_owned()),
            target_bitrate: self.target_bitrate,
            state: self.state.as_ref().map(|v| v.as_ref().to_owned()),
            nominated: self.nominated,
            current_round_trip_time_s: self.current_round_trip_time_s,
            available_outgoing_bitrate: self.available_outgoing_bitrate,
            local_candidate_id: self
                .local_candidate_id
                .as_ref()
                .map(|v| v.as_ref().to_owned()),
            remote_candidate_id: self
                .remote_candidate_id
                .as_ref()
                .map(|v| v.as_ref().to_owned()),
            selected_candidate_pair_id: self
                .selected_candidate_pair_id
                .as_ref()
                .map(|v| v.as_ref().to_owned()),
            candidate_type: self.candidate_type.as_ref().map(|v| v.as_ref().to_owned()),
            protocol: self.protocol.as_ref().map(|v| v.as_ref().to_owned()),
            relay_protocol: self.relay_protocol.as_ref().map(|v| v.as_ref().to_owned()),
            other_json: self.other_json.as_ref().map(|v| v.as_ref().to_owned()),
        }
    }
}

fn as_str<T: AsRef<str>>(v: &T) -> &str {
    v.as_ref()
}

fn opt_str<T: AsRef<str>>(v: &Option<T>) -> Option<&str> {
    v.as_ref().map(AsRef::as_ref)
}

/// Declares a [`ColumnSet`] with one typed Arrow builder per column, in the file schema's order,
/// for a row struct generic over its strings. Appending a row is then one direct call per
/// column: through [`Row::cells`] and [`DynColumns`], every cell went through a `match` on
/// (builder, cell) whose indirect jump the CPU mispredicted column after column, which made
/// appending cells the largest single cost of the processor (docs/benchmarks.md). Tests check
/// the batches these give against [`to_batch`] of the same rows (`ColumnRows::batches`).
macro_rules! typed_columns {
    ($(#[$doc:meta])* $name:ident for $row:ident { $($field:ident: $kind:ident,)* }) => {
        $(#[$doc])*
        pub struct $name {
            $($field: typed_columns!(@builder $kind),)*
        }

        impl ColumnSet for $name {
            fn create(
                _table: &'static str,
                _schema: &SchemaRef,
                capacity: usize,
            ) -> Result<Self, RowError> {
                Ok(Self {
                    $($field: typed_columns!(@new $kind, capacity),)*
                })
            }

            fn arrays(&self) -> Vec<ArrayRef> {
                vec![$(Arc::new(self.$field.finish_cloned()) as ArrayRef,)*]
            }
        }

        impl<S: AsRef<str>> PushRow<$row<S>> for $name {
            fn push_row(
                &mut self,
                _table: &'static str,
                _schema: &SchemaRef,
                row: &$row<S>,
            ) -> Result<(), RowError> {
                $(typed_columns!(@append $kind, self.$field, row.$field);)*
                Ok(())
            }
        }
    };
    (@builder ts) => { TimestampMillisecondBuilder };
    (@builder opt_ts) => { TimestampMillisecondBuilder };
    (@builder i32) => { Int32Builder };
    (@builder i64) => { Int64Builder };
    (@builder bool) => { BooleanBuilder };
    (@builder text) => { StringBuilder };
    (@builder opt_text) => { StringBuilder };
    (@builder opt_i64) => { Int64Builder };
    (@builder opt_i32) => { Int32Builder };
    (@builder opt_f64) => { Float64Builder };
    (@builder opt_bool) => { BooleanBuilder };
    (@new ts, $n:expr) => {
        TimestampMillisecondBuilder::with_capacity($n).with_data_type(tables::timestamp_type())
    };
    (@new opt_ts, $n:expr) => {
        TimestampMillisecondBuilder::with_capacity($n).with_data_type(tables::timestamp_type())
    };
    (@new i32, $n:expr) => { Int32Builder::with_capacity($n) };
    (@new i64, $n:expr) => { Int64Builder::with_capacity($n) };
    (@new bool, $n:expr) => { BooleanBuilder::with_capacity($n) };
    (@new text, $n:expr) => { StringBuilder::with_capacity($n, $n * 16) };
    (@new opt_text, $n:expr) => { StringBuilder::with_capacity($n, $n * 16) };
    (@new opt_i64, $n:expr) => { Int64Builder::with_capacity($n) };
    (@new opt_i32, $n:expr) => { Int32Builder::with_capacity($n) };
    (@new opt_f64, $n:expr) => { Float64Builder::with_capacity($n) };
    (@new opt_bool, $n:expr) => { BooleanBuilder::with_capacity($n) };
    (@append ts, $b:expr, $v:expr) => { $b.append_value($v) };
    (@append opt_ts, $b:expr, $v:expr) => { $b.append_option($v) };
    (@append i32, $b:expr, $v:expr) => { $b.append_value($v) };
    (@append i64, $b:expr, $v:expr) => { $b.append_value($v) };
    (@append bool, $b:expr, $v:expr) => { $b.append_value($v) };
    (@append text, $b:expr, $v:expr) => { $b.append_value(as_str(&$v)) };
    (@append opt_text, $b:expr, $v:expr) => { $b.append_option(opt_str(&$v)) };
    (@append opt_i64, $b:expr, $v:expr) => { $b.append_option($v) };
    (@append opt_i32, $b:expr, $v:expr) => { $b.append_option($v) };
    // As `Cell::opt_f64`: a non-finite float is stored as null.
    (@append opt_f64, $b:expr, $v:expr) => { $b.append_option($v.filter(|x| x.is_finite())) };
    (@append opt_bool, $b:expr, $v:expr) => { $b.append_option($v) };
}

typed_columns! {
    /// The builders of `track_quality` rows: one per track and interval.
    TrackQualityColumns for TrackQualityRow {
        conference_id: text,
        segment: i32,
        connection_id: text,
        user_id: text,
        uc_id: opt_text,
        remote_user_id: opt_text,
        associated_user_id: opt_text,
        ssrc: i64,
        track_id: opt_text,
        media_kind: text,
        direction: text,
        usage_label: opt_text,
        codec: opt_text,
        interval_start: ts,
        interval_end: ts,
        after_gap: bool,
        packets_sent: opt_i64,
        packets_received: opt_i64,
        packets_lost: opt_i64,
        loss_pct: opt_f64,
        jitter_ms: opt_f64,
        rtt_ms: opt_f64,
        bitrate_bps: opt_f64,
        frame_rate: opt_f64,
        width: opt_i32,
        height: opt_i32,
        freeze_ms: opt_f64,
        concealed_ms: opt_f64,
        mos: opt_f64,
        video_score: opt_f64,
        band: opt_text,
    }
}

typed_columns! {
    /// The builders of `events` rows: one per envelope.
    EventColumns for EventRow {
        received_at: ts,
        client_ts: opt_ts,
        kind: text,
        event_type: opt_text,
        origin: text,
        schema_version: i32,
        conference_id: text,
        uc_id: opt_text,
        user_id: opt_text,
        connection_id: opt_text,
        remote_user_id: opt_text,
        payload_json: text,
        bus_partition: opt_i32,
        bus_offset: opt_i64,
    }
}

typed_columns! {
    /// The builders of `stats_samples` rows: ten rows of 51 columns a sample.
    StatsSampleColumns for StatsSampleRow {
        received_at: ts,
        sample_ts: ts,
        conference_id: text,
        uc_id: opt_text,
        user_id: text,
        remote_user_id: opt_text,
        connection_id: text,
        report_id: text,
        report_type: text,
        ssrc: opt_i64,
        kind: opt_text,
        mid: opt_text,
        track_identifier: opt_text,
        codec_id: opt_text,
        mime_type: opt_text,
        packets_sent: opt_i64,
        packets_received: opt_i64,
        packets_lost: opt_i64,
        bytes_sent: opt_i64,
        bytes_received: opt_i64,
        jitter_s: opt_f64,
        fraction_lost: opt_f64,
        round_trip_time_s: opt_f64,
        total_round_trip_time_s: opt_f64,
        round_trip_time_measurements: opt_i64,
        frames_per_second: opt_f64,
        frame_width: opt_i32,
        frame_height: opt_i32,
        frames_encoded: opt_i64,
        frames_decoded: opt_i64,
        frames_dropped: opt_i64,
        freeze_count: opt_i64,
        total_freezes_duration_s: opt_f64,
        concealed_samples: opt_i64,
        total_samples_received: opt_i64,
        audio_level: opt_f64,
        jitter_buffer_delay_s: opt_f64,
        jitter_buffer_emitted_count: opt_i64,
        quality_limitation_reason: opt_text,
        target_bitrate: opt_f64,
        state: opt_text,
        nominated: opt_bool,
        current_round_trip_time_s: opt_f64,
        available_outgoing_bitrate: opt_f64,
        local_candidate_id: opt_text,
        remote_candidate_id: opt_text,
        selected_candidate_pair_id: opt_text,
        candidate_type: opt_text,
        protocol: opt_text,
        relay_protocol: opt_text,
        other_json: opt_text,
    }
}

/// `track_quality`: one row per track (stats object) per interval.
///
/// Generic over its strings as [`StatsSampleRow`]: the state machine appends rows that borrow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackQualityRow<S = String> {
    pub app_id: S,
    pub date: S,
    pub conference_id: S,
    pub segment: i32,
    pub connection_id: S,
    pub user_id: S,
    pub uc_id: Option<S>,
    pub remote_user_id: Option<S>,
    pub associated_user_id: Option<S>,
    pub ssrc: i64,
    pub track_id: Option<S>,
    pub media_kind: &'static str,
    pub direction: &'static str,
    pub usage_label: Option<S>,
    pub codec: Option<S>,
    pub interval_start: i64,
    pub interval_end: i64,
    pub after_gap: bool,
    pub packets_sent: Option<i64>,
    pub packets_received: Option<i64>,
    pub packets_lost: Option<i64>,
    pub loss_pct: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub rtt_ms: Option<f64>,
    pub bitrate_bps: Option<f64>,
    pub frame_rate: Option<f64>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub freeze_ms: Option<f64>,
    pub concealed_ms: Option<f64>,
    pub mos: Option<f64>,
    pub video_score: Option<f64>,
    pub band: Option<&'static str>,
}

impl<S: AsRef<str>> Row for TrackQualityRow<S> {
    const TABLE: &'static str = tables::TRACK_QUALITY;
    fn partition(&self) -> (&str, &str) {
        (self.app_id.as_ref(), self.date.as_ref())
    }
    fn cells<'a, E: Extend<Cell<'a>>>(&'a self, out: &mut E) {
        out.extend([
            Cell::Str(self.conference_id.as_ref()),
            Cell::I32(self.segment),
            Cell::Str(self.connection_id.as_ref()),
            Cell::Str(self.user_id.as_ref()),
            Cell::opt_as_str(self.uc_id.as_ref()),
            Cell::opt_as_str(self.remote_user_id.as_ref()),
            Cell::opt_as_str(self.associated_user_id.as_ref()),
            Cell::I64(self.ssrc),
            Cell::opt_as_str(self.track_id.as_ref()),
            Cell::Str(self.media_kind),
            Cell::Str(self.direction),
            Cell::opt_as_str(self.usage_label.as_ref()),
            Cell::opt_as_str(self.codec.as_ref()),
            Cell::Ts(self.interval_start),
            Cell::Ts(self.interval_end),
            Cell::Bool(self.after_gap),
            Cell::opt_i64(self.packets_sent),
            Cell::opt_i64(self.packets_received),
            Cell::opt_i64(self.packets_lost),
            Cell::opt_f64(self.loss_pct),
            Cell::opt_f64(self.jitter_ms),
            Cell::opt_f64(self.rtt_ms),
            Cell::opt_f64(self.bitrate_bps),
            Cell::opt_f64(self.frame_rate),
            Cell::opt_i32(self.width),
            Cell::opt_i32(self.height),
            Cell::opt_f64(self.freeze_ms),
            Cell::opt_f64(self.concealed_ms),
            Cell::opt_f64(self.mos),
            Cell::opt_f64(self.video_score),
            self.band.map_or(Cell::Null, Cell::Str),
        ]);
    }
}

impl<S: AsRef<str>> RowOf<TrackQualityRow> for TrackQualityRow<S> {
    fn to_owned_row(&self) -> TrackQualityRow<String> {
        TrackQualityRow {
            app_id: self.app_id.as_ref().to_owned(),
            date: self.date.as_ref().to_owned(),
            conference_id: self.conference_id.as_ref().to_owned(),
            segment: self.segment,
            connection_id: self.connection_id.as_ref().to_owned(),
            user_id: self.user_id.as_ref().to_owned(),
            uc_id: self.uc_id.as_ref().map(|v| v.as_ref().to_owned()),
            remote_user_id: self.remote_user_id.as_ref().map(|v| v.as_ref().to_owned()),
            associated_user_id: self
                .associated_user_id
                .as_ref()
                .map(|v| v.as_ref().to_owned()),
            ssrc: self.ssrc,
            track_id: self.track_id.as_ref().map(|v| v.as_ref().to_owned()),
            media_kind: self.media_kind,
            direction: self.direction,
            usage_label: self.usage_label.as_ref().map(|v| v.as_ref().to_owned()),
            codec: self.codec.as_ref().map(|v| v.as_ref().to_owned()),
            interval_start: self.interval_start,
            interval_end: self.interval_end,
            after_gap: self.after_gap,
            packets_sent: self.packets_sent,
            packets_received: self.packets_received,
            packets_lost: self.packets_lost,
            loss_pct: self.loss_pct,
            jitter_ms: self.jitter_ms,
            rtt_ms: self.rtt_ms,
            bitrate_bps: self.bitrate_bps,
            frame_rate: self.frame_rate,
            width: self.width,
            height: self.height,
            freeze_ms: self.freeze_ms,
            concealed_ms: self.concealed_ms,
            mos: self.mos,
            video_score: self.video_score,
            band: self.band,
        }
    }
}

/// `errors`: reported errors and setup failures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorRow {
    pub app_id: String,
    pub date: String,
    pub received_at: i64,
    pub client_ts: Option<i64>,
    pub conference_id: String,
    pub uc_id: Option<String>,
    pub user_id: Option<String>,
    pub connection_id: Option<String>,
    pub remote_user_id: Option<String>,
    pub kind: &'static str,
    pub webrtc_function: Option<&'static str>,
    pub failure_reason: Option<&'static str>,
    pub failure_category: Option<&'static str>,
    pub error_name: Option<String>,
    pub error_message: Option<String>,
    pub error_stack: Option<String>,
    pub constraint_name: Option<String>,
    pub has_local_sdp: bool,
    pub has_remote_sdp: bool,
}

impl Row for ErrorRow {
    const TABLE: &'static str = tables::ERRORS;
    fn partition(&self) -> (&str, &str) {
        (&self.app_id, &self.date)
    }
    fn cells<'a, E: Extend<Cell<'a>>>(&'a self, out: &mut E) {
        out.extend([
            Cell::Ts(self.received_at),
            Cell::opt_ts(self.client_ts),
            Cell::Str(&self.conference_id),
            Cell::opt_str(&self.uc_id),
            Cell::opt_str(&self.user_id),
            Cell::opt_str(&self.connection_id),
            Cell::opt_str(&self.remote_user_id),
            Cell::Str(self.kind),
            self.webrtc_function.map_or(Cell::Null, Cell::Str),
            self.failure_reason.map_or(Cell::Null, Cell::Str),
            self.failure_category.map_or(Cell::Null, Cell::Str),
            Cell::opt_str(&self.error_name),
            Cell::opt_str(&self.error_message),
            Cell::opt_str(&self.error_stack),
            Cell::opt_str(&self.constraint_name),
            Cell::Bool(self.has_local_sdp),
            Cell::Bool(self.has_remote_sdp),
        ]);
    }
}

/// `feedback`: one row per submission.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedbackRow {
    pub app_id: String,
    pub date: String,
    pub received_at: i64,
    pub client_ts: Option<i64>,
    pub conference_id: String,
    pub uc_id: Option<String>,
    pub user_id: String,
    pub remote_user_id: Option<String>,
    pub overall: i32,
    pub audio: Option<i32>,
    pub video: Option<i32>,
    pub screen: Option<i32>,
    pub comment: Option<String>,
}

impl Row for FeedbackRow {
    const TABLE: &'static str = tables::FEEDBACK;
    fn partition(&self) -> (&str, &str) {
        (&self.app_id, &self.date)
    }
    fn cells<'a, E: Extend<Cell<'a>>>(&'a self, out: &mut E) {
        out.extend([
            Cell::Ts(self.received_at),
            Cell::opt_ts(self.client_ts),
            Cell::Str(&self.conference_id),
            Cell::opt_str(&self.uc_id),
            Cell::Str(&self.user_id),
            Cell::opt_str(&self.remote_user_id),
            Cell::I32(self.overall),
            Cell::opt_i32(self.audio),
            Cell::opt_i32(self.video),
            Cell::opt_i32(self.screen),
            Cell::opt_str(&self.comment),
        ]);
    }
}

/// `integration`: one row per checklist item of an integration progress record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntegrationRow {
    pub app_id: String,
    pub date: String,
    pub window_start: i64,
    pub window_end: i64,
    pub item: String,
    pub accepted: i64,
    pub refused: i64,
    pub last_seen: Option<i64>,
    pub last_refused: Option<i64>,
    pub last_error: Option<String>,
    pub last_field: Option<String>,
    pub last_status: Option<i32>,
    pub bus_partition: Option<i32>,
    pub bus_offset: Option<i64>,
}

impl Row for IntegrationRow {
    const TABLE: &'static str = tables::INTEGRATION;
    fn partition(&self) -> (&str, &str) {
        (&self.app_id, &self.date)
    }
    fn cells<'a, E: Extend<Cell<'a>>>(&'a self, out: &mut E) {
        out.extend([
            Cell::Ts(self.window_start),
            Cell::Ts(self.window_end),
            Cell::Str(&self.item),
            Cell::I64(self.accepted),
            Cell::I64(self.refused),
            Cell::opt_ts(self.last_seen),
            Cell::opt_ts(self.last_refused),
            Cell::opt_str(&self.last_error),
            Cell::opt_str(&self.last_field),
            Cell::opt_i32(self.last_status),
            Cell::opt_i32(self.bus_partition),
            Cell::opt_i64(self.bus_offset),
        ]);
    }
}

// ---------------------------------------------------------------------------------------------
// Summary tables: written when a conference segment closes
// ---------------------------------------------------------------------------------------------

/// `conferences`: one row per conference segment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConferenceRow {
    pub app_id: String,
    pub date: String,
    pub conference_id: String,
    pub segment: i32,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub duration_ms: Option<i64>,
    pub end_reason: Option<String>,
    pub last_event_at: i64,
    pub users: i32,
    pub fabrics: i32,
    pub fabrics_setup: i32,
    pub fabrics_failed: i32,
    pub setup_status: Option<&'static str>,
    pub setup_delay_min_ms: Option<f64>,
    pub setup_delay_max_ms: Option<f64>,
    pub setup_delay_mean_ms: Option<f64>,
    pub setup_delay_median_ms: Option<f64>,
    pub failures_by_reason: Option<Vec<(String, i64)>>,
    pub termination_reasons: Option<Vec<(String, i64)>>,
    pub mean_mos: Option<f64>,
    pub worst_user_mos: Option<f64>,
    pub worst_user_id: Option<String>,
    pub mean_video_score: Option<f64>,
    pub worst_user_video_score: Option<f64>,
    pub feedback_mean: Option<f64>,
    pub feedback_count: i32,
    pub relay_share: Option<f64>,
    pub browsers: Option<Vec<String>>,
    pub os: Option<Vec<String>>,
    pub app_versions: Option<Vec<String>>,
    pub site_ids: Option<Vec<String>>,
}

impl Row for ConferenceRow {
    const TABLE: &'static str = tables::CONFERENCES;
    fn partition(&self) -> (&str, &str) {
        (&self.app_id, &self.date)
    }
    fn cells<'a, E: Extend<Cell<'a>>>(&'a self, out: &mut E) {
        out.extend([
            Cell::Str(&self.conference_id),
            Cell::I32(self.segment),
            Cell::Ts(self.start_time),
            Cell::opt_ts(self.end_time),
            Cell::opt_i64(self.duration_ms),
            Cell::opt_str(&self.end_reason),
            Cell::Ts(self.last_event_at),
            Cell::I32(self.users),
            Cell::I32(self.fabrics),
            Cell::I32(self.fabrics_setup),
            Cell::I32(self.fabrics_failed),
            self.setup_status.map_or(Cell::Null, Cell::Str),
            Cell::opt_f64(self.setup_delay_min_ms),
            Cell::opt_f64(self.setup_delay_max_ms),
            Cell::opt_f64(self.setup_delay_mean_ms),
            Cell::opt_f64(self.setup_delay_median_ms),
            Cell::opt_counts(&self.failures_by_reason),
            Cell::opt_counts(&self.termination_reasons),
            Cell::opt_f64(self.mean_mos),
            Cell::opt_f64(self.worst_user_mos),
            Cell::opt_str(&self.worst_user_id),
            Cell::opt_f64(self.mean_video_score),
            Cell::opt_f64(self.worst_user_video_score),
            Cell::opt_f64(self.feedback_mean),
            Cell::I32(self.feedback_count),
            Cell::opt_f64(self.relay_share),
            Cell::opt_strs(&self.browsers),
            Cell::opt_strs(&self.os),
            Cell::opt_strs(&self.app_versions),
            Cell::opt_strs(&self.site_ids),
        ]);
    }
}

/// `fabrics`: one row per PeerConnection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FabricRow {
    pub app_id: String,
    pub date: String,
    pub conference_id: String,
    pub segment: i32,
    pub connection_id: String,
    pub user_id: String,
    pub uc_id: Option<String>,
    pub remote_user_id: Option<String>,
    pub fabric_usage: Option<&'static str>,
    pub remote_endpoint_type: Option<&'static str>,
    pub transmission_direction: Option<&'static str>,
    pub created_at: Option<i64>,
    pub setup_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub terminated_at: Option<i64>,
    pub setup_delay_ms: Option<f64>,
    pub ice_gathering_ms: Option<f64>,
    pub ice_connectivity_ms: Option<f64>,
    pub dtls_ms: Option<f64>,
    pub outcome: &'static str,
    pub failure_reason: Option<&'static str>,
    pub failure_category: Option<&'static str>,
    pub failed_function: Option<&'static str>,
    pub relayed: Option<bool>,
    pub relay_protocol: Option<String>,
    pub local_candidate_type: Option<String>,
    pub remote_candidate_type: Option<String>,
    pub transport_protocol: Option<String>,
    pub ice_restarts: i32,
    pub disruptions: i32,
    pub disrupted_ms: Option<f64>,
    pub transport_changes: i32,
    pub dropped: bool,
    pub terminated_reason: Option<String>,
    pub duration_ms: Option<i64>,
    pub last_event_at: i64,
    pub dropped_at: Option<i64>,
    pub recovered_disruptions: Option<i32>,
    pub packets_received: Option<i64>,
    pub packets_received_lost: Option<i64>,
    pub packets_sent: Option<i64>,
    pub packets_sent_lost: Option<i64>,
    pub received_loss_pct: Option<f64>,
    pub sent_loss_pct: Option<f64>,
}

impl Row for FabricRow {
    const TABLE: &'static str = tables::FABRICS;
    fn partition(&self) -> (&str, &str) {
        (&self.app_id, &self.date)
    }
    fn cells<'a, E: Extend<Cell<'a>>>(&'a self, out: &mut E) {
        out.extend([
            Cell::Str(&self.conference_id),
            Cell::I32(self.segment),
            Cell::Str(&self.connection_id),
            Cell::Str(&self.user_id),
            Cell::opt_str(&self.uc_id),
            Cell::opt_str(&self.remote_user_id),
            self.fabric_usage.map_or(Cell::Null, Cell::Str),
            self.remote_endpoint_type.map_or(Cell::Null, Cell::Str),
            self.transmission_direction.map_or(Cell::Null, Cell::Str),
            Cell::opt_ts(self.created_at),
            Cell::opt_ts(self.setup_at),
            Cell::opt_ts(self.failed_at),
            Cell::opt_ts(self.terminated_at),
            Cell::opt_f64(self.setup_delay_ms),
            Cell::opt_f64(self.ice_gathering_ms),
            Cell::opt_f64(self.ice_connectivity_ms),
            Cell::opt_f64(self.dtls_ms),
            Cell::Str(self.outcome),
            self.failure_reason.map_or(Cell::Null, Cell::Str),
            self.failure_category.map_or(Cell::Null, Cell::Str),
            self.failed_function.map_or(Cell::Null, Cell::Str),
            Cell::opt_bool(self.relayed),
            Cell::opt_str(&self.relay_protocol),
            Cell::opt_str(&self.local_candidate_type),
            Cell::opt_str(&self.remote_candidate_type),
            Cell::opt_str(&self.transport_protocol),
            Cell::I32(self.ice_restarts),
            Cell::I32(self.disruptions),
            Cell::opt_f64(self.disrupted_ms),
            Cell::I32(self.transport_changes),
            Cell::Bool(self.dropped),
            Cell::opt_str(&self.terminated_reason),
            Cell::opt_i64(self.duration_ms),
            Cell::Ts(self.last_event_at),
            Cell::opt_ts(self.dropped_at),
            Cell::opt_i32(self.recovered_disruptions),
            Cell::opt_i64(self.packets_received),
            Cell::opt_i64(self.packets_received_lost),
            Cell::opt_i64(self.packets_sent),
            Cell::opt_i64(self.packets_sent_lost),
            Cell::opt_f64(self.received_loss_pct),
            Cell::opt_f64(self.sent_loss_pct),
        ]);
    }
}

/// `user_quality`: one row per user per conference segment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserQualityRow {
    pub app_id: String,
    pub date: String,
    pub conference_id: String,
    pub segment: i32,
    pub user_id: String,
    pub uc_id: Option<String>,
    pub endpoint_type: Option<String>,
    pub browser: Option<String>,
    pub browser_version: Option<String>,
    pub os: Option<String>,
    pub os_version: Option<String>,
    pub app_version: Option<String>,
    pub site_id: Option<String>,
    pub joined_at: Option<i64>,
    pub left_at: Option<i64>,
    pub duration_ms: Option<i64>,
    pub measured_ms: i64,
    pub mean_mos: Option<f64>,
    pub mean_video_score: Option<f64>,
    pub mean_loss_pct: Option<f64>,
    pub mean_jitter_ms: Option<f64>,
    pub mean_rtt_ms: Option<f64>,
    pub mean_bitrate_bps: Option<f64>,
    pub mean_audio_bitrate_bps: Option<f64>,
    pub mean_video_bitrate_bps: Option<f64>,
    pub worst_interval_start: Option<i64>,
    pub worst_interval_mos: Option<f64>,
    pub worst_interval_video_score: Option<f64>,
    pub share_excellent: Option<f64>,
    pub share_good: Option<f64>,
    pub share_fair: Option<f64>,
    pub share_poor: Option<f64>,
    pub share_bad: Option<f64>,
    pub feedback_overall: Option<i32>,
}

impl Row for UserQualityRow {
    const TABLE: &'static str = tables::USER_QUALITY;
    fn partition(&self) -> (&str, &str) {
        (&self.app_id, &self.date)
    }
    fn cells<'a, E: Extend<Cell<'a>>>(&'a self, out: &mut E) {
        out.extend([
            Cell::Str(&self.conference_id),
            Cell::I32(self.segment),
            Cell::Str(&self.user_id),
            Cell::opt_str(&self.uc_id),
            Cell::opt_str(&self.endpoint_type),
            Cell::opt_str(&self.browser),
            Cell::opt_str(&self.browser_version),
            Cell::opt_str(&self.os),
            Cell::opt_str(&self.os_version),
            Cell::opt_str(&self.app_version),
            Cell::opt_str(&self.site_id),
            Cell::opt_ts(self.joined_at),
            Cell::opt_ts(self.left_at),
            Cell::opt_i64(self.duration_ms),
            Cell::I64(self.measured_ms),
            Cell::opt_f64(self.mean_mos),
            Cell::opt_f64(self.mean_video_score),
            Cell::opt_f64(self.mean_loss_pct),
            Cell::opt_f64(self.mean_jitter_ms),
            Cell::opt_f64(self.mean_rtt_ms),
            Cell::opt_f64(self.mean_bitrate_bps),
            Cell::opt_f64(self.mean_audio_bitrate_bps),
            Cell::opt_f64(self.mean_video_bitrate_bps),
            Cell::opt_ts(self.worst_interval_start),
            Cell::opt_f64(self.worst_interval_mos),
            Cell::opt_f64(self.worst_interval_video_score),
            Cell::opt_f64(self.share_excellent),
            Cell::opt_f64(self.share_good),
            Cell::opt_f64(self.share_fair),
            Cell::opt_f64(self.share_poor),
            Cell::opt_f64(self.share_bad),
            Cell::opt_i32(self.feedback_overall),
        ]);
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int32Type;

    use super::*;

    #[test]
    fn utc_dates_by_hand() {
        assert_eq!(utc_date(0), "1970-01-01");
        // examples::RECEIVED_AT_MS: 2023-11-14T22:13:20Z.
        assert_eq!(utc_date(1_700_000_000_000), "2023-11-14");
        // 2024-02-29 is a leap day: 19 782 days after the epoch.
        assert_eq!(utc_date(19_782 * 86_400_000), "2024-02-29");
        assert_eq!(utc_date(19_782 * 86_400_000 - 1), "2024-02-28");
        assert_eq!(utc_date(-1), "1969-12-31");
    }

    fn conference(id: &str, segment: i32) -> ConferenceRow {
        ConferenceRow {
            app_id: "a".into(),
            date: "2024-01-01".into(),
            conference_id: id.into(),
            segment,
            failures_by_reason: Some(vec![("IceConnectionFailure".into(), 1)]),
            browsers: Some(vec!["Chrome".into(), "Firefox".into()]),
            ..ConferenceRow::default()
        }
    }

    #[test]
    fn every_table_row_fits_its_schema_and_is_sorted() {
        let rows = [conference("b", 0), conference("a", 1), conference("a", 0)];
        let refs: Vec<&ConferenceRow> = rows.iter().collect();
        let batch = to_batch(&refs).unwrap();
        assert_eq!(batch.num_rows(), 3);
        let ids = batch.column(0).as_string::<i32>();
        let segs = batch.column(1).as_primitive::<Int32Type>();
        let order: Vec<(String, i32)> = (0..3)
            .map(|i| (ids.value(i).to_owned(), segs.value(i)))
            .collect();
        assert_eq!(
            order,
            [("a".into(), 0), ("a".into(), 1), ("b".into(), 0)],
            "sorted by conference_id, segment"
        );
        let reasons = batch.column_by_name("failures_by_reason").unwrap();
        assert_eq!(reasons.data_type(), &tables::count_map_type());
        assert!(batch.column_by_name("end_time").unwrap().is_null(0));

        // One default row of every other table converts without a type or nullability error.
        to_batch(&[&EventRow::<String> {
            app_id: "a".into(),
            date: "d".into(),
            received_at: 1,
            client_ts: None,
            kind: "user_alive",
            event_type: None,
            origin: "rest",
            schema_version: 1,
            conference_id: "c".into(),
            uc_id: None,
            user_id: None,
            connection_id: None,
            remote_user_id: None,
            payload_json: "{}".into(),
            bus_partition: Some(0),
            bus_offset: Some(7),
        }])
        .unwrap();
        to_batch(&[&StatsSampleRow::<String>::default()]).unwrap();
        to_batch(&[&TrackQualityRow {
            media_kind: "audio",
            direction: "inbound",
            ..TrackQualityRow::<String>::default()
        }])
        .unwrap();
        to_batch(&[&ErrorRow {
            kind: "report_error",
            ..ErrorRow::default()
        }])
        .unwrap();
        to_batch(&[&FeedbackRow::default()]).unwrap();
        to_batch(&[&FabricRow {
            outcome: "setup",
            ..FabricRow::default()
        }])
        .unwrap();
        to_batch(&[&UserQualityRow::default()]).unwrap();
    }

    #[test]
    fn a_null_in_a_required_column_is_an_error() {
        struct Bad(FeedbackRow);
        impl Row for Bad {
            const TABLE: &'static str = tables::FEEDBACK;
            fn partition(&self) -> (&str, &str) {
                ("a", "d")
            }
            fn cells<'a, E: Extend<Cell<'a>>>(&'a self, out: &mut E) {
                let mut cells = Vec::new();
                self.0.cells(&mut cells);
                cells[0] = Cell::Null;
                out.extend(cells);
            }
        }
        let err = to_batch(&[&Bad(FeedbackRow::default())]).unwrap_err();
        assert!(matches!(err, RowError::Arrow { .. }), "{err}");
        struct Narrow;
        impl Row for Narrow {
            const TABLE: &'static str = tables::FEEDBACK;
            fn partition(&self) -> (&str, &str) {
                ("a", "d")
            }
            fn cells<'a, E: Extend<Cell<'a>>>(&'a self, out: &mut E) {
                out.extend([Cell::Ts(1)]);
            }
        }
        assert!(matches!(
            to_batch(&[&Narrow]).unwrap_err(),
            RowError::Width { got: 1, .. }
        ));
    }

    /// The order `to_batch` gives is the one arrow's own comparator agrees with (ascending, nulls
    /// first), and rows with equal keys keep the order they came in.
    #[test]
    fn rows_are_ordered_as_arrow_orders_them_and_ties_keep_their_order() {
        // A fixed pseudo-random mix with many ties: 3 conferences, 2 connections, 4 times.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let rows: Vec<StatsSampleRow> = (0..300)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                StatsSampleRow {
                    app_id: "1".into(),
                    date: "d".into(),
                    conference_id: ["b", "a", "ab"][(x % 3) as usize].into(),
                    connection_id: ["pc2", "pc1"][((x >> 8) % 2) as usize].into(),
                    sample_ts: ((x >> 16) % 4) as i64 * 1000,
                    // The input position, to see what became of ties.
                    packets_sent: Some(i),
                    ..StatsSampleRow::default()
                }
            })
            .collect();
        let refs: Vec<&StatsSampleRow> = rows.iter().collect();
        let batch = to_batch(&refs).unwrap();
        assert_eq!(batch.num_rows(), rows.len());
        let key: Vec<arrow::compute::SortColumn> = tables::sort_key(tables::STATS_SAMPLES)
            .iter()
            .map(|name| arrow::compute::SortColumn {
                values: batch.column_by_name(name).unwrap().clone(),
                options: None,
            })
            .collect();
        let cmp = arrow::compute::LexicographicalComparator::try_new(&key).unwrap();
        let position = batch
            .column_by_name("packets_sent")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        for i in 1..batch.num_rows() {
            match cmp.compare(i - 1, i) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => assert!(position.value(i - 1) < position.value(i)),
                std::cmp::Ordering::Greater => panic!("rows {} and {i} out of order", i - 1),
            }
        }
    }

    #[test]
    fn nulls_sort_first_and_strings_by_bytes() {
        use std::cmp::Ordering::{Equal, Greater, Less};
        assert_eq!(compare_cells(&Cell::Null, &Cell::Str("")), Less);
        assert_eq!(compare_cells(&Cell::I64(-5), &Cell::Null), Greater);
        assert_eq!(compare_cells(&Cell::Null, &Cell::Null), Equal);
        // "Z" (0x5a) before "a" (0x61), "é" (0xc3 0xa9) after "z": byte order, as arrow.
        assert_eq!(compare_cells(&Cell::Str("Z"), &Cell::Str("a")), Less);
        assert_eq!(compare_cells(&Cell::Str("é"), &Cell::Str("z")), Greater);
        assert_eq!(compare_cells(&Cell::Ts(2), &Cell::Ts(10)), Less);
        assert_eq!(compare_cells(&Cell::F64(-0.0), &Cell::F64(0.0)), Less);
    }

    /// Rows held as columns come out as the same batches, partition by partition, as the same
    /// rows given to `to_batch`: two sorts (arrow's lexsort there, `sort_order` here) that
    /// must agree, ties included.
    #[test]
    fn column_rows_give_the_batches_to_batch_gives() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let rows: Vec<StatsSampleRow> = (0..500)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                StatsSampleRow {
                    app_id: ["1", "2"][(x % 2) as usize].into(),
                    date: ["2024-01-01", "2024-01-02"][((x >> 4) % 2) as usize].into(),
                    conference_id: ["b", "a", "ab"][((x >> 8) % 3) as usize].into(),
                    connection_id: ["pc2", "pc1"][((x >> 12) % 2) as usize].into(),
                    sample_ts: ((x >> 16) % 3) as i64,
                    report_type: "inbound-rtp".into(),
                    packets_sent: Some(i),
                    jitter_s: (i % 3 == 0).then_some(0.5),
                    audio_level: [None, Some(f64::NAN), Some(0.25)][(i % 3) as usize],
                    nominated: (i % 4 == 0).then_some(i % 8 == 0),
                    frame_width: (i % 2 == 0).then_some(640),
                    kind: (i % 2 == 1).then(|| "audio".to_owned()),
                    uc_id: (i % 7 == 0).then(|| format!("uc{i}")),
                    other_json: (i % 5 == 0).then(|| format!("{{\"n\":{i}}}")),
                    ..StatsSampleRow::default()
                }
            })
            .collect();
        let mut typed = ColumnRows::<StatsSampleRow, StatsSampleColumns>::default();
        let mut columns = ColumnRows::<StatsSampleRow>::default();
        for row in &rows {
            columns.push(row);
            typed.push(row);
        }
        assert_eq!(columns.len(), rows.len());
        // The typed builders give the same batches as the schema-driven ones.
        assert_eq!(typed.batches().unwrap(), columns.batches().unwrap());
        let got = columns.batches().unwrap();
        assert_eq!(got.len(), 4, "two apps × two dates");
        let mut total = 0;
        for ((app_id, date), batch) in &got {
            let group: Vec<&StatsSampleRow> = rows
                .iter()
                .filter(|r| r.app_id == *app_id && r.date == *date)
                .collect();
            total += group.len();
            assert_eq!(*batch, to_batch(&group).unwrap(), "{app_id} {date}");
        }
        assert_eq!(total, rows.len());
        columns.clear();
        assert!(columns.is_empty() && columns.batches().unwrap().is_empty());
    }

    #[test]
    fn a_refused_row_fails_the_flush_instead_of_being_dropped() {
        struct Narrow(FeedbackRow);
        impl Row for Narrow {
            const TABLE: &'static str = tables::FEEDBACK;
            fn partition(&self) -> (&str, &str) {
                ("a", "d")
            }
            fn cells<'a, E: Extend<Cell<'a>>>(&'a self, out: &mut E) {
                let mut cells = Vec::new();
                self.0.cells(&mut cells);
                cells.pop();
                out.extend(cells);
            }
        }
        impl Clone for Narrow {
            fn clone(&self) -> Self {
                Narrow(self.0.clone())
            }
        }
        let mut columns = ColumnRows::<Narrow>::default();
        columns.push(&Narrow(FeedbackRow::default()));
        assert!(columns.rows.is_empty());
        let err = columns.batches().unwrap_err();
        assert!(
            matches!(&err, RowError::Refused { reason, .. } if reason.contains("cells")),
            "{err}"
        );
    }

    #[test]
    fn typed_sort_keys_put_nulls_first_as_arrow_does() {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let ints = arrow::array::Int64Array::from(vec![Some(5), None, Some(-1), None]);
        let c = KeyColumn::new(&ints).unwrap();
        assert_eq!(
            (c.compare(1, 0), c.compare(0, 2), c.compare(1, 3)),
            (Less, Greater, Equal)
        );
        let strs = arrow::array::StringArray::from(vec![Some("b"), None, Some("B")]);
        let c = KeyColumn::new(&strs).unwrap();
        assert_eq!((c.compare(1, 2), c.compare(2, 0)), (Less, Less));
        assert!(KeyColumn::new(&arrow::array::Float64Array::from(vec![1.0])).is_none());
    }
}
