//! Unit tests of `expr`.
use super::*;

#[test]
fn cidrsubnet_matches_terraform() {
    assert_eq!(cidrsubnet("10.0.0.0/16", 8, 0).unwrap(), "10.0.0.0/24");
    assert_eq!(cidrsubnet("10.0.0.0/16", 8, 12).unwrap(), "10.0.12.0/24");
    assert_eq!(cidrsubnet("10.1.0.0/16", 4, 15).unwrap(), "10.1.240.0/20");
    assert!(cidrsubnet("10.0.0.0/16", 8, 256).is_err());
    assert!(cidrsubnet("10.0.0.0/30", 8, 0).is_err());
}

#[test]
fn hostile_expressions_are_refused_not_crashed_on() {
    let deep = "(".repeat(20_000) + "1" + &")".repeat(20_000);
    assert!(parse_expr(&deep).unwrap_err().1.contains("too long"));
    let deep = "(".repeat(65) + "1" + &")".repeat(65);
    assert!(parse_expr(&deep).unwrap_err().1.contains("too deep"));
    let minus = "-".repeat(100) + "1";
    assert!(parse_expr(&minus).unwrap_err().1.contains("too deep"));
    let chain = vec!["1"; 100].join("+");
    assert!(parse_expr(&chain).unwrap_err().1.contains("too deep"));
    assert!(parse_expr(&vec!["1"; 60].join("+")).is_ok());
    assert!(parse_expr("-3").is_ok());
    let huge = [Value::from(i64::MIN + 1), Value::from(i64::MAX)];
    assert!(call("range", &huge).unwrap_err().contains("at most"));
    let forty = Value::Array((0..40).map(Value::from).collect());
    let five = vec![forty; 5];
    assert!(call("setproduct", &five).unwrap_err().contains("102400000"));
    assert!(cidrsubnet("10.0.0.0/8", i64::MAX, 1).is_err());
    assert!(cidrsubnet("10.0.0.0/8", i64::MIN, 1).is_err());
}

#[test]
fn parses_templates() {
    let p = parse_template("a-${var.x}-$${b}").unwrap();
    assert_eq!(p.len(), 3);
    assert!(matches!(&p[2], Part::Text(t) if t == "-${b}"));
    let e = parse_expr("subnet[each.key].id").unwrap();
    assert!(matches!(e, Expr::Ref { ref root, ref segs } if root == "subnet" && segs.len() == 2));
    assert!(parse_expr("cidrsubnet(var.cidr, 8, each.index + 10)").is_ok());
    assert_eq!(
        parse_expr("vpc.").unwrap_err().1,
        "expected a name after `.`"
    );
    assert!(parse_template("${vpc.id").is_err());
}

struct Vars;
impl Scope for Vars {
    fn special(&self, root: &str, name: &str) -> Option<Result<Value, String>> {
        match (root, name) {
            ("var", "env") => Some(Ok(Value::from("staging"))),
            ("var", "n") => Some(Ok(Value::from(3))),
            ("var", "later") => Some(Ok(unknown())),
            _ => None,
        }
    }
    fn resource_attr(&self, _: &str, _: Option<&str>, _: &str) -> Result<Value, String> {
        Ok(unknown())
    }
    fn keys_of(&self, _: &str) -> Result<Option<&[String]>, String> {
        Ok(None)
    }
}

fn ev(s: &str) -> Value {
    eval(&parse_expr(s).unwrap(), &Vars).unwrap()
}

#[test]
fn comparisons_booleans_and_conditionals() {
    assert_eq!(ev("var.env == \"production\" ? 3 : 1"), Value::from(1));
    assert_eq!(
        ev("var.n >= 3 && !(var.env != \"staging\")"),
        Value::Bool(true)
    );
    assert_eq!(ev("var.n < 2 || var.n > 2"), Value::Bool(true));
    assert_eq!(
        ev("var.n == \"3\""),
        Value::Bool(true),
        "a number and its text"
    );
    assert_eq!(ev("true ? null : 1"), Value::Null);
    // Unknowns stay unknown, except where the answer does not depend on them.
    assert_eq!(ev("var.later == 1"), unknown());
    assert_eq!(ev("false && var.later"), Value::Bool(false));
    assert_eq!(ev("true || var.later"), Value::Bool(true));
    assert_eq!(ev("var.later ? 2 : 2"), Value::from(2));
    assert_eq!(ev("var.later ? 1 : 2"), unknown());
    // Precedence: arithmetic, then comparison, then && then ||, then ?:.
    assert_eq!(ev("1 + 2 * 3 == 7 || false && false"), Value::Bool(true));
    let err = eval(&parse_expr("var.n ? 1 : 2").unwrap(), &Vars).unwrap_err();
    assert!(err.contains("not true or false"), "{err}");
    assert!(
        parse_expr("var.n ? 1")
            .unwrap_err()
            .1
            .contains("expected `:`")
    );
}

#[test]
fn list_literals() {
    assert_eq!(ev("[]"), serde_json::json!([]));
    assert_eq!(
        ev("var.n > 2 ? [\"proof\", var.n] : []"),
        serde_json::json!(["proof", 3])
    );
    assert_eq!(ev("concat([1], [[2]])"), serde_json::json!([1, [2]]));
    assert_eq!(ev("[var.later]"), serde_json::json!([unknown()]));
    assert_eq!(
        ev("concat([], [var.later], [1])"),
        serde_json::json!([unknown(), 1])
    );
    assert!(parse_expr("[1, 2").unwrap_err().1.contains("expected `,`"));
}
