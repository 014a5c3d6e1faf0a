//! WAF (WAFv2, REGIONAL): web ACL and its association with a load balancer.
//!
//! A web ACL's id here is its ARN (it holds the name and WAF's id, both of
//! which Get/Update/Delete need). Updates carry WAF's lock token and are tried
//! once more with a fresh token when WAF reports an optimistic-lock conflict.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_wafv2::Client;
use aws_sdk_wafv2::types::{
    AllowAction, BlockAction, DefaultAction, ManagedRuleGroupStatement, NoneAction, OverrideAction,
    RateBasedStatement, RateBasedStatementAggregateKeyType, Rule, RuleAction, Scope, Statement,
    Tag, VisibilityConfig,
};
use aws_smithy_types::error::operation::BuildError;
use serde_json::{Value, json};

use super::{Resource, err, i, list, live_of, owned_by, s, tag_changes, tag_pairs};
use crate::diag::{Error, Result};
use crate::provider::{Live, Wanted};

pub(super) fn register(c: &Client, kinds: &mut HashMap<&'static str, Box<dyn Resource>>) {
    kinds.insert("wafv2.web_acl", Box::new(WebAcl(c.clone())));
    kinds.insert(
        "wafv2.web_acl_association",
        Box::new(Association(c.clone())),
    );
}

fn built<T>(r: std::result::Result<T, BuildError>) -> Result<T> {
    r.map_err(|e| Error::other(format!("internal: {e}")))
}

/// (name, WAF id) from `arn:aws:wafv2:REGION:ACCOUNT:regional/webacl/NAME/ID`.
fn name_and_id(arn: &str) -> Result<(String, String)> {
    let mut parts = arn.rsplit('/');
    match (parts.next(), parts.next()) {
        (Some(id), Some(name)) => Ok((name.to_string(), id.to_string())),
        _ => Err(Error::other(format!("{arn} is not a web ACL ARN"))),
    }
}

fn visibility(metric: &str) -> Result<VisibilityConfig> {
    built(
        VisibilityConfig::builder()
            .sampled_requests_enabled(true)
            .cloud_watch_metrics_enabled(true)
            .metric_name(
                metric
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect::<String>(),
            )
            .build(),
    )
}

/// The rules a web ACL's properties describe: the managed groups in order, then the rate rule.
fn rules(p: &Value) -> Result<Vec<Rule>> {
    let mut out = Vec::new();
    for (n, group) in list(p, "managed_rule_groups").iter().enumerate() {
        out.push(built(
            Rule::builder()
                .name(group)
                .priority(n as i32)
                .statement(
                    Statement::builder()
                        .managed_rule_group_statement(built(
                            ManagedRuleGroupStatement::builder()
                                .vendor_name("AWS")
                                .name(group)
                                .build(),
                        )?)
                        .build(),
                )
                .override_action(
                    OverrideAction::builder()
                        .none(NoneAction::builder().build())
                        .build(),
                )
                .visibility_config(visibility(group)?)
                .build(),
        )?);
    }
    let limit = i(p, "rate_limit").unwrap_or(0);
    if limit > 0 {
        out.push(built(
            Rule::builder()
                .name("rate-limit-per-ip")
                .priority(out.len() as i32)
                .statement(
                    Statement::builder()
                        .rate_based_statement(built(
                            RateBasedStatement::builder()
                                .limit(i64::from(limit))
                                .aggregate_key_type(RateBasedStatementAggregateKeyType::Ip)
                                .build(),
                        )?)
                        .build(),
                )
                .action(
                    RuleAction::builder()
                        .block(BlockAction::builder().build())
                        .build(),
                )
                .visibility_config(visibility("rate-limit-per-ip")?)
                .build(),
        )?);
    }
    Ok(out)
}

fn is_code(e: &Error, code: &str) -> bool {
    matches!(e, Error::Aws { code: c, .. } if c == code || c.ends_with(code))
}

pub(crate) struct WebAcl(pub(crate) Client);

impl WebAcl {
    /// The web ACL and its lock token; `None` when it does not exist.
    async fn get(&self, arn: &str) -> Result<Option<(Live, String)>> {
        let (name, id) = name_and_id(arn)?;
        let r = match self
            .0
            .get_web_acl()
            .name(&name)
            .id(&id)
            .scope(Scope::Regional)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let e = err("GetWebACL", e);
                return if is_code(&e, "WAFNonexistentItemException") {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let Some(acl) = r.web_acl() else {
            return Ok(None);
        };
        let mut groups: Vec<(i32, String)> = acl
            .rules()
            .iter()
            .filter_map(|r| {
                let m = r.statement()?.managed_rule_group_statement()?;
                Some((r.priority(), m.name().to_string()))
            })
            .collect();
        groups.sort();
        let rate = acl
            .rules()
            .iter()
            .find_map(|r| r.statement()?.rate_based_statement().map(|s| s.limit()))
            .unwrap_or(0);
        let tags = self
            .0
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| err("ListTagsForResource", e))?;
        let tags = super::tags_from(
            tags.tag_info_for_resource()
                .map(|t| t.tag_list())
                .unwrap_or_default()
                .iter()
                .map(|t| (t.key(), t.value())),
        );
        let raw = json!({
            "name": acl.name(),
            "description": acl.description(),
            "managed_rule_groups": groups.into_iter().map(|g| g.1).collect::<Vec<_>>(),
            "rate_limit": rate,
            "tags": tags,
        });
        Ok(Some((
            live_of("wafv2.web_acl", arn, raw, &[("arn", json!(arn))]),
            r.lock_token().unwrap_or_default().to_string(),
        )))
    }

