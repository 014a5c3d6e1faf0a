//! The boundary between the engine and a cloud.
//!
//! The engine (planner, executor) knows this trait and nothing of AWS. The AWS
//! implementation is in `aws/`; unit tests use the in-memory one in `fake.rs`.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::diag::Result;

/// A resource as read from the cloud.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub id: String,
    /// Canonical properties, in the shape of the kind's schema.
    pub props: Value,
    /// Outputs such as `id` and `arn`.
    pub outputs: Map<String, Value>,
}

impl Live {
    /// The address recorded in the ownership tag, if any.
    pub fn address_tag(&self) -> Option<&str> {
        self.props
            .get("tags")?
            .get(crate::stack::TAG_ADDRESS)?
            .as_str()
    }
}

/// What a cloud must do for the engine. Every method names the kind, so one
/// implementation serves all kinds through its own registry.
///
/// `create`, `update` and `delete` must be safe to retry after a failure:
/// `create` tags in the create call itself (so a lost answer is found again
/// by `find_owned`), `delete` of something already gone succeeds.
#[async_trait]
pub trait Cloud: Send + Sync {
    /// Reads the resources of one kind with these ids, batched: one call per
    /// page of ids, never one call per resource. Ids that no longer exist are
    /// absent from the answer.
    async fn read(&self, kind: &str, ids: &[String]) -> Result<Vec<Live>>;

    /// Resources of one kind that carry the ownership tag of this stack.
    async fn find_owned(&self, kind: &str, stack: &str) -> Result<Vec<Live>>;

    /// Creates a resource with these canonical properties (tags included)
    /// and waits until it is usable, at most `timeout`.
    async fn create(&self, kind: &str, props: &Value, timeout: Duration) -> Result<Live>;

    /// Changes the properties that differ between `before` and `after`.
    async fn update(&self, kind: &str, id: &str, before: &Value, after: &Value) -> Result<Live>;

    /// Deletes a resource and waits until it is gone, at most `timeout`.
    async fn delete(&self, kind: &str, id: &str, props: &Value, timeout: Duration) -> Result<()>;
}
