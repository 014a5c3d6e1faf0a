//! Connecting: one `SdkConfig` from the standard chain and environment
//! (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`), a client per service
//! built from it with the call counter installed, and the service's [`Api`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use super::call::{Api, Policy};
use super::errors::chain;
use crate::diag::{Error, Result};

/// Reads CDATA sections in XML answers as the text they hold. CDATA is valid
/// XML that AWS never sends, but the emulator wraps Route 53 record values in
/// it and the SDK's XML reader then sees an empty value (every A, CNAME or TXT
/// record would look drifted). Installed on the Route 53 client only; answers
/// without CDATA pass unchanged.
#[derive(Debug)]
struct CdataAsText(aws_smithy_runtime_api::client::http::SharedHttpConnector);

impl aws_smithy_runtime_api::client::http::HttpConnector for CdataAsText {
    fn call(
        &self,
        request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let answer = self.0.call(request);
        aws_smithy_runtime_api::client::http::HttpConnectorFuture::new(async move {
            let mut r = answer.await?;
            let body = aws_smithy_types::byte_stream::ByteStream::new(r.take_body())
                .collect()
                .await
                .map_err(|e| ConnectorError::io(e.into()))?
                .into_bytes();
            let fixed = uncdata(&body);
            if fixed.len() != body.len() {
                r.headers_mut()
                    .insert("content-length", fixed.len().to_string());
            }
            *r.body_mut() = aws_smithy_types::body::SdkBody::from(fixed);
            Ok(r)
        })
    }
}

