//! Drift: what changed outside provision since the last apply. Pure.
//!
//! Compares the last applied state with what is live (never with the YAML),
//! and says what it found of each object as a [`Finding`]: a property
//! modified (one entry per property, with both values), deleted, an orphan,
//! another state's object with the stack's tags, or one made by hand inside
//! what the state manages. Drawing the differences is the renderer's.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::compare::{changed_props, managed};
use crate::model::{Drift, Finding, Refreshed};
use crate::provider::{Container, Live};
use crate::state::State;

/// Silences expected changes: `ADDRESS.PROPERTY[.KEY]`, where ADDRESS may be
/// `*` (any resource) or `name[*]` (any copy of a resource).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub address: String,
    pub path: Vec<String>,
}

impl Rule {
    pub fn parse(s: &str) -> Result<Rule, String> {
        let (address, rest) = split_address(s);
        let Some(rest) = rest.filter(|r| !r.is_empty()) else {
            return Err(format!(
                "--ignore {s}: expected ADDRESS.PROPERTY, for example vpc.tags or '*.tags.LastScanned'"
            ));
        };
        Ok(Rule {
            address: address.to_string(),
            path: rest.split('.').map(str::to_string).collect(),
        })
    }

    /// `*` matches every address; `[*]` any key (`module.net[*].vpc`).
    fn matches(&self, address: &str) -> bool {
        if self.address == "*" {
            return true;
        }
        let (mut r, mut a) = (self.address.as_str(), address);
        loop {
            let Some(i) = r.find("[*]") else {
                return r == a;
            };
            if !a.starts_with(&r[..=i]) {
                return false;
            }
            let Some(j) = a[i + 1..].find(']') else {
                return false;
            };
            a = &a[i + 1 + j + 1..];
            r = &r[i + 3..];
        }
    }
}

/// `module.NAME[KEY].` prefixes, then `NAME`, `NAME[KEY]` or `KIND[ID]` (an
/// object made by hand: `ec2.subnet[subnet-0c9]`); the rest after a `.`.
fn split_address(s: &str) -> (&str, Option<&str>) {
    // A name, and a `[...]` right after it: where they end.
    let segment = |from: usize| -> usize {
        let t = &s[from..];
        let name_end = t.find(['.', '[']).unwrap_or(t.len());
        if t[name_end..].starts_with('[') {
            match t[name_end..].find(']') {
                Some(j) => from + name_end + j + 1,
                None => s.len(),
            }
        } else {
            from + name_end
        }
    };
    let mut at = 0;
    while s[at..].starts_with("module.") {
        at = segment(at + "module.".len());
        match s[at..].strip_prefix('.') {
            Some(_) => at += 1,
            None => return (s, None),
        }
    }
    let mut end = segment(at);
    // `KIND[ID]`: a service, a dot, then a type with a bracket.
    if s[end..].starts_with('.') && !s[at..end].contains('[') {
        let next = segment(end + 1);
        if s[end + 1..next].contains('[') {
            end = next;
        }
    }
    match s[end..].strip_prefix('.') {
        Some(r) => (&s[..end], Some(r)),
        None => (&s[..end], None),
    }
}

/// Removes the ignored parts of a property value.
fn strip(mut v: Value, path: &[String]) -> Value {
    if let [key, rest @ ..] = path
        && let Value::Object(o) = &mut v
    {
        if rest.is_empty() {
            o.remove(key);
        } else if let Some(inner) = o.remove(key) {
            o.insert(key.clone(), strip(inner, rest));
        }
    }
    v
}

/// Every difference between the last applied state and live, minus the ignored.
pub fn detect(state: Option<&State>, live: &Refreshed, rules: &[Rule]) -> Vec<Drift> {
    let mut out = Vec::new();
    let Some(st) = state else { return out };
    for (addr, rec) in &st.resources {
        let applicable: Vec<&Rule> = rules.iter().filter(|r| r.matches(addr)).collect();
        match live.recorded.get(addr) {
            Some(Some(l)) => {
                let known = crate::kind::lookup(&rec.kind);
                for p in changed_props(&rec.properties, &managed(&l.props, &rec.properties)) {
                    if known.is_some_and(|k| k.prop(&p).is_none()) {
                        continue;
                    }
                    let mut before = rec.properties.get(&p).cloned();
                    let mut after = l.props.get(&p).cloned();
                    let mut silenced = false;
                    for r in applicable.iter().filter(|r| r.path[0] == p) {
                        if r.path.len() == 1 {
                            silenced = true;
                        } else {
                            before = before.map(|v| strip(v, &r.path[1..]));
                            after = after.map(|v| strip(v, &r.path[1..]));
                        }
                    }
                    // Compared in canonical form: a state written by an
                    // older provision may order a set differently.
                    let canon = |v: &Option<Value>| match (v, known.and_then(|k| k.prop(&p))) {
                        (Some(v), Some(prop)) => Some(crate::kind::canonical_prop(prop, v)),
                        (v, _) => v.clone(),
                    };
                    if silenced || canon(&before) == canon(&after) {
                        continue;
                    }
                    out.push(Drift {
                        address: addr.clone(),
                        kind: rec.kind.clone(),
                        id: rec.id.clone(),
                        region: rec.region.clone(),
                        finding: Finding::Modified {
                            property: p,
                            recorded: before,
                            live: after,
                        },
                    });
                }
            }
            Some(None) => out.push(Drift {
                address: addr.clone(),
                kind: rec.kind.clone(),
                id: rec.id.clone(),
                region: rec.region.clone(),
                finding: Finding::Deleted,
            }),
            None => {}
        }
    }
    out
}

