//! The AWS implementation of [`Cloud`]. The only module that imports `aws-*`.
//!
//! One [`Resource`] per kind, registered by kind name. Clients are built from
//! one shared `SdkConfig` (standard credential chain and environment:
//! `AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`), with an interceptor that
//! counts API calls per service and operation.

mod compute;
mod ec2;
mod efs;
mod elasticache;
mod elbv2;
mod guardduty;
#[cfg(test)]
mod mock_tests;
mod rds;
pub(crate) mod route53;
mod s3;
pub(crate) mod shield;
pub mod state_s3;
pub(crate) mod waf;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use serde_json::Value;

use crate::diag::{Error, Result};
use crate::provider::{Cloud, Live, Wanted};

/// Per (service, operation): calls made and HTTP attempts (retries included).
pub type CallCounts = BTreeMap<(String, String), (u64, u64)>;

/// Counts API calls on every client it is installed on.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<CallCounts>>,
}

impl CallCounter {
    pub fn snapshot(&self) -> CallCounts {
        self.calls.lock().expect("counter lock").clone()
    }
    fn bump(&self, cfg: &ConfigBag, attempt: bool) {
        if let Some(m) = cfg.load::<Metadata>() {
            let mut c = self.calls.lock().expect("counter lock");
            let e = c
                .entry((m.service().to_string(), m.name().to_string()))
                .or_default();
            if attempt {
                e.1 += 1;
            } else {
                e.0 += 1;
            }
        }
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "provision::CallCounter"
    }
    fn read_before_serialization(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        self.bump(cfg, false);
        Ok(())
    }
    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        self.bump(cfg, true);
        Ok(())
    }
}

/// Turns an SDK error into ours, keeping the AWS error code.
pub(crate) fn err<E, R>(operation: &str, e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let (code, message) = match &e {
        SdkError::ServiceError(se) => (
            se.err().code().unwrap_or("Unknown").to_string(),
            se.err().message().map(str::to_string).unwrap_or_else(|| {
                // No code and no message: an answer the SDK could not read (an
                // emulator's unimplemented operation answers so, with HTTP 500).
                format!("unreadable answer: {}", chain(se.err()))
            }),
        ),
        SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => (
            "DispatchFailure".to_string(),
            format!("cannot reach the AWS endpoint: {}", chain(&e)),
        ),
        SdkError::DispatchFailure(_) => ("DispatchFailure".to_string(), chain(&e)),
        SdkError::TimeoutError(_) => ("Timeout".to_string(), "the call timed out".to_string()),
        SdkError::ConstructionFailure(_) => (
            "ConstructionFailure".to_string(),
            format!(
                "{} (are AWS credentials and a region configured?)",
                chain(&e)
            ),
        ),
        other => ("ResponseError".to_string(), chain(other)),
    };
    Error::Aws {
        address: None,
        operation: operation.to_string(),
        code,
        message,
    }
}

/// The messages of an error and its sources, without Debug dumps.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let m = s.to_string();
        if !parts.iter().any(|p| p.contains(&m)) {
            parts.push(m);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// True for the "does not exist" codes AWS answers after a deletion.
pub(crate) fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Aws { code, .. } if code.contains("NotFound") || code.ends_with(".Malformed"))
}

/// One resource kind's calls to AWS.
#[async_trait]
pub(crate) trait Resource: Send + Sync {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>>;
    async fn find_owned(&self, stack: &str, wanted: &[Wanted]) -> Result<Vec<Live>>;
    async fn create(&self, props: &Value, timeout: Duration) -> Result<Live>;
    async fn update(
        &self,
        id: &str,
        before: &Value,
        after: &Value,
        timeout: Duration,
    ) -> Result<Live>;
    async fn delete(&self, id: &str, props: &Value, timeout: Duration) -> Result<()>;
    async fn delete_blocker(&self, _id: &str, _props: &Value) -> Result<Option<String>> {
        Ok(None)
    }
    async fn create_blocker(&self, _props: &Value) -> Result<Option<String>> {
        Ok(None)
    }
    /// Everything of this kind in the region that no stack owns (for `import --discover`).
    async fn discover(&self) -> Result<Vec<Live>> {
        Ok(vec![])
    }
}

/// Options for connecting.
#[derive(Debug, Clone, Default)]
pub struct Connect {
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
}

pub struct AwsCloud {
    kinds: HashMap<&'static str, Box<dyn Resource>>,
    pub counter: CallCounter,
    pub region: String,
}

