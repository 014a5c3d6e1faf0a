//! `wafv2.web_acl_association`: puts a web ACL in front of a load balancer.
//! Its id is the protected resource's ARN.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Waf, is_code};
use crate::aws::call::call;
use crate::aws::{Clients, Create, Kind, Query, live, read_one};
use crate::diag::Result;
use crate::kind::{KindSpec, Takes, Ty, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    refresh_cost: "1 GetWebACLForResource per association",
    // Associations wait for the web ACL to reach the load balancer.
    takes: Takes::secs(30, 30, 30),
    ..KindSpec::new(
        "wafv2.web_acl_association",
        "Puts a web ACL in front of a load balancer.",
        &[
            req(new(p("web_acl_arn", Ty::Str, "the web ACL"))),
            req(new(p("resource_arn", Ty::Str, "the load balancer"))),
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    web_acl_arn: String,
    resource_arn: String,
}

pub(crate) struct WebAclAssociation(Waf);

#[async_trait]
impl Kind for WebAclAssociation {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        WebAclAssociation(c.wafv2.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        // Associations have no tags (associating again is harmless): by id only,
        // the protected resource's ARN.
        let Query::Ids(ids) = q else {
            return Ok(vec![]);
        };
        let s = &self.0;
        let mut out = Vec::new();
        for resource in ids {
            let r = match call!(s, read "GetWebACLForResource", get_web_acl_for_resource().resource_arn(resource)).await {
                Err(e) if is_code(&e, "WAFNonexistentItemException") => continue,
                r => r?,
            };
            if let Some(acl) = r.web_acl() {
                let p = Props {
                    web_acl_arn: acl.arn().into(),
                    resource_arn: resource.clone(),
                };
                out.push(live(&SPEC, resource, &p, &[]));
            }
        }
        Ok(out)
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        call!(s, write "AssociateWebACL", associate_web_acl()
            .web_acl_arn(&p.web_acl_arn)
            .resource_arn(&p.resource_arn))
        .await?;
        read_one(self, &p.resource_arn).await
    }
    async fn update(&self, id: &str, _: &Props, _: &Props, _: Duration) -> Result<Live> {
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DisassociateWebACL", disassociate_web_acl().resource_arn(id)).await?;
        Ok(())
    }
}
