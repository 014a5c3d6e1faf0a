//! The wire: what an AWS request is (service, operation, parameters) and how
//! AWS answers an error, per protocol; forwarding to the emulator.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub type Body = Full<Bytes>;

/// One request as the layer sees it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    /// The signing name: ec2, elasticloadbalancing, rds, elasticache,
    /// elasticfilesystem, wafv2, shield, route53, guardduty, s3, ...
    pub service: String,
    /// The operation, as AWS names it (DeleteSecurityGroup, GetChange, ...).
    pub action: String,
    /// Query parameters, or a JSON body's top-level scalars, or path ids.
    pub params: Vec<(String, String)>,
}

impl Req {
    pub async fn read(req: Request<Incoming>) -> Result<Req, hyper::Error> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await?.to_bytes();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "/".into());
        let service = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').nth(3))
            .unwrap_or("")
            .to_string();
        let mut r = Req {
            method: parts.method,
            path,
            headers: parts.headers,
            body,
            service,
            action: String::new(),
            params: vec![],
        };
        r.action = r.find_action();
        r.params = r.find_params();
        Ok(r)
    }

    fn find_action(&self) -> String {
        if let Some(t) = self
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
        {
            return t.rsplit('.').next().unwrap_or(t).to_string();
        }
        if let Some((_, a)) = form(&self.body).into_iter().find(|(k, _)| k == "Action") {
            return a;
        }
        if self.service == "s3" {
            return s3_action(&self.method, &self.path);
        }
        rest_action(&self.method, &self.path)
    }

    fn find_params(&self) -> Vec<(String, String)> {
        let mut out = form(&self.body);
        if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&self.body) {
            for (k, v) in o {
                match v {
                    Value::String(s) => out.push((k, s)),
                    Value::Array(a) => out.extend(
                        a.into_iter()
                            .filter_map(|x| Some((k.clone(), x.as_str()?.to_string()))),
                    ),
                    _ => {}
                }
            }
        }
        if let Some(q) = self.path.split_once('?').map(|x| x.1) {
            out.extend(form(&Bytes::copy_from_slice(q.as_bytes())));
        }
        // The last path segment of a REST operation on one object is its id;
        // the others may name objects too (`/hostedzone/ID/rrset`, a bucket).
        let bare = self.path.split('?').next().unwrap_or("");
        let mut segs: Vec<&str> = bare.trim_matches('/').split('/').collect();
        if let Some(last) = segs.pop() {
            out.push(("PathId".into(), last.to_string()));
        }
        out.extend(
            segs.into_iter()
                .filter(|s| !s.is_empty())
                .map(|s| ("PathSegment".to_string(), s.to_string())),
        );
        out
    }

    /// The first value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of parameters whose name is `name` or starts with `name.`.
    pub fn params_named(&self, name: &str) -> Vec<&str> {
        let dotted = format!("{name}.");
        self.params
            .iter()
            .filter(|(k, _)| k == name || k.starts_with(&dotted))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn is_read(&self) -> bool {
        self.method == Method::GET
            || ["Describe", "List", "Get"]
                .iter()
                .any(|p| self.action.starts_with(p))
    }
}

