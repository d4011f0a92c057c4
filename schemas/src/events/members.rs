//! [`Members`]: the members of a stats report that have no typed field.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A report's other members, sorted by name, one value per name, serialized as a JSON object.
///
/// A sorted `Vec` and not `serde_json::Map` (a `BTreeMap`): a report is read once and looked
/// up a few times, and inserting its fifteen-odd members one by one into B-tree nodes was a
/// fifth of decoding a sample (docs/benchmarks.md). Members are collected in arrival order and
/// sorted once; as in a `Map`, the last of duplicate names wins and iteration is by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Members(Vec<(String, Value)>);

impl Members {
    #[must_use]
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Members in any order: sorted by name, the last of duplicate names kept.
    #[must_use]
    pub fn from_unsorted(mut members: Vec<(String, Value)>) -> Self {
        // Stable, so equal names keep their arrival order and the last can win below.
        members.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, Value)> = Vec::with_capacity(members.len());
        for (key, value) in members {
            match out.last_mut() {
                Some(last) if last.0 == key => last.1 = value,
                _ => out.push((key, value)),
            }
        }
        Self(out)
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    #[must_use]
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Sets a member; returns the value it replaced.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes a member; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The members by name.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<'a> IntoIterator for &'a Members {
    type Item = (&'a String, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Value)>,
        fn(&'a (String, Value)) -> (&'a String, &'a Value),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl FromIterator<(String, Value)> for Members {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Self::from_unsorted(iter.into_iter().collect())
    }
}

impl From<Map<String, Value>> for Members {
    fn from(map: Map<String, Value>) -> Self {
        // A `Map` is already sorted and unique.
        Self(map.into_iter().collect())
    }
}

impl std::ops::Index<&str> for Members {
    type Output = Value;

    /// Panics when the member is missing, as `Map`'s index does.
    fn index(&self, key: &str) -> &Value {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no member {key:?}"),
        }
    }
}

impl Serialize for Members {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of stats members")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(256));
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    members.push(entry);
                }
                Ok(Members::from_unsorted(members))
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Against `serde_json::Map` as the reference: same members, same order, same JSON, the
    /// last of duplicate names kept.
    #[test]
    fn members_behave_as_a_json_map() {
        let text = r#"{"b": 1, "a": "x", "c": [1], "b": 2, "é": null, "Z": true}"#;
        let members: Members = serde_json::from_str(text).unwrap();
        let map: Map<String, Value> = serde_json::from_str(text).unwrap();
        assert_eq!(members.len(), 5);
        assert_eq!(members["b"], json!(2));
        assert_eq!(
            serde_json::to_string(&members).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
        assert_eq!(
            serde_json::to_string(&members).unwrap(),
            r#"{"Z":true,"a":"x","b":2,"c":[1],"é":null}"#
        );
        let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["Z", "a", "b", "c", "é"]);
        assert_eq!(Members::from(map.clone()), members);
        assert!(members.get("d").is_none() && !members.contains_key("d"));

        let mut m = members.clone();
        assert_eq!(m.insert("d".into(), json!(4)), None);
        assert_eq!(m.insert("a".into(), json!("y")), Some(json!("x")));
        assert_eq!(m.remove("Z"), Some(json!(true)));
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "é"]);
        let collected: Members = vec![("q".to_owned(), json!(1)), ("p".to_owned(), json!(2))]
            .into_iter()
            .collect();
        assert_eq!(
            serde_json::to_string(&collected).unwrap(),
            r#"{"p":2,"q":1}"#
        );
    }
}
