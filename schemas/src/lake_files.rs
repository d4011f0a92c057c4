//! Names of the lake's Parquet files and the rule by which a reader picks the files of a
//! directory (docs/processor.md, "Compaction"). The processor writes the names; the query
//! service and every other reader apply [`visible`] to each directory's listing.
//!
//! A file name says what it covers, on one bus partition `P`:
//!
//! | name | covers |
//! |---|---|
//! | `pP-o{first:020}-{last:020}.parquet` | the rows of offsets `first..=last` (a flush) |
//! | `pP-c{first:020}.parquet`, `pP-c{first:020}-e{i}.parquet` | the summaries of the segments closed in one flush, the first of them opened at offset `first` |
//! | `pP-o{lo:020}-{hi:020}-compacted.parquet` | every per-message file of `P` whose offsets lie in `lo..=hi` |
//! | `pP-c{lo:020}-{hi:020}-compacted.parquet` | every summary file of `P` whose opening offset lies in `lo..=hi` |
//!
//! **The rule**: in one directory, a file is hidden when a *compacted* file of the same bus
//! partition and kind, other than itself, covers its whole range. Everything else (including
//! any name this module does not know) is read. A compacted file holds exactly the rows of the
//! files it covers, so a reader that applies the rule to any listing (taken before, during or
//! after a compaction, while inputs and merged file both exist) reads every row once.

/// What a file holds: per-message rows by offset range, or segment summaries by opening offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    /// `-o`: events, stats_samples, track_quality, errors, feedback.
    Rows,
    /// `-c`: conferences, fabrics, user_quality.
    Summaries,
}

/// The coverage of one file, parsed from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileRange {
    pub partition: i32,
    pub kind: FileKind,
    /// First offset covered (rows), or smallest segment opening offset (summaries).
    pub lo: i64,
    /// Last offset covered, inclusive.
    pub hi: i64,
    /// A compacted file: it replaces every file it covers.
    pub compacted: bool,
}

const SUFFIX: &str = ".parquet";
const COMPACTED: &str = "-compacted";

fn offset(digits: &str) -> Option<i64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl FileRange {
    /// Parses a file name (the last path segment); `None` for any other name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        let stem = name.strip_suffix(SUFFIX)?;
        let (stem, compacted) = match stem.strip_suffix(COMPACTED) {
            Some(s) => (s, true),
            None => (stem, false),
        };
        let rest = stem.strip_prefix('p')?;
        let dash = rest.find('-')?;
        let partition: i32 = {
            let digits = &rest[..dash];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()?
        };
        let rest = &rest[dash + 1..];
        if let Some(range) = rest.strip_prefix('o') {
            let (lo, hi) = range.split_once('-')?;
            let (lo, hi) = (offset(lo)?, offset(hi)?);
            return (lo <= hi).then_some(Self {
                partition,
                kind: FileKind::Rows,
                lo,
                hi,
                compacted,
            });
        }
        let range = rest.strip_prefix('c')?;
        if compacted {
            let (lo, hi) = range.split_once('-')?;
            let (lo, hi) = (offset(lo)?, offset(hi)?);
            return (lo <= hi).then_some(Self {
                partition,
                kind: FileKind::Summaries,
                lo,
                hi,
                compacted,
            });
        }
        let first = match range.split_once("-e") {
            Some((first, index)) => {
                offset(index)?;
                first
            }
            None => range,
        };
        let first = offset(first)?;
        Some(Self {
            partition,
            kind: FileKind::Summaries,
            lo: first,
            hi: first,
            compacted: false,
        })
    }

    /// Whether `self`, a compacted file, replaces `other` (a different file of one directory).
    #[must_use]
    pub fn covers(&self, other: &FileRange) -> bool {
        self.compacted
            && self.partition == other.partition
            && self.kind == other.kind
            && self.lo <= other.lo
            && other.hi <= self.hi
            && self != other
    }

    /// The name of the compacted file of `partition` covering `lo..=hi`.
    #[must_use]
    pub fn compacted_name(partition: i32, kind: FileKind, lo: i64, hi: i64) -> String {
        let letter = match kind {
            FileKind::Rows => 'o',
            FileKind::Summaries => 'c',
        };
        format!("p{partition}-{letter}{lo:020}-{hi:020}{COMPACTED}{SUFFIX}")
    }
}

/// For the file names of ONE directory, whether each is read: `false` for a file replaced by a
/// compacted file of that directory ([the rule](self)).
#[must_use]
pub fn visible<S: AsRef<str>>(names: &[S]) -> Vec<bool> {
    let ranges: Vec<Option<FileRange>> =
        names.iter().map(|n| FileRange::parse(n.as_ref())).collect();
    let compacted: Vec<FileRange> = ranges
        .iter()
        .flatten()
        .filter(|r| r.compacted)
        .copied()
        .collect();
    ranges
        .iter()
        .map(|range| match range {
            None => true,
            Some(r) => !compacted.iter().any(|c| c.covers(r)),
        })
        .collect()
}

