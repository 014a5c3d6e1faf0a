//! Unit tests of `kind`.
use super::*;
use serde_json::json;

#[test]
fn rules_flatten_and_sort() {
    let sg = lookup("ec2.security_group").unwrap();
    let c = canonical(
        sg,
        &json!({"name": "a", "vpc_id": "v", "ingress": [
            {"port": 443, "cidr_blocks": ["0.0.0.0/0", "10.0.0.0/8"]},
            {"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_blocks": ["0.0.0.0/0"]}
        ]}),
    );
    assert_eq!(c["ingress"].as_array().unwrap().len(), 3);
    assert_eq!(c["egress"][0]["protocol"], "-1");
    assert_eq!(c["description"], "Managed by provision");
}

#[test]
fn cidr_must_be_canonical() {
    assert!(check_cidr("10.0.0.0/16").is_ok());
    assert_eq!(
        check_cidr("10.0.1.5/24").unwrap_err(),
        "`10.0.1.5/24` is not a network address; did you mean 10.0.1.0/24?"
    );
    assert!(check_cidr("10.0.0.0/33").is_err());
}

#[test]
fn every_default_is_valid_json_of_its_type() {
    fn all(props: &[Prop], kind: &str) {
        for p in props {
            if let Some(d) = p.default {
                let v: Value = serde_json::from_str(d)
                    .unwrap_or_else(|e| panic!("{kind}.{}: default {d}: {e}", p.name));
                check(&p.ty, &v, p.name).unwrap_or_else(|e| panic!("{kind}: {e}"));
            }
            if let Ty::ObjList(f) | Ty::Rules(f, _) = p.ty {
                all(f, kind);
            }
        }
    }
    for k in crate::aws::KINDS {
        all(k.props, k.name);
    }
}

/// ARNs as the tagging index lists them, to the ids the kinds read by.
#[test]
fn tagged_arns_name_their_kind_and_id() {
    let group = Tagged {
        service: "rds",
        prefix: "subgrp:",
        id_is_arn: false,
    };
    let arn = "arn:aws:rds:eu-west-1:123456789012:subgrp:eproc-db";
    assert_eq!(group.id_of(arn).as_deref(), Some("eproc-db"));
    assert_eq!(
        group.id_of("arn:aws:rds:eu-west-1:123456789012:db:eproc-db"),
        None
    );
    assert_eq!(group.id_of("arn:aws:ec2:eu-west-1:1:subgrp:x"), None);
    assert_eq!(group.id_of("not an arn"), None);
    let acl = Tagged {
        service: "wafv2",
        prefix: "regional/webacl/",
        id_is_arn: true,
    };
    let arn = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/eproc-web/1a2b";
    assert_eq!(acl.id_of(arn).as_deref(), Some(arn));
    let fs = Tagged {
        service: "elasticfilesystem",
        prefix: "file-system/",
        id_is_arn: false,
    };
    let arn = "arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/fs-0123";
    assert_eq!(fs.id_of(arn).as_deref(), Some("fs-0123"));
    // The kinds' own: a topic is its ARN, an alarm its name.
    let spec = |k| crate::kind::lookup(k).and_then(|s| s.tagged).unwrap();
    let topic = "arn:aws:sns:eu-west-1:123456789012:court-alarms";
    assert_eq!(spec("sns.topic").id_of(topic).as_deref(), Some(topic));
    let alarm = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:court-db-cpu";
    assert_eq!(
        spec("cloudwatch.alarm").id_of(alarm).as_deref(),
        Some("court-db-cpu")
    );
    assert_eq!(spec("cloudwatch.alarm").id_of(topic), None);
    let vault = "arn:aws:backup:eu-west-1:123456789012:backup-vault:court";
    assert_eq!(spec("backup.vault").id_of(vault).as_deref(), Some("court"));
    assert_eq!(spec("backup.plan").id_of(vault), None);
}