impl AwsCloud {
    pub async fn connect(opts: &Connect) -> Result<AwsCloud> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            if let Some(r) = &opts.region {
                loader = loader.region(aws_config::Region::new(r.clone()));
            }
        } else if let Some(r) = &opts.region {
            // The stack names its region: it wins over the environment.
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        if let Some(u) = &opts.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        if std::env::var_os("AWS_MAX_ATTEMPTS").is_none()
            && std::env::var_os("AWS_RETRY_MODE").is_none()
        {
            // Adaptive retries back off on throttling across all calls of a client.
            loader = loader.retry_config(RetryConfig::adaptive().with_max_attempts(5));
        }
        loader = loader.timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        );
        let sdk = loader.load().await;
        // Fail before any call, with one clear message, when there are no credentials.
        if let Some(p) = sdk.credentials_provider() {
            use aws_credential_types::provider::ProvideCredentials;
            p.provide_credentials().await.map_err(|e| Error::Aws {
                address: None,
                operation: "credentials".into(),
                code: "NoCredentials".into(),
                message: format!(
                    "no AWS credentials found ({}); set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                    chain(&e)
                ),
            })?;
        }
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
            Error::other("no AWS region: set `region:` in the stack or AWS_REGION")
        })?;
        let counter = CallCounter::default();
        let ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                .build(),
        );
        let mut kinds: HashMap<&'static str, Box<dyn Resource>> = HashMap::new();
        ec2::register(&ec2, &mut kinds);
        compute::register(&ec2, &mut kinds);
        let elb = aws_sdk_elasticloadbalancingv2::Client::from_conf(
            aws_sdk_elasticloadbalancingv2::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                .build(),
        );
        elbv2::register(&elb, &mut kinds);
        let rds = aws_sdk_rds::Client::from_conf(
            aws_sdk_rds::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                .build(),
        );
        rds::register(&rds, &mut kinds);
        let cache = aws_sdk_elasticache::Client::from_conf(
            aws_sdk_elasticache::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                .build(),
        );
        elasticache::register(&cache, &mut kinds);
        let efs = aws_sdk_efs::Client::from_conf(
            aws_sdk_efs::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                .build(),
        );
        efs::register(&efs, &region, &mut kinds);
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                // A custom endpoint (an emulator) is addressed by path, not bucket.host.
                .force_path_style(sdk.endpoint_url().is_some())
                .build(),
        );
        s3::register(&s3, &region, &mut kinds);
        let waf = aws_sdk_wafv2::Client::from_conf(
            aws_sdk_wafv2::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                .build(),
        );
        waf::register(&waf, &mut kinds);
        // Shield Advanced's API lives in us-east-1 whatever the stack's region.
        let shield = aws_sdk_shield::Client::from_conf(
            aws_sdk_shield::config::Builder::from(&sdk)
                .region(aws_config::Region::new("us-east-1"))
                .interceptor(counter.clone())
                .build(),
        );
        shield::register(&shield, &mut kinds);
        let r53 = aws_sdk_route53::Client::from_conf(
            aws_sdk_route53::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                .build(),
        );
        route53::register(&r53, &mut kinds);
        let gd = aws_sdk_guardduty::Client::from_conf(
            aws_sdk_guardduty::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                .build(),
        );
        guardduty::register(&gd, &mut kinds);
        Ok(AwsCloud {
            kinds,
            counter,
            region,
        })
    }

    /// Resources of every kind that can list itself, without ownership tags.
    pub async fn discover(&self) -> Result<Vec<(String, Live)>> {
        let mut out = Vec::new();
        for k in crate::schema::KINDS {
            if let Some(r) = self.kinds.get(k.name) {
                for l in r.discover().await? {
                    if l.props
                        .get("tags")
                        .and_then(|t| t.get(crate::stack::TAG_STACK))
                        .is_none()
                    {
                        out.push((k.name.to_string(), l));
                    }
                }
            }
        }
        Ok(out)
    }

    fn kind(&self, kind: &str) -> Result<&dyn Resource> {
        self.kinds
            .get(kind)
            .map(|k| k.as_ref())
            .ok_or_else(|| Error::other(format!("kind {kind} has no AWS implementation")))
    }
}

