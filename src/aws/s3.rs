//! Objects (S3): the documents bucket.
//!
//! S3 has no batch read of bucket settings: a refresh costs one call per
//! setting the diff needs (tagging, versioning, encryption, public access
//! block, ownership, lifecycle) per bucket. A bucket's identity is its name:
//! CreateBucket takes no tags, so a bucket whose create answer was lost is
//! found again by name, not by tag.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus,
    CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectIdentifier, ObjectOwnership,
    OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, Transition, TransitionStorageClass, VersioningConfiguration,
};
use aws_smithy_types::error::operation::BuildError;
use serde_json::{Value, json};

use super::{Resource, b, err, i, live_of, owned_by, s, tag_pairs};
use crate::diag::{Error, Result};
use crate::provider::{Live, Wanted};

pub(super) fn register(
    c: &Client,
    region: &str,
    kinds: &mut HashMap<&'static str, Box<dyn Resource>>,
) {
    kinds.insert(
        "s3.bucket",
        Box::new(Bucket {
            c: c.clone(),
            region: region.to_string(),
        }),
    );
}

fn built<T>(r: std::result::Result<T, BuildError>) -> Result<T> {
    r.map_err(|e| Error::other(format!("internal: {e}")))
}

/// The AWS error code of an S3 error, if it is one with that code.
fn code_is(e: &Error, codes: &[&str]) -> bool {
    matches!(e, Error::Aws { code, .. } if codes.contains(&code.as_str()))
}

pub(crate) struct Bucket {
    pub(crate) c: Client,
    pub(crate) region: String,
}

