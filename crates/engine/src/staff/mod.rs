//! Staff accounts and the permission matrix. Staff are separate from customers; every
//! staff-facing engine operation takes a [`Staff`] (the signed-in actor) and checks one
//! [`Permission`] against the actor's [`Role`] before touching anything.

pub(crate) mod audit;
pub(crate) mod authenticator;
pub(crate) mod ops;
pub(crate) mod settings;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    Support,
    Security,
    Privacy,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Support, Role::Security, Role::Privacy, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Support => "support",
            Role::Security => "security",
            Role::Privacy => "privacy",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::invalid("role", "a role is one of support, security, privacy, admin")
            })
    }
}

/// Everything a staff member may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    ReadCustomers,
    EditCustomers,
    ResendVerification,
    StartPasswordReset,
    MarkEmailVerified,
    RevokeSessions,
    UnlockCustomers,
    /// Remove a customer's lost second factor (with a reason).
    RemoveFactors,
    LockCustomers,
    DisableCustomers,
    ReviewRisk,
    /// Read registration and sign-in analytics.
    ReadAnalytics,
    ManageConsent,
    ExportCustomers,
    EraseCustomers,
    /// Set retention rules and run them.
    ManageRetention,
    ReadAudit,
    ManageStaff,
    ManageSettings,
    ManageClients,
    SeedDemoData,
}

impl Permission {
    pub const ALL: [Permission; 21] = [
        Permission::ReadCustomers,
        Permission::EditCustomers,
        Permission::ResendVerification,
        Permission::StartPasswordReset,
        Permission::MarkEmailVerified,
        Permission::RevokeSessions,
        Permission::UnlockCustomers,
        Permission::RemoveFactors,
        Permission::LockCustomers,
        Permission::DisableCustomers,
        Permission::ReviewRisk,
        Permission::ReadAnalytics,
        Permission::ManageConsent,
        Permission::ExportCustomers,
        Permission::EraseCustomers,
        Permission::ManageRetention,
        Permission::ReadAudit,
        Permission::ManageStaff,
        Permission::ManageSettings,
        Permission::ManageClients,
        Permission::SeedDemoData,
    ];

    /// Human wording for "your role does not allow …".
    pub fn describe(self) -> &'static str {
        match self {
            Permission::ReadCustomers => "reading customer records",
            Permission::EditCustomers => "editing customer profiles",
            Permission::ResendVerification => "resending verification emails",
            Permission::StartPasswordReset => "starting password resets",
            Permission::MarkEmailVerified => "marking email addresses verified",
            Permission::RevokeSessions => "revoking customer sessions",
            Permission::UnlockCustomers => "unlocking accounts",
            Permission::RemoveFactors => "removing customers' second factors",
            Permission::LockCustomers => "locking accounts",
            Permission::DisableCustomers => "disabling accounts",
            Permission::ReviewRisk => "reviewing risky sign-ins",
            Permission::ReadAnalytics => "reading analytics",
            Permission::ManageConsent => "managing consent",
            Permission::ExportCustomers => "exporting customer data",
            Permission::EraseCustomers => "erasing customers",
            Permission::ManageRetention => "managing data retention",
            Permission::ReadAudit => "reading the audit log",
            Permission::ManageStaff => "managing staff",
            Permission::ManageSettings => "changing settings",
            Permission::ManageClients => "managing OpenID Connect clients",
            Permission::SeedDemoData => "generating demo data",
        }
    }
}

/// The default permission matrix (see ARCHITECTURE.md for the table).
pub fn allows(role: Role, p: Permission) -> bool {
    use Permission::*;
    let support = matches!(
        p,
        ReadCustomers
            | ResendVerification
            | StartPasswordReset
            | RevokeSessions
            | UnlockCustomers
            | RemoveFactors
    );
    match role {
        Role::Admin => true,
        Role::Support => support,
        Role::Security => {
            support
                || matches!(
                    p,
                    LockCustomers | DisableCustomers | ReviewRisk | ReadAudit | ReadAnalytics
                )
        }
        Role::Privacy => matches!(
            p,
            ReadCustomers
                | ReadAnalytics
                | ManageConsent
                | ExportCustomers
                | EraseCustomers
                | ManageRetention
        ),
    }
}

