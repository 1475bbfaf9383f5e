//! Secrets customers and staff prove: password policy and argon2id hashing (`password`) on a
//! bounded pool of one thread per core (`hashpool`), and opaque tokens stored only as SHA-256
//! (`tokens`), and secrets the engine must read back sealed under the factor key (`sealed`).

pub mod breached;
pub(crate) mod hashpool;
pub(crate) mod password;
pub(crate) mod sealed;
pub(crate) mod tokens;
