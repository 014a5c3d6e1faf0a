//! The strict layer: a proxy between provision and the emulator that answers
//! as AWS documents where moto is lenient. Each behaviour is switched on per
//! test (`Strict`); what it did is counted (`Proxy::count`).
//!
//! - In use: deletes AWS refuses while something uses the object
//!   (`DependencyViolation` and each service's own code), and network
//!   interfaces that linger after a NAT gateway, load balancer or instance
//!   is gone.
//! - Life cycles: objects pending for some reads after their create,
//!   deleting for some reads after their delete, failing on demand; Route 53
//!   changes PENDING before INSYNC.
//! - Eventual consistency: calls naming an id created moments ago are
//!   answered NotFound (each service's code: EC2, ELB, RDS, ElastiCache,
//!   EFS); with `lag`, for that long a new object is also missing from
//!   filtered and listing reads, and other services refuse calls naming a new
//!   subnet or group (`lag_elsewhere`: they may learn of it later still).
//!   IAM's: EC2 refuses to launch with an instance profile made (or given
//!   its role) moments ago (`iam_lag`).
//! - In use: also a VPC with a gateway attached, subnets, groups or route
//!   tables left; a group used by a DB instance or a cache cluster; a
//!   backup vault holding recovery points (`Proxy::hold_recovery_points`:
//!   moto makes none), which DescribeBackupVault counts.
//! - Key states: KMS refuses every change to a key pending deletion but
//!   its cancel (`key_states`: moto carries them out).
//! - Throttling: token buckets per service, reads and writes apart, scaled
//!   down so that a test meets them.
//! - Latency: a delay on every call, as a far region would add.
//! - Lost answers: a call carried out whose answer never arrives (500, 503,
//!   or the connection closed), for named operations, the n-th call of one
//!   (`lose_nth`: S3 state's conditional writes), or a random share. S3's
//!   errors (throttling's `SlowDown` included) come in S3's own envelope.
//! - Idempotent creates: a token used again with other parameters is
//!   refused (`IdempotentParameterMismatch`); a repeated EC2 `ClientToken`
//!   (ACM's `IdempotencyToken`, GuardDuty's `clientToken`), or a repeated
//!   CreateLoadBalancer, CreateTargetGroup or CreateListener with the same
//!   name (port), gets the first answer again, as AWS gives it (moto makes a
//!   second object or answers "duplicate").

pub mod life;
pub mod rules;
pub mod wire;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use life::{LIVES, Life};
use rules::{Moto, Seen};

/// How a lingering network interface is named among an object's users.
const LINGERING: &str = "network interface still attached to";

/// The buckets a call spends as AWS publishes them, (burst, refill a
/// second), each with the key of the calls that share it. EC2 meters every
/// action apart: non-mutating actions 100 and 20 a second, mutating ones
/// 200 and 5, and RunInstances and TerminateInstances spend resource
/// buckets too (1,000 instances, then 2 and 20 a second); Route 53 takes 5
/// requests a second for the whole account; Elastic Load Balancing's
/// Describe* share 40 and 10 a second; S3 takes 3,500 writes and 5,500
/// reads a second for each prefix (SlowDown beyond). Other services are not
/// metered here. docs/rate-limits.md names each figure's page.
fn published(r: &Req) -> Vec<(String, (f64, f64))> {
    let read = r.is_read();
    match r.service.as_str() {
        "ec2" => {
            let mut out = vec![(
                format!("ec2 {}", r.action),
                if read { (100.0, 20.0) } else { (200.0, 5.0) },
            )];
            match r.action.as_str() {
                "RunInstances" => out.push(("ec2 launched".into(), (1000.0, 2.0))),
                "TerminateInstances" => out.push(("ec2 terminated".into(), (1000.0, 20.0))),
                _ => {}
            }
            out
        }
        "route53" => vec![("route53".into(), (5.0, 5.0))],
        "elasticloadbalancing" if read => vec![("elb describe".into(), (40.0, 10.0))],
        "s3" => {
            let bare = r.path.split('?').next().unwrap_or("");
            let prefix = bare.rsplit_once('/').map_or(bare, |(p, _)| p);
            if read {
                vec![(format!("s3 reads {prefix}"), (5500.0, 5500.0))]
            } else {
                vec![(format!("s3 writes {prefix}"), (3500.0, 3500.0))]
            }
        }
        _ => vec![],
    }
}
use wire::{Body, Req};

/// Token bucket sizes: a burst, then a refill per second.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    pub reads: (f64, f64),
    pub writes: (f64, f64),
}

