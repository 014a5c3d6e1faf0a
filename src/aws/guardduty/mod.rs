//! GuardDuty: the region's detector.

pub(super) mod detector;
