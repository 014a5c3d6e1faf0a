//! The state's journal: what one resource operation changed, as a record
//! appended beside the state, so that a run writes each operation durably
//! without rewriting the whole state (which made an apply's own work grow
//! with the square of the stack).
//!
//! A record names the state it extends (`lineage`, and `base`: the serial
//! of the whole state written last) and carries its own serial; it holds the
//! values, after the operation, of what an operation touches: the address's
//! recorded object and begun create, the id made, and the (short) lists of
//! deposed objects and kinds in doubt. Reading the state replays the records
//! of its base in order; a whole write (at the end of a run, or at the first
//! record of the next run) folds them in and starts a new journal. Records
//! of another base (a run that lost its lock, or leftovers of a write whose
//! clean-up did not happen) are never replayed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::diag::{Error, Result};
use crate::state::{Creating, Deposed, Recorded, State};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub lineage: String,
    /// The serial of the whole state this record extends.
    pub base: u64,
    /// The state's serial after this record.
    pub serial: u64,
    /// Address -> its recorded object (`None`: no longer recorded).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, Option<Recorded>>,
    /// Address -> its begun create (`None`: over).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub creating: BTreeMap<String, Option<Creating>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub made: BTreeMap<String, u64>,
    pub deposed: Vec<Deposed>,
    pub unsure: BTreeSet<String>,
}

impl Entry {
    /// What an operation on `address` (which made `made`, if it did) left
    /// in `st`, as a record on `base`. `st.serial` is the record's serial.
    pub fn of(st: &State, base: u64, address: &str, made: Option<&str>) -> Entry {
        Entry {
            lineage: st.lineage.clone(),
            base,
            serial: st.serial,
            resources: [(address.to_string(), st.resources.get(address).cloned())].into(),
            creating: [(address.to_string(), st.creating.get(address).cloned())].into(),
            made: made
                .and_then(|id| Some((id.to_string(), *st.made.get(id)?)))
                .into_iter()
                .collect(),
            deposed: st.deposed.clone(),
            unsure: st.unsure.clone(),
        }
    }

    /// Applies the record to `st` when it is the next one of `st`'s
    /// journal; false (and `st` untouched) when it is not.
    pub fn replay(self, st: &mut State, base: u64) -> bool {
        if self.lineage != st.lineage || self.base != base || self.serial != st.serial + 1 {
            return false;
        }
        for (a, r) in self.resources {
            match r {
                Some(r) => st.resources.insert(a, r),
                None => st.resources.remove(&a),
            };
        }
        for (a, c) in self.creating {
            match c {
                Some(c) => st.creating.insert(a, c),
                None => st.creating.remove(&a),
            };
        }
        st.made.extend(self.made);
        st.deposed = self.deposed;
        st.unsure = self.unsure;
        st.serial = self.serial;
        true
    }
}

/// Replays `records` (in order) onto `st`, the whole state of serial
/// `st.serial`; returns how many were replayed. Records of other bases are
/// passed over; replay stops at the first gap.
pub fn replay(st: &mut State, records: impl IntoIterator<Item = Entry>) -> usize {
    let base = st.serial;
    let mut n = 0;
    for e in records {
        if e.base != base || e.lineage != st.lineage {
            continue;
        }
        if !e.replay(st, base) {
            break;
        }
        n += 1;
    }
    n
}

/// Reads a local journal: one record a line. A last line cut short (a run
/// killed while writing it, before the record counted as written) is left
/// out; any other line that does not read is an error naming the file.
pub fn read_local(path: &Path) -> Result<Vec<Entry>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => {
            return Err(Error::State(format!(
                "cannot read the state's journal {}: {e}",
                path.display()
            )));
        }
    };
    let lines: Vec<&str> = text.lines().collect();
    let complete = text.ends_with('\n');
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => out.push(e),
            Err(_) if i + 1 == lines.len() && !complete => break,
            Err(e) => {
                return Err(Error::State(format!(
                    "the state's journal {} is not valid at line {}: {e}",
                    path.display(),
                    i + 1
                )));
            }
        }
    }
    Ok(out)
}

/// An open local journal: records are appended and synced one by one.
#[derive(Debug)]
pub struct LocalJournal {
    /// The serial of the whole state the records extend.
    pub base: u64,
    file: fs::File,
}

impl LocalJournal {
    /// Starts an empty journal on the whole state of serial `base`.
    pub fn start(path: &Path, base: u64) -> std::io::Result<LocalJournal> {
        let file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        file.sync_all()?;
        Ok(LocalJournal { base, file })
    }

    /// Appends one record; it is on disk when this returns.
    pub fn append(&mut self, e: &Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(e).expect("a record serializes");
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(id: &str) -> Recorded {
        Recorded {
            kind: "ec2.vpc".into(),
            id: id.into(),
            region: None,
            properties: json!({}),
            outputs: Default::default(),
            dependencies: vec![],
            prevent_destroy: false,
            imported: false,
        }
    }

    #[test]
    fn records_replay_in_order_on_their_base_only() {
        let mut live = State::new("s");
        live.serial = 4;
        let base = live.clone();
        let mut records = vec![];
        for (i, a) in ["a", "b", "a"].iter().enumerate() {
            live.serial += 1;
            if i == 2 {
                live.resources.remove(*a);
                live.unsure.insert("ec2.vpc".into());
            } else {
                live.resources
                    .insert(a.to_string(), rec(&format!("vpc-{i}")));
                live.note_made(&format!("vpc-{i}"));
            }
            records.push(Entry::of(&live, 4, a, Some(&format!("vpc-{i}"))));
        }
        // A record of another base (a run that lost its lock) is passed over.
        let mut stray = records[0].clone();
        stray.base = 3;
        stray.resources.insert("c".into(), Some(rec("vpc-x")));
        let mut st = base.clone();
        let n = replay(&mut st, std::iter::once(stray).chain(records.clone()));
        assert_eq!(n, 3);
        assert_eq!(st, live);
        // A gap stops the replay: what comes after a missing record is not applied.
        let mut st = base.clone();
        assert_eq!(replay(&mut st, [records[0].clone(), records[2].clone()]), 1);
        assert_eq!(st.serial, 5);
        assert!(st.resources.contains_key("a"));
        // Another lineage's records are not this state's.
        let mut other = base.clone();
        other.lineage = "else".into();
        assert_eq!(replay(&mut other, records), 0);
    }

    #[test]
    fn a_last_line_cut_short_is_left_out_and_any_other_bad_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.journal");
        let mut st = State::new("s");
        st.serial = 1;
        let e = Entry::of(&st, 0, "a", None);
        let mut j = LocalJournal::start(&p, 0).unwrap();
        j.append(&e).unwrap();
        j.append(&e).unwrap();
        let mut text = fs::read_to_string(&p).unwrap();
        assert_eq!(read_local(&p).unwrap().len(), 2);
        text.push_str("{\"lineage\":\"x");
        fs::write(&p, &text).unwrap();
        assert_eq!(read_local(&p).unwrap().len(), 2);
        let bad = text.replacen("{", "{oops", 1);
        fs::write(&p, bad).unwrap();
        let err = read_local(&p).unwrap_err().to_string();
        assert!(err.contains("s.journal is not valid at line 1"), "{err}");
    }
}
