//! `wafv2.web_acl`: a regional web ACL: AWS managed rule groups, a rate-based
//! rule per source IP, default action allow, metrics and sampled requests on.
//!
//! Its id here is its ARN (which holds the name and WAF's id, both needed by
//! Get/Update/Delete). Updates carry WAF's lock token and are tried once more
//! with a fresh token when WAF reports an optimistic-lock conflict.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_wafv2::types::{
    AllowAction, BlockAction, DefaultAction, ManagedRuleGroupStatement, NoneAction, OverrideAction,
    RateBasedStatement, RateBasedStatementAggregateKeyType, Rule, RuleAction, Scope, Statement,
    Tag, VisibilityConfig,
};
use aws_smithy_types::error::operation::BuildError;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Waf, is_code};
use crate::aws::call::call;
use crate::aws::tags::{Tagging, Tags, to_sdk};
use crate::aws::{Clients, Create, Kind, Query, live, no_id, one_call_each, read_one, with_detail};
use crate::diag::{Error, Result};
use crate::kind::{KindSpec, TAGS, Tagged, Ty, def, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    tagged: Some(Tagged {
        service: "wafv2",
        prefix: "regional/webacl/",
        id_is_arn: true,
    }),
    coexist: true,
    unique: Some(("name", 128)),
    outputs: &["id", "arn"],
    refresh_cost: "1 GetWebACL + 1 ListTagsForResource per web ACL (no batch read exists)",
    ..KindSpec::new(
        "wafv2.web_acl",
        "A regional WAF web ACL: AWS managed rule groups, a rate-based rule per source IP, \
         default action allow, CloudWatch metrics and sampled requests on.",
        &[
            req(new(p("name", Ty::Str, "web ACL name"))),
            def(
                p("description", Ty::Str, "description"),
                "\"Managed by provision\"",
            ),
            def(
                p(
                    "managed_rule_groups",
                    Ty::StrList { set: false },
                    "AWS managed rule groups, in priority order",
                ),
                r#"["AWSManagedRulesCommonRuleSet","AWSManagedRulesKnownBadInputsRuleSet","AWSManagedRulesSQLiRuleSet"]"#,
            ),
            def(
                p(
                    "rate_limit",
                    Ty::Int,
                    "requests per 5 minutes per IP before blocking (0: no rate rule)",
                ),
                "2000",
            ),
            TAGS,
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
    description: Option<String>,
    managed_rule_groups: Vec<String>,
    rate_limit: i64,
    tags: Tags,
}

impl Props {
    /// Everything UpdateWebACL sets.
    fn settings(&self) -> serde_json::Value {
        json!([self.description, self.managed_rule_groups, self.rate_limit])
    }
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

fn managed_rule(group: &str, priority: i32) -> Result<Rule> {
    let statement = ManagedRuleGroupStatement::builder()
        .vendor_name("AWS")
        .name(group)
        .build();
    built(
        Rule::builder()
            .name(group)
            .priority(priority)
            .statement(
                Statement::builder()
                    .managed_rule_group_statement(built(statement)?)
                    .build(),
            )
            .override_action(
                OverrideAction::builder()
                    .none(NoneAction::builder().build())
                    .build(),
            )
            .visibility_config(visibility(group)?)
            .build(),
    )
}

fn rate_rule(limit: i64, priority: i32) -> Result<Rule> {
    let statement = RateBasedStatement::builder()
        .limit(limit)
        .aggregate_key_type(RateBasedStatementAggregateKeyType::Ip)
        .build();
    built(
        Rule::builder()
            .name("rate-limit-per-ip")
            .priority(priority)
            .statement(
                Statement::builder()
                    .rate_based_statement(built(statement)?)
                    .build(),
            )
            .action(
                RuleAction::builder()
                    .block(BlockAction::builder().build())
                    .build(),
            )
            .visibility_config(visibility("rate-limit-per-ip")?)
            .build(),
    )
}

/// The rules the properties describe: the managed groups in order, then the rate rule.
fn rules(p: &Props) -> Result<Vec<Rule>> {
    let mut out = Vec::new();
    for (n, group) in p.managed_rule_groups.iter().enumerate() {
        out.push(managed_rule(group, n as i32)?);
    }
    if p.rate_limit > 0 {
        out.push(rate_rule(p.rate_limit, out.len() as i32)?);
    }
    Ok(out)
}

fn allow() -> DefaultAction {
    DefaultAction::builder()
        .allow(AllowAction::builder().build())
        .build()
}

pub(crate) struct WebAcl(pub(crate) Waf);

impl WebAcl {
    /// The web ACL and its lock token; `None` when it does not exist.
    async fn get(&self, arn: &str) -> Result<Option<(Live, String)>> {
        let (name, id) = name_and_id(arn)?;
        let s = &self.0;
        let acl = async {
            match call!(s, read "GetWebACL", get_web_acl()
                .name(&name)
                .id(&id)
                .scope(Scope::Regional))
            .await
            {
                Err(e) if is_code(&e, "WAFNonexistentItemException") => Ok(None),
                Ok(r) if r.web_acl().is_none() => Ok(None),
                r => r.map(Some),
            }
        };
        let Some((r, tags)) = with_detail(acl, self.0.tags(arn)).await? else {
            return Ok(None);
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
        let p = Props {
            name: acl.name().into(),
            description: acl.description().map(str::to_string),
            managed_rule_groups: groups.into_iter().map(|g| g.1).collect(),
            rate_limit: acl
                .rules()
                .iter()
                .find_map(|r| r.statement()?.rate_based_statement().map(|s| s.limit()))
                .unwrap_or(0),
            tags,
        };
        let token = r.lock_token().unwrap_or_default().to_string();
        Ok(Some((live(&SPEC, arn, &p, &[("arn", json!(arn))]), token)))
    }

    /// Every regional web ACL's ARN.
    async fn arns(&self) -> Result<Vec<String>> {
        let s = &self.0;
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let r = call!(s, read "ListWebACLs", list_web_acls()
                .scope(Scope::Regional)
                .set_next_marker(marker.clone()))
            .await?;
            out.extend(
                r.web_acls()
                    .iter()
                    .filter_map(|a| a.arn().map(str::to_string)),
            );
            marker = r.next_marker().map(str::to_string);
            if marker.is_none() || r.web_acls().is_empty() {
                return Ok(out);
            }
        }
    }

    async fn update_once(&self, arn: &str, p: &Props) -> Result<()> {
        let (name, id) = name_and_id(arn)?;
        let (_, token) = self
            .get(arn)
            .await?
            .ok_or_else(|| Error::other(format!("web ACL {arn} vanished")))?;
        let (rules, vis) = (rules(p)?, visibility(&p.name)?);
        let s = &self.0;
        call!(s, write "UpdateWebACL", update_web_acl()
            .name(&name)
            .id(&id)
            .scope(Scope::Regional)
            .lock_token(&token)
            .set_description(p.description.clone())
            .default_action(allow())
            .set_rules(Some(rules.clone()))
            .visibility_config(vis.clone()))
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Kind for WebAcl {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        WebAcl(c.wafv2.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        // GetWebACL takes one ACL: one call per web ACL.
        let get = |a: String| async move { Ok(self.get(&a).await?.map(|x| x.0)) };
        one_call_each(q, || self.arns(), get).await
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let tags: Vec<Tag> = to_sdk(&p.tags);
        let (rules, vis) = (rules(p)?, visibility(&p.name)?);
        let s = &self.0;
        let r = call!(s, create "CreateWebACL", create_web_acl()
            .name(&p.name)
            .scope(Scope::Regional)
            .set_description(p.description.clone())
            .default_action(allow())
            .set_rules(Some(rules.clone()))
            .visibility_config(vis.clone())
            .set_tags(Some(tags.clone())))
        .await?;
        let arn = r
            .summary()
            .and_then(|x| x.arn())
            .ok_or_else(|| no_id("CreateWebACL"))?;
        read_one(self, arn).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        if before.settings() != after.settings() {
            match self.update_once(id, after).await {
                // Someone changed it between our read and our write: read again, once.
                Err(e) if is_code(&e, "WAFOptimisticLockException") => {
                    self.update_once(id, after).await?
                }
                r => r?,
            }
        }
        self.0.sync_tags(id, &before.tags, &after.tags).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let (name, waf_id) = name_and_id(id)?;
        let s = &self.0;
        for attempt in 0..2 {
            let Some((_, token)) = self.get(id).await? else {
                return Ok(());
            };
            match call!(s, delete "DeleteWebACL", delete_web_acl()
                .name(&name)
                .id(&waf_id)
                .scope(Scope::Regional)
                .lock_token(&token))
            .await
            {
                Err(e) if attempt == 0 && is_code(&e, "WAFOptimisticLockException") => continue,
                r => return r.map(|_| ()),
            }
        }
        Ok(())
    }
}