impl Bucket {
    /// Reads one bucket's settings; `None` when it does not exist.
    async fn read_bucket(&self, name: &str) -> Result<Option<Live>> {
        let tags = match self.c.get_bucket_tagging().bucket(name).send().await {
            Ok(t) => super::tags_from(t.tag_set().iter().map(|t| (t.key(), t.value()))),
            Err(e) => {
                let e = err("GetBucketTagging", e);
                if code_is(&e, &["NoSuchBucket"]) {
                    return Ok(None);
                }
                if !code_is(&e, &["NoSuchTagSet", "NoSuchTagSetError"]) {
                    return Err(e);
                }
                json!({})
            }
        };
        let v = self
            .c
            .get_bucket_versioning()
            .bucket(name)
            .send()
            .await
            .map_err(|e| err("GetBucketVersioning", e))?;
        let (sse, kms) = match self.c.get_bucket_encryption().bucket(name).send().await {
            Ok(r) => {
                let d = r
                    .server_side_encryption_configuration()
                    .and_then(|c| c.rules().first())
                    .and_then(|r| r.apply_server_side_encryption_by_default());
                (
                    d.map(|d| d.sse_algorithm().as_str().to_string()),
                    d.and_then(|d| d.kms_master_key_id()).map(str::to_string),
                )
            }
            Err(e) => {
                let e = err("GetBucketEncryption", e);
                if !code_is(&e, &["ServerSideEncryptionConfigurationNotFoundError"]) {
                    return Err(e);
                }
                (None, None)
            }
        };
        let blocked = match self.c.get_public_access_block().bucket(name).send().await {
            Ok(r) => r.public_access_block_configuration().is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            }),
            Err(e) => {
                let e = err("GetPublicAccessBlock", e);
                if !code_is(&e, &["NoSuchPublicAccessBlockConfiguration"]) {
                    return Err(e);
                }
                false
            }
        };
        let ownership = match self
            .c
            .get_bucket_ownership_controls()
            .bucket(name)
            .send()
            .await
        {
            Ok(r) => r
                .ownership_controls()
                .and_then(|c| c.rules().first())
                .map(|r| r.object_ownership().as_str().to_string()),
            Err(e) => {
                let e = err("GetBucketOwnershipControls", e);
                if !code_is(&e, &["OwnershipControlsNotFoundError"]) {
                    return Err(e);
                }
                Some("ObjectWriter".to_string())
            }
        };
        let rules: Vec<Value> = match self
            .c
            .get_bucket_lifecycle_configuration()
            .bucket(name)
            .send()
            .await
        {
            Ok(r) => r
                .rules()
                .iter()
                .map(|r| {
                    let mut o = json!({
                        "id": r.id(),
                        "prefix": r.filter().and_then(|f| f.prefix()).unwrap_or(""),
                    });
                    if let Some(t) = r.transitions().first() {
                        o["transition_days"] = json!(t.days());
                        o["transition_storage_class"] =
                            json!(t.storage_class().map(|c| c.as_str()));
                    }
                    if let Some(n) = r.noncurrent_version_expiration() {
                        o["noncurrent_expiration_days"] = json!(n.noncurrent_days());
                    }
                    if let Some(x) = r.expiration().and_then(|x| x.days()) {
                        o["expiration_days"] = json!(x);
                    }
                    o
                })
                .collect(),
            Err(e) => {
                let e = err("GetBucketLifecycleConfiguration", e);
                if !code_is(&e, &["NoSuchLifecycleConfiguration"]) {
                    return Err(e);
                }
                vec![]
            }
        };
        let raw = json!({
            "bucket": name,
            "versioning": v.status() == Some(&BucketVersioningStatus::Enabled),
            "sse_algorithm": sse,
            "kms_key_id": kms,
            "block_public_access": blocked,
            "object_ownership": ownership,
            "lifecycle_rules": rules,
            "tags": tags,
        });
        Ok(Some(live_of(
            "s3.bucket",
            name,
            raw,
            &[
                ("arn", json!(format!("arn:aws:s3:::{name}"))),
                ("domain_name", json!(format!("{name}.s3.amazonaws.com"))),
            ],
        )))
    }

    /// Applies every setting that differs between `before` and `after` (all when `before` is None).
    async fn apply(&self, name: &str, before: Option<&Value>, p: &Value) -> Result<()> {
        let changed = |k: &str| before.is_none_or(|bf| bf.get(k) != p.get(k));
        if changed("tags") {
            let tags = tag_pairs(p)
                .into_iter()
                .map(|(k, v)| built(Tag::builder().key(k).value(v).build()))
                .collect::<Result<Vec<_>>>()?;
            self.c
                .put_bucket_tagging()
                .bucket(name)
                .tagging(built(Tagging::builder().set_tag_set(Some(tags)).build())?)
                .send()
                .await
                .map_err(|e| err("PutBucketTagging", e))?;
        }
        if changed("block_public_access") {
            let on = b(p, "block_public_access");
            self.c
                .put_public_access_block()
                .bucket(name)
                .public_access_block_configuration(
                    PublicAccessBlockConfiguration::builder()
                        .block_public_acls(on)
                        .ignore_public_acls(on)
                        .block_public_policy(on)
                        .restrict_public_buckets(on)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| err("PutPublicAccessBlock", e))?;
        }
        if changed("object_ownership") && before.is_some() {
            let rule = built(
                OwnershipControlsRule::builder()
                    .object_ownership(ObjectOwnership::from(
                        s(p, "object_ownership").unwrap_or_default().as_str(),
                    ))
                    .build(),
            )?;
            self.c
                .put_bucket_ownership_controls()
                .bucket(name)
                .ownership_controls(built(OwnershipControls::builder().rules(rule).build())?)
                .send()
                .await
                .map_err(|e| err("PutBucketOwnershipControls", e))?;
        }
        if changed("versioning") && (before.is_some() || b(p, "versioning")) {
            let status = if b(p, "versioning") {
                BucketVersioningStatus::Enabled
            } else {
                BucketVersioningStatus::Suspended
            };
            self.c
                .put_bucket_versioning()
                .bucket(name)
                .versioning_configuration(VersioningConfiguration::builder().status(status).build())
                .send()
                .await
                .map_err(|e| err("PutBucketVersioning", e))?;
        }
        if changed("sse_algorithm") || changed("kms_key_id") {
            let d = built(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::from(
                        s(p, "sse_algorithm").unwrap_or_default().as_str(),
                    ))
                    .set_kms_master_key_id(s(p, "kms_key_id"))
                    .build(),
            )?;
            self.c
                .put_bucket_encryption()
                .bucket(name)
                .server_side_encryption_configuration(built(
                    ServerSideEncryptionConfiguration::builder()
                        .rules(
                            ServerSideEncryptionRule::builder()
                                .apply_server_side_encryption_by_default(d)
                                .build(),
                        )
                        .build(),
                )?)
                .send()
                .await
                .map_err(|e| err("PutBucketEncryption", e))?;
        }
        if changed("lifecycle_rules") {
            let rules = p
                .get("lifecycle_rules")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if rules.is_empty() {
                if before.is_some() {
                    self.c
                        .delete_bucket_lifecycle()
                        .bucket(name)
                        .send()
                        .await
                        .map_err(|e| err("DeleteBucketLifecycle", e))?;
                }
            } else {
                let mut out = Vec::new();
                for r in &rules {
                    let mut rule = LifecycleRule::builder()
                        .set_id(s(r, "id"))
                        .status(ExpirationStatus::Enabled)
                        .filter(
                            LifecycleRuleFilter::builder()
                                .prefix(s(r, "prefix").unwrap_or_default())
                                .build(),
                        );
                    if let Some(d) = i(r, "transition_days") {
                        rule = rule.transitions(
                            Transition::builder()
                                .days(d)
                                .storage_class(TransitionStorageClass::from(
                                    s(r, "transition_storage_class")
                                        .unwrap_or_else(|| "STANDARD_IA".into())
                                        .as_str(),
                                ))
                                .build(),
                        );
                    }
                    if let Some(d) = i(r, "noncurrent_expiration_days") {
                        rule = rule.noncurrent_version_expiration(
                            NoncurrentVersionExpiration::builder()
                                .noncurrent_days(d)
                                .build(),
                        );
                    }
                    if let Some(d) = i(r, "expiration_days") {
                        rule = rule.expiration(LifecycleExpiration::builder().days(d).build());
                    }
                    out.push(built(rule.build())?);
                }
                self.c
                    .put_bucket_lifecycle_configuration()
                    .bucket(name)
                    .lifecycle_configuration(built(
                        BucketLifecycleConfiguration::builder()
                            .set_rules(Some(out))
                            .build(),
                    )?)
                    .send()
                    .await
                    .map_err(|e| err("PutBucketLifecycleConfiguration", e))?;
            }
        }
        Ok(())
    }

    /// Deletes every object version and delete marker, 1000 at a time.
    async fn empty(&self, name: &str) -> Result<()> {
        loop {
            let r = self
                .c
                .list_object_versions()
                .bucket(name)
                .max_keys(1000)
                .send()
                .await
                .map_err(|e| err("ListObjectVersions", e))?;
            let mut ids = Vec::new();
            for v in r.versions() {
                ids.push(built(
                    ObjectIdentifier::builder()
                        .set_key(v.key().map(str::to_string))
                        .set_version_id(v.version_id().map(str::to_string))
                        .build(),
                )?);
            }
            for m in r.delete_markers() {
                ids.push(built(
                    ObjectIdentifier::builder()
                        .set_key(m.key().map(str::to_string))
                        .set_version_id(m.version_id().map(str::to_string))
                        .build(),
                )?);
            }
            if ids.is_empty() {
                return Ok(());
            }
            self.c
                .delete_objects()
                .bucket(name)
                .delete(built(
                    Delete::builder().set_objects(Some(ids)).quiet(true).build(),
                )?)
                .send()
                .await
                .map_err(|e| err("DeleteObjects", e))?;
        }
    }
}

