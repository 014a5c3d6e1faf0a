//! The stack format as a JSON Schema (draft-07), made from the kinds' and
//! data sources' specs: what `provision schema` prints for editors (the
//! YAML language server completes and checks stacks as people type). Pure.
//!
//! A value may always be an expression (`"${...}"`) instead of a literal:
//! the schema says so wherever a value goes. What only the loader can know
//! (references, types of evaluated values, CIDR blocks) stays the loader's.

use serde_json::{Map, Value, json};

use crate::kind::{DataSpec, KindSpec, Prop, Ty};

/// A string holding `${...}`.
fn expr() -> Value {
    json!({"type": "string", "pattern": "\\$\\{"})
}

/// A literal of this shape, or an expression.
fn or_expr(literal: Value) -> Value {
    json!({"anyOf": [literal, {"$ref": "#/definitions/expression"}]})
}

fn ty(t: &Ty) -> Value {
    match t {
        Ty::Str => or_expr(json!({"type": ["string", "number"]})),
        Ty::OneOf(all) => or_expr(json!({"enum": all})),
        Ty::Bool => or_expr(json!({"type": "boolean"})),
        Ty::Int => or_expr(json!({"type": "integer"})),
        Ty::Cidr => json!({"type": "string"}),
        Ty::StrList { .. } => or_expr(json!({
            "type": "array",
            "items": or_expr(json!({"type": ["string", "number"]}))
        })),
        Ty::Tags => or_expr(json!({
            "type": "object",
            "additionalProperties": {"type": ["string", "number", "boolean"]}
        })),
        Ty::Policy => or_expr(json!({"type": ["object", "string"]})),
        Ty::ObjList(fields) | Ty::Rules(fields, _) => or_expr(json!({
            "type": "array",
            "items": or_expr(object(fields))
        })),
    }
}

/// An object with exactly these fields.
fn object(fields: &[Prop]) -> Value {
    let props: Map<String, Value> = fields
        .iter()
        .map(|p| {
            let mut s = ty(&p.ty);
            s["description"] = json!(p.doc);
            if let Some(d) = p
                .default
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
            {
                s["default"] = d;
            }
            (p.name.to_string(), s)
        })
        .collect();
    let required: Vec<&str> = fields
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name)
        .collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": props,
        "required": required,
    })
}

fn kind_rule(k: &KindSpec) -> Value {
    let mut props = object(k.props);
    props["description"] = json!(k.doc);
    json!({
        "if": {"properties": {"kind": {"const": k.name}}, "required": ["kind"]},
        "then": {"properties": {"properties": props}}
    })
}

fn data_rule(d: &DataSpec) -> Value {
    let mut props = object(d.props);
    props["description"] = json!(d.doc);
    json!({
        "if": {"properties": {"kind": {"const": d.name}}, "required": ["kind"]},
        "then": {"properties": {"properties": props}}
    })
}

fn names() -> Value {
    json!({"pattern": "^[a-z_][a-z0-9_]*$"})
}

fn definitions(kinds: &[&KindSpec], data: &[&DataSpec]) -> Value {
    let kind_names: Vec<&str> = kinds.iter().map(|k| k.name).collect();
    let data_names: Vec<&str> = data.iter().map(|d| d.name).collect();
    let duration = json!({"type": "string", "description": "a duration such as 10m or 90s"});
    json!({
        "expression": expr(),
        "variable": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "description": {"type": "string"},
                "type": {"type": "string", "description": "string, number, bool, list(T), map(T), object or any"},
                "default": {},
                "sensitive": {"type": "boolean"},
                "validation": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["condition", "message"],
                        "properties": {
                            "condition": expr(),
                            "message": {"type": "string"}
                        }
                    }
                }
            }
        },
        "resource": {
            "type": "object",
            "additionalProperties": false,
            "required": ["kind"],
            "properties": {
                "kind": {"enum": kind_names, "description": "service.type: every kind is in docs/resources.md"},
                "region": or_expr(json!({"enum": crate::regions::REGIONS, "description": "the region it lives in (default: its module's, else the stack's)"})),
                "enabled": or_expr(json!({"type": "boolean"})),
                "for_each": or_expr(json!({"type": ["array", "object"]})),
                "depends_on": {"type": "array", "items": {"type": "string"}},
                "lifecycle": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "prevent_destroy": {"type": "boolean"},
                        "create_before_destroy": {"type": "boolean"},
                        "ignore_changes": {"type": "array", "items": {"type": "string"}}
                    }
                },
                "timeouts": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {"create": duration, "update": duration, "delete": duration, "in_use": duration}
                },
                "properties": {"type": "object"}
            },
            "allOf": kinds.iter().map(|k| kind_rule(k)).collect::<Vec<_>>()
        },
        "data": {
            "type": "object",
            "additionalProperties": false,
            "required": ["kind"],
            "properties": {
                "kind": {"enum": data_names, "description": "a data source kind (docs/stack-format.md)"},
                "description": {"type": "string"},
                "properties": {"type": "object"}
            },
            "allOf": data.iter().map(|d| data_rule(d)).collect::<Vec<_>>()
        },
        "output": {
            "type": "object",
            "additionalProperties": false,
            "required": ["value"],
            "properties": {
                "value": {},
                "description": {"type": "string"},
                "sensitive": {"type": "boolean"}
            }
        },
        "module": {
            "type": "object",
            "additionalProperties": false,
            "required": ["source"],
            "properties": {
                "source": {"type": "string", "description": "the module's folder, relative to this file"},
                "inputs": {"type": "object"},
                "for_each": or_expr(json!({"type": ["array", "object"]})),
                "enabled": or_expr(json!({"type": "boolean"})),
                "region": or_expr(json!({"enum": crate::regions::REGIONS, "description": "the region of everything in it (default: where it is used)"})),
                "description": {"type": "string"}
            }
        }
    })
}

