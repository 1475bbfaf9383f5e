//! Demo vaults: an encrypted vault with one staff account per role (passwords published,
//! demo only), customers from the deterministic generator in `seed`, and consent purposes
//! with customers' answers (`consent`). The CLI's `demo`
//! command and the console's "open demo vault" both create them here.

mod consent;
mod risk;
pub mod seed;

use crate::demo::seed::{SeedOptions, SeedProgress};
use crate::staff::Role;
use crate::{Deps, Engine, Result};
use serde::Serialize;
use std::path::Path;

/// A demo staff account whose password is shown on screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DemoAccount {
    pub email: String,
    pub role: Role,
    pub password: String,
}

const DEMO_STAFF: [(&str, Role, &str); 4] = [
    (
        "admin@demo.vestibule.example",
        Role::Admin,
        "demo admin password",
    ),
    (
        "support@demo.vestibule.example",
        Role::Support,
        "demo support password",
    ),
    (
        "security@demo.vestibule.example",
        Role::Security,
        "demo security password",
    ),
    (
        "privacy@demo.vestibule.example",
        Role::Privacy,
        "demo privacy password",
    ),
];

/// The demo staff accounts, admin first.
pub fn demo_accounts() -> Vec<DemoAccount> {
    DEMO_STAFF
        .iter()
        .map(|(email, role, password)| DemoAccount {
            email: (*email).to_owned(),
            role: *role,
            password: (*password).to_owned(),
        })
        .collect()
}

impl Engine {
    /// Create a demo vault at `path` (which must not exist): the demo staff, then
    /// `customers` seeded customers with sign-in history. Progress goes to `progress`.
    pub async fn create_demo_vault(
        path: &Path,
        customers: u64,
        deps: Deps,
        progress: &mut (dyn FnMut(SeedProgress) + Send),
    ) -> Result<()> {
        let (admin_email, _, admin_pw) = DEMO_STAFF[0];
        let (engine, admin, _recovery) =
            Engine::create_vault(path, admin_email, admin_pw, deps).await?;
        // The engine fills the vault it made a moment ago, before anyone can sign in: the
        // demo admin sets up an authenticator at their first sign-in like any admin.
        let admin = crate::Staff {
            factor: crate::StaffFactor::Verified,
            ..admin
        };
        for (email, role, pw) in DEMO_STAFF.iter().skip(1) {
            engine
                .add_staff(&admin, email, &format!("Demo {}", role.as_str()), *role, pw)
                .await?;
        }
        engine
            .seed_demo(
                &admin,
                SeedOptions {
                    customers,
                    ..SeedOptions::default()
                },
                progress,
            )
            .await?;
        engine.seed_demo_consent(&admin).await?;
        engine.close().await;
        Ok(())
    }
}
