//! AWS errors: from the SDK's to ours, and one classification of their codes
//! with one meaning everywhere (not found, in use, throttled, duplicate, ...).

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::diag::Error;

/// What an AWS error means for whoever made the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// The object does not exist (or is not visible yet).
    NotFound,
    /// Something still uses the object: AWS refuses to delete or change it now.
    InUse,
    /// Too many requests: slow down and try again. The call was not carried out.
    Throttled,
    /// An object with that name or token exists already.
    Duplicate,
    /// Another change is in progress on the object (a lock token, a pending state).
    Conflict,
    /// The call may or may not have been carried out: an internal error, a
    /// timeout, a connection lost after sending, an unreadable answer.
    Unknown,
    /// AWS refused the call for a reason that trying again will not change.
    Refused,
}

const NOT_FOUND: &[&str] = &[
    "NoSuchBucket",
    "NoSuchHostedZone",
    "NoSuchHealthCheck",
    "NoSuchEntity",
    "WAFNonexistentItemException",
    "ResourceNotFoundException",
    "ResourceNotFound",
    // What ELB, RDS and ElastiCache answer for a subnet or group they cannot
    // see (yet: one made moments ago, in another service).
    "InvalidSubnet",
    "InvalidSecurityGroup",
];

const IN_USE: &[&str] = &[
    "DependencyViolation",
    "ResourceInUse",
    "ResourceInUseException",
    "InvalidDBSubnetGroupStateFault",
    "CacheSubnetGroupInUse",
    "WAFAssociatedItemException",
    "HostedZoneNotEmpty",
    "HealthCheckInUse",
    "FileSystemInUse",
    "BucketNotEmpty",
    "InvalidIPAddress.InUse",
    "InvalidGroup.InUse",
    // IAM: a role still in an instance profile, a policy still attached.
    "DeleteConflict",
];

const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
    "EC2ThrottledException",
    "BandwidthLimitExceeded",
];

const DUPLICATE: &[&str] = &[
    "InvalidGroup.Duplicate",
    "DuplicateLoadBalancerName",
    "DuplicateTargetGroupName",
    "DuplicateListener",
    "DBClusterAlreadyExistsFault",
    "DBInstanceAlreadyExists",
    "DBSubnetGroupAlreadyExists",
    "CacheSubnetGroupAlreadyExists",
    "ReplicationGroupAlreadyExists",
    "WAFDuplicateItemException",
    "WafV2DuplicateItem",
    "BucketAlreadyOwnedByYou",
    "FileSystemAlreadyExists",
    "MountTargetConflict",
    "HostedZoneAlreadyExists",
    "HealthCheckAlreadyExists",
    "InvalidLaunchTemplateName.AlreadyExistsException",
    "RouteAlreadyExists",
    "InvalidPermission.Duplicate",
    "Resource.AlreadyAssociated",
    "ResourceAlreadyExistsException",
    "AlreadyExistsException",
];

const CONFLICT: &[&str] = &[
    "WAFOptimisticLockException",
    "IncorrectState",
    "InvalidDBClusterStateFault",
    "InvalidDBInstanceStateFault",
    "InvalidReplicationGroupState",
    "OperationAborted",
    "ConcurrentModification",
    "ConflictException",
    "IncorrectFileSystemLifeCycleState",
];

const UNKNOWN: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
    "DispatchFailure",
    "Timeout",
    "ResponseError",
    "HTTP500",
    "HTTP502",
    "HTTP503",
    "HTTP504",
];

/// The class of an AWS error code.
pub(crate) fn classify(code: &str) -> Class {
    let is = |list: &[&str]| list.contains(&code);
    if is(THROTTLED) {
        Class::Throttled
    } else if is(IN_USE) {
        Class::InUse
    } else if is(DUPLICATE) || code.ends_with(".Duplicate") || code.ends_with("AlreadyExists") {
        Class::Duplicate
    } else if is(NOT_FOUND) || code.contains("NotFound") || code.ends_with(".Malformed") {
        Class::NotFound
    } else if is(CONFLICT) {
        Class::Conflict
    } else if is(UNKNOWN) {
        Class::Unknown
    } else {
        Class::Refused
    }
}