impl Role {
    /// Admin and security staff must sign in with an authenticator app as well as their
    /// password (they can change settings, staff, or lock customers out).
    pub fn needs_authenticator(self) -> bool {
        matches!(self, Role::Admin | Role::Security)
    }
}

/// Where a signed-in staff member stands with their second factor. Only `Verified` and
/// `NotRequired` may act; the other two may only finish signing in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StaffFactor {
    /// Password and authenticator code both checked.
    Verified,
    /// No authenticator, and the role does not need one.
    NotRequired,
    /// The role needs an authenticator and none is set up: set one up first.
    EnrolmentNeeded,
    /// The password was right; the authenticator's code is still to come.
    CodeNeeded,
}

/// A signed-in staff member: who is acting. Obtained only from the engine's sign-in
/// functions, so holding one means the password was checked; `factor` says whether the
/// second factor was too. The fields are the engine's alone: an adapter reads them but
/// cannot make or change one (a forged admin would pass every permission check):
///
/// ```compile_fail,E0451
/// use vestibule_engine::{Role, Staff, StaffFactor};
/// let forged = Staff {
///     id: uuid::Uuid::nil(),
///     email: "x@example.com".into(),
///     display_name: "X".into(),
///     role: Role::Admin,
///     factor: StaffFactor::Verified,
/// };
/// ```
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Staff {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    pub(crate) display_name: String,
    pub(crate) role: Role,
    pub(crate) factor: StaffFactor,
}

impl Staff {
    pub fn id(&self) -> Uuid {
        self.id
    }

    pub fn email(&self) -> &str {
        &self.email
    }

    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Where their sign-in stands with the second factor.
    pub fn factor(&self) -> StaffFactor {
        self.factor
    }

    /// Tests without the operator's factor key act as a staff member who gave their
    /// authenticator's code (none can be set up there).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn verified_for_test(mut self) -> Staff {
        self.factor = StaffFactor::Verified;
        self
    }

    /// A signed-in staff member of `role` whom no one signed in as: for benchmarks on a
    /// cached vault, whose admin's authenticator is not kept. Test and benchmark builds only.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn for_bench(role: Role) -> Staff {
        Staff {
            id: Uuid::nil(),
            email: "benchmark@vestibule.invalid".into(),
            display_name: "Benchmark".into(),
            role,
            factor: StaffFactor::Verified,
        }
    }

    /// Refuse unless the sign-in is complete and the role grants `p`.
    pub fn require(&self, p: Permission) -> Result<()> {
        self.require_signed_in()?;
        if allows(self.role, p) {
            Ok(())
        } else {
            Err(Error::Forbidden(p.describe()))
        }
    }

    /// Refuse until the sign-in is complete (the second factor given, or set up when the
    /// role needs one).
    pub fn require_signed_in(&self) -> Result<()> {
        match self.factor {
            StaffFactor::Verified | StaffFactor::NotRequired => Ok(()),
            StaffFactor::EnrolmentNeeded => Err(Error::AuthenticatorRequired),
            StaffFactor::CodeNeeded => Err(Error::SecondFactorRequired),
        }
    }

    pub(crate) fn actor(&self) -> String {
        format!("staff:{}", self.id)
    }
}

/// A staff account as listed to admins.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StaffMember {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub status: String,
    pub version: i64,
    /// Whether they have an authenticator app set up (filled in the admins' staff list).
    pub authenticator: bool,
}

impl Staff {
    /// The acting identity of a listed staff member whose credentials were checked, with
    /// what is known of their second factor.
    pub(crate) fn signed_in(m: StaffMember, factor: StaffFactor) -> Self {
        Staff {
            id: m.id,
            email: m.email,
            display_name: m.display_name,
            role: m.role,
            factor,
        }
    }
}

/// The reason a staff member gives for removing something of a customer's (a factor, a
/// connected account): required, at most 500 characters, recorded in the audit log.
pub(crate) fn removal_reason<'a>(reason: &'a str, what: &str) -> crate::error::Result<&'a str> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(crate::error::Error::invalid(
            "reason",
            format!(
                "say why the {what} is removed (a ticket reference will do), at most 500 characters"
            ),
        ));
    }
    Ok(reason)
}
