//! The engine's one integration-test binary (every file in `tests/` is a separate slow
//! link). Each test runs the same behaviour on every backend available: an encrypted SQLite
//! vault always, and PostgreSQL when `VESTIBULE_TEST_POSTGRES` names a server (CI sets it,
//! and sets `VESTIBULE_REQUIRE_POSTGRES=1` so a missing server fails instead of skipping).

#[path = "../../../tests/support/rank.rs"]
mod rank;
#[path = "../../../tests/support/softkey.rs"]
mod softkey;
mod story;