/// Which AWS behaviours the layer plays.
#[derive(Debug, Clone, Default)]
pub struct Strict {
    pub in_use: bool,
    /// How long a deleted NAT gateway's, load balancer's or instance's
    /// network interfaces keep their subnet and groups in use.
    pub linger: Duration,
    /// Reads that show a new object pending (creating, provisioning).
    pub pending_reads: u32,
    /// When above zero, a new object stays pending for AWS's typical time
    /// (`Life::typical`; a Route 53 change 60 s) times this, whatever reads
    /// it meets, instead of for `pending_reads` reads: applies then take the
    /// time AWS would, scaled down.
    pub pending_scale: f64,
    /// Reads that show a deleted object still deleting.
    pub deleting_reads: u32,
    /// Calls naming a new id that are answered NotFound, within
    /// `invisible_for` of its create.
    pub invisible_calls: u32,
    pub invisible_for: Duration,
    /// AWS's eventual consistency as a time: for this long after its create,
    /// a new object is missing from every read that filters or lists (the
    /// engine reads EC2 by filters), and every call naming it, in its own
    /// service or another (a load balancer, subnet group or mount target
    /// naming a new subnet or group), is answered NotFound (each service's
    /// own code).
    pub lag: Duration,
    /// How long other services take to see a new subnet or group, when
    /// longer than `lag` (AWS's services learn of each other's objects later
    /// than the owning service shows them).
    pub lag_elsewhere: Duration,
    /// Kinds (`life::LIVES` names) whose next create fails (NAT `failed`,
    /// instance terminated at launch, EFS `error`, ...).
    pub fail: Vec<&'static str>,
    pub throttle: Option<Throttle>,
    /// AWS's buckets as each service publishes them (`published`), in
    /// place of `throttle`'s pooled ones.
    pub published: bool,
    pub latency: Duration,
    /// Operations whose first call is carried out and its answer lost.
    pub lose: Vec<&'static str>,
    /// (operation, n): the n-th call (1-based) of the operation is carried
    /// out and its answer lost (a retry is a call of its own).
    pub lose_nth: Vec<(&'static str, u32)>,
    /// The share of every other change (not reads) whose answer is lost.
    pub lose_share: f64,
    pub seed: u64,
    /// IAM is eventually consistent: for this long after an instance
    /// profile is made (or given its role), EC2 refuses to launch with it
    /// (RunInstances naming a launch template that names the profile:
    /// InvalidParameterValue, "Invalid IAM Instance Profile name").
    pub iam_lag: Duration,
    /// KMS refuses a key pending deletion every change but the cancel of
    /// its deletion (KMSInvalidStateException), as AWS's key state table
    /// says: enabling, disabling, rotation, description, tags, aliases; and
    /// the cancel of a key not pending deletion.
    pub key_states: bool,
}

impl Strict {
    /// Every behaviour on, scaled down so that tests meet each one quickly.
    pub fn all() -> Strict {
        Strict {
            in_use: true,
            linger: Duration::from_secs(2),
            pending_reads: 2,
            pending_scale: 0.0,
            deleting_reads: 2,
            invisible_calls: 1,
            invisible_for: Duration::from_secs(5),
            fail: vec![],
            throttle: Some(Throttle {
                reads: (40.0, 40.0),
                writes: (20.0, 15.0),
            }),
            published: false,
            latency: Duration::ZERO,
            lose: vec![],
            lose_nth: vec![],
            lose_share: 0.0,
            lag: Duration::ZERO,
            lag_elsewhere: Duration::ZERO,
            seed: 1,
            iam_lag: Duration::from_secs(3),
            key_states: true,
        }
    }
}

/// What makes a repeat of a create the same create, for AWS: an EC2 client
/// token, or (ELBv2) the name of a load balancer or target group, the load
/// balancer and port of a listener.
fn idempotency_key(r: &Req) -> Option<String> {
    match r.action.as_str() {
        "CreateLoadBalancer" | "CreateTargetGroup" => Some(format!("name:{}", r.param("Name")?)),
        "CreateListener" => Some(format!(
            "listener:{}:{}",
            r.param("LoadBalancerArn")?,
            r.param("Port")?
        )),
        // EC2's ClientToken; ACM's IdempotencyToken (a repeat within an hour
        // returns the same certificate); GuardDuty's clientToken.
        _ => r
            .param("ClientToken")
            .or_else(|| r.param("IdempotencyToken"))
            .or_else(|| r.param("clientToken"))
            .map(|t| format!("token:{t}")),
    }
}

/// How an answer is lost: the ways AWS and the network lose them.
#[derive(Debug, Clone, Copy)]
enum Loss {
    InternalError,
    Unavailable,
    Closed,
}

/// What the layer sends back: an answer, or a closed connection.
enum Reply {
    Answer(Response<Body>),
    Close,
}

#[derive(Debug)]
struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by the strict layer")
    }
}

