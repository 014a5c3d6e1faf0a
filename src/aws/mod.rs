//! The AWS implementation of [`Cloud`]. The only module that imports `aws-*`.
//!
//! One kind, one file: `<service>/<kind>.rs` holds the kind's spec, its typed
//! properties and its calls (a [`Kind`]). The `kinds!` list below is the one
//! registry: the validator's table, the docs and [`AwsCloud`] come from it.
//! Every call goes through the service's `call::Api` (retries, throttling);
//! `errors` classifies AWS's codes; `wait` waits; `tags` syncs tags.

pub mod call;
mod client;
mod cloud;
mod data;
mod errors;
mod kind;
pub mod rates;
mod read;
mod subnet_group;
mod tags;
mod typed;
mod wait;

mod acm;
pub(crate) mod backup;
pub(crate) mod cloudwatch;
mod ec2;
mod efs;
mod elasticache;
mod elbv2;
mod guardduty;
mod iam;
pub(crate) mod kms;
mod rds;
mod route53;
mod s3;
mod shield;
pub(crate) mod sns;
mod ssm;
mod sts;
mod wafv2;

#[cfg(test)]
mod mock_tests;
pub mod state_s3;

pub use client::{CallCounter, CallCounts, Connect};
pub(crate) use client::{Clients, Svc};
pub use cloud::AwsCloud;
pub(crate) use kind::{Create, Kind, Query};
pub(crate) use read::{
    arn_of, by_pages, each, gone, live, no_id, one_by_one_or_all, one_call_each, read_one,
    wanted_names, with_detail,
};

use crate::kind::{DataSpec, KindSpec};
use data::{DataKind, DataRead, Reader};
use typed::{Resource, Typed};

/// Declares the data source kinds: `DATA` (their specs) and the registry
/// of their reads.
macro_rules! data {
    ($($k:ty),* $(,)?) => {
        /// Every data source kind provision knows.
        pub static DATA: &[&DataSpec] = &[$(<$k as DataKind>::SPEC),*];

        fn data_reads(c: &Clients) -> Vec<Box<dyn DataRead>> {
            vec![$(Box::new(Reader(<$k as DataKind>::new(c)))),*]
        }
    };
}

data![
    ec2::availability_zones::AvailabilityZones,
    ec2::ami::Ami,
    ec2::vpc_lookup::VpcLookup,
    ec2::subnets::Subnets,
    ssm::parameter::Parameter,
    sts::caller_identity::CallerIdentity,
];

/// Declares the kinds: `KINDS` (their specs, in the order of
/// docs/resources.md) and the registry of their implementations.
macro_rules! kinds {
    ($($k:ty),* $(,)?) => {
        /// Every kind provision knows.
        pub static KINDS: &[&KindSpec] = &[$(<$k as Kind>::SPEC),*];

        fn implementations(c: &Clients) -> Vec<Box<dyn Resource>> {
            vec![$(Box::new(Typed(<$k as Kind>::new(c)))),*]
        }

        #[cfg(test)]
        fn round_trip_every_kind() {
            $(tests::round_trip::<$k>();)*
        }
    };
}

kinds![
    ec2::vpc::Vpc,
    ec2::subnet::Subnet,
    ec2::internet_gateway::InternetGateway,
    ec2::eip::Eip,
    ec2::nat_gateway::NatGateway,
    ec2::route_table::RouteTable,
    ec2::security_group::SecurityGroup,
    ec2::launch_template::LaunchTemplate,
    ec2::instance::Instance,
    elbv2::load_balancer::LoadBalancer,
    elbv2::target_group::TargetGroup,
    elbv2::listener::Listener,
    rds::db_subnet_group::DbSubnetGroup,
    rds::cluster::Cluster,
    rds::instance::DbInstance,
    elasticache::subnet_group::CacheSubnetGroup,
    elasticache::replication_group::ReplicationGroup,
    efs::file_system::FileSystem,
    efs::mount_target::MountTarget,
    s3::bucket::Bucket,
    wafv2::web_acl::WebAcl,
    wafv2::web_acl_association::WebAclAssociation,
    shield::protection::Protection,
    route53::zone::Zone,
    route53::zone_lookup::ZoneLookup,
    route53::record::Record,
    route53::health_check::HealthCheck,
    guardduty::detector::Detector,
    acm::certificate::Certificate,
    acm::validation::Validation,
    ec2::vpc_endpoint::VpcEndpoint,
    iam::role::Role,
    iam::instance_profile::InstanceProfile,
    kms::key::Key,
    backup::vault::Vault,
    backup::plan::Plan,
    backup::selection::Selection,
    sns::topic::Topic,
    cloudwatch::alarm::Alarm,
    kms::alias::Alias,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Ty;
    use serde_json::Value;

    /// A value of the property's type, for the round trip below.
    fn sample(ty: &Ty) -> Value {
        match ty {
            Ty::Str => Value::from("x"),
            Ty::OneOf(all) => Value::from(all[0]),
            Ty::Bool => Value::from(true),
            Ty::Int => Value::from(1),
            Ty::Cidr => Value::from("10.0.0.0/16"),
            Ty::StrList { .. } => serde_json::json!(["a"]),
            Ty::Tags => serde_json::json!({"k": "v"}),
            Ty::ObjList(_) | Ty::Rules(..) => serde_json::json!([]),
            Ty::Policy => serde_json::json!({"Statement": []}),
        }
    }

    pub(super) fn round_trip<K: Kind>() {
        let spec = K::SPEC;
        let full: serde_json::Map<String, Value> = spec
            .props
            .iter()
            .map(|p| (p.name.to_string(), sample(&p.ty)))
            .collect();
        let p: K::Props = serde_json::from_value(Value::Object(full.clone()))
            .unwrap_or_else(|e| panic!("{}: every spec property must be a field: {e}", spec.name));
        let back = serde_json::to_value(&p).unwrap();
        let mut fields: Vec<&String> = back.as_object().unwrap().keys().collect();
        let mut props: Vec<&String> = full.keys().collect();
        fields.sort();
        props.sort();
        assert_eq!(fields, props, "{}: fields and spec differ", spec.name);
    }

    /// Each kind's typed properties and its spec name the same properties.
    #[test]
    fn typed_properties_match_the_specs() {
        round_trip_every_kind();
    }

    /// A kind whose objects name a container (a VPC, a subnet, a zone, a
    /// load balancer) says whether drift looks there for hand-made ones:
    /// forgetting to would let such objects go unseen.
    #[test]
    fn every_kind_in_a_container_says_whether_drift_searches_it() {
        use crate::kind::Inside;
        const NAMING: [&str; 5] = [
            "vpc_id",
            "subnet_id",
            "subnet_ids",
            "zone_id",
            "load_balancer_arn",
        ];
        for k in KINDS {
            let lives_in = k.props.iter().any(|p| NAMING.contains(&p.name));
            if lives_in && k.inside == Inside::Nothing {
                panic!(
                    "{} names its container but its spec says `inside: Inside::Nothing`: \
                     say Inside::Searched (and answer Query::Inside) or Inside::NotSearched(why)",
                    k.name
                );
            }
        }
    }

    #[test]
    fn kind_names_are_unique_and_well_formed() {
        let mut names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), KINDS.len());
        assert!(names.iter().all(|n| n.split('.').count() == 2));
    }
}
