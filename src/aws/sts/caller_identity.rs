//! Data source `sts.caller_identity`: the account and identity provision
//! runs as.

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::aws::call::call;
use crate::aws::data::DataKind;
use crate::aws::{Clients, Svc};
use crate::diag::Result;
use crate::kind::DataSpec;

static SPEC: DataSpec = DataSpec {
    name: "sts.caller_identity",
    doc: "The account, ARN and user id of the credentials provision runs with.",
    props: &[],
    attrs: &[
        ("account_id", "the 12-digit account id"),
        ("arn", "the caller's ARN"),
        ("user_id", "the caller's unique id"),
    ],
};

pub(crate) struct CallerIdentity(Svc<aws_sdk_sts::Client>);

#[async_trait]
impl DataKind for CallerIdentity {
    const SPEC: &'static DataSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        CallerIdentity(c.sts.clone())
    }
    async fn read(&self, _: &Value) -> Result<Value> {
        let s = &self.0;
        let r = call!(s, read "GetCallerIdentity", get_caller_identity()).await?;
        Ok(json!({"account_id": r.account(), "arn": r.arn(), "user_id": r.user_id()}))
    }
}