impl std::error::Error for Closed {}

/// How long something new stays pending.
#[derive(Debug)]
enum Pending {
    /// For this many more reads.
    Reads(u32),
    /// Until then.
    Until(Instant),
}

impl Pending {
    /// Whether a read now shows it pending (counting the read).
    /// Whether the object is still pending, without using up a read.
    fn still(&self) -> bool {
        match self {
            Pending::Reads(n) => *n > 0,
            Pending::Until(t) => Instant::now() < *t,
        }
    }

    fn shown(&mut self) -> bool {
        match self {
            Pending::Reads(0) => false,
            Pending::Reads(n) => {
                *n -= 1;
                true
            }
            Pending::Until(t) => Instant::now() < *t,
        }
    }
}

impl Strict {
    /// How long a new object that AWS typically makes in `typical` seconds
    /// stays pending.
    fn pending(&self, typical: u32) -> Pending {
        if self.pending_scale > 0.0 {
            let d = Duration::from_secs_f64(f64::from(typical) * self.pending_scale);
            Pending::Until(Instant::now() + d)
        } else {
            Pending::Reads(self.pending_reads)
        }
    }
}

/// A new object: what the layer still does to calls about it.
#[derive(Debug)]
struct Fresh {
    life: usize,
    created: Instant,
    pending: Pending,
    invisible: u32,
    failed: bool,
}

/// The first answer to a create with a token, and that call's parameters.
type First = (hyper::StatusCode, bytes::Bytes, Vec<(String, String)>);

#[derive(Default)]
struct Layer {
    cfg: Strict,
    fresh: HashMap<String, Fresh>,
    /// id -> (life, reads still deleting)
    deleting: HashMap<String, (usize, u32)>,
    /// Route 53 change id -> reads still PENDING.
    changes: HashMap<String, Pending>,
    seen: Seen,
    /// bucket -> (tokens, last refill)
    buckets: HashMap<String, (f64, Instant)>,
    /// (operation, ClientToken) -> the first answer.
    /// (operation, token) -> the first answer, and the first call's parameters.
    tokens: HashMap<(String, String), First>,
    losses: u64,
    /// Calls of each write operation so far (for `lose_nth`).
    calls: HashMap<String, u32>,
    rng: Option<fastrand::Rng>,
    stats: BTreeMap<String, u64>,
    /// Instance profile name -> when IAM made it or gave it its role.
    profiles: HashMap<String, Instant>,
    /// Launch template id -> the instance profile it names.
    template_profile: HashMap<String, String>,
    /// Backup vault name -> the recovery points it holds.
    recovery_points: HashMap<String, u32>,
}

impl Layer {
    fn count(&mut self, what: String) {
        *self.stats.entry(what).or_default() += 1;
    }

