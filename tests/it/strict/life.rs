//! Life cycles as AWS has them and moto does not: objects that take a while
//! to become available (pending for some reads), to go away (deleting for
//! some reads), that fail on demand, and ids that are not visible to other
//! calls for a moment after their create (eventual consistency).
//!
//! Answers are rewritten in place: the record that names an id (its enclosing
//! `<item>`, `<member>`, ... or JSON object) gets its state changed.

use serde_json::Value;

use super::wire::Req;

/// How one kind of object is created, read and shown.
pub struct Life {
    pub name: &'static str,
    pub service: &'static str,
    pub create: &'static str,
    /// The element (XML) or field (JSON) that holds the id in answers.
    pub id: &'static str,
    pub describe: &'static str,
    /// The element enclosing one object in a describe answer; "" for JSON.
    pub record: &'static str,
    /// (available, pending) texts; JSON: the state field's values.
    pub pending: &'static [(&'static str, &'static str)],
    /// Seconds AWS typically takes to make one available (the figure the
    /// kind's spec estimates): how long it stays pending, scaled down by
    /// `Strict::pending_scale`.
    pub typical: u32,
    pub failed: &'static [(&'static str, &'static str)],
    /// The delete and its parameter naming the id, and (deleted, deleting) texts.
    pub delete: Option<Delete>,
    /// The NotFound code AWS answers for this id while it is not visible yet.
    pub not_found: Option<&'static str>,
}

/// A delete call, its parameter naming the id, and (deleted, deleting) texts.
pub type Delete = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

