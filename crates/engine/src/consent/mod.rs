//! Consent: the purposes the organisation uses customers' data for (each with a legal basis,
//! data categories, a retention period and whether it needs consent), their published
//! versions with a text per locale (immutable once published; a *material* version asks
//! everyone who consented to an older one again, a *minor* one does not), the append-only
//! consent ledger of what each customer was shown and answered — through which channel, by
//! whom, from where — and the answer in force per customer and purpose, kept in the same
//! transaction as the ledger so "may we use X's data for P now?" is one indexed read.
//! Receipts are the ledger's records in the Kantara Consent Receipt v1.1 shape, signed with
//! the provider's RS256 key (verifiable with its published JWKS).
//!
//! `purposes` owns the purposes and their versions; `ledger` the records, the state, the
//! decision and the receipts.

pub mod ledger;
pub mod purposes;

pub use ledger::{
    ConsentAnswer, ConsentChannel, ConsentDecision, ConsentRecord, DecisionBasis, PurposeState,
};
pub use purposes::{
    ConsentRate, ConsentText, LegalBasis, PublishVersion, Published, Purpose, PurposeInput,
    PurposeVersion,
};
