//! EC2 compute kinds: launch template and instance.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, InstanceStateName, InstanceType, LaunchTemplateBlockDeviceMappingRequest,
    LaunchTemplateEbsBlockDeviceRequest, LaunchTemplateHttpTokensState,
    LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateSpecification, RequestLaunchTemplateData, ResourceType, VolumeType,
};
use serde_json::{Value, json};

use super::ec2::{PAGE, filter, owner_filter, sync_tags, tag_spec, tags_value};
use super::{Resource, b, err, i, list, live_of, s, wait_for};
use crate::diag::{Error, Result};
use crate::provider::{Live, Wanted};

pub(super) fn register(c: &Client, kinds: &mut HashMap<&'static str, Box<dyn Resource>>) {
    kinds.insert("ec2.launch_template", Box::new(LaunchTemplate(c.clone())));
    kinds.insert("ec2.instance", Box::new(Instance(c.clone())));
}

const ROOT_DEVICE: &str = "/dev/xvda";

// ---------------------------------------------------------------- Launch template

struct LaunchTemplate(Client);

fn template_data(p: &Value) -> RequestLaunchTemplateData {
    let tokens = if b(p, "imdsv2_required") {
        LaunchTemplateHttpTokensState::Required
    } else {
        LaunchTemplateHttpTokensState::Optional
    };
    RequestLaunchTemplateData::builder()
        .set_image_id(s(p, "image_id"))
        .set_instance_type(s(p, "instance_type").map(|t| InstanceType::from(t.as_str())))
        .set_security_group_ids(Some(list(p, "security_group_ids")))
        .set_user_data(s(p, "user_data").map(aws_smithy_types::base64::encode))
        .set_iam_instance_profile(s(p, "iam_instance_profile").map(|n| {
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .name(n)
                .build()
        }))
        .block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name(ROOT_DEVICE)
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .set_volume_size(i(p, "root_volume_size"))
                        .encrypted(b(p, "root_volume_encrypted"))
                        .volume_type(VolumeType::Gp3)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(tokens)
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .build(),
        )
        .build()
}

impl LaunchTemplate {
    async fn describe(
        &self,
        filters: Option<Vec<Filter>>,
        ids: Option<Vec<String>>,
    ) -> Result<Vec<Live>> {
        let items: Vec<_> = self
            .0
            .describe_launch_templates()
            .set_filters(filters)
            .set_launch_template_ids(ids)
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeLaunchTemplates", e))?;
        let mut out = Vec::new();
        for t in items {
            let id = t.launch_template_id().unwrap_or_default().to_string();
            let latest = t.latest_version_number().unwrap_or(1);
            // The template's settings are in its versions: one call per template.
            let v = self
                .0
                .describe_launch_template_versions()
                .launch_template_id(&id)
                .versions(latest.to_string())
                .send()
                .await
                .map_err(|e| err("DescribeLaunchTemplateVersions", e))?;
            let data = v
                .launch_template_versions()
                .first()
                .and_then(|v| v.launch_template_data());
            let root = data.and_then(|d| {
                d.block_device_mappings()
                    .iter()
                    .find(|m| m.device_name() == Some(ROOT_DEVICE))
                    .and_then(|m| m.ebs())
            });
            let user_data = data
                .and_then(|d| d.user_data())
                .and_then(|u| aws_smithy_types::base64::decode(u).ok())
                .map(|u| String::from_utf8_lossy(&u).to_string());
            let raw = json!({
                "name": t.launch_template_name(),
                "image_id": data.and_then(|d| d.image_id()),
                "instance_type": data.and_then(|d| d.instance_type()).map(|x| x.as_str()),
                "security_group_ids": data.map(|d| d.security_group_ids().to_vec()).unwrap_or_default(),
                "user_data": user_data,
                "iam_instance_profile": data.and_then(|d| d.iam_instance_profile()).and_then(|p| p.name()),
                "root_volume_size": root.and_then(|r| r.volume_size()),
                "root_volume_encrypted": root.and_then(|r| r.encrypted()).unwrap_or(false),
                "imdsv2_required": data
                    .and_then(|d| d.metadata_options())
                    .and_then(|m| m.http_tokens())
                    .map(|t| t.as_str() == "required")
                    .unwrap_or(false),
                "tags": tags_value(t.tags()),
            });
            out.push(live_of(
                "ec2.launch_template",
                &id,
                raw,
                &[("latest_version", json!(latest.to_string()))],
            ));
        }
        Ok(out)
    }
}

