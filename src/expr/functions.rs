//! The functions of the `${...}` language: `cidrsubnet`, list and map
//! helpers. Each checks its arguments' shapes and the limits on what it
//! builds (`limits.rs`) before building it.

use serde_json::Value;

use super::{as_int, contains_unknown, key_string, scalar_text, too_long, unknown};
use crate::limits;

pub(super) fn call(f: &str, args: &[Value]) -> Result<Value, String> {
    // A list of which some items are not known yet joins as it is: how
    // many items there are is known.
    let lists = f == "concat" && args.iter().all(Value::is_array);
    if !lists && args.iter().any(contains_unknown) {
        return Ok(unknown());
    }
    match f {
        "cidrsubnet" => {
            let [p, bits, num] = args else {
                return Err("cidrsubnet takes 3 arguments: (prefix, newbits, netnum)".into());
            };
            let p = p.as_str().ok_or("cidrsubnet: prefix must be a string")?;
            cidrsubnet(p, as_int(bits)?, as_int(num)?).map(Value::String)
        }
        "concat" => {
            let mut out = Vec::new();
            for a in args {
                match a {
                    Value::Array(x) => out.extend(x.iter().cloned()),
                    _ => return Err("concat takes lists".into()),
                }
                if out.len() > limits::LIST_ITEMS {
                    return Err(format!("concat: at most {} items", limits::LIST_ITEMS));
                }
            }
            Ok(Value::Array(out))
        }
        "format" => {
            let Some(Value::String(fmt)) = args.first() else {
                return Err("format takes a format string first".into());
            };
            let mut out = String::new();
            let mut rest = args[1..].iter();
            let mut chars = fmt.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '%' && chars.peek() == Some(&'s') {
                    chars.next();
                    let a = rest.next().ok_or("format: too few arguments")?;
                    out.push_str(&scalar_text(a)?);
                } else {
                    out.push(c);
                }
                if out.len() > limits::STRING_BYTES {
                    return Err(too_long("format"));
                }
            }
            Ok(Value::String(out))
        }
        "range" => {
            let (from, to) = match args {
                [n] => (0, as_int(n)?),
                [a, b] => (as_int(a)?, as_int(b)?),
                _ => return Err("range takes (n) or (from, to)".into()),
            };
            if to
                .checked_sub(from)
                .is_none_or(|n| n > limits::LIST_ITEMS as i64)
            {
                return Err(format!("range: at most {} numbers", limits::LIST_ITEMS));
            }
            Ok(Value::Array((from..to).map(Value::from).collect()))
        }
        "setproduct" => {
            let mut size = 1usize;
            for a in args {
                let Value::Array(items) = a else {
                    return Err("setproduct takes lists".into());
                };
                size = size.saturating_mul(items.len());
            }
            if size > limits::LIST_ITEMS {
                return Err(format!(
                    "setproduct: the product has {size} combinations, at most {} allowed",
                    limits::LIST_ITEMS
                ));
            }
            let mut out: Vec<Vec<Value>> = vec![vec![]];
            for a in args {
                let Value::Array(items) = a else {
                    return Err("setproduct takes lists".into());
                };
                out = out
                    .into_iter()
                    .flat_map(|prefix| {
                        items.iter().map(move |x| {
                            let mut p = prefix.clone();
                            p.push(x.clone());
                            p
                        })
                    })
                    .collect();
            }
            Ok(Value::Array(out.into_iter().map(Value::Array).collect()))
        }
        "length" => match args {
            [Value::Array(a)] => Ok(Value::from(a.len())),
            [Value::Object(o)] => Ok(Value::from(o.len())),
            _ => Err("length takes one list or map".into()),
        },
        "slice" | "zipmap" | "keys" | "values" | "merge" | "lookup" | "join" | "contains" => {
            collections(f, args)
        }
        _ => Err(format!(
            "unknown function `{f}` (known: cidrsubnet, concat, contains, format, join, keys, length, lookup, merge, range, setproduct, slice, values, zipmap)"
        )),
    }
}

