//! Paths through AWS operations moto does not implement, tested against
//! SDK-level mocks of AWS's documented answers (aws-smithy-mocks).
//!
//! moto gaps covered here (moto 5.1.22): ElastiCache ModifyCacheSubnetGroup and
//! DeleteCacheSubnetGroup, the end of a replication group's deletion (moto
//! leaves it `deleting` forever), EFS UpdateFileSystem and PutBackupPolicy.

use std::time::Duration;

use aws_sdk_efs::operation::describe_backup_policy::DescribeBackupPolicyError;
use aws_sdk_efs::operation::describe_file_systems::DescribeFileSystemsOutput;
use aws_sdk_efs::operation::describe_lifecycle_configuration::DescribeLifecycleConfigurationOutput;
use aws_sdk_efs::operation::put_backup_policy::PutBackupPolicyOutput;
use aws_sdk_efs::operation::update_file_system::UpdateFileSystemOutput;
use aws_sdk_efs::types::{
    BackupPolicy, FileSystemDescription, FileSystemSize, LifeCycleState, PerformanceMode, Status,
    ThroughputMode,
};
use aws_sdk_elasticache::operation::delete_cache_subnet_group::DeleteCacheSubnetGroupOutput;
use aws_sdk_elasticache::operation::delete_replication_group::DeleteReplicationGroupOutput;
use aws_sdk_elasticache::operation::describe_cache_subnet_groups::DescribeCacheSubnetGroupsOutput;
use aws_sdk_elasticache::operation::describe_replication_groups::{
    DescribeReplicationGroupsError, DescribeReplicationGroupsOutput,
};
use aws_sdk_elasticache::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_elasticache::operation::modify_cache_subnet_group::ModifyCacheSubnetGroupOutput;
use aws_sdk_elasticache::types::error::ReplicationGroupNotFoundFault;
use aws_sdk_elasticache::types::{CacheSubnetGroup, ReplicationGroup as RgDesc, Subnet};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use serde_json::json;

use super::call::{Api, Policy};
use super::efs::file_system::FileSystem;
use super::elasticache::replication_group::ReplicationGroup;
use super::elasticache::subnet_group::CacheGroups;
use super::subnet_group::SubnetGroup;
use super::{Resource, Svc, Typed};
use crate::provider::Intent;

/// A client behind the retry policy, as kinds get it, with quick retries.
fn svc<C>(c: C) -> Svc<C> {
    let mut p = Policy::from_env();
    p.attempts = 2;
    p.backoff = Duration::from_millis(1);
    Svc::new(c, Api::metered(p, ""))
}

/// Error metadata as AWS sends it: the code is what callers match on.
fn meta(code: &str) -> aws_smithy_types::error::ErrorMetadata {
    aws_smithy_types::error::ErrorMetadata::builder()
        .code(code)
        .build()
}

fn group(subnets: &[&str]) -> CacheSubnetGroup {
    CacheSubnetGroup::builder()
        .cache_subnet_group_name("cache")
        .cache_subnet_group_description("Managed by provision")
        .arn("arn:aws:elasticache:us-east-1:123456789012:subnetgroup:cache")
        .set_subnets(Some(
            subnets
                .iter()
                .map(|s| Subnet::builder().subnet_identifier(*s).build())
                .collect(),
        ))
        .build()
}

#[tokio::test]
async fn cache_subnet_group_update_calls_modify_with_the_new_subnets() {
    let modify = mock!(aws_sdk_elasticache::Client::modify_cache_subnet_group)
        .match_requests(|r| {
            r.cache_subnet_group_name() == Some("cache")
                && r.subnet_ids() == ["subnet-a", "subnet-b", "subnet-c"]
        })
        .then_output(|| {
            ModifyCacheSubnetGroupOutput::builder()
                .cache_subnet_group(group(&["subnet-a", "subnet-b", "subnet-c"]))
                .build()
        });
    let describe =
        mock!(aws_sdk_elasticache::Client::describe_cache_subnet_groups).then_output(|| {
            DescribeCacheSubnetGroupsOutput::builder()
                .cache_subnet_groups(group(&["subnet-a", "subnet-b", "subnet-c"]))
                .build()
        });
    let tags = mock!(aws_sdk_elasticache::Client::list_tags_for_resource)
        .then_output(|| ListTagsForResourceOutput::builder().build());
    let c = mock_client!(
        aws_sdk_elasticache,
        RuleMode::MatchAny,
        &[&modify, &describe, &tags]
    );
    let before = json!({"name": "cache", "description": "Managed by provision", "subnet_ids": ["subnet-a", "subnet-b"], "tags": {}});
    let after = json!({"name": "cache", "description": "Managed by provision", "subnet_ids": ["subnet-a", "subnet-b", "subnet-c"], "tags": {}});
    let l = Typed(SubnetGroup(CacheGroups(svc(c))))
        .update("cache", &before, &after, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(modify.num_calls(), 1);
    assert_eq!(
        l.props["subnet_ids"],
        json!(["subnet-a", "subnet-b", "subnet-c"])
    );
}

#[tokio::test]
async fn cache_subnet_group_delete_calls_delete() {
    let delete = mock!(aws_sdk_elasticache::Client::delete_cache_subnet_group)
        .match_requests(|r| r.cache_subnet_group_name() == Some("cache"))
        .then_output(|| DeleteCacheSubnetGroupOutput::builder().build());
    let c = mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, &[&delete]);
    Typed(SubnetGroup(CacheGroups(svc(c))))
        .delete(
            "cache",
            &json!({"name": "cache", "subnet_ids": ["subnet-a"]}),
            Duration::from_secs(5),
            None,
        )
        .await
        .unwrap();
    assert_eq!(delete.num_calls(), 1);
}