pub static LIVES: &[Life] = &[
    Life {
        name: "vpc",
        service: "ec2",
        create: "CreateVpc",
        id: "vpcId",
        describe: "DescribeVpcs",
        record: "item",
        pending: &[],
        typical: 0,
        failed: &[],
        delete: None,
        not_found: Some("InvalidVpcID.NotFound"),
    },
    Life {
        name: "subnet",
        service: "ec2",
        create: "CreateSubnet",
        id: "subnetId",
        describe: "DescribeSubnets",
        record: "item",
        pending: &[],
        typical: 0,
        failed: &[],
        delete: None,
        not_found: Some("InvalidSubnetID.NotFound"),
    },
    Life {
        name: "security_group",
        service: "ec2",
        create: "CreateSecurityGroup",
        id: "groupId",
        describe: "DescribeSecurityGroups",
        record: "item",
        pending: &[],
        typical: 0,
        failed: &[],
        delete: None,
        not_found: Some("InvalidGroup.NotFound"),
    },
    Life {
        name: "internet_gateway",
        service: "ec2",
        create: "CreateInternetGateway",
        id: "internetGatewayId",
        describe: "DescribeInternetGateways",
        record: "item",
        pending: &[],
        typical: 0,
        failed: &[],
        delete: None,
        not_found: Some("InvalidInternetGatewayID.NotFound"),
    },
    Life {
        name: "route_table",
        service: "ec2",
        create: "CreateRouteTable",
        id: "routeTableId",
        describe: "DescribeRouteTables",
        record: "item",
        pending: &[],
        typical: 0,
        failed: &[],
        delete: None,
        not_found: Some("InvalidRouteTableID.NotFound"),
    },
    Life {
        name: "eip",
        service: "ec2",
        create: "AllocateAddress",
        id: "allocationId",
        describe: "DescribeAddresses",
        record: "item",
        pending: &[],
        typical: 0,
        failed: &[],
        delete: None,
        not_found: Some("InvalidAllocationID.NotFound"),
    },
    Life {
        name: "launch_template",
        service: "ec2",
        create: "CreateLaunchTemplate",
        id: "launchTemplateId",
        describe: "DescribeLaunchTemplates",
        record: "item",
        pending: &[],
        typical: 0,
        failed: &[],
        delete: None,
        not_found: Some("InvalidLaunchTemplateId.NotFound"),
    },
    Life {
        name: "nat_gateway",
        service: "ec2",
        create: "CreateNatGateway",
        id: "natGatewayId",
        describe: "DescribeNatGateways",
        record: "item",
        pending: &[("<state>available</state>", "<state>pending</state>")],
        typical: 120,
        failed: &[(
            "<state>available</state>",
            "<state>failed</state><failureCode>InsufficientFreeAddressesInSubnet</failureCode>\
             <failureMessage>Subnet has insufficient free addresses to create this NAT gateway</failureMessage>",
        )],
        delete: Some((
            "DeleteNatGateway",
            "NatGatewayId",
            &[("<state>deleted</state>", "<state>deleting</state>")],
        )),
        not_found: Some("NatGatewayNotFound"),
    },
    Life {
        name: "instance",
        service: "ec2",
        create: "RunInstances",
        id: "instanceId",
        describe: "DescribeInstances",
        record: "item",
        pending: &[(
            "<code>16</code><name>running</name>",
            "<code>0</code><name>pending</name>",
        )],
        typical: 40,
        failed: &[
            (
                "<code>16</code><name>running</name>",
                "<code>48</code><name>terminated</name>",
            ),
            (
                "<stateReason><code/><message/></stateReason>",
                "<stateReason><code>Server.InsufficientInstanceCapacity</code><message>\
                 Server.InsufficientInstanceCapacity: Insufficient capacity.</message></stateReason>",
            ),
        ],
        delete: Some((
            "TerminateInstances",
            "InstanceId",
            &[(
                "<code>48</code><name>terminated</name>",
                "<code>32</code><name>shutting-down</name>",
            )],
        )),
        not_found: Some("InvalidInstanceID.NotFound"),
    },
    Life {
        name: "load_balancer",
        service: "elasticloadbalancing",
        create: "CreateLoadBalancer",
        id: "LoadBalancerArn",
        describe: "DescribeLoadBalancers",
        record: "member",
        pending: &[("<Code>active</Code>", "<Code>provisioning</Code>")],
        typical: 180,
        failed: &[("<Code>active</Code>", "<Code>failed</Code>")],
        delete: None,
        not_found: Some("LoadBalancerNotFound"),
    },
    Life {
        name: "target_group",
        service: "elasticloadbalancing",
        create: "CreateTargetGroup",
        id: "TargetGroupArn",
        describe: "DescribeTargetGroups",
        record: "member",
        pending: &[],
        typical: 0,
        failed: &[],
        delete: None,
        not_found: Some("TargetGroupNotFound"),
    },
    Life {
        name: "db_cluster",
        service: "rds",
        create: "CreateDBCluster",
        id: "DBClusterIdentifier",
        describe: "DescribeDBClusters",
        record: "DBCluster",
        pending: &[("<Status>available</Status>", "<Status>creating</Status>")],
        typical: 300,
        failed: &[("<Status>available</Status>", "<Status>failed</Status>")],
        delete: None,
        not_found: Some("DBClusterNotFoundFault"),
    },
    Life {
        name: "db_instance",
        service: "rds",
        create: "CreateDBInstance",
        id: "DBInstanceIdentifier",
        describe: "DescribeDBInstances",
        record: "DBInstance",
        pending: &[(
            "<DBInstanceStatus>available</DBInstanceStatus>",
            "<DBInstanceStatus>creating</DBInstanceStatus>",
        )],
        typical: 600,
        failed: &[(
            "<DBInstanceStatus>available</DBInstanceStatus>",
            "<DBInstanceStatus>failed</DBInstanceStatus>",
        )],
        delete: None,
        not_found: Some("DBInstanceNotFound"),
    },
    Life {
        name: "replication_group",
        service: "elasticache",
        create: "CreateReplicationGroup",
        id: "ReplicationGroupId",
        describe: "DescribeReplicationGroups",
        record: "ReplicationGroup",
        pending: &[("<Status>available</Status>", "<Status>creating</Status>")],
        typical: 600,
        failed: &[(
            "<Status>available</Status>",
            "<Status>create-failed</Status>",
        )],
        delete: None,
        not_found: Some("ReplicationGroupNotFoundFault"),
    },
    Life {
        name: "file_system",
        service: "elasticfilesystem",
        create: "CreateFileSystem",
        id: "FileSystemId",
        describe: "DescribeFileSystems",
        record: "",
        pending: &[("available", "creating")],
        typical: 10,
        failed: &[("available", "error")],
        delete: None,
        not_found: Some("FileSystemNotFound"),
    },
    Life {
        name: "mount_target",
        service: "elasticfilesystem",
        create: "CreateMountTarget",
        id: "MountTargetId",
        describe: "DescribeMountTargets",
        record: "",
        pending: &[("available", "creating")],
        typical: 90,
        failed: &[("available", "error")],
        delete: None,
        not_found: Some("MountTargetNotFound"),
    },
    Life {
        name: "certificate",
        service: "acm",
        create: "RequestCertificate",
        id: "CertificateArn",
        describe: "DescribeCertificate",
        record: "",
        pending: &[],
        typical: 0,
        failed: &[],
        delete: None,
        not_found: Some("ResourceNotFoundException"),
    },
    Life {
        name: "web_acl",
        service: "wafv2",
        create: "CreateWebACL",
        id: "Id",
        describe: "GetWebACL",
        record: "",
        pending: &[],
        typical: 0,
        failed: &[],
        delete: None,
        not_found: Some("WAFNonexistentItemException"),
    },
    Life {
        name: "hosted_zone",
        service: "route53",
        create: "CreateHostedZone",
        id: "Id",
        describe: "ListHostedZones",
        record: "HostedZone",
        pending: &[],
        typical: 0,
        failed: &[],
        delete: None,
        not_found: Some("NoSuchHostedZone"),
    },
];

