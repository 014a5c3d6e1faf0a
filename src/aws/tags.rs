//! Tags as every service has them: read, compared, synced, and the
//! ownership test. Each service supplies its own remove and add calls.

use std::collections::BTreeMap;

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

/// Who holds a name this stack wants (`what`: `bucket NAME`, `topic NAME`),
/// by the tags the holder carries: another stack, another copy of this one,
/// or someone else. The plan names it; apply refuses the plan.
pub(crate) fn held_by(what: &str, id: &str, theirs: &Tags, ours: &Tags) -> String {
    match theirs.get(TAG_STACK) {
        Some(other) if Some(other) != ours.get(TAG_STACK) => {
            format!("{what} belongs to stack {other:?} (made by provision for it)")
        }
        Some(_) => format!(
            "{what} carries this stack's tags but another state's lineage: another copy of \
             this stack (another state file or environment) holds it"
        ),
        None => format!(
            "{what} exists and provision did not make it: an import: block (or provision \
             import ADDRESS {id}) brings it in"
        ),
    }
}

/// True when a live object's tags say `stack` owns it.
pub(crate) fn owns(stack: &str, l: &Live) -> bool {
    l.props["tags"][TAG_STACK] == stack
}

/// A service's own tag type (every SDK has one, alike but distinct).
pub(crate) trait SdkTag: Sized {
    fn pair(&self) -> Option<(&str, &str)>;
    fn of(key: &str, value: &str) -> Option<Self>;
}

/// [`SdkTag`] for one service's tag type: `optional` where the SDK's key and
/// value getters give `Option`s and the builder cannot fail, `required`
/// where they are plain and the builder checks them.
macro_rules! sdk_tag {
    (optional $t:ty) => {
        impl $crate::aws::tags::SdkTag for $t {
            fn pair(&self) -> Option<(&str, &str)> {
                Some((self.key()?, self.value().unwrap_or_default()))
            }
            fn of(key: &str, value: &str) -> Option<Self> {
                Some(<$t>::builder().key(key).value(value).build())
            }
        }
    };
    (required_key $t:ty) => {
        impl $crate::aws::tags::SdkTag for $t {
            fn pair(&self) -> Option<(&str, &str)> {
                Some((self.key(), self.value().unwrap_or_default()))
            }
            fn of(key: &str, value: &str) -> Option<Self> {
                <$t>::builder().key(key).value(value).build().ok()
            }
        }
    };
    (required $t:ty) => {
        impl $crate::aws::tags::SdkTag for $t {
            fn pair(&self) -> Option<(&str, &str)> {
                Some((self.key(), self.value()))
            }
            fn of(key: &str, value: &str) -> Option<Self> {
                <$t>::builder().key(key).value(value).build().ok()
            }
        }
    };
}
pub(crate) use sdk_tag;

/// [`Tagging`] for a service whose calls name the object by one parameter
/// (`by`), remove keys with `set_tag_keys` and set tags with `set_tags`;
/// `read` names the call that lists an object's tags and where its answer
/// holds them (for services whose reads carry none).
macro_rules! tagging {
    (
        $svc:ty, by $by:ident,
        untag $untag:literal $untag_fn:ident,
        tag $tag:literal $tag_fn:ident
        $(, read $read:literal $read_fn:ident, |$t:ident| $answer:expr)? $(,)?
    ) => {
        #[async_trait::async_trait]
        impl $crate::aws::tags::Tagging for $svc {
            async fn untag(&self, id: &str, keys: Vec<String>) -> $crate::diag::Result<()> {
                let s = self;
                $crate::aws::call::call!(s, write $untag, $untag_fn()
                    .$by(id)
                    .set_tag_keys(Some(keys.clone())))
                .await
                .map(drop)
            }
            async fn tag(
                &self,
                id: &str,
                tags: &$crate::aws::tags::Tags,
            ) -> $crate::diag::Result<()> {
                let s = self;
                let set: Vec<_> = $crate::aws::tags::to_sdk(tags);
                $crate::aws::call::call!(s, write $tag, $tag_fn()
                    .$by(id)
                    .set_tags(Some(set.clone())))
                .await
                .map(drop)
            }
            $(
            async fn tags(&self, id: &str) -> $crate::diag::Result<$crate::aws::tags::Tags> {
                let s = self;
                let $t = $crate::aws::call::call!(s, detail $read, $read_fn().$by(id)).await?;
                Ok($crate::aws::tags::from_sdk($answer))
            }
            )?
        }
    };
}
pub(crate) use tagging;

/// A view of a service's client for the kinds whose tag calls name the
/// object by a parameter of their own (IAM's `role_name`, KMS's `key_id`):
/// `tag_view!(RoleTags, Iam)` makes the struct; `tagging!` then gives it the
/// shared [`Tagging`].
macro_rules! tag_view {
    ($view:ident, $svc:ty) => {
        pub(crate) struct $view<'a>(pub &'a $svc);
        impl std::ops::Deref for $view<'_> {
            type Target = $svc;
            fn deref(&self) -> &$svc {
                self.0
            }
        }
    };
}
pub(crate) use tag_view;

/// Tags as AWS answered them (without AWS's own `aws:` tags).
pub(crate) fn from_sdk<T: SdkTag>(tags: &[T]) -> Tags {
    from_pairs(tags.iter().filter_map(SdkTag::pair))
}

/// Tags as a service's calls take them.
pub(crate) fn to_sdk<T: SdkTag>(tags: &Tags) -> Vec<T> {
    tags.iter().filter_map(|(k, v)| T::of(k, v)).collect()
}

/// One service's tag calls, implemented once per service (on its client):
/// every kind of the service syncs its tags through it.
#[async_trait::async_trait]
pub(crate) trait Tagging: Send + Sync {
    /// Removes these keys from the object (`id`: an id or ARN, as the
    /// service's tag calls name objects).
    async fn untag(&self, id: &str, keys: Vec<String>) -> Result<()>;
    /// Sets these tags on the object.
    async fn tag(&self, id: &str, tags: &Tags) -> Result<()>;
    /// The object's tags, for services whose reads carry none (one call
    /// each); the others answer with their reads, never here.
    async fn tags(&self, id: &str) -> Result<Tags> {
        Err(crate::diag::Error::other(format!(
            "internal: tags of {id} come with its read"
        )))
    }
    /// Makes the object's tags go from `before` to `after`: the keys to
    /// remove first, then the pairs to set, each call made only when it has
    /// work.
    async fn sync_tags(&self, id: &str, before: &Tags, after: &Tags) -> Result<()> {
        let (set, removed) = changes(before, after);
        if !removed.is_empty() {
            self.untag(id, removed).await?;
        }
        if !set.is_empty() {
            self.tag(id, &set.into_iter().collect()).await?;
        }
        Ok(())
    }
}
