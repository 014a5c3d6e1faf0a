//! Errors and how they are shown.
//!
//! Every error says where it came from: `file:line:column` for a stack file,
//! the resource address and the AWS error code for the cloud.

use std::fmt;
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, NamedSource, SourceSpan};

/// A position in a stack file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Loc {
    pub line: u32,
    pub col: u32,
}

/// An error in a stack file, with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct StackError {
    pub file: String,
    pub loc: Loc,
    pub message: String,
}

impl StackError {
    pub fn at(file: &str, loc: Loc, message: impl Into<String>) -> Self {
        StackError {
            file: file.to_string(),
            loc,
            message: message.into(),
        }
    }
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.loc.line, self.loc.col, self.message
        )
    }
}

/// Any failure of a command. `Clone`: one call's failure may answer
/// several waiters (`aws::read::shared`).
#[derive(Debug, Clone)]
pub enum Error {
    /// The stack (or a variable given on the command line) is wrong. Nothing was touched.
    Stack {
        errors: Vec<StackError>,
        /// The text of the files the errors are in, by file name.
        sources: Vec<(String, Arc<str>)>,
    },
    /// AWS answered with an error.
    Aws {
        address: Option<String>,
        operation: String,
        code: String,
        message: String,
    },
    /// State could not be read, written or locked.
    State(String),
    /// Anything else, said plainly.
    Other(String),
    /// Stopped by SIGINT or SIGTERM before the work was done.
    Interrupted(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn stack(errors: Vec<StackError>) -> Self {
        Error::Stack {
            errors,
            sources: vec![],
        }
    }

    pub fn other(msg: impl Into<String>) -> Self {
        Error::Other(msg.into())
    }

    /// Adds the resource address to an AWS error that lacks one.
    pub fn at_address(self, addr: &str) -> Self {
        match self {
            Error::Aws {
                address: None,
                operation,
                code,
                message,
            } => Error::Aws {
                address: Some(addr.to_string()),
                operation,
                code,
                message,
            },
            other => other,
        }
    }

    /// The message without the resource address, for where the address is
    /// said already (an apply's summary line names the operation).
    pub fn without_address(&self) -> String {
        match self {
            Error::Aws {
                address: Some(_),
                operation,
                code,
                message,
            } => Error::Aws {
                address: None,
                operation: operation.clone(),
                code: code.clone(),
                message: message.clone(),
            }
            .to_string(),
            other => other.to_string(),
        }
    }

    /// Adds what was going on to the message of an AWS error.
    pub fn context(self, what: &str) -> Self {
        match self {
            Error::Aws {
                address,
                operation,
                code,
                message,
            } => Error::Aws {
                address,
                operation,
                code,
                message: format!("{message} ({what})"),
            },
            Error::Other(m) => Error::Other(format!("{m} ({what})")),
            other => other,
        }
    }

    /// Stack errors with the text of the one file they are in.
    pub fn with_source(self, src: &str) -> Self {
        match self {
            Error::Stack { errors, .. } => {
                let file = errors.first().map(|e| e.file.clone()).unwrap_or_default();
                Error::Stack {
                    errors,
                    sources: vec![(file, Arc::from(src))],
                }
            }
            other => other,
        }
    }

    /// Stack errors with the texts of the files they may be in.
    pub fn with_sources(self, sources: Vec<(String, Arc<str>)>) -> Self {
        match self {
            Error::Stack { errors, .. } => Error::Stack { errors, sources },
            other => other,
        }
    }

    /// Renders the error for a terminal: stack errors with a source snippet.
    pub fn render(&self) -> String {
        match self {
            Error::Stack { errors, sources } => {
                let mut out = String::new();
                for e in errors.iter().take(ERRORS_SHOWN) {
                    out.push_str(&format!("error: {e}\n"));
                    let src = sources.iter().find(|(f, _)| *f == e.file).map(|(_, s)| s);
                    if let Some(snippet) = src.and_then(|src| snippet(e, src)) {
                        out.push_str(&snippet);
                    }
                }
                if errors.len() > ERRORS_SHOWN {
                    let more = errors.len() - ERRORS_SHOWN;
                    out.push_str(&format!("... and {more} more errors\n"));
                }
                out
            }
            other => format!("error: {other}\n"),
        }
    }
}

#[derive(Debug)]
struct Snippet {
    msg: String,
    src: NamedSource<Arc<str>>,
    span: SourceSpan,
}

impl fmt::Display for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.msg)
    }
}
impl std::error::Error for Snippet {}
impl miette::Diagnostic for Snippet {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(
            miette::LabeledSpan::new_with_span(Some("here".into()), self.span),
        )))
    }
}

/// Stack errors shown with their snippet; the rest are counted.
const ERRORS_SHOWN: usize = 50;

/// At most `n` characters of `s`, with `…` when cut (for quoting input in messages).
pub fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((b, _)) => format!("{}…", &s[..b]),
        None => s.to_string(),
    }
}

/// The longest line an error shows with a source snippet (longer ones are
/// named by line and column only).
const SNIPPET_LINE_BYTES: usize = 4096;

fn snippet(e: &StackError, src: &Arc<str>) -> Option<String> {
    if e.loc.line == 0 {
        return None;
    }
    let mut offset = 0usize;
    for (i, line) in src.split_inclusive('\n').enumerate() {
        if i + 1 == e.loc.line as usize {
            // miette pads with the column as a format width, which panics
            // past 65,535; a line that long shows nothing readable anyway.
            if line.len() > SNIPPET_LINE_BYTES {
                return None;
            }
            let col = (e.loc.col.max(1) - 1) as usize;
            let byte = line
                .char_indices()
                .nth(col)
                .map(|(b, _)| b)
                .unwrap_or(line.len());
            offset += byte;
            let d = Snippet {
                msg: e.message.clone(),
                src: NamedSource::new(&e.file, Arc::clone(src)),
                span: SourceSpan::new(offset.into(), 1),
            };
            let mut out = String::new();
            let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor());
            handler.render_report(&mut out, &d).ok()?;
            return Some(out);
        }
        offset += line.len();
    }
    None
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Error::Stack { errors, .. } => {
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
            Error::Aws {
                address,
                operation,
                code,
                message,
            } => {
                if let Some(a) = address {
                    write!(f, "{a}: ")?;
                }
                write!(f, "AWS {operation} failed: {code}: {message}")
            }
            Error::State(m) | Error::Other(m) => f.write_str(m),
            Error::Interrupted(m) => write!(f, "interrupted: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Other(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error far out on a very long line (found by the fuzz test: miette
    /// panics on columns past 65,535) is named, not drawn.
    #[test]
    fn an_error_on_a_huge_line_renders_without_a_snippet() {
        let src = format!("stack: {}\n", "x".repeat(70_000));
        let e = Error::stack(vec![StackError::at(
            "s.yaml",
            Loc {
                line: 1,
                col: 69_000,
            },
            "bad",
        )])
        .with_source(&src);
        let text = e.render();
        assert!(text.contains("s.yaml:1:69000"), "{text}");
    }
}