/// The code another service answers for a call naming a subnet or security
/// group it cannot see yet (each service's own words), if it names one.
pub fn not_found_elsewhere(life: &Life, r: &Req) -> Option<&'static str> {
    if r.is_read() {
        return None;
    }
    Some(match (r.service.as_str(), life.name) {
        ("elasticloadbalancing", "subnet") => "SubnetNotFound",
        ("elasticloadbalancing", "security_group") => "InvalidSecurityGroup",
        ("rds" | "elasticache", "subnet") => "InvalidSubnet",
        ("elasticfilesystem", "subnet") => "SubnetNotFound",
        ("elasticfilesystem", "security_group") => "SecurityGroupNotFound",
        _ => return None,
    })
}

/// Takes the record of object `id` out of a describe answer (it is not
/// visible yet); whether it was there.
pub fn remove(life: &Life, body: &mut String, id: &str) -> bool {
    if life.record.is_empty() {
        let Ok(mut v) = serde_json::from_str::<Value>(body) else {
            return false;
        };
        let mut found = false;
        if let Value::Object(o) = &mut v {
            for list in o.values_mut().filter_map(|x| x.as_array_mut()) {
                let before = list.len();
                list.retain(|x| x[life.id] != id);
                found |= list.len() != before;
            }
        }
        if found {
            *body = v.to_string();
        }
        return found;
    }
    // The object's own record: one of the answer's top-level records (a
    // group's id also appears inside other groups' rules).
    let mark = format!("<{}>{id}</{}>", life.id, life.id);
    let (open, close) = (format!("<{}>", life.record), format!("</{}>", life.record));
    let top = |start: usize| {
        body[..start].matches(&open).count() == body[..start].matches(&close).count()
    };
    let found = body
        .match_indices(&mark)
        .filter_map(|(pos, _)| enclosing(body, pos, life.record))
        .find(|(start, _)| top(*start));
    let Some((start, end)) = found else {
        return false;
    };
    body.replace_range(start..end, "");
    true
}

/// The ids an answer to a create holds.
pub fn created_ids(life: &Life, body: &str) -> Vec<String> {
    if life.record.is_empty() {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        // WAF answers a create with its `Summary`.
        return v[life.id]
            .as_str()
            .or_else(|| v["Summary"][life.id].as_str())
            .map(|s| vec![s.to_string()])
            .unwrap_or_default();
    }
    if life.service == "route53" {
        // `<Id>/hostedzone/Z1</Id>` (the change's `<Id>/change/C1</Id>` is
        // not the zone); calls name the zone `Z1`.
        return body
            .split("<Id>/hostedzone/")
            .skip(1)
            .filter_map(|rest| rest.split('<').next())
            .map(str::to_string)
            .take(1)
            .collect();
    }
    let (open, close) = (format!("<{}>", life.id), format!("</{}>", life.id));
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        let id = after[..j].to_string();
        if !out.contains(&id) {
            out.push(id);
        }
        rest = &after[j..];
    }
    out
}

