//! `s3.bucket`: a bucket for documents: versioning, default encryption,
//! public access blocked, owner-enforced ownership, lifecycle rules.
//!
//! S3 has no batch read of bucket settings: a refresh costs one call per
//! setting per bucket. A bucket's identity is its name: CreateBucket takes no
//! tags, so a bucket whose create answer was lost is found again by name.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus,
    CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleExpiration,
    LifecycleRule as Rule, LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectIdentifier,
    ObjectOwnership, OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, Tag, Tagging, Transition, TransitionStorageClass,
    VersioningConfiguration,
};
use aws_smithy_types::error::operation::BuildError;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::aws::call::call;
use crate::aws::errors::has_code;
use crate::aws::tags::{self, Tags};
use crate::aws::{Clients, Create, Kind, Query, Svc, each, live, with_detail};
use crate::diag::{Error, Result};
use crate::kind::{Guard, KindSpec, Prop, TAGS, Takes, Ty, def, key, local, new, p, req};
use crate::provider::Live;
use crate::stack::{TAG_LINEAGE, TAG_STACK};

const LIFECYCLE: &[Prop] = &[
    key(req(p("id", Ty::Str, "rule id"))),
    def(p("prefix", Ty::Str, "objects under this prefix"), "\"\""),
    p(
        "transition_days",
        Ty::Int,
        "days before moving to transition_storage_class",
    ),
    p(
        "transition_storage_class",
        Ty::Str,
        "STANDARD_IA, GLACIER_IR, ...",
    ),
    p(
        "noncurrent_expiration_days",
        Ty::Int,
        "days before old versions are deleted",
    ),
    p(
        "expiration_days",
        Ty::Int,
        "days before current objects expire",
    ),
];

