//! Data source kinds: reads at plan time that never write. One kind, one
//! file (`<service>/<kind>.rs`), its spec (`DataSpec`: filters and the
//! attributes it gives) beside its read; the `data![...]` list below is
//! their one registry.

use async_trait::async_trait;
use serde_json::Value;

use super::Clients;
use crate::diag::{Error, Result};
use crate::kind::DataSpec;

/// One data source kind's read.
#[async_trait]
pub(crate) trait DataKind: Send + Sync + 'static {
    const SPEC: &'static DataSpec;
    fn new(c: &Clients) -> Self;
    /// Reads what the filters (`props`, as written, defaults filled in)
    /// select, and gives the spec's attributes. Finding nothing, or several
    /// where one is needed, is an error that says what was looked for.
    async fn read(&self, props: &Value) -> Result<Value>;
}

/// A data kind behind the untyped interface.
#[async_trait]
pub(super) trait DataRead: Send + Sync {
    fn spec(&self) -> &'static DataSpec;
    async fn read(&self, props: &Value) -> Result<Value>;
}

pub(super) struct Reader<K>(pub(super) K);

#[async_trait]
impl<K: DataKind> DataRead for Reader<K> {
    fn spec(&self) -> &'static DataSpec {
        K::SPEC
    }
    async fn read(&self, props: &Value) -> Result<Value> {
        let mut p = props.clone();
        if let Value::Object(o) = &mut p {
            for prop in K::SPEC.props {
                if !o.contains_key(prop.name)
                    && let Some(d) = prop.default.and_then(|d| serde_json::from_str(d).ok())
                {
                    o.insert(prop.name.to_string(), d);
                }
            }
        }
        self.0.read(&p).await
    }
}

/// The string value of a filter, if given.
pub(crate) fn text<'a>(props: &'a Value, name: &str) -> Option<&'a str> {
    props.get(name).and_then(Value::as_str)
}

/// The strings of a list filter (empty when not given).
pub(crate) fn texts(props: &Value, name: &str) -> Vec<String> {
    props
        .get(name)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The tags a filter asks for, as `(key, value)`.
pub(crate) fn tag_filters(props: &Value) -> Vec<(String, String)> {
    props
        .get("tags")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// "found nothing" / "found N" for a read that needs exactly one.
pub(crate) fn one_of<T>(spec: &DataSpec, what: &str, mut found: Vec<T>) -> Result<T> {
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::other(format!("{} found no {what}", spec.name))),
        n => Err(Error::other(format!(
            "{} found {n} {what}s where one is needed: narrow its filters",
            spec.name
        ))),
    }
}