    fn throttle(&mut self, r: &Req) -> Option<Response<Body>> {
        let wanted: Vec<(String, (f64, f64))> = if self.cfg.published {
            published(r)
        } else {
            let t = self.cfg.throttle?;
            let read = r.is_read();
            let key = format!("{} {}", r.service, if read { "reads" } else { "writes" });
            vec![(key, if read { t.reads } else { t.writes })]
        };
        let now = Instant::now();
        // A call passes when every bucket it spends has a token.
        let mut ok = true;
        for (key, (burst, rate)) in &wanted {
            let b = self.buckets.entry(key.clone()).or_insert((*burst, now));
            b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * rate).min(*burst);
            b.1 = now;
            ok &= b.0 >= 1.0;
        }
        if ok {
            for (key, _) in &wanted {
                if let Some(b) = self.buckets.get_mut(key) {
                    b.0 -= 1.0;
                }
            }
            return None;
        }
        self.count(format!("throttled {}", r.service));
        self.count(format!("throttled {} {}", r.service, r.action));
        Some(wire::throttled(&r.service))
    }

    /// NotFound for a call that names an id created moments ago.
    fn invisible(&mut self, r: &Req) -> Option<Response<Body>> {
        let (lag, window) = (self.cfg.lag, self.cfg.invisible_for);
        let elsewhere = self.cfg.lag_elsewhere.max(lag);
        let (id, life, code) = self
            .fresh
            .iter_mut()
            .filter(|(_, f)| {
                let age = f.created.elapsed();
                age < elsewhere || (f.invisible > 0 && age < window)
            })
            .find_map(|(id, f)| {
                let l = &LIVES[f.life];
                if !life::names(r, id) {
                    return None;
                }
                let age = f.created.elapsed();
                let code = if l.service == r.service {
                    if age >= lag && !(f.invisible > 0 && age < window) {
                        return None;
                    }
                    l.not_found?
                } else if age < elsewhere {
                    life::not_found_elsewhere(l, r)?
                } else {
                    return None;
                };
                if l.service == r.service && age >= lag {
                    f.invisible = f.invisible.saturating_sub(1);
                }
                Some((id.clone(), l, code))
            })?;
        self.count(format!("invisible {}", r.action));
        Some(wire::error(
            &r.service,
            400,
            code,
            &format!("The {} '{id}' does not exist", life.name),
        ))
    }

    /// Whether the answer to this call (carried out) is lost, and how.
    fn lose(&mut self, r: &Req) -> Option<Loss> {
        if r.is_read() {
            return None;
        }
        let n = {
            let c = self.calls.entry(r.action.clone()).or_default();
            *c += 1;
            *c
        };
        let nth = self
            .cfg
            .lose_nth
            .iter()
            .any(|(a, k)| *a == r.action && *k == n);
        let named = self.cfg.lose.iter().position(|a| *a == r.action);
        let lost = match named {
            _ if nth => true,
            Some(i) => {
                self.cfg.lose.remove(i);
                true
            }
            None if self.cfg.lose_share > 0.0 => {
                let seed = self.cfg.seed;
                let rng = self
                    .rng
                    .get_or_insert_with(|| fastrand::Rng::with_seed(seed));
                rng.f64() < self.cfg.lose_share
            }
            None => false,
        };
        if !lost {
            return None;
        }
        self.losses += 1;
        self.count(format!("lost {}", r.action));
        Some(match self.losses % 3 {
            0 => Loss::InternalError,
            1 => Loss::Closed,
            _ => Loss::Unavailable,
        })
    }

    /// The first answer to a repeat of an idempotent create, if any.
    fn replay(&mut self, r: &Req) -> Option<Response<Body>> {
        let key = idempotency_key(r)?;
        let (status, body, params) = self.tokens.get(&(r.action.clone(), key.clone()))?.clone();
        // A token used again with other parameters: AWS refuses it.
        if key.starts_with("token:") && params != r.params {
            self.count(format!("mismatch {}", r.action));
            return Some(wire::error(
                &r.service,
                400,
                "IdempotentParameterMismatch",
                "The client token you have provided is associated with a resource that is already deleted or has different parameters.",
            ));
        }
        self.count(format!("token {}", r.action));
        Some(
            Response::builder()
                .status(status)
                .header("content-type", "text/xml")
                .body(http_body_util::Full::new(body))
                .unwrap(),
        )
    }

    fn lingering(&self, id: &str) -> Option<String> {
        let until = self.seen.lingering.get(id)?;
        (*until > Instant::now()).then(|| format!("{LINGERING} {id}"))
    }

    /// What the answer to `r` tells of new, deleted and associated objects.
    fn learn(&mut self, r: &Req, body: &str) {
        for (i, l) in LIVES
            .iter()
            .enumerate()
            .filter(|(_, l)| l.service == r.service)
        {
            if l.create == r.action {
                for id in life::created_ids(l, body) {
                    let failed = self
                        .cfg
                        .fail
                        .iter()
                        .position(|f| *f == l.name)
                        .map(|p| self.cfg.fail.remove(p));
                    let fresh = Fresh {
                        life: i,
                        created: Instant::now(),
                        pending: if l.pending.is_empty() {
                            Pending::Reads(0)
                        } else {
                            self.cfg.pending(l.typical)
                        },
                        invisible: if l.not_found.is_some() {
                            self.cfg.invisible_calls
                        } else {
                            0
                        },
                        failed: failed.is_some(),
                    };
                    self.fresh.insert(id, fresh);
                }
            }
        }
        self.learn_relations(r, body);
    }

    /// A delete about to be sent: what it deletes shows `deleting` from
    /// now on (before the answer, so no check made meanwhile sees it gone
    /// and not deleting). Undone by [`Layer::refused`] if AWS refuses it.
    fn deleting(&mut self, r: &Req) {
        if self.cfg.deleting_reads == 0 {
            return;
        }
        for (i, l) in LIVES.iter().enumerate() {
            if l.service != r.service {
                continue;
            }
            if let Some((delete, param, _)) = l.delete
                && delete == r.action
            {
                for id in r.params_named(param) {
                    self.deleting
                        .entry(id.to_string())
                        .or_insert((i, self.cfg.deleting_reads));
                }
            }
        }
    }

    /// A delete AWS refused: nothing of it is deleting.
    fn refused(&mut self, r: &Req) {
        for l in LIVES.iter().filter(|l| l.service == r.service) {
            if let Some((delete, param, _)) = l.delete
                && delete == r.action
            {
                for id in r.params_named(param) {
                    self.deleting.remove(id);
                }
            }
        }
    }

    /// EC2 refusing a launch with an instance profile IAM has not spread
    /// yet (`Strict::iam_lag`).
    fn profile_unseen(&mut self, r: &Req) -> Option<Response<Body>> {
        if r.action != "RunInstances" || self.cfg.iam_lag.is_zero() {
            return None;
        }
        let template = r.param("LaunchTemplate.LaunchTemplateId")?;
        let profile = self.template_profile.get(template)?.clone();
        let made = *self.profiles.get(&profile)?;
        if made.elapsed() >= self.cfg.iam_lag {
            return None;
        }
        self.count("iam_lag RunInstances".into());
        Some(wire::error(
            &r.service,
            400,
            "InvalidParameterValue",
            &format!(
                "Value ({profile}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"
            ),
        ))
    }

    fn learn_relations(&mut self, r: &Req, body: &str) {
        match r.action.as_str() {
            "CreateInstanceProfile" | "AddRoleToInstanceProfile" => {
                if let Some(p) = r.param("InstanceProfileName") {
                    self.profiles.insert(p.to_string(), Instant::now());
                }
            }
            "CreateLaunchTemplate" | "CreateLaunchTemplateVersion" => {
                let profile = r.param("LaunchTemplateData.IamInstanceProfile.Name");
                let id = r
                    .param("LaunchTemplateId")
                    .map(str::to_string)
                    .or_else(|| life::xml_text(body, "launchTemplateId"));
                if let (Some(p), Some(id)) = (profile, id) {
                    self.template_profile.insert(id, p.to_string());
                }
            }
            "AssociateWebACL" => {
                let (acl, res) = (r.param("WebACLArn"), r.param("ResourceArn"));
                if let (Some(acl), Some(res)) = (acl, res) {
                    self.seen
                        .acl_of
                        .entry(acl.to_string())
                        .or_default()
                        .insert(res.to_string());
                }
            }
            "DisassociateWebACL" => {
                let res = r.param("ResourceArn").unwrap_or_default();
                self.seen.acl_of.values_mut().for_each(|s| {
                    s.remove(res);
                });
            }
            "CreateReplicationGroup" => {
                let id = r
                    .param("ReplicationGroupId")
                    .unwrap_or_default()
                    .to_string();
                let group = r
                    .param("CacheSubnetGroupName")
                    .unwrap_or_default()
                    .to_string();
                let sgs = r
                    .params_named("SecurityGroupIds")
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                self.seen.cache.insert(id, (group, sgs));
            }
            "DeleteReplicationGroup" => {
                self.seen
                    .cache
                    .remove(r.param("ReplicationGroupId").unwrap_or_default());
            }
            "ChangeResourceRecordSets" => {
                if let Some(id) = body.split("<Id>").nth(1).and_then(|s| s.split('<').next()) {
                    let id = id.rsplit('/').next().unwrap_or(id).to_string();
                    self.changes.insert(id, self.cfg.pending(60));
                }
            }
            _ => {}
        }
    }

    /// Rewrites a describe answer as AWS would give it now.
    fn show(&mut self, r: &Req, body: &mut String) {
        if r.action == "DescribeBackupVault" {
            let name = r.param("PathId").unwrap_or_default();
            if let Some(&n) = self.recovery_points.get(name)
                && let Ok(mut v) = serde_json::from_str::<serde_json::Value>(body)
            {
                v["NumberOfRecoveryPoints"] = n.into();
                *body = v.to_string();
            }
            return;
        }
        if r.action == "GetChange" {
            let id = r.param("PathId").unwrap_or_default();
            if let Some(p) = self.changes.get_mut(id)
                && p.shown()
            {
                *body = body.replace("<Status>INSYNC</Status>", "<Status>PENDING</Status>");
                self.count("pending change".into());
            }
            return;
        }
        let mut shown = Vec::new();
        let lag = self.cfg.lag;
        for (id, f) in self.fresh.iter_mut() {
            let l = &LIVES[f.life];
            if l.service != r.service || l.describe != r.action {
                continue;
            }
            // Not in filtered or listing answers yet.
            if f.created.elapsed() < lag && life::remove(l, body, id) {
                shown.push(format!("hidden {}", l.name));
                continue;
            }
            if f.failed {
                life::rewrite(l, body, id, l.failed);
            } else if f.pending.still() && life::rewrite(l, body, id, l.pending) {
                // A read that shows it uses one up (not one about others).
                f.pending.shown();
                shown.push(format!("pending {}", l.name));
            }
        }
        for (id, (i, n)) in self.deleting.iter_mut().filter(|(_, (_, n))| *n > 0) {
            let l: &Life = &LIVES[*i];
            if l.describe == r.action
                && let Some((_, _, swaps)) = l.delete
                && life::rewrite(l, body, id, swaps)
            {
                *n -= 1;
                shown.push(format!("deleting {}", l.name));
            }
        }
        shown.into_iter().for_each(|s| self.count(s));
    }
}