/// The span of the innermost `<tag>...</tag>` that encloses byte `pos`.
fn enclosing(xml: &str, pos: usize, tag: &str) -> Option<(usize, usize)> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut marks: Vec<(usize, bool)> = xml[..pos]
        .match_indices(&open)
        .map(|(i, _)| (i, true))
        .collect();
    marks.extend(xml[..pos].match_indices(&close).map(|(i, _)| (i, false)));
    marks.sort();
    let mut depth = 0;
    let mut start = None;
    for &(i, is_open) in marks.iter().rev() {
        if is_open {
            if depth == 0 {
                start = Some(i);
                break;
            }
            depth -= 1;
        } else {
            depth += 1;
        }
    }
    let start = start?;
    let mut marks: Vec<(usize, bool)> = xml[start + open.len()..]
        .match_indices(&open)
        .map(|(i, _)| (i, true))
        .collect();
    marks.extend(
        xml[start + open.len()..]
            .match_indices(&close)
            .map(|(i, _)| (i, false)),
    );
    marks.sort();
    let mut depth = 0;
    for (i, is_open) in marks {
        if is_open {
            depth += 1;
        } else if depth == 0 {
            return Some((start, start + open.len() + i + close.len()));
        } else {
            depth -= 1;
        }
    }
    None
}

/// Rewrites the record of object `id` in a describe answer; whether it was there.
pub fn rewrite(life: &Life, body: &mut String, id: &str, swaps: &[(&str, &str)]) -> bool {
    if life.record.is_empty() {
        return rewrite_json(life, body, id, swaps);
    }
    let mark = format!("<{}>{id}</{}>", life.id, life.id);
    let Some(pos) = body.find(&mark) else {
        return false;
    };
    let Some((start, end)) = enclosing(body, pos, life.record) else {
        return false;
    };
    let mut record = body[start..end].to_string();
    for (from, to) in swaps {
        record = record.replacen(from, to, 1);
    }
    body.replace_range(start..end, &record);
    true
}

fn rewrite_json(life: &Life, body: &mut String, id: &str, swaps: &[(&str, &str)]) -> bool {
    let Ok(mut v) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    let mut found = false;
    if let Some(Value::Object(o)) = Some(&mut v) {
        for list in o.values_mut().filter_map(|x| x.as_array_mut()) {
            for item in list.iter_mut().filter(|x| x[life.id] == id) {
                found = true;
                for (from, to) in swaps {
                    if item["LifeCycleState"] == *from {
                        item["LifeCycleState"] = Value::from(*to);
                    }
                }
            }
        }
    }
    if found {
        *body = v.to_string();
    }
    found
}

/// Whether a request names `id` as the object it acts on (filters excluded:
/// a filter on an id AWS cannot see yet just matches nothing).
pub fn names(r: &Req, id: &str) -> bool {
    // EC2's `Filter.N.Value.M`, RDS's `Filters.Filter.N.Values.Value.M`.
    r.params
        .iter()
        .any(|(k, v)| v == id && !k.starts_with("Filter.") && !k.starts_with("Filters."))
}

/// The text of the first `<tag>` element of an XML answer.
pub fn xml_text(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find('<')? + start;
    Some(body[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enclosing_record_is_found_across_nested_items() {
        let xml = "<set><item><a><item>x</item></a><id>i-1</id><s>up</s></item><item><id>i-2</id><s>up</s></item></set>";
        let mut b = xml.to_string();
        assert!(!rewrite(&LIVES[8], &mut b, "i-9", &[]));
        let life = Life {
            id: "id",
            record: "item",
            ..LIVES[8]
        };
        assert!(rewrite(
            &life,
            &mut b,
            "i-2",
            &[("<s>up</s>", "<s>down</s>")]
        ));
        assert!(
            b.ends_with("<item><id>i-2</id><s>down</s></item></set>"),
            "{b}"
        );
        assert!(b.contains("<id>i-1</id><s>up</s>"));
    }
}