fn form(body: &Bytes) -> Vec<(String, String)> {
    if body.first() == Some(&b'{') || body.first() == Some(&b'<') {
        return vec![];
    }
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The operations of REST services the layer needs to know.
/// S3's object calls, path-style (`/BUCKET/KEY`); a bucket's own calls are
/// named by their sub-resource (`GET /BUCKET?versions`).
fn s3_action(m: &Method, path: &str) -> String {
    let (bare, query) = path.split_once('?').unwrap_or((path, ""));
    // The SDK names most object calls itself: `?x-id=PutObject`.
    if let Some(id) = query.split('&').find_map(|q| q.strip_prefix("x-id=")) {
        return id.to_string();
    }
    let object = bare.trim_matches('/').contains('/');
    let sub = query
        .split('&')
        .next()
        .unwrap_or("")
        .split('=')
        .next()
        .unwrap_or("");
    let name = match (m.as_str(), object, sub) {
        ("PUT", true, "") => "PutObject",
        ("GET", true, "") => "GetObject",
        ("HEAD", true, "") => "HeadObject",
        ("DELETE", true, "") => "DeleteObject",
        ("GET", false, "versions") => "ListObjectVersions",
        ("GET", false, "list-type") => "ListObjectsV2",
        ("POST", false, "delete") => "DeleteObjects",
        ("PUT", false, "") => "CreateBucket",
        ("DELETE", false, "") => "DeleteBucket",
        (m, _, _) => return format!("{m} {bare}?{sub}"),
    };
    name.to_string()
}

fn rest_action(m: &Method, path: &str) -> String {
    let bare = path.split('?').next().unwrap_or("");
    let segs: Vec<&str> = bare.trim_matches('/').split('/').collect();
    let name = match (m.as_str(), segs.as_slice()) {
        ("POST", ["2015-02-01", "file-systems"]) => "CreateFileSystem",
        ("GET", ["2015-02-01", "file-systems", ..]) => "DescribeFileSystems",
        ("DELETE", ["2015-02-01", "file-systems", _]) => "DeleteFileSystem",
        ("POST", ["2015-02-01", "mount-targets"]) => "CreateMountTarget",
        ("GET", ["2015-02-01", "mount-targets", _, "security-groups"]) => {
            "DescribeMountTargetSecurityGroups"
        }
        ("GET", ["2015-02-01", "mount-targets", ..]) => "DescribeMountTargets",
        ("DELETE", ["2015-02-01", "mount-targets", _]) => "DeleteMountTarget",
        ("GET", ["2013-04-01", "change", _]) => "GetChange",
        ("GET", ["backup-vaults", _]) => "DescribeBackupVault",
        ("DELETE", ["backup-vaults", _]) => "DeleteBackupVault",
        ("POST", ["2013-04-01", "hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("POST", ["2013-04-01", "hostedzone"]) => "CreateHostedZone",
        ("POST", ["2013-04-01", "healthcheck"]) => "CreateHealthCheck",
        ("POST", ["2013-04-01", "tags", _]) => "ListTagsForResources",
        ("POST", ["2013-04-01", "tags", _, _]) => "ChangeTagsForResource",
        (m, _) => return format!("{m} {bare}"),
    };
    name.to_string()
}

/// How a service answers an error.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Protocol {
    Ec2,
    Query,
    Json,
    RestJson,
    RestXml,
}

fn protocol(service: &str) -> Protocol {
    match service {
        "ec2" => Protocol::Ec2,
        "elasticloadbalancing" | "rds" | "elasticache" => Protocol::Query,
        "wafv2" | "shield" | "acm" | "kms" => Protocol::Json,
        "elasticfilesystem" | "guardduty" | "backup" => Protocol::RestJson,
        _ => Protocol::RestXml,
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An error answered as the service would answer it.
pub fn error(service: &str, status: u16, code: &str, message: &str) -> Response<Body> {
    let msg = xml_escape(message);
    let (body, kind) = match protocol(service) {
        // S3's own envelope: no ErrorResponse around the Error.
        Protocol::RestXml if service == "s3" => (
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{msg}</Message>\
                 <RequestId>strict-layer</RequestId></Error>"
            ),
            "application/xml",
        ),
        Protocol::Ec2 => (
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
                 <Message>{msg}</Message></Error></Errors><RequestID>strict-layer</RequestID></Response>"
            ),
            "text/xml",
        ),
        Protocol::Query | Protocol::RestXml => (
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{msg}</Message>\
                 </Error><RequestId>strict-layer</RequestId></ErrorResponse>"
            ),
            "text/xml",
        ),
        Protocol::Json | Protocol::RestJson => (
            serde_json::json!({"__type": code, "message": message}).to_string(),
            "application/x-amz-json-1.1",
        ),
    };
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
        .header("content-type", kind)
        .header("x-amzn-errortype", code)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// The service's throttling answer.
pub fn throttled(service: &str) -> Response<Body> {
    match protocol(service) {
        Protocol::Ec2 => error(
            service,
            503,
            "RequestLimitExceeded",
            "Request limit exceeded.",
        ),
        Protocol::Json | Protocol::RestJson => {
            error(service, 400, "ThrottlingException", "Rate exceeded")
        }
        _ if service == "s3" => error(service, 503, "SlowDown", "Please reduce your request rate."),
        _ => error(service, 400, "Throttling", "Rate exceeded"),
    }
}

/// The emulator's answer to a request, body read whole.
pub struct Answer {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    pub fn into_response(self) -> Response<Body> {
        let mut b = Response::builder().status(self.status);
        for (k, v) in self.headers.iter().filter(|(k, _)| *k != CONTENT_LENGTH) {
            b = b.header(k, v);
        }
        b.body(Full::new(self.body)).unwrap()
    }
}

pub type Http = Client<HttpConnector, Body>;

pub fn client() -> Http {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends the request to the emulator as it came.
pub async fn forward(http: &Http, upstream: &str, r: &Req) -> Result<Answer, String> {
    let mut b = Request::builder()
        .method(r.method.clone())
        .uri(format!("{upstream}{}", r.path));
    for (k, v) in r
        .headers
        .iter()
        .filter(|(k, _)| *k != HOST && *k != CONTENT_LENGTH)
    {
        b = b.header(k, v);
    }
    let req = b
        .body(Full::new(r.body.clone()))
        .map_err(|e| e.to_string())?;
    let resp = http.request(req).await.map_err(|e| e.to_string())?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}