/// Whether `--ignore ADDRESS.*` (or `lifecycle`) silences every change of an address.
fn silenced(rules: &[Rule], address: &str) -> bool {
    rules.iter().any(|r| r.matches(address) && r.path == ["*"])
}

/// Objects with the stack's tags that state does not record: `orphan` (this
/// state made it: an earlier attempt's) or `unmanaged` (another state's, or
/// an older provision's), minus those `address.*` rules silence.
pub fn strays(live: &Refreshed, rules: &[Rule]) -> Vec<Drift> {
    let orphans = live.orphans.iter().map(|o| Drift {
        address: o.live.address().unwrap_or_else(|| "?".into()),
        kind: o.kind.clone(),
        id: o.live.id.clone(),
        region: o.region.clone(),
        finding: Finding::Orphan,
    });
    let unclaimed = live.unclaimed.iter().map(|u| Drift {
        address: u.address.clone().unwrap_or_else(|| "?".into()),
        kind: u.kind.clone(),
        id: u.id.clone(),
        region: u.region.clone(),
        finding: Finding::Unclaimed {
            lineage: u.lineage.clone(),
        },
    });
    orphans
        .chain(unclaimed)
        .filter(|d| !silenced(rules, &d.address))
        .collect()
}

/// What the state manages that others live in (VPCs, zones, load balancers):
/// recorded objects that other recorded objects name as their container
/// (`vpc_id`, `zone_id`, `load_balancer_arn`), by kind of container, id ->
/// address.
pub fn managed_containers(
    state: &State,
    region: Option<&str>,
) -> BTreeMap<Container, BTreeMap<String, String>> {
    // Several addresses may record one id (a WAF association's id is its load
    // balancer's ARN): the first in address order names it.
    let mut address_of: BTreeMap<&str, &str> = BTreeMap::new();
    for (a, r) in state
        .resources
        .iter()
        .filter(|(_, r)| r.region.as_deref() == region)
    {
        address_of.entry(r.id.as_str()).or_insert(a.as_str());
    }
    let mut out: BTreeMap<Container, BTreeMap<String, String>> = BTreeMap::new();
    for r in state.resources.values() {
        for c in Container::ALL {
            if let Some(parent) = r.properties.get(c.prop()).and_then(Value::as_str)
                && let Some(addr) = address_of.get(parent)
            {
                out.entry(c)
                    .or_default()
                    .insert(parent.to_string(), addr.to_string());
            }
        }
    }
    out
}

/// What of `found` (kind, object) nothing of provision's made: no ownership
/// tag, no id in state.
pub fn made_by_hand<'a>(
    state: &State,
    found: &'a [(String, Live)],
) -> impl Iterator<Item = &'a (String, Live)> {
    let ours: std::collections::BTreeSet<String> = state
        .resources
        .values()
        .map(|r| r.id.clone())
        .chain(state.deposed.iter().map(|d| d.id.clone()))
        .collect();
    found.iter().filter(move |(_, l)| {
        !ours.contains(&l.id) && l.props["tags"].get(crate::stack::TAG_STACK).is_none()
    })
}

