//! Systems Manager: parameters, read as data sources (AWS publishes the
//! current Amazon Linux image ids as public parameters).

pub(super) mod parameter;
