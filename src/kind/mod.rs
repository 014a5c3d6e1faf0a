//! What a resource kind is, as data: its properties and their types, which
//! force replacement, what it exports. Pure: no AWS, no IO.
//!
//! Each kind's spec lives in its own file beside its implementation
//! (`aws/<service>/<kind>.rs`); the one list of kinds is `aws::KINDS`, made by
//! the `kinds!` macro. The validator, the planner, the registry and
//! `docs/resources.md` all read that list.
//!
//! Kind names are `service.type`, lower case, as AWS names the service in its
//! API (`ec2.vpc`, `elbv2.load_balancer`, ...).

use serde_json::{Map, Value};

mod docs;
pub mod document;
pub use docs::docs_markdown;

#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    /// One of these strings (a key's `Enabled` or `Disabled`).
    OneOf(&'static [&'static str]),
    Bool,
    Int,
    /// An IPv4 CIDR block in canonical form (`10.0.1.0/24`).
    Cidr,
    /// A list of strings; `set` lists are compared without regard to order.
    StrList {
        set: bool,
    },
    /// A map of tag keys to values.
    Tags,
    /// A list of objects with the given fields; compared as a set.
    ObjList(&'static [Prop]),
    /// Rules as written (these fields), brought to canonical form by the
    /// kind's own function (a security group's: one rule per source), and
    /// drawn one rule a line (`tcp 22 from 0.0.0.0/0`).
    Rules(&'static [Prop], fn(Value) -> Value),
    /// A policy document (`document.rs`): a mapping or JSON text, checked
    /// as a policy, compared in canonical form, shown line by line.
    Policy,
}

#[derive(Debug, Clone, Copy)]
pub struct Prop {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    /// Changing it replaces the resource.
    pub force_new: bool,
    /// JSON text of the default, if any.
    pub default: Option<&'static str>,
    /// A setting of provision's, not of AWS (read back from state, never from AWS):
    /// `skip_final_snapshot`, `force_destroy`.
    pub local: bool,
    /// For a field of a list's items: part of what says which item it is (a
    /// route's destination, a record's name and type), so an item whose key
    /// fields stay and whose others change is shown changed, not replaced.
    pub key: bool,
    pub doc: &'static str,
}

/// In which order a replacement happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ReplaceOrder {
    DeleteThenCreate,
    CreateThenDelete,
}

/// What other objects live in: drift looks inside the ones the state
/// manages for objects made by hand. A closed set: a kind names the one it
/// lives in ([`KindSpec::inside`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Container {
    /// Subnets, route tables, security groups, instances, gateways.
    Vpc,
    /// Records.
    Zone,
    /// Listeners.
    LoadBalancer,
}

impl Container {
    pub const ALL: [Container; 3] = [Container::Vpc, Container::Zone, Container::LoadBalancer];

    /// The property an object names its container by.
    pub fn prop(self) -> &'static str {
        match self {
            Container::Vpc => "vpc_id",
            Container::Zone => "zone_id",
            Container::LoadBalancer => "load_balancer_arn",
        }
    }
}

/// Whether drift looks inside managed containers for hand-made objects of
/// a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inside {
    /// The kind lives in no container.
    Nothing,
    /// It lives in one, and its reads answer `Query::Inside` for it.
    Searched(Container),
    /// It lives in one, but is not looked for there (why, for the docs).
    NotSearched(Container, &'static str),
}

/// A CIDR property that must lie inside the block of the resource another
/// property refers to, without overlapping its siblings (a subnet in its VPC).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Within {
    /// The property naming the parent (`vpc_id`).
    pub parent: &'static str,
    /// The CIDR property, here and on the parent (`cidr_block`).
    pub cidr: &'static str,
}