static SPEC: KindSpec = KindSpec {
    guards: &[
        Guard {
            name: "buckets-encrypted",
            check: |p, _| {
                let off = p["sse_algorithm"].as_str().is_none_or(str::is_empty);
                off.then(|| "the bucket has no default encryption (sse_algorithm)".into())
            },
        },
        Guard {
            name: "buckets-never-public",
            check: |p, _| {
                (p["block_public_access"] != true)
                    .then(|| "the bucket does not block public access".into())
            },
        },
    ],
    outputs: &["id", "arn", "domain_name"],
    refresh_cost: "8 calls per bucket (no batch read exists): tagging, versioning, encryption, public access block, ownership, lifecycle, replication, policy",
    takes: Takes::secs(3, 2, 3),
    ..KindSpec::new(
        "s3.bucket",
        "An S3 bucket for documents: versioning, default encryption, public access blocked, \
         owner-enforced ownership, lifecycle rules. Its name is its identity.",
        &[
            req(new(p("bucket", Ty::Str, "globally unique name"))),
            def(p("versioning", Ty::Bool, "keep every version"), "true"),
            def(
                p("sse_algorithm", Ty::Str, "AES256 or aws:kms"),
                "\"AES256\"",
            ),
            p("kms_key_id", Ty::Str, "KMS key for aws:kms"),
            def(
                p(
                    "block_public_access",
                    Ty::Bool,
                    "all four public access blocks",
                ),
                "true",
            ),
            def(
                p("object_ownership", Ty::Str, "BucketOwnerEnforced, ..."),
                "\"BucketOwnerEnforced\"",
            ),
            def(
                p("lifecycle_rules", Ty::ObjList(LIFECYCLE), "lifecycle rules"),
                "[]",
            ),
            def(
                p(
                    "replicate_to",
                    Ty::Str,
                    "ARN of a bucket (in another region: the standby's) every new object and \
                     version is copied to; empty: none. Both buckets need versioning",
                ),
                "\"\"",
            ),
            def(
                p(
                    "replication_role",
                    Ty::Str,
                    "ARN of the IAM role S3 replicates as (with replicate_to)",
                ),
                "\"\"",
            ),
            def(
                p(
                    "replica_kms_key_id",
                    Ty::Str,
                    "ARN of a KMS key in the destination's region: objects encrypted with a KMS \
                     key are replicated too, encrypted there with this key (without it S3 skips them)",
                ),
                "\"\"",
            ),
            p(
                "policy",
                Ty::Policy,
                "the bucket policy (a policy document: a deny of requests without TLS, access \
                 for another account); left out: the bucket's policy is left as it is",
            ),
            def(
                local(p(
                    "force_destroy",
                    Ty::Bool,
                    "delete even with objects in it",
                )),
                "false",
            ),
            TAGS,
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    bucket: String,
    versioning: bool,
    /// Absent when the bucket has no default encryption: the default applies.
    sse_algorithm: Option<String>,
    kms_key_id: Option<String>,
    block_public_access: bool,
    object_ownership: String,
    lifecycle_rules: Vec<LifecycleRuleProps>,
    replicate_to: String,
    replication_role: String,
    replica_kms_key_id: String,
    /// Recorded before buckets had a policy: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<serde_json::Value>,
    force_destroy: bool,
    tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LifecycleRuleProps {
    id: String,
    prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    transition_days: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transition_storage_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    noncurrent_expiration_days: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_days: Option<i32>,
}

fn built<T>(r: std::result::Result<T, BuildError>) -> Result<T> {
    r.map_err(|e| Error::other(format!("internal: {e}")))
}

pub(crate) struct Bucket {
    pub(crate) s: Svc<Client>,
    pub(crate) region: String,
}

/// Reading a bucket's settings, one call each.
impl Bucket {
    /// One bucket's settings; `None` when it does not exist.
    async fn read_bucket(&self, name: &str) -> Result<Option<Live>> {
        // One call per setting (S3 has no batch read), all at once; the
        // tags' answer says whether the bucket exists.
        let settings = async {
            tokio::try_join!(
                self.encryption(name),
                self.versioning(name),
                self.public_access_blocked(name),
                self.ownership(name),
                self.lifecycle(name),
                self.replication(name),
                self.policy(name),
            )
        };
        let Some((tags, settings)) = with_detail(self.tags(name), settings).await? else {
            return Ok(None);
        };
        let (
            (sse_algorithm, kms_key_id),
            versioning,
            blocked,
            ownership,
            lifecycle,
            replication,
            policy,
        ) = settings;
        let (replication_role, replicate_to, replica_kms_key_id) = replication;
        let p = Props {
            bucket: name.into(),
            versioning,
            sse_algorithm,
            kms_key_id,
            block_public_access: blocked,
            object_ownership: ownership,
            lifecycle_rules: lifecycle,
            replicate_to,
            replication_role,
            replica_kms_key_id,
            policy,
            force_destroy: false,
            tags,
        };
        let outputs = [
            ("arn", json!(format!("arn:aws:s3:::{name}"))),
            ("domain_name", json!(format!("{name}.s3.amazonaws.com"))),
        ];
        let mut l = live(&SPEC, name, &p, &outputs);
        if p.replicate_to.is_empty() {
            // Without replication there is no role to read: whatever the
            // stack says of it is no difference.
            l.unobserved.push("replication_role");
            l.unobserved.push("replica_kms_key_id");
        }
        Ok(Some(l))
    }

    /// The bucket policy, in canonical form; `None` without one.
    async fn policy(&self, name: &str) -> Result<Option<serde_json::Value>> {
        let s = &self.s;
        match call!(s, read "GetBucketPolicy", get_bucket_policy().bucket(name)).await {
            Ok(r) => Ok(r.policy().map(crate::kind::document::from_aws)),
            Err(e) if has_code(&e, &["NoSuchBucketPolicy"]) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The tags; `None` when the bucket does not exist.
    async fn tags(&self, name: &str) -> Result<Option<Tags>> {
        let s = &self.s;
        match call!(s, read "GetBucketTagging", get_bucket_tagging().bucket(name)).await {
            Ok(t) => Ok(Some(tags::from_pairs(
                t.tag_set().iter().map(|t| (t.key(), t.value())),
            ))),
            Err(e) if has_code(&e, &["NoSuchBucket"]) => Ok(None),
            Err(e) if has_code(&e, &["NoSuchTagSet", "NoSuchTagSetError"]) => Ok(Some(Tags::new())),
            Err(e) => Err(e),
        }
    }

    async fn versioning(&self, name: &str) -> Result<bool> {
        let s = &self.s;
        let v = call!(s, read "GetBucketVersioning", get_bucket_versioning().bucket(name)).await?;
        Ok(v.status() == Some(&BucketVersioningStatus::Enabled))
    }

    async fn encryption(&self, name: &str) -> Result<(Option<String>, Option<String>)> {
        let s = &self.s;
        match call!(s, read "GetBucketEncryption", get_bucket_encryption().bucket(name)).await {
            Ok(r) => {
                let d = r
                    .server_side_encryption_configuration()
                    .and_then(|c| c.rules().first())
                    .and_then(|r| r.apply_server_side_encryption_by_default());
                Ok((
                    d.map(|d| d.sse_algorithm().as_str().to_string()),
                    d.and_then(|d| d.kms_master_key_id()).map(str::to_string),
                ))
            }
            Err(e) if has_code(&e, &["ServerSideEncryptionConfigurationNotFoundError"]) => {
                Ok((None, None))
            }
            Err(e) => Err(e),
        }
    }

    async fn public_access_blocked(&self, name: &str) -> Result<bool> {
        let s = &self.s;
        match call!(s, read "GetPublicAccessBlock", get_public_access_block().bucket(name)).await {
            Ok(r) => Ok(r.public_access_block_configuration().is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            })),
            Err(e) if has_code(&e, &["NoSuchPublicAccessBlockConfiguration"]) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn ownership(&self, name: &str) -> Result<String> {
        let s = &self.s;
        match call!(s, read "GetBucketOwnershipControls", get_bucket_ownership_controls()
            .bucket(name))
        .await
        {
            Ok(r) => Ok(r
                .ownership_controls()
                .and_then(|c| c.rules().first())
                .map(|r| r.object_ownership().as_str().to_string())
                .unwrap_or_else(|| "ObjectWriter".into())),
            Err(e) if has_code(&e, &["OwnershipControlsNotFoundError"]) => {
                Ok("ObjectWriter".into())
            }
            Err(e) => Err(e),
        }
    }

    /// (role, destination bucket ARN, replica key) of its replication;
    /// empty without.
    pub(crate) async fn replication(&self, name: &str) -> Result<(String, String, String)> {
        let s = &self.s;
        match call!(s, read "GetBucketReplication", get_bucket_replication().bucket(name)).await {
            Ok(r) => Ok(r
                .replication_configuration()
                .map(|c| {
                    let dest = c.rules().first().and_then(|r| r.destination());
                    let to = dest.map(|d| d.bucket().to_string()).unwrap_or_default();
                    let key = dest
                        .and_then(|d| d.encryption_configuration())
                        .and_then(|e| e.replica_kms_key_id())
                        .unwrap_or_default()
                        .to_string();
                    (c.role().to_string(), to, key)
                })
                .unwrap_or_default()),
            Err(e) if has_code(&e, &["ReplicationConfigurationNotFoundError"]) => {
                Ok(Default::default())
            }
            Err(e) => Err(e),
        }
    }

    async fn lifecycle(&self, name: &str) -> Result<Vec<LifecycleRuleProps>> {
        let s = &self.s;
        match call!(s, read "GetBucketLifecycleConfiguration", get_bucket_lifecycle_configuration()
            .bucket(name))
        .await
        {
            Ok(r) => Ok(r
                .rules()
                .iter()
                .map(|r| LifecycleRuleProps {
                    id: r.id().unwrap_or_default().into(),
                    prefix: r.filter().and_then(|f| f.prefix()).unwrap_or("").into(),
                    transition_days: r.transitions().first().and_then(|t| t.days()),
                    transition_storage_class: r
                        .transitions()
                        .first()
                        .and_then(|t| t.storage_class())
                        .map(|c| c.as_str().to_string()),
                    noncurrent_expiration_days: r
                        .noncurrent_version_expiration()
                        .and_then(|n| n.noncurrent_days()),
                    expiration_days: r.expiration().and_then(|x| x.days()),
                })
                .collect()),
            Err(e) if has_code(&e, &["NoSuchLifecycleConfiguration"]) => Ok(vec![]),
            Err(e) => Err(e),
        }
    }
}

/// Changing a bucket's settings, one call each.
impl Bucket {
    /// Applies every setting that differs from `before` (all without one).
    async fn apply(&self, name: &str, before: Option<&Props>, p: &Props) -> Result<()> {
        let changed = |f: fn(&Props) -> serde_json::Value| before.is_none_or(|b| f(b) != f(p));
        if changed(|x| json!(x.tags)) {
            self.put_tags(name, &p.tags).await?;
        }
        if changed(|x| json!(x.block_public_access)) {
            self.put_public_access_block(name, p.block_public_access)
                .await?;
        }
        // A new bucket is created with its ownership.
        if before.is_some() && changed(|x| json!(x.object_ownership)) {
            self.put_ownership(name, &p.object_ownership).await?;
        }
        // A new bucket is unversioned: only turning versioning on needs a call.
        if changed(|x| json!(x.versioning)) && (before.is_some() || p.versioning) {
            self.put_versioning(name, p.versioning).await?;
        }
        if changed(|x| json!([x.sse_algorithm, x.kms_key_id])) {
            self.put_encryption(name, p).await?;
        }
        if changed(|x| json!(x.lifecycle_rules)) {
            self.put_lifecycle(name, &p.lifecycle_rules, before.is_some())
                .await?;
        }
        if changed(|x| json!([x.replicate_to, x.replication_role, x.replica_kms_key_id])) {
            self.put_replication(name, p, before.is_some()).await?;
        }
        if changed(|x| json!(x.policy)) {
            let s = &self.s;
            match &p.policy {
                Some(doc) => {
                    let doc = crate::kind::document::to_aws(doc);
                    call!(s, write "PutBucketPolicy", put_bucket_policy().bucket(name).policy(&doc))
                        .await?;
                }
                None if before.is_some() => {
                    call!(s, delete "DeleteBucketPolicy", delete_bucket_policy().bucket(name))
                        .await?;
                }
                None => {}
            }
        }
        Ok(())
    }

    /// One rule: every object, to the destination; none when it is empty.
    pub(crate) async fn put_replication(&self, name: &str, p: &Props, existed: bool) -> Result<()> {
        use aws_sdk_s3::types::{
            DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination,
            EncryptionConfiguration, ReplicationConfiguration, ReplicationRule,
            ReplicationRuleFilter, ReplicationRuleStatus, SourceSelectionCriteria,
            SseKmsEncryptedObjects, SseKmsEncryptedObjectsStatus,
        };
        let s = &self.s;
        if p.replicate_to.is_empty() {
            if existed {
                call!(s, delete "DeleteBucketReplication", delete_bucket_replication().bucket(name))
                    .await?;
            }
            return Ok(());
        }
        let key = (!p.replica_kms_key_id.is_empty()).then(|| {
            EncryptionConfiguration::builder()
                .replica_kms_key_id(&p.replica_kms_key_id)
                .build()
        });
        let kms_objects = match &key {
            Some(_) => Some(
                SourceSelectionCriteria::builder()
                    .sse_kms_encrypted_objects(built(
                        SseKmsEncryptedObjects::builder()
                            .status(SseKmsEncryptedObjectsStatus::Enabled)
                            .build(),
                    )?)
                    .build(),
            ),
            None => None,
        };
        let rule = built(
            ReplicationRule::builder()
                .set_source_selection_criteria(kms_objects)
                .id("provision")
                .priority(1)
                .status(ReplicationRuleStatus::Enabled)
                .filter(ReplicationRuleFilter::builder().prefix("").build())
                .delete_marker_replication(
                    DeleteMarkerReplication::builder()
                        .status(DeleteMarkerReplicationStatus::Disabled)
                        .build(),
                )
                .destination(built(
                    Destination::builder()
                        .bucket(&p.replicate_to)
                        .set_encryption_configuration(key)
                        .build(),
                )?)
                .build(),
        )?;
        let config = built(
            ReplicationConfiguration::builder()
                .role(&p.replication_role)
                .rules(rule)
                .build(),
        )?;
        call!(s, write "PutBucketReplication", put_bucket_replication()
            .bucket(name)
            .replication_configuration(config.clone()))
        .await?;
        Ok(())
    }

    async fn put_tags(&self, name: &str, t: &Tags) -> Result<()> {
        let tags = t
            .iter()
            .map(|(k, v)| built(Tag::builder().key(k).value(v).build()))
            .collect::<Result<Vec<_>>>()?;
        let tagging = built(Tagging::builder().set_tag_set(Some(tags)).build())?;
        let s = &self.s;
        call!(s, write "PutBucketTagging", put_bucket_tagging()
            .bucket(name)
            .tagging(tagging.clone()))
        .await?;
        Ok(())
    }

    async fn put_public_access_block(&self, name: &str, on: bool) -> Result<()> {
        let block = PublicAccessBlockConfiguration::builder()
            .block_public_acls(on)
            .ignore_public_acls(on)
            .block_public_policy(on)
            .restrict_public_buckets(on)
            .build();
        let s = &self.s;
        call!(s, write "PutPublicAccessBlock", put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(block.clone()))
        .await?;
        Ok(())
    }

    async fn put_ownership(&self, name: &str, ownership: &str) -> Result<()> {
        let rule = built(
            OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::from(ownership))
                .build(),
        )?;
        let controls = built(OwnershipControls::builder().rules(rule).build())?;
        let s = &self.s;
        call!(s, write "PutBucketOwnershipControls", put_bucket_ownership_controls()
            .bucket(name)
            .ownership_controls(controls.clone()))
        .await?;
        Ok(())
    }

    async fn put_versioning(&self, name: &str, on: bool) -> Result<()> {
        let status = if on {
            BucketVersioningStatus::Enabled
        } else {
            BucketVersioningStatus::Suspended
        };
        let s = &self.s;
        call!(s, write "PutBucketVersioning", put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(VersioningConfiguration::builder().status(status.clone()).build(),))
            .await?;
        Ok(())
    }

    async fn put_encryption(&self, name: &str, p: &Props) -> Result<()> {
        let d = built(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::from(
                    p.sse_algorithm.as_deref().unwrap_or("AES256"),
                ))
                .set_kms_master_key_id(p.kms_key_id.clone())
                .build(),
        )?;
        let config = built(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(d)
                        .build(),
                )
                .build(),
        )?;
        let s = &self.s;
        call!(s, write "PutBucketEncryption", put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(config.clone()))
        .await?;
        Ok(())
    }

    async fn put_lifecycle(
        &self,
        name: &str,
        rules: &[LifecycleRuleProps],
        existed: bool,
    ) -> Result<()> {
        let s = &self.s;
        if rules.is_empty() {
            if existed {
                call!(s, delete "DeleteBucketLifecycle", delete_bucket_lifecycle().bucket(name))
                    .await?;
            }
            return Ok(());
        }
        let out = rules
            .iter()
            .map(lifecycle_rule)
            .collect::<Result<Vec<_>>>()?;
        let config = built(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(out))
                .build(),
        )?;
        call!(s, write "PutBucketLifecycleConfiguration", put_bucket_lifecycle_configuration()
            .bucket(name)
            .lifecycle_configuration(config.clone()))
        .await?;
        Ok(())
    }

    /// Deletes every object version and delete marker, 1000 at a time.
    async fn empty(&self, name: &str) -> Result<()> {
        let s = &self.s;
        loop {
            let r = call!(s, read "ListObjectVersions", list_object_versions()
                .bucket(name)
                .max_keys(1000))
            .await?;
            let versions = r.versions().iter().map(|v| (v.key(), v.version_id()));
            let markers = r.delete_markers().iter().map(|m| (m.key(), m.version_id()));
            let ids = versions
                .chain(markers)
                .map(|(k, v)| {
                    built(
                        ObjectIdentifier::builder()
                            .set_key(k.map(str::to_string))
                            .set_version_id(v.map(str::to_string))
                            .build(),
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            if ids.is_empty() {
                return Ok(());
            }
            let batch = built(Delete::builder().set_objects(Some(ids)).quiet(true).build())?;
            call!(s, delete "DeleteObjects", delete_objects().bucket(name).delete(batch.clone()))
                .await?;
        }
    }
}

impl Bucket {
    /// A bucket named in the stack that exists in this account, unless
    /// another stack's tags are on it; the engine takes it only when its
    /// lineage tag is this state's, or when it is untagged and a create of
    /// that address was begun (CreateBucket takes no tags: a run can end
    /// between the create and the tagging).
    async fn claimable(&self, stack: &str, name: &str, address: &str) -> Result<Option<Live>> {
        let found = match self.read_bucket(name).await {
            Err(e)
                if has_code(
                    &e,
                    &["AccessDenied", "AllAccessDisabled", "PermanentRedirect"],
                ) =>
            {
                None
            }
            r => r?,
        };
        Ok(found
            .filter(|l| l.props["tags"].get(TAG_STACK).is_none_or(|o| o == stack))
            .map(|mut l| {
                l.claimed_by = Some(address.to_string());
                l
            }))
    }
}

fn lifecycle_rule(r: &LifecycleRuleProps) -> Result<Rule> {
    let mut rule = Rule::builder()
        .id(&r.id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(&r.prefix).build());
    if let Some(d) = r.transition_days {
        let class = r
            .transition_storage_class
            .as_deref()
            .unwrap_or("STANDARD_IA");
        rule = rule.transitions(
            Transition::builder()
                .days(d)
                .storage_class(TransitionStorageClass::from(class))
                .build(),
        );
    }
    if let Some(d) = r.noncurrent_expiration_days {
        rule = rule.noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(d)
                .build(),
        );
    }
    if let Some(d) = r.expiration_days {
        rule = rule.expiration(LifecycleExpiration::builder().days(d).build());
    }
    built(rule.build())
}

#[async_trait]
impl Kind for Bucket {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Bucket {
            s: c.s3.clone(),
            region: c.region.clone(),
        }
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        let mut out = Vec::new();
        match q {
            Query::Ids(ids) => {
                let found = each(
                    ids.iter()
                        .map(|name| self.read_bucket(name))
                        .collect::<Vec<_>>(),
                )
                .await?;
                out.extend(found.into_iter().flatten());
            }
            Query::Owned(stack, wanted) => {
                for w in wanted {
                    if let Some(name) = w.props["bucket"].as_str() {
                        out.extend(self.claimable(stack, name, &w.address).await?);
                    }
                }
            }
            Query::All | Query::Inside(..) => {}
        }
        Ok(out)
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let name = &p.bucket;
        // Never take over a bucket provision did not make: in us-east-1 a
        // CreateBucket of one's own bucket answers success, so look first.
        if let Some(existing) = self.read_bucket(name).await? {
            let tag = |k: &str| existing.props["tags"][k].as_str().map(str::to_string);
            let made_by_this_state =
                tag(TAG_LINEAGE).is_some() && tag(TAG_LINEAGE).as_ref() == p.tags.get(TAG_LINEAGE);
            let maybe_ours = tag(TAG_STACK).is_none() && c.retry;
            if !made_by_this_state && !maybe_ours {
                let who = match tag(TAG_STACK) {
                    Some(other) => format!("stack {other:?} made it"),
                    None => "provision did not make it".into(),
                };
                return Err(Error::Aws {
                    address: None,
                    operation: "CreateBucket".into(),
                    code: "BucketAlreadyOwnedByYou".into(),
                    message: format!("bucket {name} already exists in this account: {who}"),
                });
            }
        }
        let location = (self.region != "us-east-1").then(|| {
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                .build()
        });
        let s = &self.s;
        // Safe to repeat: a bucket that is ours already is answered BucketAlreadyOwnedByYou.
        match call!(s, write "CreateBucket", create_bucket()
            .bucket(name)
            .object_ownership(ObjectOwnership::from(p.object_ownership.as_str()))
            .set_create_bucket_configuration(location.clone()))
        .await
        {
            Err(e) if !has_code(&e, &["BucketAlreadyOwnedByYou"]) => return Err(e),
            _ => {}
        }
        self.apply(name, None, p).await?;
        crate::aws::read_one(self, name).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        self.apply(id, Some(before), after).await?;
        crate::aws::read_one(self, id).await
    }
    async fn delete(&self, id: &str, p: &Props, _: Duration) -> Result<()> {
        if p.force_destroy {
            self.empty(id).await?;
        }
        let s = &self.s;
        call!(s, delete "DeleteBucket", delete_bucket().bucket(id)).await?;
        Ok(())
    }
    /// Bucket names are global: one this stack did not make (another
    /// stack's, one made by hand, another account's) cannot be created.
    /// The refresh has already claimed those that may be this state's.
    async fn name_taken(&self, p: &Props) -> Result<Option<String>> {
        let name = &p.bucket;
        let tags = match self.tags(name).await {
            Err(e) if has_code(&e, &["AccessDenied", "AllAccessDisabled"]) => {
                return Ok(Some(format!(
                    "bucket {name} exists in another AWS account (bucket names are global)"
                )));
            }
            r => r?,
        };
        let Some(tags) = tags else {
            return Ok(None);
        };
        Ok(Some(crate::aws::tags::held_by(
            &format!("bucket {name}"),
            name,
            &tags,
            &p.tags,
        )))
    }
    async fn delete_blocker(&self, id: &str, p: &Props) -> Result<Option<String>> {
        if p.force_destroy {
            return Ok(None);
        }
        let s = &self.s;
        let r = call!(s, read "ListObjectVersions", list_object_versions().bucket(id).max_keys(1))
            .await?;
        Ok((!r.versions().is_empty() || !r.delete_markers().is_empty()).then(|| {
            "the bucket still holds objects: empty it, or set force_destroy: true and apply first".to_string()
        }))
    }
}
