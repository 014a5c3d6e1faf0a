//! Files (EFS): file system and mount target.

pub(super) mod file_system;
pub(super) mod mount_target;

use aws_sdk_efs::Client;

use super::Svc;

pub(crate) type Efs = Svc<Client>;
