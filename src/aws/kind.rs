//! The [`Kind`] trait: one kind's calls to AWS on its typed properties,
//! the [`Query`] its reads answer, and what its create is given.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Clients, read_one};
use crate::diag::Result;
use crate::kind::KindSpec;
use crate::provider::{Container, Live, Wanted};

/// What a read asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Query<'a> {
    /// The objects with these ids that exist.
    Ids(&'a [String]),
    /// Objects of this stack that state does not record: by the ownership
    /// tag, or, where AWS keeps no tags, by the names `wanted` gives.
    Owned(&'a str, &'a [Wanted]),
    /// Everything of the kind in the region (for `import --discover`).
    All,
    /// Everything of the kind inside these containers, whoever made it,
    /// minus what AWS makes itself (a VPC's default group and main route
    /// table, a zone's SOA and NS): for `drift`, which reports what was added
    /// by hand inside what the state manages.
    Inside(Container, &'a [String]),
}

/// One kind's calls to AWS, on its typed properties.
///
/// `create`, `update` and `delete` must be safe to run again after a failure:
/// creates tag in the create call itself (or use a name or token AWS keeps)
/// so that `Query::Owned` finds an object whose answer was lost; deleting
/// what is gone succeeds.
#[async_trait]
pub(crate) trait Kind: Send + Sync + Sized + 'static {
    /// The properties in canonical form: every spec property is a field.
    type Props: Serialize + DeserializeOwned + Send + Sync;
    const SPEC: &'static KindSpec;
    fn new(c: &Clients) -> Self;
    /// Reads what the query asks for, batched wherever AWS allows. A kind
    /// that cannot answer a query (no tags to find its own by, no way to
    /// list the region) answers it with nothing.
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>>;
    /// Reads what state records, knowing what it recorded of each: for
    /// kinds AWS reads fastest by a parent those properties name. The rest
    /// read by id.
    async fn describe_recorded(&self, recorded: &[(&str, &Value)]) -> Result<Vec<Live>> {
        let ids: Vec<String> = recorded.iter().map(|r| r.0.to_string()).collect();
        self.describe(Query::Ids(&ids)).await
    }
    async fn create(&self, p: &Self::Props, c: &Create<'_>) -> Result<Live>;
    /// Waits until an object created moments ago (or found again after a
    /// lost answer) is usable, and reads it. Kinds with nothing to wait for
    /// read it.
    async fn ready(&self, id: &str, _timeout: Duration) -> Result<Live> {
        read_one(self, id).await
    }
    async fn update(
        &self,
        id: &str,
        before: &Self::Props,
        after: &Self::Props,
        timeout: Duration,
    ) -> Result<Live>;
    async fn delete(&self, id: &str, p: &Self::Props, timeout: Duration) -> Result<()>;
    /// Why this object cannot be deleted now, if something stops it.
    async fn delete_blocker(&self, _id: &str, _p: &Self::Props) -> Result<Option<String>> {
        Ok(None)
    }
    /// Why this object will not be created, if something stops it.
    async fn create_blocker(&self, _p: &Self::Props) -> Result<Option<String>> {
        Ok(None)
    }
    /// Who already holds the name this create would take, if anyone.
    async fn name_taken(&self, _p: &Self::Props) -> Result<Option<String>> {
        Ok(None)
    }
}

/// What a kind's create is given besides the properties.
pub(crate) struct Create<'a> {
    /// How long to wait for the new object to be usable.
    pub timeout: Duration,
    /// The idempotency token, for the APIs that take one: the same for every
    /// attempt of this create, in this run and the next.
    pub token: &'a str,
    /// An earlier attempt (an answer lost, or a run that ended in the
    /// create) may have made the object.
    pub retry: bool,
}
