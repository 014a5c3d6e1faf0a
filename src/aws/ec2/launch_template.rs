//! `ec2.launch_template`: a launch template. Every change of its settings
//! makes a new version and sets it as the default.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, InstanceType, LaunchTemplate as Template, LaunchTemplateBlockDeviceMappingRequest,
    LaunchTemplateEbsBlockDeviceRequest, LaunchTemplateHttpTokensState,
    LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    RequestLaunchTemplateData, ResourceType, ResponseLaunchTemplateData, VolumeType,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{By, Ec2, query, tag_spec};
use crate::aws::call::{call, pages};
use crate::aws::tags::{Tagging, Tags, from_sdk};
use crate::aws::{Clients, Create, Kind, Query, by_pages, each, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{Guard, KindSpec, SECURITY_GROUPS, TAGS, Ty, def, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    guards: &[Guard {
        name: "imdsv2-required",
        check: |p, _| {
            (p["imdsv2_required"] != true)
                .then(|| "instances may use IMDSv1 (set imdsv2_required: true)".into())
        },
    }],
    owned_by_filter: true,
    coexist: true,
    unique: Some(("name", 128)),
    outputs: &["id", "latest_version"],
    volatile: &["latest_version"],
    refresh_cost: "1 DescribeLaunchTemplates per 200 ids + 1 DescribeLaunchTemplateVersions per template",
    ..KindSpec::new(
        "ec2.launch_template",
        "A launch template; every change makes a new version and sets it as default.",
        &[
            req(new(p("name", Ty::Str, "template name"))),
            req(p("image_id", Ty::Str, "the AMI")),
            req(p("instance_type", Ty::Str, "for example t3.medium")),
            SECURITY_GROUPS,
            p(
                "user_data",
                Ty::Str,
                "user data script (plain text; provision encodes it)",
            ),
            p("iam_instance_profile", Ty::Str, "instance profile name"),
            def(p("root_volume_size", Ty::Int, "root volume GiB"), "20"),
            def(
                p("root_volume_encrypted", Ty::Bool, "encrypt the root volume"),
                "true",
            ),
            def(
                p("imdsv2_required", Ty::Bool, "require IMDSv2 tokens"),
                "true",
            ),
            TAGS,
        ],
    )
};

/// How EC2 filters find its objects.
const BY: By = By {
    id: "launch-template-id",
    vpc: None,
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
    image_id: String,
    instance_type: String,
    security_group_ids: Vec<String>,
    user_data: Option<String>,
    iam_instance_profile: Option<String>,
    /// Absent when AWS reports no root volume: the default applies.
    root_volume_size: Option<i32>,
    root_volume_encrypted: bool,
    imdsv2_required: bool,
    tags: Tags,
}

impl Props {
    /// The settings, all but the name and tags, which are not versioned.
    fn settings(&self) -> serde_json::Value {
        let mut v = json!(self);
        if let Some(o) = v.as_object_mut() {
            o.remove("name");
            o.remove("tags");
        }
        v
    }
}

const ROOT_DEVICE: &str = "/dev/xvda";

fn template_data(p: &Props) -> RequestLaunchTemplateData {
    let tokens = if p.imdsv2_required {
        LaunchTemplateHttpTokensState::Required
    } else {
        LaunchTemplateHttpTokensState::Optional
    };
    RequestLaunchTemplateData::builder()
        .image_id(&p.image_id)
        .instance_type(InstanceType::from(p.instance_type.as_str()))
        .set_security_group_ids(Some(p.security_group_ids.clone()))
        .set_user_data(p.user_data.as_ref().map(aws_smithy_types::base64::encode))
        .set_iam_instance_profile(p.iam_instance_profile.as_ref().map(|n| {
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .name(n)
                .build()
        }))
        .block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name(ROOT_DEVICE)
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .set_volume_size(p.root_volume_size)
                        .encrypted(p.root_volume_encrypted)
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

fn props_of(t: &Template, data: Option<&ResponseLaunchTemplateData>) -> Props {
    let root = data.and_then(|d| {
        d.block_device_mappings()
            .iter()
            .find(|m| m.device_name() == Some(ROOT_DEVICE))
            .and_then(|m| m.ebs())
    });
    Props {
        name: t.launch_template_name().unwrap_or_default().into(),
        image_id: data.and_then(|d| d.image_id()).unwrap_or_default().into(),
        instance_type: data
            .and_then(|d| d.instance_type())
            .map(|x| x.as_str())
            .unwrap_or_default()
            .into(),
        security_group_ids: data
            .map(|d| d.security_group_ids().to_vec())
            .unwrap_or_default(),
        user_data: data
            .and_then(|d| d.user_data())
            .and_then(|u| aws_smithy_types::base64::decode(u).ok())
            .map(|u| String::from_utf8_lossy(&u).to_string()),
        iam_instance_profile: data
            .and_then(|d| d.iam_instance_profile())
            .and_then(|p| p.name())
            .map(str::to_string),
        root_volume_size: root.and_then(|r| r.volume_size()),
        root_volume_encrypted: root.and_then(|r| r.encrypted()).unwrap_or(false),
        imdsv2_required: data
            .and_then(|d| d.metadata_options())
            .and_then(|m| m.http_tokens())
            .is_some_and(|t| t.as_str() == "required"),
        tags: from_sdk(t.tags()),
    }
}

pub(crate) struct LaunchTemplate(Ec2);

impl LaunchTemplate {
    async fn list(
        &self,
        filters: Option<Vec<Filter>>,
        ids: Option<Vec<String>>,
    ) -> Result<Vec<Live>> {
        let s = &self.0;
        let items = pages!(
            s,
            "DescribeLaunchTemplates",
            describe_launch_templates()
                .set_filters(filters.clone())
                .set_launch_template_ids(ids.clone())
        )
        .await?;
        // The template's settings are in its versions: one call per
        // template, all at once.
        let full = items.iter().map(|t| async move {
            let id = t.launch_template_id().unwrap_or_default();
            let latest = t.latest_version_number().unwrap_or(1).to_string();
            let v =
                call!(s, detail "DescribeLaunchTemplateVersions", describe_launch_template_versions()
                .launch_template_id(id)
                .versions(&latest))
                .await?;
            let data = v
                .launch_template_versions()
                .first()
                .and_then(|v| v.launch_template_data());
            let outputs = [("latest_version", json!(latest))];
            Ok(live(&SPEC, id, &props_of(t, data), &outputs))
        });
        each(full.collect::<Vec<_>>()).await
    }
}

#[async_trait]
impl Kind for LaunchTemplate {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        LaunchTemplate(c.ec2.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        match q {
            // By ids: a filter of template ids exists, but the ids parameter is what AWS documents.
            Query::Ids(ids) => by_pages(ids, 200, |page| self.list(None, Some(page))).await,
            Query::All | Query::Inside(..) => Ok(vec![]),
            q => query(q, BY, |f| self.list(Some(f), None)).await,
        }
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let token = c.token;
        let tags = tag_spec(ResourceType::LaunchTemplate, &p.tags);
        let r = call!(s, write "CreateLaunchTemplate", create_launch_template()
            .launch_template_name(&p.name)
            .launch_template_data(template_data(p))
            .client_token(token)
            .tag_specifications(tags.clone()))
        .await?;
        let id = r
            .launch_template()
            .and_then(|t| t.launch_template_id())
            .ok_or_else(|| no_id("CreateLaunchTemplate"))?;
        read_one(self, id).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        if before.settings() != after.settings() {
            let token = uuid::Uuid::new_v4().to_string();
            let v = call!(s, write "CreateLaunchTemplateVersion", create_launch_template_version()
                .launch_template_id(id)
                .launch_template_data(template_data(after))
                .client_token(&token))
            .await?;
            let n = v
                .launch_template_version()
                .and_then(|v| v.version_number())
                .ok_or_else(|| no_id("CreateLaunchTemplateVersion"))?
                .to_string();
            call!(s, write "ModifyLaunchTemplate", modify_launch_template()
                .launch_template_id(id)
                .default_version(&n))
            .await?;
        }
        s.sync_tags(id, &before.tags, &after.tags).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteLaunchTemplate", delete_launch_template().launch_template_id(id))
            .await
            .map(drop)
    }
}
