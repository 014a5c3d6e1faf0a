//! Checks that need values: every instance evaluated with every output
//! unknown (types, expressions), and CIDR blocks inside their parent's block
//! without overlapping their siblings (a kind's `within`).

use std::collections::BTreeMap;

use super::cx::Cx;
use super::refs::Refs;
use super::{Instance, Stack, prop_loc};

pub(super) fn values(stack: &Stack, cx: &mut Cx) {
    let (props, errors) = stack.evaluate_static();
    cx.errors.extend(errors);
    let refs = Refs::new(&stack.scopes, &stack.upstream, None);
    // Blocks by parent: (instance, block), in file order.
    let mut by_parent: BTreeMap<String, Vec<(&Instance, ipnet::Ipv4Net)>> = BTreeMap::new();
    for inst in &stack.instances {
        if let Some((prop, min, max)) = inst.kind.block_sizes
            && let Some(net) = props
                .get(&inst.address)
                .and_then(|p| p[prop].as_str())
                .and_then(|s| s.parse::<ipnet::Ipv4Net>().ok())
            && !(min..=max).contains(&net.prefix_len())
        {
            let msg = format!(
                "{}: `{prop}` {net}: AWS takes blocks from /{min} to /{max}",
                inst.address
            );
            cx.push_in(&inst.file, prop_loc(inst, prop), msg);
        }
        let Some(w) = inst.kind.within else { continue };
        let net = props
            .get(&inst.address)
            .and_then(|p| p[w.cidr].as_str())
            .and_then(|s| s.parse::<ipnet::Ipv4Net>().ok());
        let Some(net) = net else { continue };
        // The parent: the dependency the `parent` property refers to.
        let parent_deps = inst
            .props
            .as_ref()
            .and_then(|p| p.field(w.parent))
            .map(|t| {
                let scratch = &mut Cx::new("");
                refs.addresses(
                    inst.scope,
                    t,
                    &inst.name,
                    inst.each.as_ref(),
                    &inst.file,
                    scratch,
                )
            })
            .unwrap_or_default();
        let Some(parent) = inst.deps.iter().find(|d| parent_deps.contains(d)) else {
            continue;
        };
        let outer = props
            .get(parent)
            .and_then(|p| p[w.cidr].as_str())
            .and_then(|s| s.parse::<ipnet::Ipv4Net>().ok());
        if let Some(outer) = outer
            && !outer.contains(&net)
        {
            let msg = format!(
                "{}: subnet {net} is outside its VPC `{parent}` ({outer})",
                inst.address
            );
            cx.push_in(&inst.file, prop_loc(inst, w.cidr), msg);
        }
        by_parent
            .entry(parent.clone())
            .or_default()
            .push((inst, net));
    }
    for children in by_parent.values() {
        overlaps(children, cx);
    }
}

/// `moved:` and `import:` name addresses of the stack: a move's `to` an
/// instance or a module copy, an import's `to` an instance.
pub(super) fn controls(stack: &Stack, cx: &mut Cx) {
    let is_prefix = |a: &str| {
        stack
            .instances
            .iter()
            .any(|i| i.address.starts_with(&format!("{a}.")))
    };
    for m in &stack.moves {
        if stack.instance(&m.to).is_none() && !(m.to.starts_with("module.") && is_prefix(&m.to)) {
            let msg = format!(
                "moved: `to: {}` is no address of the stack (a resource, or a module's copy)",
                m.to
            );
            cx.push_in(&m.file, m.loc, msg);
        }
        if m.from == m.to {
            cx.push_in(&m.file, m.loc, format!("moved: `{}` to itself", m.from));
        }
    }
    for i in &stack.imports {
        if stack.instance(&i.to).is_none() {
            let msg = format!("import: `to: {}` is no resource of the stack", i.to);
            cx.push_in(&i.file, i.loc, msg);
        }
    }
}

/// Reports blocks that overlap an earlier one: sorted by address, a block
/// overlaps when it starts before the widest block so far has ended.
fn overlaps(children: &[(&Instance, ipnet::Ipv4Net)], cx: &mut Cx) {
    let mut order: Vec<usize> = (0..children.len()).collect();
    order.sort_by_key(|&i| (children[i].1.network(), children[i].1.prefix_len(), i));
    let mut widest: Option<usize> = None;
    for &i in &order {
        let net = children[i].1;
        if let Some(w) = widest
            && net.network() <= children[w].1.broadcast()
        {
            let (a, b) = if w < i { (w, i) } else { (i, w) };
            let ((ia, na), (ib, nb)) = (children[a], children[b]);
            let msg = format!(
                "{}: subnet {nb} overlaps {na} of `{}`",
                ib.address, ia.address
            );
            cx.push_in(
                &ib.file,
                prop_loc(ib, ib.kind.within.map_or("", |w| w.cidr)),
                msg,
            );
        }
        if widest.is_none_or(|w| net.broadcast() > children[w].1.broadcast()) {
            widest = Some(i);
        }
    }
}
