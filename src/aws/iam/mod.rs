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