#[tokio::test]
async fn replication_group_delete_waits_until_aws_says_not_found() {
    let delete = mock!(aws_sdk_elasticache::Client::delete_replication_group)
        .match_requests(|r| r.replication_group_id() == Some("cache"))
        .then_output(|| DeleteReplicationGroupOutput::builder().build());
    // First still deleting, then gone, as AWS answers while it deletes.
    let describe = mock!(aws_sdk_elasticache::Client::describe_replication_groups)
        .sequence()
        .output(|| {
            DescribeReplicationGroupsOutput::builder()
                .replication_groups(
                    RgDesc::builder()
                        .replication_group_id("cache")
                        .status("deleting")
                        .build(),
                )
                .build()
        })
        .error(|| {
            DescribeReplicationGroupsError::ReplicationGroupNotFoundFault(
                ReplicationGroupNotFoundFault::builder()
                    .message("Replication group cache not found.")
                    .meta(meta("ReplicationGroupNotFoundFault"))
                    .build(),
            )
        })
        .build();
    let clusters = mock!(aws_sdk_elasticache::Client::describe_cache_clusters)
        .then_output(|| aws_sdk_elasticache::operation::describe_cache_clusters::DescribeCacheClustersOutput::builder().build());
    let tags = mock!(aws_sdk_elasticache::Client::list_tags_for_resource)
        .then_output(|| ListTagsForResourceOutput::builder().build());
    let c = mock_client!(
        aws_sdk_elasticache,
        RuleMode::MatchAny,
        &[&delete, &describe, &clusters, &tags]
    );
    Typed(ReplicationGroup(svc(c)))
        .delete(
            "cache",
            &json!({"id": "cache", "subnet_group_name": "cache"}),
            Duration::from_secs(30),
            None,
        )
        .await
        .unwrap();
    assert_eq!(delete.num_calls(), 1);
    assert_eq!(describe.num_calls(), 2);
}

fn fs(throughput: ThroughputMode) -> FileSystemDescription {
    FileSystemDescription::builder()
        .owner_id("123456789012")
        .creation_token("provision-t-efs")
        .file_system_id("fs-1")
        .creation_time(aws_smithy_types::DateTime::from_secs(0))
        .life_cycle_state(LifeCycleState::Available)
        .number_of_mount_targets(0)
        .size_in_bytes(FileSystemSize::builder().value(0).build())
        .performance_mode(PerformanceMode::GeneralPurpose)
        .encrypted(true)
        .throughput_mode(throughput)
        .set_tags(Some(vec![]))
        .build()
        .unwrap()
}