/// For paths of any number of directories (`/`-separated), whether each is read: [`visible`]
/// applied per directory.
#[must_use]
pub fn visible_paths<S: AsRef<str>>(paths: &[S]) -> Vec<bool> {
    let split = |p: &str| -> (String, String) {
        match p.rsplit_once('/') {
            Some((dir, name)) => (dir.to_owned(), name.to_owned()),
            None => (String::new(), p.to_owned()),
        }
    };
    let mut by_dir: std::collections::BTreeMap<String, Vec<(usize, String)>> =
        std::collections::BTreeMap::new();
    for (i, p) in paths.iter().enumerate() {
        let (dir, name) = split(p.as_ref());
        by_dir.entry(dir).or_default().push((i, name));
    }
    let mut out = vec![true; paths.len()];
    for files in by_dir.values() {
        let names: Vec<&str> = files.iter().map(|(_, n)| n.as_str()).collect();
        for ((i, _), keep) in files.iter().zip(visible(&names)) {
            out[*i] = keep;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(p: i32, lo: i64, hi: i64, compacted: bool) -> FileRange {
        FileRange {
            partition: p,
            kind: FileKind::Rows,
            lo,
            hi,
            compacted,
        }
    }

    #[test]
    fn names_parse_to_what_they_cover() {
        assert_eq!(
            FileRange::parse("p3-o00000000000000000010-00000000000000000020.parquet"),
            Some(rows(3, 10, 20, false))
        );
        assert_eq!(
            FileRange::parse("p3-o00000000000000000010-00000000000000000090-compacted.parquet"),
            Some(rows(3, 10, 90, true))
        );
        let summary = |lo, hi, compacted| FileRange {
            partition: 0,
            kind: FileKind::Summaries,
            lo,
            hi,
            compacted,
        };
        assert_eq!(
            FileRange::parse("p0-c00000000000000000007.parquet"),
            Some(summary(7, 7, false))
        );
        assert_eq!(
            FileRange::parse("p0-c00000000000000000007-e2.parquet"),
            Some(summary(7, 7, false))
        );
        assert_eq!(
            FileRange::parse("p0-c00000000000000000007-00000000000000000042-compacted.parquet"),
            Some(summary(7, 42, true))
        );
        for name in [
            FileRange::compacted_name(0, FileKind::Summaries, 7, 42),
            FileRange::compacted_name(3, FileKind::Rows, 10, 90),
        ] {
            assert!(
                FileRange::parse(&name).is_some_and(|r| r.compacted),
                "{name}"
            );
        }
        assert_eq!(
            FileRange::compacted_name(3, FileKind::Rows, 10, 90),
            "p3-o00000000000000000010-00000000000000000090-compacted.parquet"
        );
        for other in [
            "part-0.parquet",
            ".p0-o1-2.parquet.tmp",
            "p0-o2-1.parquet",
            "p0-o1.parquet",
            "px-o1-2.parquet",
            "p0-o1-2.json",
            "p0-c1-compacted.parquet",
            "p0-c1-ex.parquet",
            "p-1-o1-2.parquet",
        ] {
            assert_eq!(FileRange::parse(other), None, "{other}");
        }
    }

    #[test]
    fn a_compacted_file_hides_exactly_the_files_inside_its_range() {
        let c = rows(0, 10, 30, true);
        // Inside, at both edges.
        assert!(c.covers(&rows(0, 10, 12, false)));
        assert!(c.covers(&rows(0, 28, 30, false)));
        assert!(c.covers(&rows(0, 15, 15, false)));
        // An older, smaller compacted file.
        assert!(c.covers(&rows(0, 10, 20, true)));
        // Not itself, not past an edge, not another partition, not another kind.
        assert!(!c.covers(&c));
        assert!(!c.covers(&rows(0, 9, 12, false)));
        assert!(!c.covers(&rows(0, 29, 31, false)));
        assert!(!c.covers(&rows(1, 12, 13, false)));
        let mut summary = rows(0, 12, 12, false);
        summary.kind = FileKind::Summaries;
        assert!(!c.covers(&summary));
        // A plain file covers nothing.
        assert!(!rows(0, 0, 100, false).covers(&rows(0, 1, 2, false)));
    }

    #[test]
    fn visibility_before_during_and_after_a_compaction() {
        let f = |lo: i64, hi: i64| format!("p0-o{lo:020}-{hi:020}.parquet");
        let merged = FileRange::compacted_name(0, FileKind::Rows, 0, 29);
        let later = f(30, 39);
        let other_partition = "p1-o00000000000000000005-00000000000000000006.parquet".to_owned();
        // Before: three small files, all read.
        let before = vec![
            f(0, 9),
            f(10, 19),
            f(20, 29),
            later.clone(),
            other_partition.clone(),
        ];
        assert_eq!(visible(&before), vec![true; 5]);
        // During: inputs and merged file side by side; only the merged one of the three.
        let mut during = before.clone();
        during.push(merged.clone());
        assert_eq!(
            visible(&during),
            vec![false, false, false, true, true, true]
        );
        // After the inputs are deleted.
        let after = vec![later.clone(), other_partition.clone(), merged.clone()];
        assert_eq!(visible(&after), vec![true, true, true]);
        // A second pass merges the merged file and the later one; the first merged file is
        // hidden as well as its own inputs if they are still there.
        let merged2 = FileRange::compacted_name(0, FileKind::Rows, 0, 39);
        let both = vec![f(0, 9), merged.clone(), later, merged2, other_partition];
        assert_eq!(visible(&both), vec![false, false, false, true, true]);
        // Unknown names are always read.
        assert_eq!(visible(&["x.parquet", merged.as_str()]), vec![true, true]);
    }

    #[test]
    fn paths_are_judged_per_directory() {
        let merged = FileRange::compacted_name(0, FileKind::Rows, 0, 29);
        let small = "p0-o00000000000000000000-00000000000000000009.parquet";
        let paths = vec![
            format!("events/app_id=1/date=2023-11-14/{small}"),
            format!("events/app_id=1/date=2023-11-14/{merged}"),
            // The same name in another directory is not covered by that merged file.
            format!("events/app_id=2/date=2023-11-14/{small}"),
            small.to_owned(),
        ];
        assert_eq!(visible_paths(&paths), vec![false, true, true, true]);
    }
}
