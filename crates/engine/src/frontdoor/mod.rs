//! What the hosted customer pages need from the engine beyond the account flows: the
//! organisation's branding (`branding`), and where a hosted flow may send the browser
//! afterwards ([`is_local_path`]). The pages themselves are the server's.

pub(crate) mod branding;

/// Whether `r` is a path on this server that a hosted flow may send the browser to
/// afterwards: `/…`, never `//host`, a scheme, a backslash or control characters.
pub fn is_local_path(r: &str) -> bool {
    r.starts_with('/')
        && !r.starts_with("//")
        && r.len() <= 4096
        && !r.chars().any(|c| c.is_control() || c == '\\')
}