#[async_trait]
impl Resource for Bucket {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        let mut out = Vec::new();
        for name in ids {
            out.extend(self.read_bucket(name).await?);
        }
        Ok(out)
    }
    async fn find_owned(&self, stack: &str, wanted: &[Wanted]) -> Result<Vec<Live>> {
        // By name: a bucket named in the stack that exists in this account is
        // ours to adopt if it carries our tags or no provision tags at all
        // (its create answered, its tagging did not).
        let mut out = Vec::new();
        for w in wanted {
            let Some(name) = s(&w.props, "bucket") else {
                continue;
            };
            let Some(mut l) = (match self.read_bucket(&name).await {
                Err(e)
                    if code_is(
                        &e,
                        &["AccessDenied", "AllAccessDisabled", "PermanentRedirect"],
                    ) =>
                {
                    None
                }
                r => r?,
            }) else {
                continue;
            };
            let untagged = l.props["tags"].get(crate::stack::TAG_STACK).is_none();
            if owned_by(&l.props["tags"], stack) || untagged {
                // Adopted under the address asked for; apply then writes the tags.
                l.claimed_by = Some(w.address.clone());
                out.push(l);
            }
        }
        Ok(out)
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let name = s(p, "bucket").unwrap_or_default();
        // Never take over a bucket another stack owns.
        let ours = p["tags"][crate::stack::TAG_STACK]
            .as_str()
            .unwrap_or_default();
        if let Some(existing) = self.read_bucket(&name).await?
            && let Some(other) = existing.props["tags"][crate::stack::TAG_STACK].as_str()
            && other != ours
        {
            return Err(Error::other(format!(
                "bucket {name} already exists and belongs to stack {other:?}"
            )));
        }
        let mut req = self
            .c
            .create_bucket()
            .bucket(&name)
            .object_ownership(ObjectOwnership::from(
                s(p, "object_ownership").unwrap_or_default().as_str(),
            ));
        if self.region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) => {
                let e = err("CreateBucket", e);
                // Ours already: a retry after a lost answer.
                if !code_is(&e, &["BucketAlreadyOwnedByYou"]) {
                    return Err(e);
                }
            }
        }
        self.apply(&name, None, p).await?;
        self.read_bucket(&name)
            .await?
            .ok_or_else(|| super::gone(&name))
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        self.apply(id, Some(before), after).await?;
        self.read_bucket(id).await?.ok_or_else(|| super::gone(id))
    }
    async fn delete(&self, id: &str, p: &Value, _: Duration) -> Result<()> {
        if b(p, "force_destroy") {
            self.empty(id).await?;
        }
        self.c
            .delete_bucket()
            .bucket(id)
            .send()
            .await
            .map_err(|e| err("DeleteBucket", e))?;
        Ok(())
    }
    async fn delete_blocker(&self, id: &str, props: &Value) -> Result<Option<String>> {
        if b(props, "force_destroy") {
            return Ok(None);
        }
        let r = self
            .c
            .list_object_versions()
            .bucket(id)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| err("ListObjectVersions", e))?;
        Ok((!r.versions().is_empty() || !r.delete_markers().is_empty()).then(|| {
            "the bucket still holds objects: empty it, or set force_destroy: true and apply first".to_string()
        }))
    }
}