/// The text with each `<![CDATA[...]]>` replaced by its content, escaped.
fn uncdata(body: &[u8]) -> Vec<u8> {
    const OPEN: &[u8] = b"<![CDATA[";
    const CLOSE: &[u8] = b"]]>";
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some(i) = find(rest, OPEN) {
        let Some(j) = find(&rest[i + OPEN.len()..], CLOSE) else {
            break;
        };
        out.extend_from_slice(&rest[..i]);
        for &b in &rest[i + OPEN.len()..i + OPEN.len() + j] {
            match b {
                b'&' => out.extend_from_slice(b"&amp;"),
                b'<' => out.extend_from_slice(b"&lt;"),
                b'>' => out.extend_from_slice(b"&gt;"),
                b => out.push(b),
            }
        }
        rest = &rest[i + OPEN.len() + j + CLOSE.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// The SDK's HTTP client, reading CDATA as text (see [`CdataAsText`]).
fn cdata_as_text(
    inner: aws_smithy_runtime_api::client::http::SharedHttpClient,
) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_runtime_api::client::http::{HttpClient, SharedHttpConnector};
    aws_smithy_runtime_api::client::http::http_client_fn(move |settings, components| {
        SharedHttpConnector::new(CdataAsText(inner.http_connector(settings, components)))
    })
}

/// Per (service, operation): calls made and HTTP attempts (retries included).
pub type CallCounts = BTreeMap<(String, String), (u64, u64)>;

/// Counts API calls on every client it is installed on.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<CallCounts>>,
}

impl CallCounter {
    pub fn snapshot(&self) -> CallCounts {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn bump(&self, cfg: &ConfigBag, attempt: bool) {
        if let Some(m) = cfg.load::<Metadata>() {
            let mut c = self.calls.lock().unwrap_or_else(|p| p.into_inner());
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

/// Options for connecting.
#[derive(Debug, Clone, Default)]
pub struct Connect {
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
}

/// A service's client and the policy its calls go through.
#[derive(Debug, Clone)]
pub(crate) struct Svc<C> {
    pub c: C,
    pub api: Api,
}

impl<C> Svc<C> {
    pub(crate) fn new(c: C, api: Api) -> Self {
        Svc { c, api }
    }
}

/// Every service client, ready for the kinds.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    /// Retries of every service's calls, counted.
    pub retries: std::sync::Arc<Mutex<super::call::RetryCounts>>,
    pub region: String,
    pub ec2: Svc<aws_sdk_ec2::Client>,
    pub elbv2: Svc<aws_sdk_elasticloadbalancingv2::Client>,
    pub rds: Svc<aws_sdk_rds::Client>,
    pub elasticache: Svc<aws_sdk_elasticache::Client>,
    pub efs: Svc<aws_sdk_efs::Client>,
    pub s3: Svc<aws_sdk_s3::Client>,
    pub wafv2: Svc<aws_sdk_wafv2::Client>,
    pub shield: Svc<aws_sdk_shield::Client>,
    pub route53: Svc<aws_sdk_route53::Client>,
    pub guardduty: Svc<aws_sdk_guardduty::Client>,
    pub acm: Svc<aws_sdk_acm::Client>,
    /// IAM: global, one per account.
    pub iam: Svc<aws_sdk_iam::Client>,
    pub kms: Svc<aws_sdk_kms::Client>,
    pub backup: Svc<aws_sdk_backup::Client>,
    pub sns: Svc<aws_sdk_sns::Client>,
    pub cloudwatch: Svc<aws_sdk_cloudwatch::Client>,
    /// Parameters, read as data sources.
    pub ssm: Svc<aws_sdk_ssm::Client>,
    /// Who the caller is, read as a data source.
    pub sts: Svc<aws_sdk_sts::Client>,
    /// The Resource Groups Tagging API: which objects carry a stack's tag,
    /// for finding orphans of kinds whose own APIs cannot filter by tag.
    pub tagging: Svc<aws_sdk_resourcegroupstagging::Client>,
}

/// The shared SDK configuration: region (the stack's wins over the
/// environment), endpoint, no SDK retries (the [`Api`] retries), timeouts.
pub(crate) async fn sdk_config(opts: &Connect) -> Result<aws_config::SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = &opts.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(u) = &opts.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    loader = loader.retry_config(RetryConfig::disabled()).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(60))
            .build(),
    );
    let sdk = loader.load().await;
    super::errors::remember_endpoint(&sdk);
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
    Ok(sdk)
}

macro_rules! client {
    ($krate:ident, $sdk:expr, $counter:expr $(, $extra:ident($arg:expr))*) => {
        $krate::Client::from_conf(
            $krate::config::Builder::from($sdk)
                .interceptor($counter.clone())
                $(.$extra($arg))*
                .build(),
        )
    };
}

impl Clients {
    pub(crate) fn new(sdk: &aws_config::SdkConfig, counter: &CallCounter) -> Result<Clients> {
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
            Error::other("no AWS region: set `region:` in the stack or AWS_REGION")
        })?;
        let policy = Policy::from_env();
        let api = |service| Api::metered(policy.clone(), service);
        let retries = policy.retries.clone();
        Ok(Clients {
            retries,
            region,
            ec2: Svc::new(client!(aws_sdk_ec2, sdk, counter), api("ec2")),
            elbv2: Svc::new(
                client!(aws_sdk_elasticloadbalancingv2, sdk, counter),
                api("elasticloadbalancing"),
            ),
            rds: Svc::new(client!(aws_sdk_rds, sdk, counter), api("rds")),
            elasticache: Svc::new(
                client!(aws_sdk_elasticache, sdk, counter),
                api("elasticache"),
            ),
            efs: Svc::new(client!(aws_sdk_efs, sdk, counter), api("elasticfilesystem")),
            s3: Svc::new(
                // A custom endpoint (an emulator) is addressed by path, not bucket.host.
                client!(
                    aws_sdk_s3,
                    sdk,
                    counter,
                    force_path_style(sdk.endpoint_url().is_some())
                ),
                api("s3"),
            ),
            wafv2: Svc::new(client!(aws_sdk_wafv2, sdk, counter), api("wafv2")),
            // Shield Advanced's API lives in us-east-1 whatever the stack's region.
            shield: Svc::new(
                client!(
                    aws_sdk_shield,
                    sdk,
                    counter,
                    region(aws_config::Region::new("us-east-1"))
                ),
                api("shield"),
            ),
            route53: Svc::new(
                client!(
                    aws_sdk_route53,
                    sdk,
                    counter,
                    http_client(cdata_as_text(sdk.http_client().unwrap_or_else(|| {
                        aws_smithy_http_client::Builder::new()
                            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                                aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
                            ))
                            .build_https()
                    })))
                ),
                api("route53"),
            ),
            guardduty: Svc::new(client!(aws_sdk_guardduty, sdk, counter), api("guardduty")),
            acm: Svc::new(client!(aws_sdk_acm, sdk, counter), api("acm")),
            iam: Svc::new(client!(aws_sdk_iam, sdk, counter), api("iam")),
            kms: Svc::new(client!(aws_sdk_kms, sdk, counter), api("kms")),
            backup: Svc::new(client!(aws_sdk_backup, sdk, counter), api("backup")),
            sns: Svc::new(client!(aws_sdk_sns, sdk, counter), api("sns")),
            cloudwatch: Svc::new(client!(aws_sdk_cloudwatch, sdk, counter), api("monitoring")),
            ssm: Svc::new(client!(aws_sdk_ssm, sdk, counter), api("ssm")),
            sts: Svc::new(client!(aws_sdk_sts, sdk, counter), api("sts")),
            tagging: Svc::new(
                client!(aws_sdk_resourcegroupstagging, sdk, counter),
                api("tagging"),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cdata_is_read_as_escaped_text() {
        let xml = b"<V><![CDATA[a<b & c]]></V><W>plain</W><X><![CDATA[]]></X>";
        assert_eq!(
            String::from_utf8(super::uncdata(xml)).unwrap(),
            "<V>a&lt;b &amp; c</V><W>plain</W><X></X>"
        );
        assert_eq!(super::uncdata(b"<![CDATA[open"), b"<![CDATA[open");
    }
}
