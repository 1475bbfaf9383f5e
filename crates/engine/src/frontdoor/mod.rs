//! What the hosted customer pages need from the engine beyond the account flows: the
//! organisation's branding (`branding`). The pages themselves are the server's.

pub(crate) mod branding;
