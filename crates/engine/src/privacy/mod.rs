//! Privacy: what the organisation holds on one customer — handed to them (GDPR Art. 15 and
//! 20) or erased (Art. 17). `tables` owns the catalogue of tables that refer to a customer
//! (how rows are found, what erasure does to them), `export` the DSAR export, `erasure` the
//! erasure with its tombstone and event.

pub mod erasure;
pub mod export;
pub mod retention;
pub mod tables;

pub use erasure::{Erasure, KeptRows, Tombstone};
pub use export::{BUNDLE_HTML, BUNDLE_JSON, CustomerExport};
pub use retention::{RetentionClass, RetentionItem, RetentionReport, RetentionRules};
pub use tables::{CUSTOMER_TABLES, CustomerTable, Erase, Selector};