/// The list and map helpers.
fn collections(f: &str, args: &[Value]) -> Result<Value, String> {
    match f {
        "slice" => {
            let [Value::Array(a), from, to] = args else {
                return Err("slice takes (list, from, to)".into());
            };
            let (from, to) = (as_int(from)?, as_int(to)?);
            let ok = |n: i64| usize::try_from(n).ok().filter(|&n| n <= a.len());
            match (ok(from), ok(to)) {
                (Some(f), Some(t)) if f <= t => Ok(Value::Array(a[f..t].to_vec())),
                _ => Err(format!(
                    "slice: {from}..{to} is not within the list's {} items",
                    a.len()
                )),
            }
        }
        "zipmap" => {
            let [Value::Array(k), Value::Array(v)] = args else {
                return Err("zipmap takes (list of keys, list of values)".into());
            };
            if k.len() != v.len() {
                return Err(format!("zipmap: {} keys but {} values", k.len(), v.len()));
            }
            let mut m = serde_json::Map::new();
            for (key, val) in k.iter().zip(v) {
                m.insert(key_string(key)?, val.clone());
            }
            Ok(Value::Object(m))
        }
        "keys" | "values" => match args {
            [Value::Object(o)] if f == "keys" => {
                Ok(Value::Array(o.keys().cloned().map(Value::String).collect()))
            }
            [Value::Object(o)] => Ok(Value::Array(o.values().cloned().collect())),
            _ => Err(format!("{f} takes one map")),
        },
        "merge" => {
            let mut m = serde_json::Map::new();
            for a in args {
                let Value::Object(o) = a else {
                    return Err("merge takes maps".into());
                };
                m.extend(o.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Ok(Value::Object(m))
        }
        "lookup" => match args {
            [Value::Object(o), k] => o
                .get(&key_string(k)?)
                .cloned()
                .ok_or_else(|| format!("lookup: no key {k}")),
            [Value::Object(o), k, default] => Ok(o
                .get(&key_string(k)?)
                .cloned()
                .unwrap_or_else(|| default.clone())),
            _ => Err("lookup takes (map, key) or (map, key, default)".into()),
        },
        "join" => {
            let [Value::String(sep), Value::Array(items)] = args else {
                return Err("join takes (separator, list)".into());
            };
            let parts = items
                .iter()
                .map(scalar_text)
                .collect::<Result<Vec<_>, _>>()?;
            let out = parts.join(sep);
            if out.len() > limits::STRING_BYTES {
                return Err(too_long("join"));
            }
            Ok(Value::String(out))
        }
        "contains" => match args {
            [Value::Array(a), x] => Ok(Value::Bool(a.contains(x))),
            _ => Err("contains takes (list, value)".into()),
        },
        _ => Err(format!("unknown function `{f}`")),
    }
}

/// Terraform-compatible `cidrsubnet`: the `netnum`-th subnet of `prefix` extended by `newbits`.
pub fn cidrsubnet(prefix: &str, newbits: i64, netnum: i64) -> Result<String, String> {
    let net: ipnet::Ipv4Net = prefix
        .parse()
        .map_err(|_| format!("cidrsubnet: `{prefix}` is not an IPv4 CIDR block"))?;
    let new_len = i64::from(net.prefix_len()).saturating_add(newbits);
    if !(0..=32).contains(&new_len) || newbits < 0 {
        return Err(format!(
            "cidrsubnet: cannot extend /{} by {newbits} bits",
            net.prefix_len()
        ));
    }
    let count = 1i64 << newbits;
    if netnum < 0 || netnum >= count {
        return Err(format!(
            "cidrsubnet: netnum {netnum} does not fit in {newbits} new bits (0..{})",
            count - 1
        ));
    }
    let base = u32::from(net.network());
    let host_bits = 32 - new_len as u32;
    let addr = base | ((netnum as u32) << host_bits);
    Ok(format!("{}/{}", std::net::Ipv4Addr::from(addr), new_len))
}