    async fn update_once(&self, arn: &str, p: &Value) -> Result<()> {
        let (name, id) = name_and_id(arn)?;
        let (_, token) = self.get(arn).await?.ok_or_else(|| super::gone(arn))?;
        self.0
            .update_web_acl()
            .name(name)
            .id(id)
            .scope(Scope::Regional)
            .lock_token(token)
            .set_description(s(p, "description"))
            .default_action(
                DefaultAction::builder()
                    .allow(AllowAction::builder().build())
                    .build(),
            )
            .set_rules(Some(rules(p)?))
            .visibility_config(visibility(&s(p, "name").unwrap_or_default())?)
            .send()
            .await
            .map_err(|e| err("UpdateWebACL", e))?;
        Ok(())
    }
}

#[async_trait]
impl Resource for WebAcl {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        // GetWebACL takes one ACL: one call per web ACL.
        let mut out = Vec::new();
        for arn in ids {
            out.extend(self.get(arn).await?.map(|x| x.0));
        }
        Ok(out)
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        let mut out = Vec::new();
        let mut marker = None;
        loop {
            let r = self
                .0
                .list_web_acls()
                .scope(Scope::Regional)
                .set_next_marker(marker)
                .send()
                .await
                .map_err(|e| err("ListWebACLs", e))?;
            for a in r.web_acls() {
                if let Some(l) = self.get(a.arn().unwrap_or_default()).await?.map(|x| x.0)
                    && owned_by(&l.props["tags"], stack)
                {
                    out.push(l);
                }
            }
            marker = r.next_marker().map(str::to_string);
            if marker.is_none() || r.web_acls().is_empty() {
                return Ok(out);
            }
        }
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let tags = tag_pairs(p)
            .into_iter()
            .map(|(k, v)| built(Tag::builder().key(k).value(v).build()))
            .collect::<Result<Vec<_>>>()?;
        let r = self
            .0
            .create_web_acl()
            .name(s(p, "name").unwrap_or_default())
            .scope(Scope::Regional)
            .set_description(s(p, "description"))
            .default_action(
                DefaultAction::builder()
                    .allow(AllowAction::builder().build())
                    .build(),
            )
            .set_rules(Some(rules(p)?))
            .visibility_config(visibility(&s(p, "name").unwrap_or_default())?)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| err("CreateWebACL", e))?;
        let arn = r
            .summary()
            .and_then(|x| x.arn())
            .unwrap_or_default()
            .to_string();
        super::read_one(self, &arn).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        if crate::plan::changed_props(before, after)
            .iter()
            .any(|p| p != "tags")
        {
            match self.update_once(id, after).await {
                // Someone changed it between our read and our write: read again, once.
                Err(e) if is_code(&e, "WAFOptimisticLockException") => {
                    self.update_once(id, after).await?
                }
                r => r?,
            }
        }
        let (set, removed) = tag_changes(before, after);
        if !removed.is_empty() {
            self.0
                .untag_resource()
                .resource_arn(id)
                .set_tag_keys(Some(removed))
                .send()
                .await
                .map_err(|e| err("UntagResource", e))?;
        }
        if !set.is_empty() {
            let tags = set
                .into_iter()
                .map(|(k, v)| built(Tag::builder().key(k).value(v).build()))
                .collect::<Result<Vec<_>>>()?;
            self.0
                .tag_resource()
                .resource_arn(id)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| err("TagResource", e))?;
        }
        super::read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, _: Duration) -> Result<()> {
        let (name, waf_id) = name_and_id(id)?;
        for attempt in 0..2 {
            let Some((_, token)) = self.get(id).await? else {
                return Ok(());
            };
            match self
                .0
                .delete_web_acl()
                .name(&name)
                .id(&waf_id)
                .scope(Scope::Regional)
                .lock_token(token)
                .send()
                .await
                .map_err(|e| err("DeleteWebACL", e))
            {
                Err(e) if attempt == 0 && is_code(&e, "WAFOptimisticLockException") => continue,
                r => return r.map(|_| ()),
            }
        }
        Ok(())
    }
}

struct Association(Client);

#[async_trait]
impl Resource for Association {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        // The id is the protected resource's ARN.
        let mut out = Vec::new();
        for resource in ids {
            let r = match self
                .0
                .get_web_acl_for_resource()
                .resource_arn(resource)
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    let e = err("GetWebACLForResource", e);
                    if is_code(&e, "WAFNonexistentItemException") {
                        continue;
                    }
                    return Err(e);
                }
            };
            if let Some(acl) = r.web_acl() {
                let raw = json!({"web_acl_arn": acl.arn(), "resource_arn": resource});
                out.push(live_of("wafv2.web_acl_association", resource, raw, &[]));
            }
        }
        Ok(out)
    }
    async fn find_owned(&self, _: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        // Associations have no tags; associating again is harmless.
        Ok(vec![])
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let resource = s(p, "resource_arn").unwrap_or_default();
        self.0
            .associate_web_acl()
            .set_web_acl_arn(s(p, "web_acl_arn"))
            .resource_arn(&resource)
            .send()
            .await
            .map_err(|e| err("AssociateWebACL", e))?;
        super::read_one(self, &resource).await
    }
    async fn update(&self, id: &str, _: &Value, _: &Value, _: Duration) -> Result<Live> {
        super::read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, _: Duration) -> Result<()> {
        self.0
            .disassociate_web_acl()
            .resource_arn(id)
            .send()
            .await
            .map_err(|e| err("DisassociateWebACL", e))?;
        Ok(())
    }
}
