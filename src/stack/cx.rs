//! What every phase of loading shares: the file's name, the errors found so
//! far, and the small checks of a mapping's fields.

use crate::diag::{Loc, StackError};
use crate::yaml::{Key, Node};

/// The loading context: errors are gathered, not returned at the first one,
/// so that one `validate` shows every mistake of a phase.
pub(super) struct Cx {
    pub file: String,
    pub errors: Vec<StackError>,
    /// Loading without reading anything (`validate`, `graph`, `state`):
    /// what is unknown before data sources are read is passed over.
    pub offline: bool,
}

impl Cx {
    pub fn new(file: &str) -> Cx {
        Cx {
            file: file.to_string(),
            errors: vec![],
            offline: false,
        }
    }

    pub fn push(&mut self, loc: Loc, msg: impl Into<String>) {
        self.errors.push(StackError::at(&self.file, loc, msg));
    }

    /// An error in another file than the one being read (a module's, a var file).
    pub fn push_in(&mut self, file: &str, loc: Loc, msg: impl Into<String>) {
        self.errors.push(StackError::at(file, loc, msg));
    }

    /// [`Cx::only`] for a mapping in another file.
    pub fn only_in(&mut self, file: &str, map: &[(Key, Node)], allowed: &[&str], what: &str) {
        let saved = std::mem::replace(&mut self.file, file.to_string());
        self.only(map, allowed, what);
        self.file = saved;
    }

    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Reports every field of `map` not in `allowed`, with a suggestion.
    pub fn only(&mut self, map: &[(Key, Node)], allowed: &[&str], what: &str) {
        for (k, _) in map {
            if allowed.contains(&k.name.as_str()) {
                continue;
            }
            let hint = suggest(&k.name, allowed.iter().copied());
            let msg = if hint.is_empty() {
                format!(
                    "unknown field `{}` in {what}, expected one of: {}",
                    k.name,
                    allowed.join(", ")
                )
            } else {
                format!("unknown field `{}` in {what}{hint}", k.name)
            };
            self.push(k.loc, msg);
        }
    }
}

/// ", did you mean `x`?" when a candidate is close to what was written.
pub(super) fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            (
                strsim::damerau_levenshtein(word, c),
                strsim::jaro_winkler(word, c),
                c,
            )
        })
        .filter(|(d, jw, _)| (*d <= 2 && word.len() > 2) || *jw > 0.85)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, c)| format!(", did you mean `{c}`?"))
        .unwrap_or_default()
}

/// The value of a field of a mapping.
pub(super) fn get<'a>(map: &'a [(Key, Node)], key: &str) -> Option<&'a Node> {
    map.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
}
