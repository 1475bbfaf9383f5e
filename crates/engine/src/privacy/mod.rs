//! Privacy: what the organisation holds on one customer, handed to them (GDPR Art. 15 and
//! 20). `export` owns the DSAR export: every row of every table that refers to the customer,
//! secrets withheld by name.

pub mod export;

pub use export::{CustomerExport, EXPORTED_TABLES};
