//! AWS's published request rates: the token buckets a service meters its
//! API with, per account and Region (docs/rate-limits.md says where each
//! figure comes from). The call layer takes a token before every call, so an
//! apply never sends more than AWS takes and runs at the buckets' own pace;
//! throttling is still met (and slowed down for, `call.rs`) when something
//! else in the account spends the same buckets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

// tokio's clock: the same as std's, except that a test can run it virtually.
use tokio::time::Instant;

/// A token bucket: a burst of `capacity` calls, then `refill` a second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub capacity: f64,
    pub refill: f64,
}

const fn b(capacity: f64, refill: f64) -> Bucket {
    Bucket { capacity, refill }
}

/// The share of a published bucket provision allows itself: calls are
/// counted when sent and AWS counts them when they arrive, a little later
/// and not always in the same order.
pub const MARGIN: f64 = 0.95;

fn reads(op: &str) -> bool {
    ["Describe", "Get", "List", "Search"]
        .iter()
        .any(|p| op.starts_with(p))
}

/// The buckets a call of `op` to `service` (the SDK's service name, as
/// `ec2`, `route53`) spends, each with the key of those sharing it (EC2
/// meters each action on its own, Route 53 the whole account). Empty when
/// the service publishes no figures provision relies on.
pub fn buckets(service: &str, op: &str) -> Vec<(String, Bucket)> {
    match service {
        "ec2" => {
            let mut out = vec![(
                format!("ec2 {op}"),
                if reads(op) {
                    b(100.0, 20.0)
                } else {
                    b(200.0, 5.0)
                },
            )];
            // Resource buckets: one instance a call here.
            match op {
                "RunInstances" => out.push(("ec2 instances launched".into(), b(1000.0, 2.0))),
                "TerminateInstances" => {
                    out.push(("ec2 instances terminated".into(), b(1000.0, 20.0)));
                }
                _ => {}
            }
            out
        }
        "route53" => vec![("route53".into(), b(5.0, 5.0))],
        "elasticloadbalancing" if reads(op) => {
            vec![("elasticloadbalancing describe".into(), b(40.0, 10.0))]
        }
        _ => vec![],
    }
}

/// The tokens left in the buckets one service's calls spend. Tokens are
/// reserved in the order calls come (a bucket may go below zero: the
/// calls after wait in turn), so waiters never race for a refill.
#[derive(Debug, Default)]
pub struct Meters(Mutex<HashMap<String, (f64, Instant)>>);

impl Meters {
    /// Takes a token of each bucket a call of `op` spends (at [`MARGIN`] of
    /// the published figures); how long the call must wait before it is
    /// sent.
    pub fn take(&self, service: &str, op: &str) -> Duration {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut wait = Duration::ZERO;
        for (key, b) in buckets(service, op) {
            let (cap, rate) = (b.capacity * MARGIN, b.refill * MARGIN);
            let t = m.entry(key).or_insert((cap, now));
            t.0 = (t.0 + now.duration_since(t.1).as_secs_f64() * rate).min(cap);
            t.1 = now;
            t.0 -= 1.0;
            if t.0 < 0.0 {
                wait = wait.max(Duration::from_secs_f64(-t.0 / rate));
            }
        }
        wait
    }
}

/// How long a run of `calls` calls of one bucket takes at least: the burst,
/// then the refill.
pub fn floor(bucket: Bucket, calls: u64) -> f64 {
    ((calls as f64 - bucket.capacity) / bucket.refill).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_meters_each_action_and_route53_the_account() {
        let create = buckets("ec2", "CreateSubnet");
        assert_eq!(create, vec![("ec2 CreateSubnet".into(), b(200.0, 5.0))]);
        assert_ne!(buckets("ec2", "CreateRouteTable")[0].0, create[0].0);
        assert_eq!(buckets("ec2", "DescribeSubnets")[0].1, b(100.0, 20.0));
        assert_eq!(buckets("ec2", "RunInstances").len(), 2);
        assert_eq!(
            buckets("route53", "ChangeResourceRecordSets")[0].0,
            buckets("route53", "GetChange")[0].0
        );
        assert!(buckets("rds", "CreateDBCluster").is_empty());
        // 1,000 subnets: 200 at once, then 5 a second.
        assert_eq!(floor(create[0].1, 1000), 160.0);
    }
}