#[tokio::test]
async fn efs_throughput_and_backup_changes_call_update_file_system_and_put_backup_policy() {
    let update = mock!(aws_sdk_efs::Client::update_file_system)
        .match_requests(|r| {
            r.file_system_id() == Some("fs-1")
                && r.throughput_mode() == Some(&ThroughputMode::Bursting)
        })
        .then_output(|| {
            let f = fs(ThroughputMode::Bursting);
            UpdateFileSystemOutput::builder()
                .owner_id(f.owner_id())
                .creation_token(f.creation_token())
                .file_system_id("fs-1")
                .creation_time(*f.creation_time())
                .life_cycle_state(LifeCycleState::Updating)
                .number_of_mount_targets(0)
                .size_in_bytes(f.size_in_bytes().unwrap().clone())
                .performance_mode(PerformanceMode::GeneralPurpose)
                .throughput_mode(ThroughputMode::Bursting)
                .set_tags(Some(vec![]))
                .build()
                .unwrap()
        });
    let backup = mock!(aws_sdk_efs::Client::put_backup_policy)
        .match_requests(|r| r.backup_policy().map(|p| p.status()) == Some(&Status::Disabled))
        .then_output(|| {
            PutBackupPolicyOutput::builder()
                .backup_policy(
                    BackupPolicy::builder()
                        .status(Status::Disabled)
                        .build()
                        .unwrap(),
                )
                .build()
        });
    let describe = mock!(aws_sdk_efs::Client::describe_file_systems).then_output(|| {
        DescribeFileSystemsOutput::builder()
            .file_systems(fs(ThroughputMode::Bursting))
            .build()
    });
    let lifecycle = mock!(aws_sdk_efs::Client::describe_lifecycle_configuration)
        .then_output(|| DescribeLifecycleConfigurationOutput::builder().build());
    // Never set: AWS answers PolicyNotFound, which means backups are off.
    let get_backup = mock!(aws_sdk_efs::Client::describe_backup_policy).then_error(|| {
        DescribeBackupPolicyError::PolicyNotFound(
            aws_sdk_efs::types::error::PolicyNotFound::builder()
                .error_code("PolicyNotFound")
                .meta(meta("PolicyNotFound"))
                .build(),
        )
    });
    let c = mock_client!(
        aws_sdk_efs,
        RuleMode::MatchAny,
        &[&update, &backup, &describe, &lifecycle, &get_backup]
    );
    let fsk = Typed(FileSystem {
        s: svc(c),
        region: "us-east-1".into(),
    });
    let before = json!({"encrypted": true, "performance_mode": "generalPurpose", "throughput_mode": "elastic", "transition_to_ia": "NONE", "backup": true, "tags": {}});
    let after = json!({"encrypted": true, "performance_mode": "generalPurpose", "throughput_mode": "bursting", "transition_to_ia": "NONE", "backup": false, "tags": {}});
    let l = fsk
        .update("fs-1", &before, &after, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(update.num_calls(), 1);
    assert_eq!(backup.num_calls(), 1);
    assert_eq!(l.props["throughput_mode"], "bursting");
    assert_eq!(l.props["backup"], false);
}

#[tokio::test]
async fn replication_group_update_calls_modify_replication_group() {
    use aws_sdk_elasticache::operation::modify_replication_group::ModifyReplicationGroupOutput;
    let modify = mock!(aws_sdk_elasticache::Client::modify_replication_group)
        .match_requests(|r| {
            r.replication_group_id() == Some("cache")
                && r.cache_node_type() == Some("cache.r7g.large")
                && r.apply_immediately() == Some(true)
        })
        .then_output(|| ModifyReplicationGroupOutput::builder().build());
    let describe =
        mock!(aws_sdk_elasticache::Client::describe_replication_groups).then_output(|| {
            DescribeReplicationGroupsOutput::builder()
                .replication_groups(
                    RgDesc::builder()
                        .replication_group_id("cache")
                        .status("available")
                        .cache_node_type("cache.r7g.large")
                        .arn("arn:aws:elasticache:us-east-1:123456789012:replicationgroup:cache")
                        .build(),
                )
                .build()
        });
    let clusters = mock!(aws_sdk_elasticache::Client::describe_cache_clusters)
        .then_output(|| aws_sdk_elasticache::operation::describe_cache_clusters::DescribeCacheClustersOutput::builder().build());
    let tags = mock!(aws_sdk_elasticache::Client::list_tags_for_resource)
        .then_output(|| ListTagsForResourceOutput::builder().build());
    let c = mock_client!(
        aws_sdk_elasticache,
        RuleMode::MatchAny,
        &[&modify, &describe, &clusters, &tags]
    );
    let before = json!({"id": "cache", "subnet_group_name": "cache", "node_type": "cache.t4g.medium", "automatic_failover": true, "multi_az": true, "tags": {}});
    let after = json!({"id": "cache", "subnet_group_name": "cache", "node_type": "cache.r7g.large", "automatic_failover": true, "multi_az": true, "tags": {}});
    let l = Typed(ReplicationGroup(svc(c)))
        .update("cache", &before, &after, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(modify.num_calls(), 1);
    assert_eq!(l.props["node_type"], "cache.r7g.large");
}

#[tokio::test]
async fn shield_protection_is_attempted_only_with_a_subscription() {
    use aws_sdk_shield::operation::create_protection::CreateProtectionOutput;
    use aws_sdk_shield::operation::describe_protection::DescribeProtectionOutput;
    use aws_sdk_shield::operation::describe_subscription::{
        DescribeSubscriptionError, DescribeSubscriptionOutput,
    };
    use aws_sdk_shield::operation::list_tags_for_resource::ListTagsForResourceOutput as ShieldTags;
    use aws_sdk_shield::types::{Protection as P, Subscription, SubscriptionLimits};
    // No subscription: AWS answers ResourceNotFoundException.
    let none = mock!(aws_sdk_shield::Client::describe_subscription).then_error(|| {
        DescribeSubscriptionError::ResourceNotFoundException(
            aws_sdk_shield::types::error::ResourceNotFoundException::builder()
                .message("The subscription does not exist.")
                .meta(meta("ResourceNotFoundException"))
                .build(),
        )
    });
    let c = mock_client!(aws_sdk_shield, RuleMode::MatchAny, &[&none]);
    let why = Typed(super::shield::protection::Protection(svc(c)))
        .create_blocker(&json!({"name": "p", "resource_arn": "arn:alb"}))
        .await
        .unwrap();
    assert!(why.unwrap().contains("no Shield Advanced subscription"));

    // With one: nothing stops it, and the protection is made.
    let some = mock!(aws_sdk_shield::Client::describe_subscription).then_output(|| {
        DescribeSubscriptionOutput::builder()
            .subscription(
                Subscription::builder()
                    .subscription_limits(
                        SubscriptionLimits::builder()
                            .protection_limits(aws_sdk_shield::types::ProtectionLimits::builder().set_protected_resource_type_limits(Some(vec![])).build().unwrap())
                            .protection_group_limits(
                                aws_sdk_shield::types::ProtectionGroupLimits::builder()
                                    .max_protection_groups(20)
                                    .pattern_type_limits(
                                        aws_sdk_shield::types::ProtectionGroupPatternTypeLimits::builder()
                                            .arbitrary_pattern_limits(
                                                aws_sdk_shield::types::ProtectionGroupArbitraryPatternLimits::builder()
                                                    .max_members(100)
                                                    .build(),
                                            )
                                            .build(),
                                    )
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let create = mock!(aws_sdk_shield::Client::create_protection)
        .match_requests(|r| r.resource_arn() == Some("arn:alb") && r.name() == Some("edge-alb"))
        .then_output(|| {
            CreateProtectionOutput::builder()
                .protection_id("p-1")
                .build()
        });
    let get = mock!(aws_sdk_shield::Client::describe_protection)
        .match_requests(|r| r.protection_id() == Some("p-1"))
        .then_output(|| {
            DescribeProtectionOutput::builder()
                .protection(
                    P::builder()
                        .id("p-1")
                        .name("edge-alb")
                        .resource_arn("arn:alb")
                        .protection_arn("arn:protection/p-1")
                        .build(),
                )
                .build()
        });
    let tags = mock!(aws_sdk_shield::Client::list_tags_for_resource)
        .then_output(|| ShieldTags::builder().build());
    let c = mock_client!(
        aws_sdk_shield,
        RuleMode::MatchAny,
        &[&some, &create, &get, &tags]
    );
    let p = Typed(super::shield::protection::Protection(svc(c)));
    let props = json!({"name": "p", "resource_arn": "arn:alb"});
    assert_eq!(p.create_blocker(&props).await.unwrap(), None);
    let l = p
        .create(
            &json!({"name": "edge-alb", "resource_arn": "arn:alb", "tags": {}}),
            Duration::from_secs(5),
            &Intent::default(),
        )
        .await
        .unwrap();
    assert_eq!(create.num_calls(), 1);
    assert_eq!(l.id, "p-1");
}

#[tokio::test]
async fn waf_update_retries_once_on_an_optimistic_lock_conflict() {
    use aws_sdk_wafv2::operation::get_web_acl::GetWebAclOutput;
    use aws_sdk_wafv2::operation::list_tags_for_resource::ListTagsForResourceOutput as WafTags;
    use aws_sdk_wafv2::operation::update_web_acl::{UpdateWebACLError, UpdateWebAclOutput};
    use aws_sdk_wafv2::types::{DefaultAction, VisibilityConfig, WebAcl as Acl};
    let arn = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/web/abc";
    let get = mock!(aws_sdk_wafv2::Client::get_web_acl).then_output(move || {
        GetWebAclOutput::builder()
            .web_acl(
                Acl::builder()
                    .name("web")
                    .id("abc")
                    .arn(arn)
                    .default_action(DefaultAction::builder().build())
                    .visibility_config(
                        VisibilityConfig::builder()
                            .sampled_requests_enabled(true)
                            .cloud_watch_metrics_enabled(true)
                            .metric_name("web")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .lock_token("token-1")
            .build()
    });
    // First the lock token is stale (someone else wrote), then it goes through.
    let update = mock!(aws_sdk_wafv2::Client::update_web_acl)
        .sequence()
        .error(|| {
            UpdateWebACLError::WafOptimisticLockException(
                aws_sdk_wafv2::types::error::WafOptimisticLockException::builder()
                    .message("stale lock token")
                    .meta(meta("WAFOptimisticLockException"))
                    .build(),
            )
        })
        .output(|| {
            UpdateWebAclOutput::builder()
                .next_lock_token("token-2")
                .build()
        })
        .build();
    let tags = mock!(aws_sdk_wafv2::Client::list_tags_for_resource)
        .then_output(|| WafTags::builder().build());
    let c = mock_client!(aws_sdk_wafv2, RuleMode::MatchAny, &[&get, &update, &tags]);
    let before = json!({"name": "web", "description": "Managed by provision", "managed_rule_groups": [], "rate_limit": 2000, "tags": {}});
    let after = json!({"name": "web", "description": "Managed by provision", "managed_rule_groups": [], "rate_limit": 500, "tags": {}});
    Typed(super::wafv2::web_acl::WebAcl(svc(c)))
        .update(arn, &before, &after, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(update.num_calls(), 2);
}

#[tokio::test]
async fn route53_health_check_create_reads_it_back() {
    use aws_sdk_route53::operation::change_tags_for_resource::ChangeTagsForResourceOutput;
    use aws_sdk_route53::operation::create_health_check::CreateHealthCheckOutput;
    use aws_sdk_route53::operation::get_health_check::GetHealthCheckOutput;
    use aws_sdk_route53::operation::list_tags_for_resources::ListTagsForResourcesOutput;
    use aws_sdk_route53::types::{
        HealthCheck as Hc, HealthCheckConfig, HealthCheckType, ResourceTagSet, Tag,
    };
    let hc = || {
        Hc::builder()
            .id("hc-1")
            .caller_reference("provision/edge/site_health/x")
            .health_check_version(1)
            .health_check_config(
                HealthCheckConfig::builder()
                    .r#type(HealthCheckType::Https)
                    .fully_qualified_domain_name("eproc.example.org")
                    .port(443)
                    .resource_path("/health")
                    .request_interval(30)
                    .failure_threshold(3)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let create = mock!(aws_sdk_route53::Client::create_health_check)
        .match_requests(|r| {
            r.caller_reference()
                .is_some_and(|c| c.starts_with("provision/edge/site_health/"))
                && r.health_check_config()
                    .and_then(|c| c.fully_qualified_domain_name())
                    == Some("eproc.example.org")
        })
        .then_output(move || {
            CreateHealthCheckOutput::builder()
                .health_check(hc())
                .location("/hc-1")
                .build()
                .unwrap()
        });
    let tag = mock!(aws_sdk_route53::Client::change_tags_for_resource)
        .then_output(|| ChangeTagsForResourceOutput::builder().build());
    // Read back by its id: the cost does not grow with the account's checks.
    let get = mock!(aws_sdk_route53::Client::get_health_check)
        .match_requests(|r| r.health_check_id() == Some("hc-1"))
        .then_output(move || GetHealthCheckOutput::builder().health_check(hc()).build());
    let tags = mock!(aws_sdk_route53::Client::list_tags_for_resources).then_output(|| {
        ListTagsForResourcesOutput::builder()
            .resource_tag_sets(
                ResourceTagSet::builder()
                    .resource_id("hc-1")
                    .tags(Tag::builder().key("provision:stack").value("edge").build())
                    .tags(
                        Tag::builder()
                            .key("provision:address")
                            .value("site_health")
                            .build(),
                    )
                    .build(),
            )
            .build()
            .unwrap()
    });
    let c = mock_client!(
        aws_sdk_route53,
        RuleMode::MatchAny,
        &[&create, &tag, &get, &tags]
    );
    let kind = Typed(super::route53::health_check::HealthCheck(svc(c)));
    let p = json!({"fqdn": "eproc.example.org", "type": "HTTPS", "port": 443, "resource_path": "/health",
                   "request_interval": 30, "failure_threshold": 3,
                   "tags": {"provision:stack": "edge", "provision:address": "site_health"}});
    let l = kind
        .create(&p, Duration::from_secs(5), &Intent::default())
        .await
        .unwrap();
    assert_eq!(create.num_calls(), 1);
    assert_eq!(tag.num_calls(), 1, "tags follow the create at once");
    assert_eq!(get.num_calls(), 1);
    assert_eq!(l.props["resource_path"], "/health");
    assert_eq!(l.props["tags"]["provision:address"], "site_health");
}

#[tokio::test]
async fn a_health_check_whose_tagging_never_happened_is_found_by_its_caller_reference() {
    use aws_sdk_route53::operation::list_health_checks::ListHealthChecksOutput;
    use aws_sdk_route53::operation::list_tags_for_resources::ListTagsForResourcesOutput;
    use aws_sdk_route53::types::{HealthCheck as Hc, HealthCheckConfig, HealthCheckType};
    let hc = |id: &str, reference: &str| {
        Hc::builder()
            .id(id)
            .caller_reference(reference)
            .health_check_version(1)
            .health_check_config(
                HealthCheckConfig::builder()
                    .r#type(HealthCheckType::Https)
                    .fully_qualified_domain_name("eproc.example.org")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let list = mock!(aws_sdk_route53::Client::list_health_checks).then_output(move || {
        ListHealthChecksOutput::builder()
            .health_checks(hc("hc-1", "provision/edge/site_health/token-1"))
            .health_checks(hc("hc-2", "someone-else-1"))
            .marker("")
            .is_truncated(false)
            .max_items(100)
            .build()
            .unwrap()
    });
    // Neither carries tags: the run that made hc-1 ended before tagging it.
    let tags = mock!(aws_sdk_route53::Client::list_tags_for_resources).then_output(|| {
        ListTagsForResourcesOutput::builder()
            .set_resource_tag_sets(Some(vec![]))
            .build()
            .unwrap()
    });
    let c = mock_client!(aws_sdk_route53, RuleMode::MatchAny, &[&list, &tags]);
    let kind = Typed(super::route53::health_check::HealthCheck(svc(c)));
    let found = kind.find_owned("edge", &[]).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].id, "hc-1");
    assert_eq!(found[0].address().as_deref(), Some("site_health"));
}

/// moto 5.1.22 does not implement UpdateAlias: an alias moved to another
/// key is one UpdateAlias (no moment without the alias), then read back.
#[tokio::test]
async fn a_kms_alias_moves_to_another_key_in_one_update_alias() {
    use aws_sdk_kms::operation::list_aliases::ListAliasesOutput;
    use aws_sdk_kms::operation::update_alias::UpdateAliasOutput;
    use aws_sdk_kms::types::AliasListEntry;
    let update = mock!(aws_sdk_kms::Client::update_alias)
        .match_requests(|r| {
            r.alias_name() == Some("alias/court-data") && r.target_key_id() == Some("key-2")
        })
        .then_output(|| UpdateAliasOutput::builder().build());
    let list = mock!(aws_sdk_kms::Client::list_aliases).then_output(|| {
        ListAliasesOutput::builder()
            .aliases(
                AliasListEntry::builder()
                    .alias_name("alias/court-data")
                    .alias_arn("arn:aws:kms:us-east-1:123456789012:alias/court-data")
                    .target_key_id("key-2")
                    .build(),
            )
            .build()
    });
    let c = mock_client!(aws_sdk_kms, RuleMode::MatchAny, &[&update, &list]);
    let alias = Typed(super::kms::alias::Alias(svc(c)));
    let before = json!({"name": "alias/court-data", "target_key_id": "key-1"});
    let after = json!({"name": "alias/court-data", "target_key_id": "key-2"});
    let l = alias
        .update("alias/court-data", &before, &after, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(update.num_calls(), 1);
    assert_eq!(l.props["target_key_id"], "key-2");
    assert_eq!(
        l.outputs["arn"],
        "arn:aws:kms:us-east-1:123456789012:alias/court-data"
    );
}

/// A cross-region replica (the standby's database) is created with its
/// source's ARN and no credentials: AWS refuses Secrets Manager's
/// management of a cross-region replica's password, and a replica's master
/// user is its source's. moto 5.1.22 asks a replica for a password, so this
/// create is shown against AWS's answers here; the failover after it (the
/// promotion) runs against moto in tests/it/regions.rs.
#[tokio::test]
async fn a_cross_region_replica_is_created_without_credentials_and_promoted_in_place() {
    use aws_sdk_rds::operation::create_db_cluster::CreateDbClusterOutput;
    use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
    use aws_sdk_rds::operation::promote_read_replica_db_cluster::PromoteReadReplicaDbClusterOutput;
    use aws_sdk_rds::types::DbCluster;
    const SOURCE: &str = "arn:aws:rds:us-east-1:123456789012:cluster:court-primary";
    let cluster = |source: Option<&str>| {
        DbCluster::builder()
            .db_cluster_identifier("court-standby")
            .db_cluster_arn("arn:aws:rds:us-west-2:123456789012:cluster:court-standby")
            .status("available")
            .engine("aurora-mysql")
            .master_username("admin")
            .db_subnet_group("court-standby")
            .storage_encrypted(true)
            .set_replication_source_identifier(source.map(str::to_string))
            .build()
    };
    let create = mock!(aws_sdk_rds::Client::create_db_cluster)
        .match_requests(|r| {
            r.replication_source_identifier() == Some(SOURCE)
                && r.manage_master_user_password().is_none()
                && r.master_user_password().is_none()
                && r.master_username().is_none()
        })
        .then_output(move || {
            CreateDbClusterOutput::builder()
                .db_cluster(cluster(Some(SOURCE)))
                .build()
        });
    let replica = mock!(aws_sdk_rds::Client::describe_db_clusters)
        .match_requests(|_| true)
        .sequence()
        .output(move || {
            DescribeDbClustersOutput::builder()
                .db_clusters(cluster(Some(SOURCE)))
                .build()
        })
        .output(move || {
            DescribeDbClustersOutput::builder()
                .db_clusters(cluster(None))
                .build()
        })
        .repeatedly()
        .build();
    let promote = mock!(aws_sdk_rds::Client::promote_read_replica_db_cluster)
        .match_requests(|r| r.db_cluster_identifier() == Some("court-standby"))
        .then_output(move || {
            PromoteReadReplicaDbClusterOutput::builder()
                .db_cluster(cluster(Some(SOURCE)))
                .build()
        });
    use aws_sdk_rds::operation::modify_db_cluster::ModifyDbClusterOutput;
    let own_secret = mock!(aws_sdk_rds::Client::modify_db_cluster)
        .match_requests(|r| {
            r.db_cluster_identifier() == Some("court-standby")
                && r.manage_master_user_password() == Some(true)
        })
        .then_output(move || {
            ModifyDbClusterOutput::builder()
                .db_cluster(cluster(None))
                .build()
        });
    let c = mock_client!(
        aws_sdk_rds,
        RuleMode::MatchAny,
        &[&create, &replica, &promote, &own_secret]
    );
    let kind = Typed(super::rds::cluster::Cluster(svc(c)));
    let props = json!({
        "identifier": "court-standby", "engine": "aurora-mysql",
        "master_username": "admin", "db_subnet_group_name": "court-standby",
        "vpc_security_group_ids": [], "replication_source": SOURCE,
        "skip_final_snapshot": true, "tags": {}
    });
    let l = kind
        .create(&props, Duration::from_secs(5), &Intent::default())
        .await
        .unwrap();
    assert_eq!(create.num_calls(), 1, "created with no credentials");
    assert_eq!(l.props["replication_source"], SOURCE);
    let mut promoted = props.clone();
    promoted["replication_source"] = json!("");
    let l = kind
        .update("court-standby", &props, &promoted, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(promote.num_calls(), 1, "one PromoteReadReplicaDBCluster");
    assert_eq!(
        own_secret.num_calls(),
        1,
        "a password of its own, in its region"
    );
    assert_eq!(l.props["replication_source"], "");
    // A cluster never starts replicating in place: that is a replacement.
    let err = kind
        .update("court-standby", &promoted, &props, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("replace it"), "{err}");
}

/// Objects encrypted with a KMS key replicate only when the rule says so
/// and names a key in the destination's region. moto 5.1.22 drops both from
/// the configuration it keeps, so the rule is shown against AWS's answers.
#[tokio::test]
async fn replication_of_kms_encrypted_objects_names_the_replica_key() {
    use aws_sdk_s3::operation::get_bucket_replication::GetBucketReplicationOutput;
    use aws_sdk_s3::operation::put_bucket_replication::PutBucketReplicationOutput;
    use aws_sdk_s3::types::{
        Destination, EncryptionConfiguration, ReplicationConfiguration, ReplicationRule,
        ReplicationRuleStatus, SseKmsEncryptedObjectsStatus,
    };
    const KEY: &str = "arn:aws:kms:us-west-2:123456789012:key/standby";
    const TO: &str = "arn:aws:s3:::documents-standby";
    let put = mock!(aws_sdk_s3::Client::put_bucket_replication)
        .match_requests(|r| {
            let Some(rule) = r
                .replication_configuration()
                .and_then(|c| c.rules().first())
            else {
                return false;
            };
            let kms = rule
                .source_selection_criteria()
                .and_then(|c| c.sse_kms_encrypted_objects())
                .map(|o| o.status());
            let key = rule
                .destination()
                .and_then(|d| d.encryption_configuration())
                .and_then(|e| e.replica_kms_key_id());
            kms == Some(&SseKmsEncryptedObjectsStatus::Enabled) && key == Some(KEY)
        })
        .then_output(|| PutBucketReplicationOutput::builder().build());
    let get = mock!(aws_sdk_s3::Client::get_bucket_replication).then_output(|| {
        let rule = ReplicationRule::builder()
            .status(ReplicationRuleStatus::Enabled)
            .destination(
                Destination::builder()
                    .bucket(TO)
                    .encryption_configuration(
                        EncryptionConfiguration::builder()
                            .replica_kms_key_id(KEY)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        GetBucketReplicationOutput::builder()
            .replication_configuration(
                ReplicationConfiguration::builder()
                    .role("arn:aws:iam::123456789012:role/replicate")
                    .rules(rule)
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let c = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&put, &get]);
    let bucket = super::s3::bucket::Bucket {
        s: svc(c),
        region: "us-east-1".into(),
    };
    let props: super::s3::bucket::Props = serde_json::from_value(json!({
        "bucket": "documents", "versioning": true, "sse_algorithm": "aws:kms",
        "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/primary",
        "block_public_access": true, "object_ownership": "BucketOwnerEnforced",
        "lifecycle_rules": [], "replicate_to": TO,
        "replication_role": "arn:aws:iam::123456789012:role/replicate",
        "replica_kms_key_id": KEY, "force_destroy": false, "tags": {}
    }))
    .unwrap();
    bucket
        .put_replication("documents", &props, false)
        .await
        .unwrap();
    assert_eq!(put.num_calls(), 1, "the rule takes KMS-encrypted objects");
    let (role, to, key) = bucket.replication("documents").await.unwrap();
    assert_eq!(
        (role.as_str(), to.as_str(), key.as_str()),
        ("arn:aws:iam::123456789012:role/replicate", TO, KEY)
    );
}

/// A plan's rules change in place: UpdateBackupPlan with the whole new
/// document (moto 5.1.22 has no UpdateBackupPlan).
#[tokio::test]
async fn a_backup_plan_rule_change_is_one_update_backup_plan() {
    use aws_sdk_backup::operation::get_backup_plan::GetBackupPlanOutput;
    use aws_sdk_backup::operation::list_tags::ListTagsOutput;
    use aws_sdk_backup::operation::update_backup_plan::UpdateBackupPlanOutput;
    use aws_sdk_backup::types::{BackupPlan, BackupRule, CopyAction, Lifecycle};
    const COPY: &str = "arn:aws:backup:us-west-2:123456789012:backup-vault:standby";
    let plan = |days: i64| {
        let keep = Lifecycle::builder().delete_after_days(days).build();
        BackupPlan::builder()
            .backup_plan_name("court-daily")
            .rules(
                BackupRule::builder()
                    .rule_name("daily")
                    .target_backup_vault_name("court")
                    .schedule_expression("cron(0 5 ? * * *)")
                    .lifecycle(keep.clone())
                    .copy_actions(
                        CopyAction::builder()
                            .destination_backup_vault_arn(COPY)
                            .lifecycle(keep)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let read = mock!(aws_sdk_backup::Client::get_backup_plan)
        .match_requests(|r| r.backup_plan_id() == Some("p-1"))
        .sequence()
        .output(move || {
            GetBackupPlanOutput::builder()
                .backup_plan_id("p-1")
                .backup_plan_arn("arn:aws:backup:us-east-1:123456789012:backup-plan:p-1")
                .backup_plan(plan(90))
                .build()
        })
        .repeatedly()
        .build();
    let tags = mock!(aws_sdk_backup::Client::list_tags)
        .match_requests(|_| true)
        .then_output(|| ListTagsOutput::builder().build());
    let update = mock!(aws_sdk_backup::Client::update_backup_plan)
        .match_requests(|r| {
            let rules = r.backup_plan().map(|p| p.rules()).unwrap_or_default();
            r.backup_plan_id() == Some("p-1")
                && rules.len() == 1
                && rules[0].lifecycle().and_then(|l| l.delete_after_days()) == Some(90)
                && rules[0].copy_actions()[0].destination_backup_vault_arn() == COPY
                && rules[0].copy_actions()[0]
                    .lifecycle()
                    .and_then(|l| l.delete_after_days())
                    == Some(90)
        })
        .then_output(|| {
            UpdateBackupPlanOutput::builder()
                .backup_plan_id("p-1")
                .build()
        });
    let c = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&read, &tags, &update]);
    let kind = Typed(super::backup::plan::Plan(svc(c)));
    let rule = |days: i64| {
        json!({"name": "daily", "schedule": "cron(0 5 ? * * *)", "vault_name": "court",
               "delete_after_days": days, "copy_to_vault_arn": COPY})
    };
    let before = json!({"name": "court-daily", "rules": [rule(35)], "tags": {}});
    let after = json!({"name": "court-daily", "rules": [rule(90)], "tags": {}});
    let l = kind
        .update("p-1", &before, &after, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(update.num_calls(), 1, "one UpdateBackupPlan");
    assert_eq!(l.props["rules"][0]["delete_after_days"], 90);
    assert_eq!(l.props["rules"][0]["copy_to_vault_arn"], COPY);
}

/// A selection is made in its plan, read back, and deleted by its
/// `PLAN|SELECTION` id; a create whose answer was lost is found by its plan
/// and name instead of being made twice (moto 5.1.22 has no selections).
#[tokio::test]
async fn a_backup_selection_is_made_once_read_and_deleted() {
    use aws_sdk_backup::operation::create_backup_selection::CreateBackupSelectionOutput;
    use aws_sdk_backup::operation::delete_backup_selection::DeleteBackupSelectionOutput;
    use aws_sdk_backup::operation::get_backup_selection::GetBackupSelectionOutput;
    use aws_sdk_backup::operation::list_backup_selections::ListBackupSelectionsOutput;
    use aws_sdk_backup::types::{BackupSelection, BackupSelectionsListMember};
    const ROLE: &str = "arn:aws:iam::123456789012:role/backup";
    const DB: &str = "arn:aws:rds:us-east-1:123456789012:cluster:court";
    let create = mock!(aws_sdk_backup::Client::create_backup_selection)
        .match_requests(|r| {
            r.backup_plan_id() == Some("p-1")
                && r.backup_selection().map(|s| s.selection_name()) == Some("court-data")
                && r.creator_request_id() == Some("tok")
        })
        .then_output(|| {
            CreateBackupSelectionOutput::builder()
                .selection_id("s-1")
                .build()
        });
    let get = mock!(aws_sdk_backup::Client::get_backup_selection)
        .match_requests(|r| r.backup_plan_id() == Some("p-1") && r.selection_id() == Some("s-1"))
        .sequence()
        .output(|| {
            GetBackupSelectionOutput::builder()
                .backup_selection(
                    BackupSelection::builder()
                        .selection_name("court-data")
                        .iam_role_arn(ROLE)
                        .resources(DB)
                        .build()
                        .unwrap(),
                )
                .build()
        })
        .repeatedly()
        .build();
    let list = mock!(aws_sdk_backup::Client::list_backup_selections)
        .match_requests(|r| r.backup_plan_id() == Some("p-1"))
        .then_output(|| {
            ListBackupSelectionsOutput::builder()
                .backup_selections_list(
                    BackupSelectionsListMember::builder()
                        .selection_id("s-1")
                        .selection_name("court-data")
                        .backup_plan_id("p-1")
                        .build(),
                )
                .build()
        });
    let delete = mock!(aws_sdk_backup::Client::delete_backup_selection)
        .match_requests(|r| r.backup_plan_id() == Some("p-1") && r.selection_id() == Some("s-1"))
        .then_output(|| DeleteBackupSelectionOutput::builder().build());
    let c = mock_client!(
        aws_sdk_backup,
        RuleMode::MatchAny,
        &[&create, &get, &list, &delete]
    );
    let kind = Typed(super::backup::selection::Selection(svc(c)));
    let props = json!({"name": "court-data", "plan_id": "p-1", "iam_role_arn": ROLE,
                       "resources": [DB]});
    let intent = Intent {
        token: "tok".into(),
        ..Intent::default()
    };
    let l = kind
        .create(&props, Duration::from_secs(5), &intent)
        .await
        .unwrap();
    assert_eq!(l.id, "p-1|s-1");
    assert_eq!(l.props["resources"], json!([DB]));
    assert_eq!(create.num_calls(), 1);
    // Again, as after an answer lost: found by plan and name, not made twice.
    let again = Intent {
        token: "tok".into(),
        resumed: true,
        ..Intent::default()
    };
    let l = kind
        .create(&props, Duration::from_secs(5), &again)
        .await
        .unwrap();
    assert_eq!(l.id, "p-1|s-1");
    assert_eq!(create.num_calls(), 1, "not made twice");
    kind.delete("p-1|s-1", &props, Duration::from_secs(5), None)
        .await
        .unwrap();
    assert_eq!(delete.num_calls(), 1);
}

/// An alarm is one PutMetricAlarm (with its tags) and is read back by
/// name; a change of threshold is another PutMetricAlarm (without tags);
/// an alarm of the same name that is not this stack's is named before any
/// write (PutMetricAlarm would overwrite it). The CloudWatch SDK speaks
/// CBOR, which moto 5.1.22 does not.
#[tokio::test]
async fn an_alarm_is_put_read_changed_and_anothers_is_never_overwritten() {
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
    use aws_sdk_cloudwatch::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_cloudwatch::operation::put_metric_alarm::PutMetricAlarmOutput;
    use aws_sdk_cloudwatch::types::{
        ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag as CwTag,
    };
    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:court-alarms";
    let alarm = |threshold: f64| {
        MetricAlarm::builder()
            .alarm_name("court-db-cpu")
            .alarm_arn("arn:aws:cloudwatch:us-east-1:123456789012:alarm:court-db-cpu")
            .alarm_description("")
            .namespace("AWS/RDS")
            .metric_name("CPUUtilization")
            .dimensions(
                Dimension::builder()
                    .name("DBClusterIdentifier")
                    .value("eproc")
                    .build(),
            )
            .statistic(Statistic::Average)
            .period(300)
            .evaluation_periods(3)
            .threshold(threshold)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .treat_missing_data("missing")
            .alarm_actions(TOPIC)
            .build()
    };
    let put = mock!(aws_sdk_cloudwatch::Client::put_metric_alarm)
        .match_requests(|r| {
            r.alarm_name() == Some("court-db-cpu")
                && r.alarm_actions() == [TOPIC]
                && r.dimensions().len() == 1
        })
        .then_output(|| PutMetricAlarmOutput::builder().build());
    let read = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(|r| r.alarm_names() == ["court-db-cpu"])
        .sequence()
        // name_taken's read, then the create's read back, then the update's.
        .output(move || {
            DescribeAlarmsOutput::builder()
                .metric_alarms(alarm(80.0))
                .build()
        })
        .output(move || {
            DescribeAlarmsOutput::builder()
                .metric_alarms(alarm(80.0))
                .build()
        })
        .output(move || {
            DescribeAlarmsOutput::builder()
                .metric_alarms(alarm(90.0))
                .build()
        })
        .repeatedly()
        .build();
    let tags = mock!(aws_sdk_cloudwatch::Client::list_tags_for_resource)
        .match_requests(|_| true)
        .then_output(|| {
            ListTagsForResourceOutput::builder()
                .tags(
                    CwTag::builder()
                        .key("provision:stack")
                        .value("other")
                        .build(),
                )
                .build()
        });
    let c = mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::MatchAny,
        &[&put, &read, &tags]
    );
    let kind = Typed(super::cloudwatch::alarm::Alarm(svc(c)));
    let props = |threshold: i64| {
        json!({"name": "court-db-cpu", "description": "", "namespace": "AWS/RDS",
               "metric_name": "CPUUtilization",
               "dimensions": [{"name": "DBClusterIdentifier", "value": "eproc"}],
               "statistic": "Average", "period": 300, "evaluation_periods": 3,
               "threshold": threshold, "comparison_operator": "GreaterThanThreshold",
               "treat_missing_data": "missing", "alarm_actions": [TOPIC],
               "tags": {"provision:stack": "court"}})
    };
    // Another stack's alarm of this name: named, never overwritten.
    let taken = kind.name_taken(&props(80)).await.unwrap();
    assert!(
        taken
            .as_deref()
            .is_some_and(|t| t.contains("belongs to stack \"other\"")),
        "{taken:?}"
    );
    assert_eq!(put.num_calls(), 0);
    let l = kind
        .create(&props(80), Duration::from_secs(5), &Intent::default())
        .await
        .unwrap();
    assert_eq!(put.num_calls(), 1, "one PutMetricAlarm");
    assert_eq!(l.id, "court-db-cpu");
    assert_eq!(l.props["threshold"], 80);
    let l = kind
        .update(
            "court-db-cpu",
            &props(80),
            &props(90),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(put.num_calls(), 2, "the change is another PutMetricAlarm");
    assert_eq!(l.props["threshold"], 90);
}