struct Ctx {
    layer: Arc<Mutex<Layer>>,
    http: wire::Http,
    upstream: String,
    moto: Moto,
}

impl Ctx {
    fn layer(&self) -> std::sync::MutexGuard<'_, Layer> {
        self.layer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The refusal AWS would give this delete while something uses the object.
    async fn in_use(&self, r: &Req) -> Option<Response<Body>> {
        let (code, users, what) = match (r.service.as_str(), r.action.as_str()) {
            ("ec2", "DeleteSecurityGroup") => {
                let sg = r.param("GroupId")?;
                let linger: Vec<String> = self.layer().lingering(sg).into_iter().collect();
                (
                    "DependencyViolation",
                    self.moto.group_users(sg, &linger).await,
                    format!("resource {sg} has a dependent object"),
                )
            }
            ("ec2", "DeleteSubnet") => {
                let subnet = r.param("SubnetId")?;
                let mut users = self.moto.subnet_users(subnet).await;
                users.extend(self.layer().lingering(subnet));
                (
                    "DependencyViolation",
                    users,
                    format!("The subnet '{subnet}' has dependencies and cannot be deleted."),
                )
            }
            ("ec2", "ReleaseAddress") => {
                let id = r.param("AllocationId")?;
                let a = self
                    .moto
                    .ec2
                    .describe_addresses()
                    .allocation_ids(id)
                    .send()
                    .await
                    .ok()?;
                let users = a
                    .addresses()
                    .iter()
                    .filter_map(|a| a.association_id().map(str::to_string))
                    .collect();
                (
                    "InvalidIPAddress.InUse",
                    users,
                    format!("Address {id} is in use."),
                )
            }
            ("ec2", "DeleteVpc") => {
                let vpc = r.param("VpcId")?;
                (
                    "DependencyViolation",
                    self.moto.vpc_users(vpc).await,
                    format!("The vpc '{vpc}' has dependencies and cannot be deleted."),
                )
            }
            ("ec2", "DetachInternetGateway") => {
                let vpc = r.param("VpcId")?;
                let deleting: Vec<String> = self
                    .layer()
                    .deleting
                    .iter()
                    .filter(|(_, (i, n))| LIVES[*i].name == "nat_gateway" && *n > 0)
                    .map(|(id, _)| id.clone())
                    .collect();
                let mapped = self.moto.vpc_mapped_addresses(vpc, &deleting).await;
                let users = if mapped {
                    vec!["NAT gateways".to_string()]
                } else {
                    vec![]
                };
                let msg = format!(
                    "Network {vpc} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway."
                );
                ("DependencyViolation", users, msg)
            }
            ("elasticloadbalancing", "DeleteTargetGroup") => {
                let tg = r.param("TargetGroupArn")?;
                let msg =
                    format!("Target group '{tg}' is currently in use by a listener or a rule");
                ("ResourceInUse", self.moto.target_group_users(tg).await, msg)
            }
            ("wafv2", "DeleteWebACL") => {
                let suffix = format!("/{}/{}", r.param("Name")?, r.param("Id")?);
                let users: Vec<String> = self
                    .layer()
                    .seen
                    .acl_of
                    .iter()
                    .filter(|(acl, res)| acl.ends_with(&suffix) && !res.is_empty())
                    .flat_map(|(_, res)| res.iter().cloned())
                    .collect();
                let msg = "AWS WAF couldn't perform the operation because your resource is being used by another resource or it's associated with another resource.";
                ("WAFAssociatedItemException", users, msg.to_string())
            }
            ("backup", "DeleteBackupVault") => {
                let name = r.param("PathId")?;
                let n = self.layer().recovery_points.get(name).copied().unwrap_or(0);
                let users = (n > 0)
                    .then(|| format!("{n} recovery points"))
                    .into_iter()
                    .collect();
                let msg = "Backup vault cannot be deleted because it contains recovery points.";
                ("InvalidRequestException", users, msg.to_string())
            }
            ("rds", "DeleteDBSubnetGroup") => {
                let name = r.param("DBSubnetGroupName")?;
                let msg = format!("DB Subnet Group {name} is still in use");
                (
                    "InvalidDBSubnetGroupStateFault",
                    self.moto.db_subnet_group_users(name).await,
                    msg,
                )
            }
            ("elasticache", "DeleteCacheSubnetGroup") => {
                let name = r.param("CacheSubnetGroupName")?;
                let users: Vec<String> = self
                    .layer()
                    .seen
                    .cache
                    .iter()
                    .filter(|(_, (g, _))| g == name)
                    .map(|(id, _)| format!("replication group {id}"))
                    .collect();
                (
                    "CacheSubnetGroupInUse",
                    users,
                    format!("Cache subnet group {name} is currently in use by a cache cluster."),
                )
            }
            _ => return None,
        };
        if users.is_empty() {
            return None;
        }
        let mut l = self.layer();
        l.count(format!("in_use {}", r.action));
        if users.iter().all(|u| u.starts_with(LINGERING)) {
            // Only what AWS leaves behind for a while: no ordering avoids it.
            l.count(format!("in_use {} (lingering only)", r.action));
        }
        drop(l);
        Some(wire::error(
            &r.service,
            400,
            code,
            &format!("{what} ({})", users.join(", ")),
        ))
    }

