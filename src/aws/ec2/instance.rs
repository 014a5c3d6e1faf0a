//! `ec2.instance`: an instance launched from a launch template version.
//! Replaced create-then-delete, so whatever points at it (a target group)
//! moves to the new one first.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, InstanceStateName, LaunchTemplateSpecification, ResourceType};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Ec2, PAGE, filter, owner_filter, sync_tags, tag_spec, tags_of};
use crate::aws::tags::Tags;
use crate::aws::wait::{self, Seen};
use crate::aws::{Clients, Kind, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{KindSpec, ReplaceOrder, TAGS, Ty, new, p, req};
use crate::provider::{Live, Wanted};

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "private_ip", "availability_zone"],
    replace: ReplaceOrder::CreateThenDelete,
    refresh_cost: "1 DescribeInstances per 200 ids",
    ..KindSpec::new(
        "ec2.instance",
        "An EC2 instance launched from a launch template version. Replaced create-then-delete, \
         so whatever points at it (a target group) moves to the new one first.",
        &[
            req(new(p("launch_template_id", Ty::Str, "the launch template"))),
            req(new(p(
                "launch_template_version",
                Ty::Str,
                "its version (use the template's latest_version)",
            ))),
            req(new(p("subnet_id", Ty::Str, "a private subnet"))),
            TAGS,
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    launch_template_id: String,
    launch_template_version: String,
    subnet_id: String,
    tags: Tags,
}

/// States of an instance that is not on its way out.
const ALIVE: &[&str] = &["pending", "running", "stopping", "stopped"];

pub(crate) struct Instance(Ec2);

impl Instance {
    async fn describe(&self, mut filters: Vec<Filter>) -> Result<Vec<(Live, InstanceStateName)>> {
        filters.push(filter(
            "instance-state-name",
            &ALIVE.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
        ));
        let s = &self.0;
        let reservations = s
            .api
            .read("DescribeInstances", || {
                s.c.describe_instances()
                    .set_filters(Some(filters.clone()))
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
            })
            .await?;
        let mut out = Vec::new();
        for x in reservations.iter().flat_map(|r| r.instances()) {
            let aws_tag = |k: &str| {
                x.tags()
                    .iter()
                    .find(|t| t.key() == Some(k))
                    .and_then(|t| t.value())
                    .unwrap_or_default()
                    .to_string()
            };
            let p = Props {
                launch_template_id: aws_tag("aws:ec2launchtemplate:id"),
                launch_template_version: aws_tag("aws:ec2launchtemplate:version"),
                subnet_id: x.subnet_id().unwrap_or_default().into(),
                tags: tags_of(x.tags()),
            };
            let outputs = [
                ("private_ip", json!(x.private_ip_address())),
                (
                    "availability_zone",
                    json!(x.placement().and_then(|p| p.availability_zone())),
                ),
            ];
            let state = x
                .state()
                .and_then(|s| s.name())
                .cloned()
                .unwrap_or(InstanceStateName::Pending);
            out.push((
                live(&SPEC, x.instance_id().unwrap_or_default(), &p, &outputs),
                state,
            ));
        }
        Ok(out)
    }

    async fn state_of(&self, id: &str) -> Result<Option<(Live, InstanceStateName)>> {
        Ok(self
            .describe(vec![filter("instance-id", &[id.to_string()])])
            .await?
            .pop())
    }
}

#[async_trait]
impl Kind for Instance {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Instance(c.ec2.clone())
    }
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(PAGE) {
            let found = self.describe(vec![filter("instance-id", chunk)]).await?;
            out.extend(found.into_iter().map(|x| x.0));
        }
        Ok(out)
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        let found = self.describe(vec![owner_filter(stack)]).await?;
        Ok(found.into_iter().map(|x| x.0).collect())
    }
    async fn create(&self, p: &Props, timeout: Duration) -> Result<Live> {
        let s = &self.0;
        // One token for every attempt: AWS never starts a second instance.
        let token = uuid::Uuid::new_v4().to_string();
        let r = s
            .api
            .write("RunInstances", || {
                s.c.run_instances()
                    .launch_template(
                        LaunchTemplateSpecification::builder()
                            .launch_template_id(&p.launch_template_id)
                            .version(&p.launch_template_version)
                            .build(),
                    )
                    .subnet_id(&p.subnet_id)
                    .min_count(1)
                    .max_count(1)
                    .client_token(&token)
                    .tag_specifications(tag_spec(ResourceType::Instance, &p.tags))
                    .tag_specifications(tag_spec(ResourceType::Volume, &p.tags))
                    .send()
            })
            .await?;
        let id = r
            .instances()
            .first()
            .and_then(|x| x.instance_id())
            .ok_or_else(|| no_id("RunInstances"))?;
        wait::until(&format!("instance {id} to be running"), timeout, || async {
            Ok(match self.state_of(id).await? {
                Some((l, InstanceStateName::Running)) => Seen::Ready(l),
                Some((_, st)) => Seen::Pending(st.as_str().into()),
                // Filtered out as shutting down or terminated, or not visible yet.
                None => match self.terminated(id).await? {
                    Some(reason) => Seen::Failed(format!("it was terminated at launch: {reason}")),
                    None => Seen::Pending("not visible yet".into()),
                },
            })
        })
        .await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        sync_tags(&self.0, id, &before.tags, &after.tags).await?;
        read_one(self, &self.0.api, id).await
    }
    async fn delete(&self, id: &str, _: &Props, timeout: Duration) -> Result<()> {
        let s = &self.0;
        s.api
            .delete("TerminateInstances", || {
                s.c.terminate_instances().instance_ids(id).send()
            })
            .await?;
        wait::gone(&format!("instance {id}"), timeout, || async {
            Ok(self.state_of(id).await?.is_some())
        })
        .await
    }
}

impl Instance {
    /// Why the instance ended, if it is shutting down or terminated.
    async fn terminated(&self, id: &str) -> Result<Option<String>> {
        let s = &self.0;
        let r = s
            .api
            .read("DescribeInstances", || {
                s.c.describe_instances()
                    .filters(filter("instance-id", &[id.to_string()]))
                    .send()
            })
            .await?;
        Ok(r.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|x| {
                matches!(
                    x.state().and_then(|s| s.name()),
                    Some(InstanceStateName::ShuttingDown | InstanceStateName::Terminated)
                )
            })
            .map(|x| {
                x.state_reason()
                    .and_then(|r| r.message())
                    .unwrap_or("no reason given")
                    .to_string()
            }))
    }
}
