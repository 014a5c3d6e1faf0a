//! Files (EFS): file system and mount target.

pub(super) mod file_system;
pub(super) mod mount_target;

use aws_sdk_efs::Client;
use aws_sdk_efs::types::Tag;

use super::Svc;
use super::tags::{self};

pub(crate) type Efs = Svc<Client>;

tags::sdk_tag!(required Tag);

tags::tagging!(Efs, by resource_id,
    untag "UntagResource" untag_resource,
    tag "TagResource" tag_resource,
);
