//! `ec2.instance`: an instance launched from a launch template version.
//! Replaced create-then-delete, so whatever points at it (a target group)
//! moves to the new one first.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, Instance as Ec2Instance, InstanceStateName, LaunchTemplateSpecification, ResourceType,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{By, Ec2, filter, query, tag_spec};
use crate::aws::call::{call, pages};
use crate::aws::tags::{Tagging, Tags, from_sdk};
use crate::aws::wait::{self, Seen};
use crate::aws::{Clients, Create, Kind, Query, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{Container, Inside, KindSpec, ReplaceOrder, TAGS, Takes, Ty, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    inside: Inside::Searched(Container::Vpc),
    owned_by_filter: true,
    waits: "create until `running` (fails at once if it is terminated at launch, with AWS\'s reason); delete until `terminated`.",
    coexist: true,
    outputs: &["id", "private_ip", "availability_zone"],
    replace: ReplaceOrder::CreateThenDelete,
    refresh_cost: "1 DescribeInstances per 200 ids",
    // An instance runs within a minute; terminating takes about as long.
    takes: Takes::secs(40, 30, 60),
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

/// How EC2 filters find its objects.
const BY: By = By {
    id: "instance-id",
    vpc: Some("vpc-id"),
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

fn live_of(x: &Ec2Instance) -> Live {
    let aws_tag = |k: &str| {
        let t = x.tags().iter().find(|t| t.key() == Some(k));
        t.and_then(|t| t.value()).unwrap_or_default().to_string()
    };
    let p = Props {
        launch_template_id: aws_tag("aws:ec2launchtemplate:id"),
        launch_template_version: aws_tag("aws:ec2launchtemplate:version"),
        subnet_id: x.subnet_id().unwrap_or_default().into(),
        tags: from_sdk(x.tags()),
    };
    let zone = x.placement().and_then(|p| p.availability_zone());
    let outputs = [
        ("private_ip", json!(x.private_ip_address())),
        ("availability_zone", json!(zone)),
    ];
    live(&SPEC, x.instance_id().unwrap_or_default(), &p, &outputs)
}

fn state(x: &Ec2Instance) -> InstanceStateName {
    let name = x.state().and_then(|s| s.name());
    name.cloned().unwrap_or(InstanceStateName::Pending)
}

impl Instance {
    /// Instances matching, in any state.
    async fn list_raw(&self, filters: Vec<Filter>) -> Result<Vec<Ec2Instance>> {
        let s = &self.0;
        let reservations = pages!(
            s,
            "DescribeInstances",
            describe_instances().set_filters(Some(filters.clone()))
        )
        .await?;
        Ok(reservations
            .iter()
            .flat_map(|r| r.instances().to_vec())
            .collect())
    }

    /// Instances matching that are not shutting down or terminated.
    async fn list(&self, mut filters: Vec<Filter>) -> Result<Vec<Live>> {
        let alive: Vec<String> = ALIVE.iter().map(|x| x.to_string()).collect();
        filters.push(filter("instance-state-name", &alive));
        Ok(self.list_raw(filters).await?.iter().map(live_of).collect())
    }

    /// One instance as AWS has it, read with every other instance waited
    /// for at the same time (one DescribeInstances a round for all).
    async fn one(&self, id: &str) -> Result<Option<Ec2Instance>> {
        crate::aws::read::shared(self, "ec2 instances", id, |ids| async move {
            let mut all = vec![];
            for chunk in ids.chunks(200) {
                let found = self.list_raw(vec![filter("instance-id", chunk)]).await?;
                all.extend(
                    found
                        .into_iter()
                        .filter_map(|x| Some((x.instance_id()?.to_string(), x))),
                );
            }
            Ok(all)
        })
        .await
    }
}

#[async_trait]
impl Kind for Instance {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Instance(c.ec2.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        match q {
            Query::All => Ok(vec![]),
            q => query(q, BY, |f| self.list(f)).await,
        }
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        // One token for every attempt, in this run and the next: AWS never
        // starts a second instance.
        let token = c.token;
        let template = LaunchTemplateSpecification::builder()
            .launch_template_id(&p.launch_template_id)
            .version(&p.launch_template_version)
            .build();
        let r = call!(s, write "RunInstances", run_instances()
            .launch_template(template.clone())
            .subnet_id(&p.subnet_id)
            .min_count(1)
            .max_count(1)
            .client_token(token)
            .tag_specifications(tag_spec(ResourceType::Instance, &p.tags))
            .tag_specifications(tag_spec(ResourceType::Volume, &p.tags)))
        .await?;
        let id = r
            .instances()
            .first()
            .and_then(|x| x.instance_id())
            .ok_or_else(|| no_id("RunInstances"))?;
        self.ready(id, c.timeout).await
    }
    async fn ready(&self, id: &str, timeout: Duration) -> Result<Live> {
        wait::until(&format!("instance {id} to be running"), timeout, || async {
            Ok(match self.one(id).await? {
                None => Seen::Pending("not visible yet".into()),
                Some(x) => match state(&x) {
                    InstanceStateName::Running => Seen::Ready(live_of(&x)),
                    InstanceStateName::ShuttingDown | InstanceStateName::Terminated => {
                        let why = x.state_reason().and_then(|r| r.message());
                        let why = why.unwrap_or("no reason given");
                        Seen::Failed(format!("it was terminated at launch: {why}"))
                    }
                    other => Seen::Pending(other.as_str().into()),
                },
            })
        })
        .await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        self.0.sync_tags(id, &before.tags, &after.tags).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, timeout: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "TerminateInstances", terminate_instances().instance_ids(id)).await?;
        wait::gone(&format!("instance {id}"), timeout, || async {
            let st = self.one(id).await?.as_ref().map(state);
            Ok(st.is_some_and(|st| st != InstanceStateName::Terminated))
        })
        .await
    }
}
