//! AWS's regions, as a stack may name them (`region:` on the stack, a
//! module or a resource). Pure: a region that does not exist is refused
//! where it is written, before any call.

/// The regions AWS lists (commercial, GovCloud and China partitions).
pub const REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// Why `name` is no region, with the nearest one when there is one.
pub fn check(name: &str) -> Result<(), String> {
    if REGIONS.contains(&name) {
        return Ok(());
    }
    let near = REGIONS
        .iter()
        .map(|r| (strsim::levenshtein(r, name), *r))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, r)| format!(" (did you mean `{r}`?)"))
        .unwrap_or_default();
    Err(format!("`{name}` is not an AWS region{near}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_region_that_does_not_exist_is_named_with_the_nearest() {
        assert!(super::check("eu-west-1").is_ok());
        let e = super::check("eu-wset-1").unwrap_err();
        assert!(e.contains("did you mean `eu-west-1`"), "{e}");
        assert!(
            super::check("mars-1")
                .unwrap_err()
                .contains("not an AWS region")
        );
    }
}
