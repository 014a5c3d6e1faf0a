//! provision: a declarative AWS provisioner. See ARCHITECTURE.md for the map.

pub mod aws;
pub mod commands;
pub mod diag;
pub mod drift;
pub mod exec;
pub mod expr;
pub mod graph;
pub mod kind;
pub mod limits;
pub mod plan;
pub mod provider;
pub mod refresh;
pub mod render;
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

    /// A file's text before its first test module.
    fn code(p: &Path) -> String {
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

    #[test]
    fn a_kind_name_is_written_once_and_every_kind_call_goes_through_its_api() {
        let mut files = Vec::new();
        sources(&root().join("src"), &mut files);
        for k in crate::aws::KINDS {
            let quoted = format!("\"{}\"", k.name);
            let n: usize = files.iter().map(|f| code(f).matches(&quoted).count()).sum();
            assert_eq!(
                n, 1,
                "{} is written {n} times in src/ (outside tests)",
                k.name
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
