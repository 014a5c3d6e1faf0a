//! Every limit on what a stack may ask for, in one place.
//!
//! A stack is input from a file, so nothing it says may crash, exhaust memory
//! or hang `provision`: each limit is checked before the work it bounds is
//! done, and the error names the limit. The numbers are far above what a real
//! stack needs (the reference stack has 76 resources; issue 13 plans for
//! 50,000) and far below what would hurt a 2-core machine.

/// Bytes in a stack file (checked before it is parsed).
pub const STACK_FILE_BYTES: usize = 16 * 1024 * 1024;

/// Resource instances in one stack, after `for_each` is expanded.
pub const INSTANCES: usize = 100_000;

/// Copies one `for_each` may make.
pub const FOR_EACH: usize = 10_000;

/// Dependencies of all instances together (one `depends_on` or `[*]` of a
/// large `for_each` inside another multiplies quickly).
pub const DEPENDENCIES: usize = 2_000_000;

/// Items in a list an expression makes (`range`, `setproduct`, `concat`).
pub const LIST_ITEMS: usize = 10_000;

/// Bytes in a string an expression makes (`format`, interpolation).
pub const STRING_BYTES: usize = 1024 * 1024;

/// Tokens in one `${...}` expression.
pub const EXPR_TOKENS: usize = 4_096;

/// Depth of one expression's tree: parentheses, calls, indexes and each
/// operator of a chain count one level.
pub const EXPR_DEPTH: usize = 64;

/// Tag keys that belong to provision (ownership) or to AWS; a stack may not set them.
pub const RESERVED_TAG_PREFIXES: [&str; 2] = ["provision:", "aws:"];

/// Why a tag key may not be written by a stack, if it may not.
pub fn reserved_tag(key: &str) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    RESERVED_TAG_PREFIXES
        .iter()
        .find(|p| lower.starts_with(*p))
        .map(|p| {
            let who = if p.starts_with("aws") {
                "AWS"
            } else {
                "provision, which records with them who owns each object"
            };
            format!("tag key `{key}` is reserved: keys starting with `{p}` belong to {who}")
        })
}
