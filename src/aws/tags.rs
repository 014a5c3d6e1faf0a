//! Tags as every service has them: read, compared, synced, and the
//! ownership test. Each service supplies its own remove and add calls.

use std::collections::BTreeMap;
use std::future::Future;

use crate::diag::Result;
use crate::provider::Live;
use crate::stack::TAG_STACK;

/// Tag keys to values, as the `tags` property holds them.
pub(crate) type Tags = BTreeMap<String, String>;

/// Tags read from AWS, without AWS's own `aws:` tags.
pub(crate) fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Tags {
    pairs
        .into_iter()
        .filter(|(k, _)| !k.starts_with("aws:"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// True when these tags say `stack` owns the object.
pub(crate) fn owned_by(tags: &Tags, stack: &str) -> bool {
    tags.get(TAG_STACK).map(String::as_str) == Some(stack)
}

/// The pairs to set and the keys to remove to go from `before` to `after`.
pub(crate) fn changes(before: &Tags, after: &Tags) -> (Vec<(String, String)>, Vec<String>) {
    let set = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let removed = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    (set, removed)
}

/// True when a live object's tags say `stack` owns it.
pub(crate) fn owns(stack: &str, l: &Live) -> bool {
    l.props["tags"][TAG_STACK] == stack
}

/// Makes an object's tags go from `before` to `after`: the keys to remove
/// first, then the pairs to set, each call made only when it has work.
pub(crate) async fn sync<R, RF, A, AF>(before: &Tags, after: &Tags, remove: R, add: A) -> Result<()>
where
    R: FnOnce(Vec<String>) -> RF,
    RF: Future<Output = Result<()>>,
    A: FnOnce(Vec<(String, String)>) -> AF,
    AF: Future<Output = Result<()>>,
{
    let (set, removed) = changes(before, after);
    if !removed.is_empty() {
        remove(removed).await?;
    }
    if !set.is_empty() {
        add(set).await?;
    }
    Ok(())
}