    /// KMS refusing a change to a key pending deletion (`key_states`).
    async fn key_pending(&self, r: &Req) -> Option<Response<Body>> {
        const REFUSED: &[&str] = &[
            "EnableKey",
            "DisableKey",
            "EnableKeyRotation",
            "DisableKeyRotation",
            "UpdateKeyDescription",
            "TagResource",
            "UntagResource",
            "CreateAlias",
            "UpdateAlias",
            "Encrypt",
            "Decrypt",
            "GenerateDataKey",
        ];
        let cancel = r.action == "CancelKeyDeletion";
        if r.service != "kms" || !(cancel || REFUSED.contains(&r.action.as_str())) {
            return None;
        }
        let key = r.param("KeyId").or_else(|| r.param("TargetKeyId"))?;
        let m = self.moto.kms.describe_key().key_id(key).send().await.ok()?;
        let m = m.key_metadata()?;
        let pending = m.key_state().map(|s| s.as_str()) == Some("PendingDeletion");
        // Only a key pending deletion can have its deletion cancelled (moto
        // cancels any); only its cancel is taken while it is pending.
        if pending == cancel {
            return None;
        }
        let (count, msg) = if cancel {
            (
                "not_pending CancelKeyDeletion".to_string(),
                "is not pending deletion",
            )
        } else {
            (
                format!("pending_deletion {}", r.action),
                "is pending deletion",
            )
        };
        self.layer().count(count);
        Some(wire::error(
            &r.service,
            400,
            "KMSInvalidStateException",
            &format!("{} {msg}.", m.arn().unwrap_or(key)),
        ))
    }

