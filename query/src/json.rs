//! Record batches as JSON objects for the dashboard API: one object per row, keyed by column name,
//! times as Unix milliseconds (what charts plot), lists as arrays, count maps as objects,
//! non-finite floats as null.

use arrow::array::{Array, ArrayRef, AsArray as _, RecordBatch};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Value};

pub type Row = Map<String, Value>;

/// Every row of every batch, in order.
pub fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        let columns: Vec<(String, Vec<Value>)> = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(f, c)| (f.name().clone(), values(c)))
            .collect();
        for row in 0..batch.num_rows() {
            let mut object = Map::with_capacity(columns.len());
            for (name, values) in &columns {
                object.insert(
                    name.clone(),
                    values.get(row).cloned().unwrap_or(Value::Null),
                );
            }
            out.push(object);
        }
    }
    out
}

/// The values of one column.
pub fn values(array: &ArrayRef) -> Vec<Value> {
    (0..array.len()).map(|i| value(array.as_ref(), i)).collect()
}

fn float(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn value(array: &dyn Array, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Utf8 => Value::from(array.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Value::from(array.as_string::<i64>().value(i)),
        DataType::Utf8View => Value::from(array.as_string_view().value(i)),
        DataType::Boolean => Value::from(array.as_boolean().value(i)),
        DataType::Int8 => Value::from(array.as_primitive::<Int8Type>().value(i)),
        DataType::Int16 => Value::from(array.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => Value::from(array.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => Value::from(array.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => Value::from(array.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => Value::from(array.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => Value::from(array.as_primitive::<UInt64Type>().value(i)),
        DataType::Float32 => float(f64::from(array.as_primitive::<Float32Type>().value(i))),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(i)),
        DataType::Timestamp(unit, _) => Value::from(match unit {
            TimeUnit::Second => array
                .as_primitive::<TimestampSecondType>()
                .value(i)
                .saturating_mul(1_000),
            TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(i),
            TimeUnit::Microsecond => {
                array.as_primitive::<TimestampMicrosecondType>().value(i) / 1_000
            }
            TimeUnit::Nanosecond => {
                array.as_primitive::<TimestampNanosecondType>().value(i) / 1_000_000
            }
        }),
        DataType::List(_) => {
            let list = array.as_list::<i32>().value(i);
            Value::Array((0..list.len()).map(|j| value(list.as_ref(), j)).collect())
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>().value(i);
            Value::Array((0..list.len()).map(|j| value(list.as_ref(), j)).collect())
        }
        DataType::Map(..) => {
            let entries = array.as_map().value(i);
            let keys = entries.column(0);
            let vals = entries.column(1);
            let mut object = Map::new();
            for j in 0..entries.len() {
                let key = match value(keys.as_ref(), j) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                object.insert(key, value(vals.as_ref(), j));
            }
            Value::Object(object)
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let mut object = Map::new();
            for (field, column) in fields.iter().zip(s.columns()) {
                object.insert(field.name().clone(), value(column.as_ref(), i));
            }
            Value::Object(object)
        }
        _ => match ArrayFormatter::try_new(array, &FormatOptions::default()) {
            Ok(formatter) => Value::from(formatter.value(i).to_string()),
            Err(_) => Value::Null,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        Float64Array, Int32Array, Int64Builder, ListBuilder, MapBuilder, StringArray,
        StringBuilder, TimestampMillisecondArray,
    };
    use arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn rows_by_hand() {
        let mut list = ListBuilder::new(StringBuilder::new());
        list.values().append_value("chrome");
        list.append(true);
        list.append(false);
        let mut map = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
        map.keys().append_value("IceConnectionFailure");
        map.values().append_value(2);
        map.append(true).unwrap();
        map.append(false).unwrap();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some("c1"), None])),
            Arc::new(Int32Array::from(vec![3, 4])),
            Arc::new(Float64Array::from(vec![f64::NAN, 4.25])),
            Arc::new(TimestampMillisecondArray::from(vec![1_000, 2_000]).with_timezone("UTC")),
            Arc::new(list.finish()),
            Arc::new(map.finish()),
        ];
        let schema = Schema::new(
            columns
                .iter()
                .zip(["id", "n", "x", "t", "l", "m"])
                .map(|(c, name)| Field::new(name, c.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        let batch = RecordBatch::try_new(Arc::new(schema), columns).unwrap();
        let rows = rows(&[batch]);
        assert_eq!(
            Value::Array(rows.into_iter().map(Value::Object).collect()),
            serde_json::json!([
                {"id": "c1", "n": 3, "x": null, "t": 1000, "l": ["chrome"], "m": {"IceConnectionFailure": 2}},
                {"id": null, "n": 4, "x": 4.25, "t": 2000, "l": null, "m": null}
            ])
        );
    }
}