#[derive(Debug)]
pub struct KindSpec {
    pub name: &'static str,
    pub doc: &'static str,
    pub props: &'static [Prop],
    /// Attributes known only once the resource exists (`id` always).
    pub outputs: &'static [&'static str],
    /// Outputs that an in-place update changes (a launch template's version).
    pub volatile: &'static [&'static str],
    pub replace: ReplaceOrder,
    /// Calls a refresh of N resources of this kind costs.
    pub refresh_cost: &'static str,
    pub within: Option<Within>,
    /// Seconds a delete retries while AWS says the object is in use (network
    /// interfaces of what was in it can linger for minutes).
    pub in_use: u64,
    /// Whether an old and a new object can exist at once, so that a
    /// replacement can create the new one before it deletes the old.
    pub coexist: bool,
    /// The property that must be unique while two coexist, and its longest
    /// length: the new object's gets a suffix (`alb` -> `alb-3f9a2c`).
    pub unique: Option<(&'static str, usize)>,
    /// What create, update and delete wait for, for the docs ("" when the
    /// answer is final).
    pub waits: &'static str,
    /// Whether AWS lists the stack's own objects in one filtered read (EC2's
    /// tag filters): refresh then reads recorded objects and looks for
    /// orphans in that one call.
    pub owned_by_filter: bool,
    /// How long AWS typically takes, in seconds: the executor starts the
    /// operations with the longest expected chain behind them first.
    pub takes: Takes,
    /// How the Resource Groups Tagging API names this kind's objects, for
    /// kinds whose own APIs cannot filter by tag: the search for a stack's
    /// orphans (drift, destroy) asks that index which objects carry the
    /// stack's tag, and reads only those, instead of listing the region
    /// and reading every object's tags.
    pub tagged: Option<Tagged>,
    /// The container its objects live in, and whether drift looks there
    /// for hand-made ones.
    pub inside: Inside,
    /// The built-in policy rules (`policy: [baseline]`) for this kind.
    pub guards: &'static [Guard],
    /// A CIDR property and the prefix lengths AWS takes for it (a VPC's
    /// and a subnet's block: /16 to /28).
    pub block_sizes: Option<(&'static str, u8, u8)>,
    /// Why an in-place update from these properties (live) to those
    /// (desired) cannot be made, when AWS has no way to and a replacement
    /// would lose what matters (a promoted standby's database made a
    /// replica again): the plan is refused at the resource.
    pub refuse_update:
        Option<fn(before: &serde_json::Value, after: &serde_json::Value) -> Option<String>>,
    /// What an in-place update from these properties to those does that
    /// their values do not say (a replica promoted), for the plan.
    pub explain_update:
        Option<fn(before: &serde_json::Value, after: &serde_json::Value) -> Option<String>>,
}

/// A built-in policy rule: what is wrong with an object's planned
/// properties, if anything. `production` is true unless the stack's
/// environment is named otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    pub name: &'static str,
    pub check: fn(props: &serde_json::Value, production: bool) -> Option<String>,
}

