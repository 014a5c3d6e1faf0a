//! Data source `ec2.ami`: an image by owner and name pattern, the most
//! recent one (or the only one).

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Ec2, filter};
use crate::aws::Clients;
use crate::aws::call::pages;
use crate::aws::data::{DataKind, one_of, text, texts};
use crate::diag::Result;
use crate::kind::{DataSpec, Ty, def, p, req};

static SPEC: DataSpec = DataSpec {
    name: "ec2.ami",
    doc: "An image (AMI) by owner and name pattern: the most recent that matches, or (most_recent: false) the only one.",
    props: &[
        req(p(
            "owners",
            Ty::StrList { set: true },
            "account ids, or amazon, aws-marketplace, self",
        )),
        p(
            "name",
            Ty::Str,
            "name pattern, * and ? as wildcards: al2023-ami-2023.*-x86_64",
        ),
        def(p("architecture", Ty::Str, "x86_64 or arm64"), "\"x86_64\""),
        def(
            p("most_recent", Ty::Bool, "take the newest of several"),
            "true",
        ),
    ],
    attrs: &[
        ("id", "the image id (ami-...)"),
        ("name", "its name"),
        ("creation_date", "when it was made"),
    ],
};

pub(crate) struct Ami(Ec2);

#[async_trait]
impl DataKind for Ami {
    const SPEC: &'static DataSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Ami(c.ec2.clone())
    }
    async fn read(&self, props: &Value) -> Result<Value> {
        let s = &self.0;
        let owners = texts(props, "owners");
        let mut filters = vec![filter("state", &["available".to_string()])];
        if let Some(n) = text(props, "name") {
            filters.push(filter("name", &[n.to_string()]));
        }
        if let Some(a) = text(props, "architecture") {
            filters.push(filter("architecture", &[a.to_string()]));
        }
        let images = pages!(
            s,
            "DescribeImages",
            describe_images()
                .set_owners(Some(owners.clone()))
                .set_filters(Some(filters.clone()))
        )
        .await?;
        let mut found: Vec<(String, String, String)> = images
            .iter()
            .filter_map(|i| {
                Some((
                    i.creation_date().unwrap_or_default().to_string(),
                    i.image_id()?.to_string(),
                    i.name().unwrap_or_default().to_string(),
                ))
            })
            .collect();
        if props.get("most_recent").and_then(Value::as_bool) != Some(false) && !found.is_empty() {
            found.sort();
            found = vec![found.pop().unwrap_or_default()];
        }
        let (date, id, name) = one_of(&SPEC, "image", found)?;
        Ok(json!({"id": id, "name": name, "creation_date": date}))
    }
}
