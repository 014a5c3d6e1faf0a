//! provision: a declarative AWS provisioner. See ARCHITECTURE.md for the map.

pub mod aws;
pub mod commands;
pub mod compare;
pub mod diag;
pub mod drift;
pub mod exec;
pub mod expr;
pub mod graph;
pub mod interrupt;
pub mod journal;
pub mod kind;
pub mod limits;
pub mod model;
pub mod moves;
pub mod plan;
pub mod policy;
pub mod provider;
pub mod refresh;
pub mod regions;
pub mod render;
pub mod schema;
pub mod session;
pub mod stack;
pub mod state;
pub mod watch;
pub mod yaml;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod fuzz_tests;

/// Checks that keep ARCHITECTURE.md and the code's rules true.
#[cfg(test)]
mod architecture {
    use std::path::{Path, PathBuf};

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// A file's text before its first test module (none for a `tests.rs`,
    /// a module's unit tests beside it).
    fn code(p: &Path) -> String {
        if p.ends_with("tests.rs") {
            return String::new();
        }
        let text = std::fs::read_to_string(p).unwrap();
        text.split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn every_file_architecture_names_exists() {
        let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
        let mut files = Vec::new();
        sources(&root().join("src"), &mut files);
        sources(&root().join("tests"), &mut files);
        let mut named = 0;
        for part in doc.split('`').skip(1).step_by(2) {
            if part.ends_with(".rs") && !part.contains('<') && !part.contains(' ') {
                let found = files.iter().any(|f| f.ends_with(part));
                assert!(found, "ARCHITECTURE.md names {part}, which does not exist");
                named += 1;
            }
        }
        assert!(named >= 20, "ARCHITECTURE.md names too few files: {named}");
        // The walkthrough's example is a registered kind.
        let registry = std::fs::read_to_string(root().join("src/aws/mod.rs")).unwrap();
        assert!(doc.contains("src/aws/ec2/eip.rs") && registry.contains("ec2::eip::Eip,"));
    }

    /// Every source file outside the services' folders is on the map: the
    /// map is where a new engineer starts.
    #[test]
    fn every_file_is_on_the_map() {
        let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
        let mut files = Vec::new();
        sources(&root().join("src"), &mut files);
        let services = root().join("src/aws");
        for f in files {
            let in_service = f
                .parent()
                .is_some_and(|d| d != services && d.starts_with(&services));
            if in_service || f.ends_with("tests.rs") {
                continue;
            }
            let rel = f.strip_prefix(root().join("src")).unwrap();
            let name = rel.file_name().unwrap().to_string_lossy().to_string();
            let named = doc.contains(&format!("`{}`", rel.display()))
                || doc.contains(&format!("`{name}`"))
                || (name == "mod.rs"
                    && doc.contains(&format!("`{}/`", rel.parent().unwrap().display())));
            assert!(named, "ARCHITECTURE.md does not name src/{}", rel.display());
        }
    }

    /// The core imports in one direction (ARCHITECTURE.md, bird's-eye
    /// view): no module imports one that imports it back.
    #[test]
    fn the_core_has_no_import_circles() {
        let forbidden: &[(&str, &[&str])] = &[
            (
                "src/model.rs",
                &[
                    "crate::plan",
                    "crate::drift",
                    "crate::refresh",
                    "crate::exec",
                    "crate::render",
                ],
            ),
            (
                "src/compare.rs",
                &[
                    "crate::plan",
                    "crate::drift",
                    "crate::exec",
                    "crate::render",
                ],
            ),
            (
                "src/plan.rs",
                &["crate::exec", "crate::render", "crate::refresh"],
            ),
            (
                "src/drift.rs",
                &[
                    "crate::plan",
                    "crate::exec",
                    "crate::render",
                    "crate::refresh",
                ],
            ),
            (
                "src/refresh.rs",
                &["crate::plan", "crate::exec", "crate::render"],
            ),
            (
                "src/render",
                &[
                    "crate::plan",
                    "crate::drift",
                    "crate::refresh",
                    "crate::aws",
                ],
            ),
            (
                "src/exec",
                &["crate::plan", "crate::render", "crate::drift", "crate::aws"],
            ),
        ];
        for (path, banned) in forbidden {
            let p = root().join(path);
            let mut files = Vec::new();
            if p.is_dir() {
                sources(&p, &mut files);
            } else {
                files.push(p);
            }
            for f in files {
                let text = code(&f);
                for b in *banned {
                    let used = text.match_indices(b).any(|(i, _)| {
                        !text[i + b.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
                    });
                    assert!(!used, "{} imports {b}", f.display());
                }
            }
        }
    }

    #[test]
    fn a_kind_name_is_written_once_and_every_kind_call_goes_through_its_api() {
        let mut files = Vec::new();
        sources(&root().join("src"), &mut files);
        // A name is written once per registry it is in (`ec2.vpc` is a kind
        // and a data source): in its spec.
        let names = crate::aws::KINDS
            .iter()
            .map(|k| k.name)
            .chain(crate::aws::DATA.iter().map(|d| d.name));
        for name in names {
            let quoted = format!("\"{name}\"");
            let n: usize = files.iter().map(|f| code(f).matches(&quoted).count()).sum();
            let specs = usize::from(crate::kind::lookup(name).is_some())
                + usize::from(crate::kind::lookup_data(name).is_some());
            assert_eq!(
                n, specs,
                "{name} is written {n} times in src/ (outside tests), in {specs} registries"
            );
        }
        let kinds = root().join("src/aws");
        for f in files
            .iter()
            .filter(|f| f.parent().is_some_and(|d| d != kinds) && f.starts_with(&kinds))
        {
            assert!(
                !code(f).contains(".send()"),
                "{} calls AWS outside call!/pages!",
                f.display()
            );
        }
    }
}