/// An ARN of a kind as the tagging index lists it:
/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:PREFIX...`.
#[derive(Debug, Clone, Copy)]
pub struct Tagged {
    pub service: &'static str,
    pub prefix: &'static str,
    /// The kind's id is the whole ARN (else what follows the prefix).
    pub id_is_arn: bool,
}

impl Tagged {
    /// The id of the object this ARN names, if it is one of this kind.
    pub fn id_of(&self, arn: &str) -> Option<String> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [_, _, service, _, _, resource] = parts[..] else {
            return None;
        };
        let rest = resource.strip_prefix(self.prefix)?;
        (service == self.service && !rest.is_empty())
            .then(|| if self.id_is_arn { arn } else { rest }.to_string())
    }
}

/// Typical seconds an operation of a kind takes on AWS, including its waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Takes {
    pub create: u32,
    pub update: u32,
    pub delete: u32,
    /// Updates that take longer when they change one of these properties:
    /// (property, seconds). A replica's promotion (emptying an Aurora
    /// cluster's `replication_source`) takes minutes, not a modify's one.
    pub slow: &'static [(&'static str, u32)],
}

impl Takes {
    /// One call and an answer that is final.
    pub const QUICK: Takes = Takes {
        create: 1,
        update: 1,
        delete: 1,
        slow: &[],
    };
    pub const fn secs(create: u32, update: u32, delete: u32) -> Takes {
        Takes {
            create,
            update,
            delete,
            slow: &[],
        }
    }
    /// The same, with updates of these properties taking longer.
    pub const fn slow(self, slow: &'static [(&'static str, u32)]) -> Takes {
        Takes { slow, ..self }
    }
    /// How long an update changing these properties takes.
    pub fn update_of<S: AsRef<str>>(&self, changed: &[S]) -> u32 {
        self.slow
            .iter()
            .filter(|(p, _)| changed.iter().any(|c| c.as_ref() == *p))
            .map(|(_, s)| *s)
            .fold(self.update, u32::max)
    }
}

/// The suffix a name gets while its replacement coexists with it: `-` and six hex digits.
pub const SUFFIX_LEN: usize = 7;

/// `base` cut so that it and the suffix fit in `max`.
fn stem(base: &str, max: usize) -> &str {
    let keep = max.saturating_sub(SUFFIX_LEN).min(base.len());
    let mut end = keep;
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    &base[..end]
}

/// Whether `live` is `base` with a replacement's suffix.
pub fn is_suffixed(live: &str, base: &str, max: usize) -> bool {
    let stem = stem(base, max);
    live.len() == stem.len() + SUFFIX_LEN
        && live.starts_with(stem)
        && live[stem.len()..].starts_with('-')
        && live[stem.len() + 1..]
            .chars()
            .all(|c| c.is_ascii_hexdigit())
}

/// `base` with a replacement's suffix, within `max` characters. The suffix
/// is drawn from `seed` (the id of the object being replaced): the same plan
/// gives the same name every time it is made, and every replaced object a
/// name of its own.
pub fn suffixed(base: &str, max: usize, seed: &str) -> String {
    // FNV-1a: small, stable across builds and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes().chain(base.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let hex = format!("{h:016x}");
    format!("{}-{}", stem(base, max), &hex[..SUFFIX_LEN - 1])
}

impl KindSpec {
    /// A spec with the common defaults; kinds override what differs.
    pub const fn new(name: &'static str, doc: &'static str, props: &'static [Prop]) -> KindSpec {
        KindSpec {
            name,
            doc,
            props,
            outputs: &["id"],
            volatile: &[],
            replace: ReplaceOrder::DeleteThenCreate,
            refresh_cost: "",
            within: None,
            in_use: 300,
            coexist: false,
            unique: None,
            waits: "",
            owned_by_filter: false,
            takes: Takes::QUICK,
            tagged: None,
            inside: Inside::Nothing,
            guards: &[],
            block_sizes: None,
            refuse_update: None,
            explain_update: None,
        }
    }
    pub fn prop(&self, name: &str) -> Option<&'static Prop> {
        self.props.iter().find(|p| p.name == name)
    }
    pub fn has_tags(&self) -> bool {
        self.prop("tags").is_some()
    }
    /// Its service is one for the whole account, not a region's (IAM,
    /// Route 53, Shield): its objects have no region, and `region:` does
    /// not move them.
    pub fn global(&self) -> bool {
        let service = self.name.split('.').next().unwrap_or_default();
        GLOBAL_SERVICES.contains(&service)
    }
}

/// Services whose objects belong to the account, not to a region.
pub const GLOBAL_SERVICES: &[&str] = &["iam", "route53", "shield"];

/// A property: optional, updated in place, no default.
pub const fn p(name: &'static str, ty: Ty, doc: &'static str) -> Prop {
    Prop {
        name,
        ty,
        required: false,
        force_new: false,
        default: None,
        local: false,
        key: false,
        doc,
    }
}
/// Required.
pub const fn req(mut x: Prop) -> Prop {
    x.required = true;
    x
}
/// Changing it replaces the resource.
pub const fn new(mut x: Prop) -> Prop {
    x.force_new = true;
    x
}
/// A setting of provision's own, kept in state.
pub const fn local(mut x: Prop) -> Prop {
    x.local = true;
    x
}
/// Part of what identifies an item of a list (see [`Prop::key`]).
pub const fn key(mut x: Prop) -> Prop {
    x.key = true;
    x
}
/// With a default (JSON text).
pub const fn def(mut x: Prop, d: &'static str) -> Prop {
    x.default = Some(d);
    x
}

pub const TAGS: Prop = p("tags", Ty::Tags, "tags, merged with the stack's tags");

/// `security_group_ids` with an empty default: many kinds have it.
pub const SECURITY_GROUPS: Prop = def(
    p(
        "security_group_ids",
        Ty::StrList { set: true },
        "security groups",
    ),
    "[]",
);

/// A data source kind, as data: the filters it takes (properties) and the
/// attributes its read gives. Read at plan time, never written.
#[derive(Debug)]
pub struct DataSpec {
    pub name: &'static str,
    pub doc: &'static str,
    pub props: &'static [Prop],
    /// Attributes the read gives, with what each is.
    pub attrs: &'static [(&'static str, &'static str)],
}

impl DataSpec {
    pub fn prop(&self, name: &str) -> Option<&'static Prop> {
        self.props.iter().find(|p| p.name == name)
    }
    pub fn has_attr(&self, name: &str) -> bool {
        self.attrs.iter().any(|(a, _)| *a == name)
    }
}

/// A data source kind by name.
pub fn lookup_data(name: &str) -> Option<&'static DataSpec> {
    crate::aws::DATA.iter().copied().find(|k| k.name == name)
}

pub fn data_names() -> impl Iterator<Item = &'static str> + Clone {
    crate::aws::DATA.iter().map(|k| k.name)
}

/// The spec of a kind by name.
pub fn lookup(name: &str) -> Option<&'static KindSpec> {
    crate::aws::KINDS.iter().copied().find(|k| k.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    crate::aws::KINDS.iter().map(|k| k.name)
}

/// Checks a value against a type. `path` names the place for the message.
/// Values known only after apply pass.
pub fn check(ty: &Ty, v: &Value, path: &str) -> Result<(), String> {
    if crate::expr::contains_unknown(v) && !v.is_array() && !v.is_object() {
        return Ok(());
    }
    let bad = |want: &str| Err(format!("`{path}` must be {want}, found {}", describe(v)));
    match ty {
        Ty::Str => match v {
            Value::String(_) | Value::Number(_) => Ok(()),
            _ => bad("a string"),
        },
        Ty::OneOf(all) => match v {
            Value::String(s) if all.contains(&s.as_str()) => Ok(()),
            _ => bad(&format!("one of {}", all.join(", "))),
        },
        Ty::Bool => match v {
            Value::Bool(_) => Ok(()),
            _ => bad("true or false"),
        },
        Ty::Int => match v {
            Value::Number(n) if n.is_i64() => Ok(()),
            Value::String(s) if s.parse::<i64>().is_ok() => Ok(()),
            _ => bad("an integer"),
        },
        Ty::Cidr => match v {
            Value::String(s) => check_cidr(s)
                .map(|_| ())
                .map_err(|m| format!("`{path}`: {m}")),
            _ => bad("an IPv4 CIDR block such as 10.0.0.0/16"),
        },
        Ty::StrList { .. } => match v {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .try_for_each(|(i, x)| check(&Ty::Str, x, &format!("{path}[{i}]"))),
            _ => bad("a list of strings"),
        },
        Ty::Tags => match v {
            Value::Object(o) => {
                for (k, x) in o {
                    if !(x.is_string() || x.is_number() || x.is_boolean()) {
                        return Err(format!("tag `{k}` in `{path}` must be a string"));
                    }
                }
                Ok(())
            }
            _ => bad("a mapping of tag names to values"),
        },
        Ty::ObjList(fields) | Ty::Rules(fields, _) => check_objects(fields, v, path),
        Ty::Policy => document::check(v).map_err(|m| format!("`{path}` {m}")),
    }
}

fn check_objects(fields: &[Prop], v: &Value, path: &str) -> Result<(), String> {
    let Value::Array(a) = v else {
        return Err(format!(
            "`{path}` must be a list of mappings, found {}",
            describe(v)
        ));
    };
    for (i, item) in a.iter().enumerate() {
        let Value::Object(o) = item else {
            return Err(format!(
                "`{path}[{i}]` must be a mapping, found {}",
                describe(item)
            ));
        };
        for (k, x) in o {
            let Some(f) = fields.iter().find(|f| f.name == k) else {
                return Err(format!(
                    "unknown field `{k}` in `{path}[{i}]`, expected one of: {}",
                    fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
                ));
            };
            check(&f.ty, x, &format!("{path}[{i}].{k}"))?;
        }
        if let Some(f) = fields
            .iter()
            .find(|f| f.required && !o.contains_key(f.name))
        {
            return Err(format!("`{path}[{i}]` needs `{}`", f.name));
        }
    }
    Ok(())
}

pub fn check_cidr(s: &str) -> Result<ipnet::Ipv4Net, String> {
    let net: ipnet::Ipv4Net = s
        .parse()
        .map_err(|_| format!("`{s}` is not an IPv4 CIDR block such as 10.0.0.0/16"))?;
    if net.network() != net.addr() {
        return Err(format!(
            "`{s}` is not a network address; did you mean {}?",
            net.trunc()
        ));
    }
    Ok(net)
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("{n}"),
        Value::String(s) => format!("\"{s}\""),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

/// The same value with every object's keys in sorted order (serde_json keeps
/// insertion order here: the AWS SDK turns its `preserve_order` feature on).
pub fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&o[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn default_of(prop: &Prop) -> Option<Value> {
    // Defaults are literals in this crate; a test parses every one of them.
    prop.default.and_then(|d| serde_json::from_str(d).ok())
}

/// Brings evaluated properties to the canonical form used in state and diffs:
/// defaults filled in, numbers-as-strings fixed, sets sorted, rules flattened.
/// The AWS readers produce the same form, so equal means equal.
pub fn canonical(spec: &KindSpec, props: &Value) -> Value {
    let mut out = Map::new();
    let empty = Map::new();
    let obj = props.as_object().unwrap_or(&empty);
    for prop in spec.props {
        let v = match obj.get(prop.name) {
            Some(v) if !v.is_null() => v.clone(),
            _ => match default_of(prop) {
                Some(d) => d,
                None => continue,
            },
        };
        out.insert(prop.name.to_string(), canon_value(&prop.ty, v));
    }
    sorted(&Value::Object(out))
}

fn canon_value(ty: &Ty, v: Value) -> Value {
    if crate::expr::contains_unknown(&v) && !v.is_array() && !v.is_object() {
        return v;
    }
    match ty {
        Ty::Str => match v {
            Value::Number(n) => Value::String(n.to_string()),
            v => v,
        },
        Ty::Int => match &v {
            Value::String(s) => s.parse::<i64>().map(Value::from).unwrap_or(v),
            _ => v,
        },
        Ty::StrList { set } => {
            let mut a: Vec<Value> = items(v)
                .into_iter()
                .map(|x| canon_value(&Ty::Str, x))
                .collect();
            if *set {
                sort_values(&mut a);
                // Unknown ids are distinct values that look alike: keep them all.
                a.dedup_by(|x, y| x == y && !crate::expr::contains_unknown(x));
            }
            Value::Array(a)
        }
        Ty::Tags => match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .map(|(k, x)| (k, canon_value(&Ty::Str, x)))
                    .collect(),
            ),
            _ => Value::Object(Map::new()),
        },
        Ty::Rules(_, canon) => sorted_set(canon(v)),
        Ty::ObjList(fields) => {
            let mut a: Vec<Value> = items(v)
                .into_iter()
                .map(|item| {
                    let mut o = Map::new();
                    for f in fields.iter() {
                        let x = match item.get(f.name).filter(|x| !x.is_null()) {
                            Some(x) => x.clone(),
                            None => match default_of(f) {
                                Some(d) => d,
                                None => continue,
                            },
                        };
                        o.insert(f.name.to_string(), canon_value(&f.ty, x));
                    }
                    Value::Object(o)
                })
                .collect();
            sort_values(&mut a);
            Value::Array(a)
        }
        Ty::Policy => document::canonical(v),
        Ty::Bool | Ty::Cidr | Ty::OneOf(_) => v,
    }
}

fn items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        _ => vec![],
    }
}

/// Sorts items by their text with keys in order: the same items sort the
/// same whatever order their keys were inserted in (serde_json keeps
/// insertion order here), so a set read back from AWS or from state compares
/// equal to the one the stack wrote.
fn sort_values(a: &mut [Value]) {
    a.sort_by_cached_key(|x| sorted(x).to_string());
}

/// A list as a set: sorted as [`sort_values`] sorts, duplicates dropped.
fn sorted_set(v: Value) -> Value {
    let mut a = items(v);
    sort_values(&mut a);
    a.dedup();
    Value::Array(a)
}

/// One property's value in canonical form (sets sorted, rules split, numbers
/// as their type says).
pub fn canonical_prop(prop: &Prop, v: &Value) -> Value {
    sorted(&canon_value(&prop.ty, v.clone()))
}

#[cfg(test)]
mod tests;