#[async_trait]
impl Resource for LaunchTemplate {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        super::by_pages(ids, PAGE, |page| async move {
            self.describe(None, Some(page)).await
        })
        .await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        self.describe(Some(vec![owner_filter(stack)]), None).await
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let r = self
            .0
            .create_launch_template()
            .launch_template_name(s(p, "name").unwrap_or_default())
            .launch_template_data(template_data(p))
            .tag_specifications(tag_spec(ResourceType::LaunchTemplate, p))
            .send()
            .await
            .map_err(|e| err("CreateLaunchTemplate", e))?;
        let id = r
            .launch_template()
            .and_then(|t| t.launch_template_id())
            .unwrap_or_default()
            .to_string();
        super::read_one(self, &id).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        let settings_changed = crate::plan::changed_props(before, after)
            .iter()
            .any(|p| p != "tags");
        if settings_changed {
            let v = self
                .0
                .create_launch_template_version()
                .launch_template_id(id)
                .launch_template_data(template_data(after))
                .send()
                .await
                .map_err(|e| err("CreateLaunchTemplateVersion", e))?;
            let n = v
                .launch_template_version()
                .and_then(|v| v.version_number())
                .ok_or_else(|| {
                    Error::other("CreateLaunchTemplateVersion gave no version number")
                })?;
            self.0
                .modify_launch_template()
                .launch_template_id(id)
                .default_version(n.to_string())
                .send()
                .await
                .map_err(|e| err("ModifyLaunchTemplate", e))?;
        }
        sync_tags(&self.0, id, before, after).await?;
        super::read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, _: Duration) -> Result<()> {
        self.0
            .delete_launch_template()
            .launch_template_id(id)
            .send()
            .await
            .map_err(|e| err("DeleteLaunchTemplate", e))?;
        Ok(())
    }
}

// ---------------------------------------------------------------- Instance

struct Instance(Client);

const ALIVE: &[&str] = &["pending", "running", "stopping", "stopped"];

impl Instance {
    async fn describe(&self, mut filters: Vec<Filter>) -> Result<Vec<(Live, InstanceStateName)>> {
        filters.push(filter(
            "instance-state-name",
            &ALIVE.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
        ));
        let reservations: Vec<_> = self
            .0
            .describe_instances()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeInstances", e))?;
        let mut out = Vec::new();
        for r in reservations {
            for x in r.instances() {
                let id = x.instance_id().unwrap_or_default();
                let aws_tag = |k: &str| {
                    x.tags()
                        .iter()
                        .find(|t| t.key() == Some(k))
                        .and_then(|t| t.value())
                        .map(str::to_string)
                };
                let raw = json!({
                    "launch_template_id": aws_tag("aws:ec2launchtemplate:id"),
                    "launch_template_version": aws_tag("aws:ec2launchtemplate:version"),
                    "subnet_id": x.subnet_id(),
                    "tags": tags_value(x.tags()),
                });
                let state = x
                    .state()
                    .and_then(|s| s.name())
                    .cloned()
                    .unwrap_or(InstanceStateName::Pending);
                out.push((
                    live_of(
                        "ec2.instance",
                        id,
                        raw,
                        &[
                            ("private_ip", json!(x.private_ip_address())),
                            (
                                "availability_zone",
                                json!(x.placement().and_then(|p| p.availability_zone())),
                            ),
                        ],
                    ),
                    state,
                ));
            }
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
impl Resource for Instance {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(PAGE) {
            out.extend(
                self.describe(vec![filter("instance-id", chunk)])
                    .await?
                    .into_iter()
                    .map(|x| x.0),
            );
        }
        Ok(out)
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        Ok(self
            .describe(vec![owner_filter(stack)])
            .await?
            .into_iter()
            .map(|x| x.0)
            .collect())
    }
    async fn create(&self, p: &Value, timeout: Duration) -> Result<Live> {
        let r = self
            .0
            .run_instances()
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .set_launch_template_id(s(p, "launch_template_id"))
                    .set_version(s(p, "launch_template_version"))
                    .build(),
            )
            .set_subnet_id(s(p, "subnet_id"))
            .min_count(1)
            .max_count(1)
            // One token per launch: a retried request never starts a second instance.
            .client_token(uuid::Uuid::new_v4().to_string())
            .tag_specifications(tag_spec(ResourceType::Instance, p))
            .tag_specifications(tag_spec(ResourceType::Volume, p))
            .send()
            .await
            .map_err(|e| err("RunInstances", e))?;
        let id = r
            .instances()
            .first()
            .and_then(|x| x.instance_id())
            .unwrap_or_default()
            .to_string();
        wait_for(&format!("instance {id} to be running"), timeout, || async {
            Ok(match self.state_of(&id).await? {
                Some((l, InstanceStateName::Running)) => Some(l),
                _ => None,
            })
        })
        .await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        sync_tags(&self.0, id, before, after).await?;
        super::read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, timeout: Duration) -> Result<()> {
        self.0
            .terminate_instances()
            .instance_ids(id)
            .send()
            .await
            .map_err(|e| err("TerminateInstances", e))?;
        wait_for(&format!("instance {id} to terminate"), timeout, || async {
            Ok(self.state_of(id).await?.is_none().then_some(()))
        })
        .await
    }
}
