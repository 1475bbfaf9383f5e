//! Customer accounts: the record and its validation (`record`), the organisation's custom
//! attribute definitions and progressive profiling (`attributes`), identifiers (`normalize`),
//! self-service flows (`selfservice`) and the part of them that is deferred so answers do not
//! depend on whether an address has an account (`deferred`), sessions (`sessions`), and what
//! staff do with accounts: search (`search`) and the record's views and help actions
//! (`support`). `selfservice` and `support` both build on `record` and `sessions`; neither
//! imports the other.

pub(crate) mod attributes;
pub(crate) mod deferred;
pub mod normalize;
pub(crate) mod record;
mod search;
pub(crate) mod selfservice;
pub(crate) mod sessions;
pub(crate) mod support;
