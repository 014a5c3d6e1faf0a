//! Security Token Service: who the caller is, as a data source.

pub(super) mod caller_identity;