/// Objects inside managed containers that nothing of provision's made.
/// `found` is (kind, object), read in `region` (`None`: the stack's).
pub fn handmade(
    state: &State,
    containers: &BTreeMap<Container, BTreeMap<String, String>>,
    found: &[(String, Live)],
    region: Option<&str>,
    rules: &[Rule],
) -> Vec<Drift> {
    made_by_hand(state, found)
        .filter_map(|(kind, l)| {
            let parent = Container::ALL.iter().find_map(|c| {
                let id = l.props.get(c.prop()).and_then(Value::as_str)?;
                containers.get(c)?.get_key_value(id)
            });
            // What the object says of itself (an interface's description).
            let description = l
                .props
                .get("description")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
                .map(str::to_string);
            let address = format!("{}[{}]", kind, l.id);
            (!silenced(rules, &address)).then(|| Drift {
                address,
                kind: kind.clone(),
                id: l.id.clone(),
                region: region.map(str::to_string),
                finding: Finding::HandMade {
                    inside: parent.map(|(id, addr)| (addr.clone(), id.clone())),
                    description,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Live;
    use serde_json::json;

    #[test]
    fn rules_parse_addresses_with_keys() {
        let r = Rule::parse("public[us-east-1a].tags.Owner").unwrap();
        assert_eq!(r.address, "public[us-east-1a]");
        assert_eq!(r.path, vec!["tags", "Owner"]);
        assert!(Rule::parse("*.tags").unwrap().matches("anything[x]"));
        assert!(Rule::parse("public[*].tags").unwrap().matches("public[b]"));
        assert!(!Rule::parse("public[*].tags").unwrap().matches("private[b]"));
        assert!(Rule::parse("vpc").is_err());
        let r = Rule::parse("module.net[a].subnet[us-east-1a].tags.Owner").unwrap();
        assert_eq!(r.address, "module.net[a].subnet[us-east-1a]");
        assert_eq!(r.path, vec!["tags", "Owner"]);
        let r = Rule::parse("module.edge.zone.tags").unwrap();
        assert_eq!((r.address.as_str(), r.path.len()), ("module.edge.zone", 1));
        let r = Rule::parse("ec2.subnet[subnet-0c9].*").unwrap();
        assert_eq!(
            (r.address.as_str(), r.path[0].as_str()),
            ("ec2.subnet[subnet-0c9]", "*")
        );
        assert!(
            Rule::parse("module.net[*].vpc.tags")
                .unwrap()
                .matches("module.net[b].vpc")
        );
        assert!(
            !Rule::parse("module.net[*].vpc.tags")
                .unwrap()
                .matches("module.net[b].sg")
        );
    }

    #[test]
    fn ignored_keys_are_not_drift() {
        let mut st = State::new("t");
        st.resources.insert(
            "vpc".into(),
            crate::state::Recorded {
                kind: "ec2.vpc".into(),
                id: "vpc-1".into(),
                region: None,
                properties: json!({"cidr_block": "10.0.0.0/16", "tags": {"A": "1"}}),
                outputs: Default::default(),
                dependencies: vec![],
                prevent_destroy: false,
                imported: false,
            },
        );
        let mut live = Refreshed::default();
        let l = Live {
            id: "vpc-1".into(),
            props: json!({"cidr_block": "10.0.0.0/16", "tags": {"A": "1", "Scanner": "x"}}),
            outputs: Default::default(),
            unobserved: vec![],
            claimed_by: None,
        };
        live.recorded.insert("vpc".into(), Some(l));
        assert_eq!(detect(Some(&st), &live, &[]).len(), 1);
        let rules = [Rule::parse("vpc.tags.Scanner").unwrap()];
        assert!(detect(Some(&st), &live, &rules).is_empty());
    }

    /// A set (here a group's rules) read back in another order, or recorded
    /// with its keys in another order, is the same set: no drift.
    #[test]
    fn sets_in_another_order_are_not_drift() {
        let spec = crate::kind::lookup("ec2.security_group").unwrap();
        let http = json!({"cidr_block": "0.0.0.0/0", "description": "HTTP", "from_port": 80,
                          "protocol": "tcp", "to_port": 80});
        let https = json!({"protocol": "tcp", "from_port": 443, "to_port": 443,
                           "cidr_block": "0.0.0.0/0", "description": "HTTPS"});
        let props = |rules: Value| json!({"name": "web", "vpc_id": "vpc-1", "ingress": rules});
        let mut st = State::new("t");
        st.resources.insert(
            "web".into(),
            crate::state::Recorded {
                kind: "ec2.security_group".into(),
                id: "sg-1".into(),
                region: None,
                properties: props(json!([http, https])),
                outputs: Default::default(),
                dependencies: vec![],
                prevent_destroy: false,
                imported: false,
            },
        );
        for order in [json!([https, http]), json!([http, https])] {
            let mut live = Refreshed::default();
            let l = Live {
                id: "sg-1".into(),
                props: crate::kind::canonical(spec, &props(order)),
                outputs: Default::default(),
                unobserved: vec![],
                claimed_by: None,
            };
            live.recorded.insert("web".into(), Some(l));
            let d = detect(Some(&st), &live, &[]);
            assert!(d.is_empty(), "{d:?}");
        }
    }
}
