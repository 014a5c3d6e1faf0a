//! `cloudwatch.alarm`: a metric alarm (a load balancer's 5xx, a database's
//! CPU) that notifies a topic. PutMetricAlarm makes and changes one by its
//! name, so the plan checks the name first (`name_taken`): another's alarm
//! is never overwritten. Its id is its name.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::CloudWatch;
use crate::aws::call::{answers, call};
use crate::aws::tags::{self, Tagging, Tags};
use crate::aws::{Clients, Create, Kind, Query, arn_of, each, live, wanted_names};
use crate::diag::{Error, Result};
use crate::kind::{KindSpec, Prop, TAGS, Tagged, Ty, def, key, new, p, req};
use crate::provider::Live;

const DIMENSIONS: &[Prop] = &[
    key(req(p(
        "name",
        Ty::Str,
        "dimension name (LoadBalancer, DBClusterIdentifier, ...)",
    ))),
    req(p("value", Ty::Str, "its value")),
];

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "arn"],
    // Orphans are looked for in the tagging index, not by listing every
    // alarm of the region.
    tagged: Some(Tagged {
        service: "cloudwatch",
        prefix: "alarm:",
        id_is_arn: false,
    }),
    refresh_cost: "1 DescribeAlarms per 100 alarms, 1 ListTagsForResource per alarm",
    ..KindSpec::new(
        "cloudwatch.alarm",
        "A CloudWatch metric alarm that notifies (an SNS topic's ARN in alarm_actions). \
         Its id is its name.",
        &[
            req(new(p("name", Ty::Str, "alarm name (unique in the region)"))),
            def(
                p(
                    "description",
                    Ty::Str,
                    "what it means, for whoever is paged",
                ),
                "\"\"",
            ),
            req(p("namespace", Ty::Str, "AWS/ApplicationELB, AWS/RDS, ...")),
            req(p("metric_name", Ty::Str, "the metric")),
            def(
                p(
                    "dimensions",
                    Ty::ObjList(DIMENSIONS),
                    "which resource's metric",
                ),
                "[]",
            ),
            def(
                p(
                    "statistic",
                    Ty::Str,
                    "Average, Sum, Minimum, Maximum or SampleCount",
                ),
                "\"Average\"",
            ),
            def(p("period", Ty::Int, "seconds per data point"), "300"),
            def(
                p("evaluation_periods", Ty::Int, "data points compared"),
                "1",
            ),
            req(p("threshold", Ty::Int, "the value compared with")),
            req(p(
                "comparison_operator",
                Ty::Str,
                "GreaterThanThreshold, LessThanThreshold, ...",
            )),
            def(
                p(
                    "treat_missing_data",
                    Ty::Str,
                    "missing, notBreaching, breaching or ignore",
                ),
                "\"missing\"",
            ),
            def(
                p(
                    "alarm_actions",
                    Ty::StrList { set: true },
                    "ARNs notified when it goes to ALARM (a topic)",
                ),
                "[]",
            ),
            TAGS,
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
    description: String,
    namespace: String,
    metric_name: String,
    dimensions: Vec<DimensionProps>,
    statistic: String,
    period: i32,
    evaluation_periods: i32,
    threshold: i64,
    comparison_operator: String,
    treat_missing_data: String,
    alarm_actions: Vec<String>,
    tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DimensionProps {
    name: String,
    value: String,
}

impl Props {
    /// Everything but the tags: what PutMetricAlarm sets.
    fn settings(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.remove("tags");
        }
        v
    }
}

pub(crate) struct Alarm(pub(crate) CloudWatch);

fn props_of(a: &MetricAlarm, tags: Tags) -> Props {
    Props {
        name: a.alarm_name().unwrap_or_default().to_string(),
        description: a.alarm_description().unwrap_or_default().to_string(),
        namespace: a.namespace().unwrap_or_default().to_string(),
        metric_name: a.metric_name().unwrap_or_default().to_string(),
        dimensions: a
            .dimensions()
            .iter()
            .map(|d| DimensionProps {
                name: d.name().unwrap_or_default().to_string(),
                value: d.value().unwrap_or_default().to_string(),
            })
            .collect(),
        statistic: a
            .statistic()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        period: a.period().unwrap_or_default(),
        evaluation_periods: a.evaluation_periods().unwrap_or_default(),
        threshold: a.threshold().unwrap_or_default().round() as i64,
        comparison_operator: a
            .comparison_operator()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        treat_missing_data: a.treat_missing_data().unwrap_or("missing").to_string(),
        alarm_actions: a.alarm_actions().to_vec(),
        tags,
    }
}

impl Alarm {
    /// The alarms of these names that exist (100 names a call), or with
    /// `None` every metric alarm of the region; their tags read a few at a
    /// time.
    async fn named(&self, names: Option<&[String]>) -> Result<Vec<Live>> {
        let s = &self.0;
        let mut found: Vec<MetricAlarm> = Vec::new();
        let chunks: Vec<Option<Vec<String>>> = match names {
            Some(n) => n.chunks(100).map(|c| Some(c.to_vec())).collect(),
            None => vec![None],
        };
        for chunk in chunks {
            // Pages answer metric and composite alarms both: whole pages.
            let pages = answers!(
                s,
                "DescribeAlarms",
                describe_alarms()
                    .set_alarm_names(chunk.clone())
                    .max_records(100)
            )
            .await?;
            found.extend(pages.iter().flat_map(|r| r.metric_alarms()).cloned());
        }
        each(found.into_iter().map(|a| self.with_tags(a))).await
    }

    /// An alarm DescribeAlarms answered, with its tags (a call of its own).
    async fn with_tags(&self, a: MetricAlarm) -> Result<Live> {
        let arn = a.alarm_arn().unwrap_or_default().to_string();
        let p = props_of(&a, self.0.tags(&arn).await?);
        Ok(live(&SPEC, &p.name, &p, &[("arn", json!(arn))]))
    }

    async fn put(
        &self,
        p: &Props,
        tags: Option<Vec<aws_sdk_cloudwatch::types::Tag>>,
    ) -> Result<()> {
        let s = &self.0;
        let dims: Vec<Dimension> = p
            .dimensions
            .iter()
            .map(|d| Dimension::builder().name(&d.name).value(&d.value).build())
            .collect();
        let op = ComparisonOperator::from(p.comparison_operator.as_str());
        let stat = Statistic::from(p.statistic.as_str());
        call!(s, write "PutMetricAlarm", put_metric_alarm()
            .alarm_name(&p.name)
            .alarm_description(&p.description)
            .namespace(&p.namespace)
            .metric_name(&p.metric_name)
            .set_dimensions(Some(dims.clone()))
            .statistic(stat.clone())
            .period(p.period)
            .evaluation_periods(p.evaluation_periods)
            .threshold(p.threshold as f64)
            .comparison_operator(op.clone())
            .treat_missing_data(&p.treat_missing_data)
            .set_alarm_actions(Some(p.alarm_actions.clone()))
            .set_tags(tags.clone()))
        .await
        .map(drop)
    }

    async fn read_back(&self, name: &str) -> Result<Live> {
        self.named(Some(&[name.to_string()]))
            .await?
            .pop()
            .ok_or_else(|| Error::other(format!("alarm {name} is not visible")))
    }
}

#[async_trait]
impl Kind for Alarm {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Alarm(c.cloudwatch.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        match q {
            Query::Ids(ids) => self.named(Some(ids)).await,
            // Alarms are found by the names the stack gives them (with none
            // wanted, all), then taken only if they carry this stack's tags.
            Query::Owned(stack, wanted) => {
                let names = wanted_names(wanted, "name");
                Ok(self
                    .named(names.as_deref())
                    .await?
                    .into_iter()
                    .filter(|l| tags::owns(stack, l))
                    .collect())
            }
            Query::All | Query::Inside(..) => Ok(vec![]),
        }
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        // Safe to repeat: PutMetricAlarm sets the alarm of this name.
        self.put(p, Some(tags::to_sdk(&p.tags))).await?;
        self.read_back(&p.name).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        if before.settings() != after.settings() {
            self.put(after, None).await?;
        }
        if before.tags != after.tags {
            let arn = arn_of(self, id).await?;
            self.0.sync_tags(&arn, &before.tags, &after.tags).await?;
        }
        self.read_back(id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteAlarms", delete_alarms().alarm_names(id))
            .await
            .map(drop)
    }
    /// PutMetricAlarm would overwrite an alarm of this name: another's is
    /// named here, before any write.
    async fn name_taken(&self, p: &Props) -> Result<Option<String>> {
        let Some(l) = self.named(Some(std::slice::from_ref(&p.name))).await?.pop() else {
            return Ok(None);
        };
        let theirs: Tags = serde_json::from_value(l.props["tags"].clone()).unwrap_or_default();
        let what = format!("alarm {}", p.name);
        Ok(Some(tags::held_by(&what, &p.name, &theirs, &p.tags)))
    }
}
