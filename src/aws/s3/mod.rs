//! Objects (S3): the documents bucket.

pub(super) mod bucket;
