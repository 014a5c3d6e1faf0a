//! Shield Advanced protections, only with a subscription the account already has.

pub(super) mod protection;