/// The class of one of our errors: AWS errors by code, anything else refused.
pub(crate) fn class_of(e: &Error) -> Class {
    match e {
        // EC2 refusing an instance profile IAM made moments ago: IAM is
        // eventually consistent, and the profile is not visible to EC2 yet.
        Error::Aws { code, message, .. }
            if code == "InvalidParameterValue" && message.contains("iamInstanceProfile") =>
        {
            Class::NotFound
        }
        // AWS Backup refusing to delete a vault that holds recovery points:
        // in use (by them). Just after they are deleted AWS may still say
        // so for a moment: a retry succeeds.
        Error::Aws { code, message, .. }
            if code == "InvalidRequestException"
                && message.contains("contains recovery points") =>
        {
            Class::InUse
        }
        Error::Aws { code, .. } => classify(code),
        _ => Class::Refused,
    }
}

pub(crate) fn is(e: &Error, class: Class) -> bool {
    class_of(e) == class
}

/// True when the error has exactly this AWS code.
pub(crate) fn has_code(e: &Error, codes: &[&str]) -> bool {
    matches!(e, Error::Aws { code, .. } if codes.contains(&code.as_str()))
}

/// The endpoint the clients were configured with, for messages.
static ENDPOINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Remembers where calls go, so that "cannot reach" can say where.
pub(crate) fn remember_endpoint(sdk: &aws_config::SdkConfig) {
    let named = match (sdk.endpoint_url(), sdk.region()) {
        (Some(u), _) => format!("the AWS endpoint {u} (--endpoint-url or AWS_ENDPOINT_URL)"),
        (None, Some(r)) => format!("AWS's endpoint in {r}"),
        (None, None) => "the AWS endpoint".to_string(),
    };
    let _ = ENDPOINT.set(named);
}

fn endpoint_named() -> &'static str {
    ENDPOINT.get().map_or("the AWS endpoint", String::as_str)
}

/// Turns an SDK error into ours, keeping the AWS error code. Answers without
/// a code (an emulator's unimplemented operation answers HTTP 500 with HTML)
/// are named by their HTTP status.
pub(crate) fn from_sdk<E>(operation: &str, e: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, message) = match &e {
        SdkError::ServiceError(se) => {
            let http = format!("HTTP{}", se.raw().status().as_u16());
            (
                se.err().code().map(str::to_string).unwrap_or(http),
                se.err()
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("unreadable answer: {}", chain(se.err()))),
            )
        }
        SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => (
            "DispatchFailure".to_string(),
            format!("cannot reach {}: {}", endpoint_named(), chain(&e)),
        ),
        SdkError::DispatchFailure(_) => ("DispatchFailure".to_string(), chain(&e)),
        SdkError::TimeoutError(_) => ("Timeout".to_string(), "the call timed out".to_string()),
        SdkError::ConstructionFailure(_) => (
            "ConstructionFailure".to_string(),
            format!(
                "{} (are AWS credentials and a region configured?)",
                chain(&e)
            ),
        ),
        other => ("ResponseError".to_string(), chain(other)),
    };
    Error::Aws {
        address: None,
        operation: operation.to_string(),
        code,
        message,
    }
}

/// The messages of an error and its sources, without Debug dumps.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let m = s.to_string();
        if !parts.iter().any(|p| p.contains(&m)) {
            parts.push(m);
        }
        cur = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_one_meaning() {
        assert_eq!(classify("InvalidVpcID.NotFound"), Class::NotFound);
        assert_eq!(classify("DBClusterNotFoundFault"), Class::NotFound);
        assert_eq!(classify("DependencyViolation"), Class::InUse);
        assert_eq!(classify("RequestLimitExceeded"), Class::Throttled);
        assert_eq!(classify("InvalidGroup.Duplicate"), Class::Duplicate);
        assert_eq!(classify("BucketAlreadyOwnedByYou"), Class::Duplicate);
        assert_eq!(classify("WAFOptimisticLockException"), Class::Conflict);
        assert_eq!(classify("HTTP500"), Class::Unknown);
        assert_eq!(classify("InvalidParameterValue"), Class::Refused);
    }

    #[test]
    fn a_vault_holding_recovery_points_is_in_use_and_other_bad_requests_are_refused() {
        let aws = |message: &str| Error::Aws {
            address: None,
            operation: "DeleteBackupVault".into(),
            code: "InvalidRequestException".into(),
            message: message.into(),
        };
        let held = aws("Backup vault cannot be deleted because it contains recovery points.");
        assert_eq!(class_of(&held), Class::InUse);
        assert_eq!(class_of(&aws("Invalid vault name")), Class::Refused);
    }
}