#[async_trait]
impl Cloud for AwsCloud {
    async fn read(&self, kind: &str, ids: &[String]) -> Result<Vec<Live>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        self.kind(kind)?.read(ids).await
    }
    async fn find_owned(&self, kind: &str, stack: &str, wanted: &[Wanted]) -> Result<Vec<Live>> {
        self.kind(kind)?.find_owned(stack, wanted).await
    }
    async fn create(&self, kind: &str, props: &Value, timeout: Duration) -> Result<Live> {
        self.kind(kind)?.create(props, timeout).await
    }
    async fn update(
        &self,
        kind: &str,
        id: &str,
        before: &Value,
        after: &Value,
        timeout: Duration,
    ) -> Result<Live> {
        self.kind(kind)?.update(id, before, after, timeout).await
    }
    async fn delete_blocker(&self, kind: &str, id: &str, props: &Value) -> Result<Option<String>> {
        self.kind(kind)?.delete_blocker(id, props).await
    }
    async fn create_blocker(&self, kind: &str, props: &Value) -> Result<Option<String>> {
        self.kind(kind)?.create_blocker(props).await
    }
    async fn delete(&self, kind: &str, id: &str, props: &Value, timeout: Duration) -> Result<()> {
        match self.kind(kind)?.delete(id, props, timeout).await {
            Err(e) if is_not_found(&e) => Ok(()),
            r => r,
        }
    }
}

/// Polls `check` every `every` until it returns `Some`, or fails after `timeout`.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let start = std::time::Instant::now();
    let mut every = Duration::from_millis(200);
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if start.elapsed() >= timeout {
            return Err(Error::other(format!(
                "timed out after {} waiting for {what}",
                humantime::format_duration(Duration::from_secs(timeout.as_secs()))
            )));
        }
        tokio::time::sleep(every).await;
        every = (every * 2).min(Duration::from_secs(10));
    }
}

/// A string property.
pub(crate) fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

/// A boolean property (false when absent).
pub(crate) fn b(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

/// An integer property.
pub(crate) fn i(v: &Value, k: &str) -> Option<i32> {
    v.get(k).and_then(Value::as_i64).map(|x| x as i32)
}

/// A list-of-strings property.
pub(crate) fn list(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The `tags` property as (key, value) pairs.
pub(crate) fn tag_pairs(props: &Value) -> Vec<(String, String)> {
    props
        .get("tags")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Tags as a property value, without AWS's own `aws:` tags.
pub(crate) fn tags_from<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .filter(|(k, _)| !k.starts_with("aws:"))
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect(),
    )
}

/// What to set and what to remove to go from `before`'s tags to `after`'s.
pub(crate) fn tag_changes(before: &Value, after: &Value) -> (Vec<(String, String)>, Vec<String>) {
    let b: BTreeMap<_, _> = tag_pairs(before).into_iter().collect();
    let a: BTreeMap<_, _> = tag_pairs(after).into_iter().collect();
    let set = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let removed = b.keys().filter(|k| !a.contains_key(*k)).cloned().collect();
    (set, removed)
}

/// True when the owner tag of `stack` is among these tags.
pub(crate) fn owned_by(tags: &Value, stack: &str) -> bool {
    tags.get(crate::stack::TAG_STACK).and_then(Value::as_str) == Some(stack)
}

/// A Live from raw properties (brought to canonical form) and outputs.
pub(crate) fn live_of(kind: &str, id: &str, raw: Value, outputs: &[(&str, Value)]) -> Live {
    let mut o = serde_json::Map::new();
    o.insert("id".into(), Value::String(id.to_string()));
    for (k, v) in outputs {
        if !v.is_null() {
            o.insert(k.to_string(), v.clone());
        }
    }
    Live {
        id: id.to_string(),
        props: crate::schema::canonical(crate::schema::kind(kind).expect("known kind"), &raw),
        outputs: o,
        unobserved: vec![],
        claimed_by: None,
    }
}

pub(crate) fn gone(id: &str) -> Error {
    Error::other(format!("{id} vanished right after it was changed"))
}

/// Reads ids a page at a time with `f`. APIs that take a list of ids fail the
/// whole call when one of them is gone: such a page is read id by id.
pub(crate) async fn by_pages<F, Fut>(ids: &[String], page: usize, f: F) -> Result<Vec<Live>>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Live>>>,
{
    let mut out = Vec::new();
    for chunk in ids.chunks(page) {
        match f(chunk.to_vec()).await {
            Ok(found) => out.extend(found),
            Err(e) if is_not_found(&e) => {
                for id in chunk {
                    match f(vec![id.clone()]).await {
                        Ok(found) => out.extend(found),
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Reads one object that must exist (right after creating or changing it).
pub(crate) async fn read_one(r: &(impl Resource + ?Sized), id: &str) -> Result<Live> {
    r.read(&[id.to_string()])
        .await?
        .pop()
        .ok_or_else(|| gone(id))
}