/// What a stack and a module file share.
fn body() -> Map<String, Value> {
    let map_of = |def: &str| {
        json!({
            "type": "object",
            "propertyNames": names(),
            "additionalProperties": {"$ref": format!("#/definitions/{def}")}
        })
    };
    let mut m = Map::new();
    m.insert("variables".into(), map_of("variable"));
    m.insert("resources".into(), map_of("resource"));
    m.insert("data".into(), map_of("data"));
    m.insert("outputs".into(), map_of("output"));
    m.insert("modules".into(), map_of("module"));
    m
}

/// The schema of a stack file.
pub fn stack(kinds: &[&KindSpec], data: &[&DataSpec]) -> Value {
    let mut props = body();
    props.insert(
        "stack".into(),
        json!({"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "description": "the stack's name: tags every resource"}),
    );
    props.insert("region".into(), json!({"enum": crate::regions::REGIONS}));
    props.insert(
        "backend".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["bucket", "key"],
            "properties": {
                "bucket": {"type": "string"}, "key": {"type": "string"},
                "region": {"type": "string"}, "kms_key_id": {"type": "string"}
            }
        }),
    );
    props.insert(
        "tags".into(),
        json!({"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}),
    );
    let pairs = |a: &str, b: &str, what: &str| {
        json!({
            "type": "array",
            "description": what,
            "items": {
                "type": "object",
                "additionalProperties": false,
                "required": [a, b],
                "properties": {a: {"type": "string"}, b: {"type": "string"}}
            }
        })
    };
    props.insert(
        "moved".into(),
        pairs(
            "from",
            "to",
            "addresses state renames instead of deleting and creating",
        ),
    );
    props.insert(
        "policy".into(),
        json!({
            "type": "array",
            "description": "rules every planned object must keep: `baseline`, or a rule",
            "items": {"oneOf": [
                {"const": "baseline"},
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name", "condition", "message"],
                    "properties": {
                        "name": {"type": "string"},
                        "kinds": {"type": "array", "items": {"type": "string"}},
                        "level": {"enum": ["deny", "warn"]},
                        "condition": {"type": "string"},
                        "message": {"type": "string"}
                    }
                }
            ]}
        }),
    );
    props.insert(
        "import".into(),
        pairs("to", "id", "existing objects brought under an address"),
    );
    props.insert(
        "stacks".into(),
        json!({
            "type": "object",
            "propertyNames": names(),
            "additionalProperties": {
                "type": "object",
                "additionalProperties": false,
                "required": ["state"],
                "properties": {
                    "state": {"type": "string", "description": "a path, or s3://BUCKET/KEY"},
                    "description": {"type": "string"}
                }
            }
        }),
    );
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "provision stack",
        "type": "object",
        "additionalProperties": false,
        "required": ["stack"],
        "properties": props,
        "definitions": definitions(kinds, data),
    })
}

/// The schema of a module's file.
pub fn module(kinds: &[&KindSpec], data: &[&DataSpec]) -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "provision module file",
        "type": "object",
        "additionalProperties": false,
        "properties": body(),
        "definitions": definitions(kinds, data),
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::{Value, json};

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                yaml_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(p);
            }
        }
    }

    /// A validator for one schema.
    fn validator(schema: Value) -> impl Fn(&Value) -> Result<(), String> {
        let mut schemas = boon::Schemas::new();
        let mut c = boon::Compiler::new();
        c.add_resource("provision.json", schema).unwrap();
        let idx = c.compile("provision.json", &mut schemas).unwrap();
        move |v: &Value| schemas.validate(v, idx).map_err(|e| format!("{e:#}"))
    }

    fn load(p: &Path) -> Value {
        let text = std::fs::read_to_string(p).unwrap();
        serde_saphyr::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// Every stack, example and module the project ships is valid for the
    /// schema editors get; a wrong property or kind is not.
    #[test]
    fn the_shipped_stacks_and_modules_fit_the_schema_and_mistakes_do_not() {
        let (kinds, data) = (crate::aws::KINDS, crate::aws::DATA);
        let stack = validator(super::stack(kinds, data));
        let module = validator(super::module(kinds, data));
        let mut n = 0;
        for dir in ["stacks", "examples", "tests/fixtures"] {
            let mut files = Vec::new();
            yaml_files(&root().join(dir), &mut files);
            for f in files
                .iter()
                .filter(|f| !f.to_string_lossy().contains("/env/"))
            {
                stack(&load(f)).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                n += 1;
            }
        }
        let mut mods = Vec::new();
        yaml_files(&root().join("modules"), &mut mods);
        for f in &mods {
            module(&load(f)).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        }
        assert!(
            n >= 6 && mods.len() >= 4,
            "{n} stacks, {} module files",
            mods.len()
        );
        let mut s = load(&root().join("examples/network.yaml"));
        s["resources"]["vpc"]["properties"]["cidr_blok"] = json!("10.0.0.0/16");
        let e = stack(&s).unwrap_err();
        assert!(e.contains("cidr_blok"), "{e}");
        let mut s = load(&root().join("examples/network.yaml"));
        s["resources"]["vpc"]["kind"] = json!("ec2.vcp");
        assert!(stack(&s).is_err());
        let mut s = load(&root().join("examples/network.yaml"));
        s["resources"]["vpc"]["properties"]["enable_dns_support"] = json!("yes");
        assert!(stack(&s).is_err(), "a boolean property given text");
        s["resources"]["vpc"]["properties"]["enable_dns_support"] = json!("${var.dns}");
        stack(&s).unwrap();
        let mut m = load(&mods[0]);
        m["stack"] = json!("a module has no stack name");
        assert!(module(&m).is_err());
    }
}