    async fn handle(&self, r: Req) -> Reply {
        let (latency, in_use, linger, key_states) = {
            let l = self.layer();
            (l.cfg.latency, l.cfg.in_use, l.cfg.linger, l.cfg.key_states)
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        self.layer().count(format!("call {}", r.service));
        if !r.is_read() {
            // A write naming an object still pending: the engine did not
            // wait for it (what AWS would refuse or do wrong).
            let mut l = self.layer();
            let pending: Vec<String> = l
                .fresh
                .iter()
                .filter(|(id, f)| {
                    !LIVES[f.life].pending.is_empty() && f.pending.still() && life::names(&r, id)
                })
                .map(|(_, f)| format!("named while pending {}", LIVES[f.life].name))
                .collect();
            pending.into_iter().for_each(|p| l.count(p));
        }
        let early = {
            let mut l = self.layer();
            l.throttle(&r)
                .or_else(|| l.replay(&r))
                .or_else(|| l.invisible(&r))
                .or_else(|| l.profile_unseen(&r))
        };
        if let Some(answer) = early {
            return Reply::Answer(answer);
        }
        if in_use && let Some(answer) = self.in_use(&r).await {
            return Reply::Answer(answer);
        }
        if key_states && let Some(answer) = self.key_pending(&r).await {
            return Reply::Answer(answer);
        }
        let lingers = if linger.is_zero() {
            vec![]
        } else {
            self.moto.interfaces_of(&r).await
        };
        self.layer().deleting(&r);
        let mut ans = match wire::forward(&self.http, &self.upstream, &r).await {
            Ok(a) => a,
            Err(e) => {
                self.layer().refused(&r);
                return Reply::Answer(wire::error(&r.service, 502, "BadGateway", &e));
            }
        };
        let mut l = self.layer();
        if !ans.status.is_success() {
            l.refused(&r);
        }
        if ans.status.is_success() {
            let mut body = ans.text();
            let until = Instant::now() + linger;
            for id in lingers {
                l.seen.lingering.insert(id, until);
            }
            l.learn(&r, &body);
            if r.is_read() {
                l.show(&r, &mut body);
                ans.body = bytes::Bytes::from(body);
            }
            if let Some(key) = idempotency_key(&r) {
                let first = (ans.status, ans.body.clone(), r.params.clone());
                l.tokens.insert((r.action.clone(), key), first);
            }
            // A deleted object's name can be used again.
            let gone = ["LoadBalancerArn", "TargetGroupArn", "ListenerArn"]
                .iter()
                .filter(|_| r.action.starts_with("Delete"))
                .find_map(|p| r.param(p));
            if let Some(arn) = gone {
                l.tokens
                    .retain(|_, (_, body, _)| !String::from_utf8_lossy(body).contains(arn));
            }
        }
        match l.lose(&r) {
            None => Reply::Answer(ans.into_response()),
            Some(Loss::Closed) => Reply::Close,
            Some(Loss::InternalError) => Reply::Answer(wire::error(
                &r.service,
                500,
                "InternalError",
                "An internal error has occurred",
            )),
            Some(Loss::Unavailable) => Reply::Answer(wire::error(
                &r.service,
                503,
                "ServiceUnavailable",
                "The service is unavailable. Please try again shortly.",
            )),
        }
    }
}

/// The layer, serving on a port of 127.0.0.1 from a thread of its own.
pub struct Proxy {
    pub url: String,
    layer: Arc<Mutex<Layer>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(upstream: &str, cfg: Strict) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the strict layer");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let layer = Arc::new(Mutex::new(Layer {
            cfg,
            ..Layer::default()
        }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (upstream, shared) = (upstream.to_string(), layer.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime of the strict layer");
            rt.block_on(serve(listener, upstream, shared, stopped));
        });
        Proxy {
            url,
            layer,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// How often a behaviour was played (`in_use DeleteSecurityGroup`,
    /// `pending nat_gateway`, `invisible CreateSubnet`, `throttled ec2`, ...).
    pub fn count(&self, what: &str) -> u64 {
        self.stats().get(what).copied().unwrap_or(0)
    }

    pub fn stats(&self) -> BTreeMap<String, u64> {
        self.layer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stats
            .clone()
    }

    /// The backup vault `name` holds `n` recovery points from now on (AWS
    /// Backup makes them on its schedule; moto makes none).
    pub fn hold_recovery_points(&self, name: &str, n: u32) {
        self.layer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recovery_points
            .insert(name.to_string(), n);
    }

    /// Lets go of every lingering network interface at once.
    pub fn release(&self) {
        self.layer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .seen
            .lingering
            .clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    upstream: String,
    layer: Arc<Mutex<Layer>>,
    stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    let moto = Moto::new(&upstream).await;
    let ctx = Arc::new(Ctx {
        layer,
        http: wire::client(),
        upstream,
        moto,
    });
    tokio::pin!(stopped);
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            a = listener.accept() => match a {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                let ctx = ctx.clone();
                async move {
                    match Req::read(req).await {
                        Ok(r) => match ctx.handle(r).await {
                            Reply::Answer(a) => Ok(a),
                            Reply::Close => Err(Closed),
                        },
                        Err(e) => Ok(wire::error("", 400, "BadRequest", &e.to_string())),
                    }
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
