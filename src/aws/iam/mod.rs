//! IAM: roles and instance profiles. IAM is global: one per account,
//! whatever the stack's region. Its names are unique in the account and its
//! creates take tags, so a create whose answer was lost is found again by
//! its ownership tags.

pub(super) mod instance_profile;
pub(super) mod role;

use aws_sdk_iam::Client;
use aws_sdk_iam::types::Tag;

use super::Svc;
use super::tags;

pub(crate) type Iam = Svc<Client>;

tags::sdk_tag!(required Tag);

// IAM names the object in its tag calls by a parameter of its kind's own
// (`role_name`, `instance_profile_name`): each kind tags through a view of
// the client with the service's shared `Tagging`.
tags::tag_view!(RoleTags, Iam);
tags::tag_view!(ProfileTags, Iam);

tags::tagging!(RoleTags<'_>, by role_name,
    untag "UntagRole" untag_role,
    tag "TagRole" tag_role,
);

tags::tagging!(ProfileTags<'_>, by instance_profile_name,
    untag "UntagInstanceProfile" untag_instance_profile,
    tag "TagInstanceProfile" tag_instance_profile,
);
