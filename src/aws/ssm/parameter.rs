//! Data source `ssm.parameter`: a parameter's value, such as
//! `/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64`,
//! the current Amazon Linux image (how AWS recommends finding it).

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::aws::call::call;
use crate::aws::data::{DataKind, text};
use crate::aws::{Clients, Svc};
use crate::diag::{Error, Result};
use crate::kind::{DataSpec, Ty, p, req};

static SPEC: DataSpec = DataSpec {
    name: "ssm.parameter",
    doc: "A Systems Manager parameter's value. SecureString parameters are refused: secrets never enter plans or state.",
    props: &[req(p("name", Ty::Str, "the parameter's name (a path)"))],
    attrs: &[
        ("value", "its value"),
        ("version", "its version"),
        ("type", "String or StringList"),
    ],
};

pub(crate) struct Parameter(Svc<aws_sdk_ssm::Client>);

#[async_trait]
impl DataKind for Parameter {
    const SPEC: &'static DataSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Parameter(c.ssm.clone())
    }
    async fn read(&self, props: &Value) -> Result<Value> {
        let s = &self.0;
        let name = text(props, "name").unwrap_or_default().to_string();
        let r = call!(s, read "GetParameter", get_parameter().name(&name)).await?;
        let p = r
            .parameter()
            .ok_or_else(|| Error::other(format!("{} found no parameter {name}", SPEC.name)))?;
        let ty = p
            .r#type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default();
        if ty == "SecureString" {
            return Err(Error::other(format!(
                "{name} is a SecureString: provision does not read secrets into plans or state"
            )));
        }
        Ok(json!({"value": p.value(), "version": p.version(), "type": ty}))
    }
}
