//! The IPC commands: each takes one typed request, finds the signed-in engine in the
//! console's state, calls one engine operation and returns its result or an [`IpcError`]
//! (crate::error). No business rules here: permissions, validation and audit are the engine's.

use crate::error::{ConsoleError, Result};
use crate::state::Console;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tauri::State;
use uuid::Uuid;
use vestibule_engine::consent::{
    ConsentRate, ConsentRecord, PublishVersion, Published, Purpose, PurposeInput, PurposeState,
    PurposeVersion,
};
use vestibule_engine::demo::{DemoAccount, demo_accounts};
use vestibule_engine::privacy::{Erasure, RetentionReport, RetentionRules};
use vestibule_engine::seed::SeedOptions;
use vestibule_engine::{
    AttackOverview, AttributeDefinitions, AuditEntry, Branding, ConsoleSettings, Customer,
    CustomerRisk, CustomerStatus, CustomerSummary, Deps, Engine, Factor, IpBlock,
    NewUpstreamProvider, Permission, ProfilePatch, ReplayReport, ReviewDecision, ReviewFilter,
    ReviewItem, ReviewOutcome, RiskPolicy, Role, SearchPage, SessionInfo, SignInAttempt,
    SocialLink, Staff, StaffChannel, StaffMember, UpstreamProvider, allows,
};

type Ctx<'a> = State<'a, Arc<Console>>;

/// Who is signed in and what the console should let them see.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SessionView {
    pub staff: Staff,
    /// The permissions of the staff member's role (the UI hides what is not allowed; the
    /// engine refuses it anyway).
    pub permissions: Vec<Permission>,
    pub settings: ConsoleSettings,
    /// Seconds without activity before the console locks.
    pub idle_lock_seconds: u64,
}

/// The console's state as the start screen needs it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AppStatus {
    /// The chosen vault file, if any.
    pub vault_path: Option<String>,
    /// False on first launch: offer "open demo vault" or "create a new vault".
    pub vault_exists: bool,
    /// The chosen vault is the demo vault (its staff accounts are shown on sign-in).
    pub demo: bool,
    /// The demo vault's staff accounts and passwords (public: demo vaults only).
    pub demo_accounts: Vec<DemoAccount>,
    /// How many customers a new demo vault gets.
    pub demo_customers: u64,
    pub session: Option<SessionView>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct VaultCreated {
    /// Shown once: unlocks the vault if every staff password is lost.
    pub recovery_key: String,
    pub session: SessionView,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AuthenticatorCode {
    /// The authenticator app's current 6-digit code.
    pub code: String,
}

/// What a staff member adds to their authenticator app (shown once).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AuthenticatorSetup {
    /// The secret in base32, for typing into the app.
    pub secret: String,
    /// `otpauth://totp/…`
    pub uri: String,
    /// The URI as a QR code, SVG markup (generated here, not from outside input).
    pub qr_svg: String,
}

/// Remove one of a customer's second factors or connected sign-in accounts.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CustomerItemRemoval {
    pub id: Uuid,
    /// The factor's id, or the provider's for a connected account.
    pub item: Uuid,
    /// Why (required; recorded in the audit log).
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AuthenticatorReset {
    pub id: Uuid,
    /// Why (recorded in the audit log).
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SearchRequest {
    pub query: String,
    pub cursor: Option<String>,
    pub limit: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct OpenCustomer {
    pub id: Uuid,
    /// Why the record is opened (required when the organisation's setting says so).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CustomerRef {
    pub id: Uuid,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct StatusChange {
    pub id: Uuid,
    pub expected_version: i64,
    pub status: CustomerStatus,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ProfileEdit {
    pub id: Uuid,
    pub expected_version: i64,
    pub patch: ProfilePatch,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct MarkVerified {
    pub id: Uuid,
    pub expected_version: i64,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RevokeSessions {
    pub id: Uuid,
    /// One session, or all of the customer's when absent.
    pub session: Option<Uuid>,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SeedRequest {
    pub customers: u32,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SeedResult {
    pub customers: u32,
    pub attempts: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct NewStaff {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// The new member's initial password (it also unwraps the vault key for them).
    pub password: String,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct StaffRef {
    pub id: Uuid,
}

/// Assign review items to an analyst (or to nobody), with a note.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AssignRequest {
    /// The items' attempt `seq`s.
    pub attempts: Vec<i64>,
    pub assignee: Option<Uuid>,
    pub note: String,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct OverviewRequest {
    /// 60, 1440 or 10080.
    pub window_minutes: u32,
}

/// Block an address or range for a while.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct NewBlock {
    pub network: String,
    pub reason: String,
    pub hours: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct BlockRef {
    pub id: Uuid,
}

/// What the window is told about who is signed in.
fn view(staff: Staff, settings: ConsoleSettings, idle: std::time::Duration) -> SessionView {
    // Until the second factor is given (or set up), nothing is allowed.
    let complete = staff.require_signed_in().is_ok();
    SessionView {
        permissions: Permission::ALL
            .into_iter()
            .filter(|p| complete && allows(staff.role(), *p))
            .collect(),
        staff,
        settings,
        idle_lock_seconds: idle.as_secs(),
    }
}

/// Hold the unlocked engine for `staff` and describe the new session.
async fn session_view(console: &Console, engine: Engine, staff: Staff) -> Result<SessionView> {
    let settings = engine.console_settings(&staff).await?;
    let idle = console.open(engine, staff.clone(), &settings).await;
    Ok(view(staff, settings, idle))
}

async fn status(console: &Console, session: Option<SessionView>) -> AppStatus {
    let vault = console.vault().await;
    let demo = vault.as_ref() == Some(&console.paths.demo_vault);
    AppStatus {
        vault_exists: vault.as_ref().is_some_and(|v| v.exists()),
        vault_path: vault.map(|v| v.display().to_string()),
        demo,
        demo_accounts: demo_accounts(),
        demo_customers: console.paths.demo_customers,
        session,
    }
}

#[tauri::command]
pub async fn app_status(console: Ctx<'_>) -> Result<AppStatus> {
    console.lock_if_idle().await;
    let session = match console.session().await {
        Ok((engine, staff)) => {
            let settings = engine.console_settings(&staff).await?;
            let idle = console.paths.idle_for(&settings);
            Some(view(staff, settings, idle))
        }
        Err(_) => None,
    };
    Ok(status(&console, session).await)
}

/// Use the demo vault, creating and seeding it first if it does not exist.
#[tauri::command]
pub async fn open_demo_vault(console: Ctx<'_>) -> Result<AppStatus> {
    let path = console.paths.demo_vault.clone();
    if !path.exists() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| ConsoleError::Io(e.to_string()))?;
        }
        Engine::create_demo_vault(
            &path,
            console.paths.demo_customers,
            Deps::system(),
            &mut |_| {},
        )
        .await?;
    }
    console.lock().await;
    console.choose(path).await?;
    Ok(status(&console, None).await)
}

/// Create a new vault whose first admin is the given staff member, and sign them in.
#[tauri::command]
pub async fn create_vault(console: Ctx<'_>, req: Credentials) -> Result<VaultCreated> {
    let path = match console.vault().await {
        Some(p) if p != console.paths.demo_vault => p,
        _ => console
            .paths
            .fixed_vault
            .clone()
            .unwrap_or_else(|| console.paths.default_vault.clone()),
    };
    if path.exists() {
        return Err(ConsoleError::VaultExists(path.display().to_string()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ConsoleError::Io(e.to_string()))?;
    }
    let (engine, admin, recovery) =
        Engine::create_vault(&path, &req.email, &req.password, Deps::system()).await?;
    console.choose(path).await?;
    Ok(VaultCreated {
        recovery_key: recovery.to_string(),
        session: session_view(&console, engine, admin).await?,
    })
}

/// Unlock the vault with a staff member's password (this is the sign-in).
#[tauri::command]
pub async fn sign_in(console: Ctx<'_>, req: Credentials) -> Result<SessionView> {
    let path = console.vault().await.ok_or(ConsoleError::NoVault)?;
    console.lock().await;
    let (engine, staff) =
        Engine::unlock_vault(&path, &req.email, &req.password, None, Deps::system()).await?;
    session_view(&console, engine, staff).await
}

/// Finish signing in with the authenticator app's code (staff who have one).
#[tauri::command]
pub async fn verify_code(console: Ctx<'_>, req: AuthenticatorCode) -> Result<SessionView> {
    let (engine, staff) = console.session().await?;
    let staff = engine
        .staff_second_factor(&staff, &req.code, StaffChannel::Vault, "")
        .await?;
    signed_in_as(&console, engine, staff).await
}

/// Start setting up an authenticator app (admin and security staff must before anything
/// else).
#[tauri::command]
pub async fn begin_authenticator(console: Ctx<'_>) -> Result<AuthenticatorSetup> {
    let (engine, staff) = console.session().await?;
    let e = engine.begin_staff_authenticator(&staff).await?;
    Ok(AuthenticatorSetup {
        qr_svg: e.qr_svg(),
        secret: e.secret,
        uri: e.uri,
    })
}

/// Confirm the authenticator with its first code; the sign-in is then complete.
#[tauri::command]
pub async fn confirm_authenticator(
    console: Ctx<'_>,
    req: AuthenticatorCode,
) -> Result<SessionView> {
    let (engine, staff) = console.session().await?;
    let staff = engine
        .confirm_staff_authenticator(&staff, &req.code)
        .await?;
    signed_in_as(&console, engine, staff).await
}

/// The same engine, now for the staff member as they stand after a factor step.
async fn signed_in_as(console: &Console, engine: Engine, staff: Staff) -> Result<SessionView> {
    console.set_staff(staff.clone()).await;
    let settings = engine.console_settings(&staff).await?;
    let idle = console.paths.idle_for(&settings);
    console.set_idle(&settings).await;
    Ok(view(staff, settings, idle))
}

#[tauri::command]
pub async fn sign_out(console: Ctx<'_>) -> Result<()> {
    console.lock().await;
    Ok(())
}

/// The person is still at the keyboard (the UI calls this on input, throttled).
#[tauri::command]
pub async fn keep_alive(console: Ctx<'_>) -> Result<()> {
    console.session().await.map(|_| ())
}

#[tauri::command]
pub async fn search_customers(console: Ctx<'_>, req: SearchRequest) -> Result<SearchPage> {
    let (engine, staff) = console.session().await?;
    Ok(engine
        .search_customers(
            &staff,
            &req.query,
            req.cursor.as_deref(),
            i64::from(req.limit),
        )
        .await?)
}

#[tauri::command]
pub async fn get_customer(console: Ctx<'_>, req: OpenCustomer) -> Result<Customer> {
    let (engine, staff) = console.session().await?;
    Ok(engine
        .get_customer(&staff, req.id, req.reason.as_deref())
        .await?)
}

#[tauri::command]
pub async fn customer_attempts(console: Ctx<'_>, req: CustomerRef) -> Result<Vec<SignInAttempt>> {
    let (engine, staff) = console.session().await?;
    Ok(engine.customer_attempts(&staff, req.id, 50).await?)
}

#[tauri::command]
pub async fn customer_sessions(console: Ctx<'_>, req: CustomerRef) -> Result<Vec<SessionInfo>> {
    let (engine, staff) = console.session().await?;
    Ok(engine.customer_sessions(&staff, req.id).await?)
}

#[tauri::command]
pub async fn customer_audit(console: Ctx<'_>, req: CustomerRef) -> Result<Vec<AuditEntry>> {
    let (engine, staff) = console.session().await?;
    Ok(engine.customer_audit(&staff, req.id, 100).await?)
}

#[tauri::command]
pub async fn customer_risk(console: Ctx<'_>, req: CustomerRef) -> Result<CustomerRisk> {
    let (engine, staff) = console.session().await?;
    Ok(engine.customer_risk(&staff, req.id).await?)
}

/// The customer's second factors (kinds, names, last use; never secrets).
#[tauri::command]
pub async fn customer_factors(console: Ctx<'_>, req: CustomerRef) -> Result<Vec<Factor>> {
    let (engine, staff) = console.session().await?;
    Ok(engine.customer_factors(&staff, req.id).await?)
}

/// Remove a customer's lost factor, with the reason recorded (their sessions end).
#[tauri::command]
pub async fn remove_customer_factor(console: Ctx<'_>, req: CustomerItemRemoval) -> Result<()> {
    let (engine, staff) = console.session().await?;
    Ok(engine
        .remove_customer_factor(&staff, req.id, req.item, &req.reason)
        .await?)
}

/// The customer's connected sign-in accounts (social sign-in providers).
#[tauri::command]
pub async fn customer_connections(console: Ctx<'_>, req: CustomerRef) -> Result<Vec<SocialLink>> {
    let (engine, staff) = console.session().await?;
    Ok(engine.customer_social_links(&staff, req.id).await?)
}

/// Disconnect a customer's sign-in provider account, with the reason recorded.
#[tauri::command]
pub async fn remove_customer_connection(console: Ctx<'_>, req: CustomerItemRemoval) -> Result<()> {
    let (engine, staff) = console.session().await?;
    Ok(engine
        .remove_customer_social_link(&staff, req.id, req.item, &req.reason)
        .await?)
}

/// The record view asks for this when it opens a customer: other records whose address
/// looks the same (Unicode confusables), shown as a warning so staff act on the right one.
#[tauri::command]
pub async fn customer_lookalikes(
    console: Ctx<'_>,
    req: CustomerRef,
) -> Result<Vec<CustomerSummary>> {
    let (engine, staff) = console.session().await?;
    Ok(engine.customer_lookalikes(&staff, req.id).await?)
}

#[tauri::command]
pub async fn set_customer_status(console: Ctx<'_>, req: StatusChange) -> Result<Customer> {
    let (engine, staff) = console.session().await?;
    Ok(engine
        .set_customer_status(
            &staff,
            req.id,
            req.expected_version,
            req.status,
            req.reason.as_deref(),
        )
        .await?)
}

#[tauri::command]
pub async fn update_customer_profile(console: Ctx<'_>, req: ProfileEdit) -> Result<Customer> {
    let (engine, staff) = console.session().await?;
    Ok(engine
        .update_customer_profile(&staff, req.id, req.expected_version, req.patch)
        .await?)
}

#[tauri::command]
pub async fn mark_email_verified(console: Ctx<'_>, req: MarkVerified) -> Result<Customer> {
    let (engine, staff) = console.session().await?;
    Ok(engine
        .mark_email_verified(&staff, req.id, req.expected_version, &req.reason)
        .await?)
}

#[tauri::command]
pub async fn resend_verification(console: Ctx<'_>, req: CustomerRef) -> Result<()> {
    let (engine, staff) = console.session().await?;
    Ok(engine.resend_verification(&staff, req.id).await?)
}

#[tauri::command]
pub async fn start_password_reset(console: Ctx<'_>, req: CustomerRef) -> Result<()> {
    let (engine, staff) = console.session().await?;
    Ok(engine.start_password_reset(&staff, req.id).await?)
}

#[tauri::command]
pub async fn revoke_customer_sessions(console: Ctx<'_>, req: RevokeSessions) -> Result<u64> {
    let (engine, staff) = console.session().await?;
    Ok(engine
        .revoke_customer_sessions(&staff, req.id, req.session)
        .await?)
}

/// Fill an empty vault with generated customers (admins; for trying the console out).
#[tauri::command]
pub async fn seed_sample_customers(console: Ctx<'_>, req: SeedRequest) -> Result<SeedResult> {
    let (engine, staff) = console.session().await?;
    let report = engine
        .seed_demo(
            &staff,
            SeedOptions {
                customers: u64::from(req.customers),
                ..SeedOptions::default()
            },
            &mut |_| {},
        )
        .await?;
    Ok(SeedResult {
        customers: u32::try_from(report.customers).unwrap_or(u32::MAX),
        attempts: u32::try_from(report.attempts).unwrap_or(u32::MAX),
    })
}

#[tauri::command]
pub async fn get_settings(console: Ctx<'_>) -> Result<ConsoleSettings> {
    let (engine, staff) = console.session().await?;
    Ok(engine.console_settings(&staff).await?)
}

#[tauri::command]
pub async fn update_settings(console: Ctx<'_>, req: ConsoleSettings) -> Result<ConsoleSettings> {
    let (engine, staff) = console.session().await?;
    let saved = engine.update_console_settings(&staff, &req).await?;
    console.set_idle(&saved).await;
    Ok(saved)
}

#[tauri::command]
pub async fn list_staff(console: Ctx<'_>) -> Result<Vec<StaffMember>> {
    let (engine, staff) = console.session().await?;
    Ok(engine.list_staff(&staff).await?)
}

#[tauri::command]
pub async fn add_staff(console: Ctx<'_>, req: NewStaff) -> Result<StaffMember> {
    let (engine, staff) = console.session().await?;
    Ok(engine
        .add_staff(
            &staff,
            &req.email,
            &req.display_name,
            req.role,
            &req.password,
        )
        .await?)
}

#[tauri::command]
pub async fn remove_staff(console: Ctx<'_>, req: StaffRef) -> Result<()> {
    let (engine, staff) = console.session().await?;
    Ok(engine.remove_staff(&staff, req.id).await?)
}

/// The hosted pages' branding (name, accent, support link, logo).
#[tauri::command]
pub async fn get_branding(console: Ctx<'_>) -> Result<Branding> {
    let (engine, staff) = console.session().await?;
    staff.require_signed_in()?;
    Ok(engine.branding().await?)
}

/// Change the branding (admins); `version` must be the one read.
#[tauri::command]
pub async fn update_branding(console: Ctx<'_>, req: Branding) -> Result<Branding> {
    let (engine, staff) = console.session().await?;
    Ok(engine.update_branding(&staff, &req).await?)
}

/// The customer attribute definitions (progressive profiling).
#[tauri::command]
pub async fn get_attribute_definitions(console: Ctx<'_>) -> Result<AttributeDefinitions> {
    let (engine, staff) = console.session().await?;
    staff.require_signed_in()?;
    Ok(engine.attribute_definitions().await?)
}

/// Replace the attribute definitions (admins); `version` must be the one read.
#[tauri::command]
pub async fn update_attribute_definitions(
    console: Ctx<'_>,
    req: AttributeDefinitions,
) -> Result<AttributeDefinitions> {
    let (engine, staff) = console.session().await?;
    Ok(engine.update_attribute_definitions(&staff, &req).await?)
}

/// The upstream OpenID Connect providers customers may sign in with (never their secrets).
#[tauri::command]
pub async fn list_providers(console: Ctx<'_>) -> Result<Vec<UpstreamProvider>> {
    let (engine, staff) = console.session().await?;
    staff.require_signed_in()?;
    Ok(engine.upstream_providers().await?)
}

/// Add a provider (admins); its client secret is sealed and never shown again.
#[tauri::command]
pub async fn add_provider(console: Ctx<'_>, req: NewUpstreamProvider) -> Result<UpstreamProvider> {
    let (engine, staff) = console.session().await?;
    Ok(engine.add_upstream_provider(&staff, req).await?)
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ProviderRef {
    pub id: Uuid,
}

/// Remove a provider (admins; refused while customers are connected through it).
#[tauri::command]
pub async fn remove_provider(console: Ctx<'_>, req: ProviderRef) -> Result<()> {
    let (engine, staff) = console.session().await?;
    Ok(engine.remove_upstream_provider(&staff, req.id).await?)
}

/// Remove a colleague's lost authenticator (admins), with the reason recorded.
#[tauri::command]
pub async fn reset_staff_authenticator(console: Ctx<'_>, req: AuthenticatorReset) -> Result<()> {
    let (engine, staff) = console.session().await?;
    Ok(engine
        .reset_staff_authenticator(&staff, req.id, &req.reason)
        .await?)
}

/// The review queue (security and admin staff).
#[tauri::command]
pub async fn review_queue(console: Ctx<'_>, req: ReviewFilter) -> Result<Vec<ReviewItem>> {
    let (engine, staff) = console.session().await?;
    Ok(engine.review_queue(&staff, &req).await?)
}

/// Decide items or a whole wave.
#[tauri::command]
pub async fn decide_reviews(console: Ctx<'_>, req: ReviewDecision) -> Result<ReviewOutcome> {
    let (engine, staff) = console.session().await?;
    Ok(engine.decide_reviews(&staff, &req).await?)
}

#[tauri::command]
pub async fn assign_reviews(console: Ctx<'_>, req: AssignRequest) -> Result<()> {
    let (engine, staff) = console.session().await?;
    Ok(engine
        .assign_reviews(&staff, &req.attempts, req.assignee, &req.note)
        .await?)
}

/// Who review items can be assigned to.
#[tauri::command]
pub async fn review_analysts(console: Ctx<'_>) -> Result<Vec<StaffMember>> {
    let (engine, staff) = console.session().await?;
    Ok(engine.review_analysts(&staff).await?)
}

#[tauri::command]
pub async fn attack_overview(console: Ctx<'_>, req: OverviewRequest) -> Result<AttackOverview> {
    let (engine, staff) = console.session().await?;
    Ok(engine.attack_overview(&staff, req.window_minutes).await?)
}

#[tauri::command]
pub async fn get_risk_policy(console: Ctx<'_>) -> Result<RiskPolicy> {
    let (engine, staff) = console.session().await?;
    Ok(engine.risk_policy(&staff).await?)
}

/// Publish a policy (admins; `version` must be the one in force).
#[tauri::command]
pub async fn update_risk_policy(console: Ctx<'_>, req: RiskPolicy) -> Result<RiskPolicy> {
    let (engine, staff) = console.session().await?;
    Ok(engine.update_risk_policy(&staff, &req).await?)
}

/// What a candidate policy would have done over the last 30 days (changes nothing).
#[tauri::command]
pub async fn replay_risk_policy(console: Ctx<'_>, req: RiskPolicy) -> Result<ReplayReport> {
    let (engine, staff) = console.session().await?;
    Ok(engine.replay_risk_policy(&staff, &req).await?)
}

#[tauri::command]
pub async fn list_ip_blocks(console: Ctx<'_>) -> Result<Vec<IpBlock>> {
    let (engine, staff) = console.session().await?;
    Ok(engine.ip_blocks(&staff).await?)
}

#[tauri::command]
pub async fn add_ip_block(console: Ctx<'_>, req: NewBlock) -> Result<IpBlock> {
    let (engine, staff) = console.session().await?;
    Ok(engine
        .block_network(&staff, &req.network, &req.reason, req.hours)
        .await?)
}

#[tauri::command]
pub async fn remove_ip_block(console: Ctx<'_>, req: BlockRef) -> Result<()> {
    let (engine, staff) = console.session().await?;
    Ok(engine.unblock_network(&staff, req.id).await?)
}

/// The purposes with their latest versions, and how customers answered each version.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ConsentOverview {
    pub purposes: Vec<Purpose>,
    pub rates: Vec<ConsentRate>,
}

#[tauri::command]
pub async fn consent_overview(console: Ctx<'_>) -> Result<ConsentOverview> {
    let (engine, staff) = console.session().await?;
    let rates = engine.consent_rates(&staff).await?;
    Ok(ConsentOverview {
        purposes: engine.consent_purposes().await?,
        rates,
    })
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PurposeVersionRef {
    pub purpose_id: String,
    pub version: i64,
}

/// One published version with its texts (for the editor's preview and diff).
#[tauri::command]
pub async fn get_purpose_version(
    console: Ctx<'_>,
    req: PurposeVersionRef,
) -> Result<PurposeVersion> {
    let (engine, _staff) = console.session().await?;
    Ok(engine.purpose_version(&req.purpose_id, req.version).await?)
}

/// Create or change a purpose (privacy staff and admins; audited).
#[tauri::command]
pub async fn save_consent_purpose(console: Ctx<'_>, req: PurposeInput) -> Result<Purpose> {
    let (engine, staff) = console.session().await?;
    Ok(engine.save_consent_purpose(&staff, &req).await?)
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PurposeRef {
    pub purpose_id: String,
}

/// How many customers a material version would ask again.
#[tauri::command]
pub async fn reconsent_preview(console: Ctx<'_>, req: PurposeRef) -> Result<u64> {
    let (engine, staff) = console.session().await?;
    Ok(engine.reconsent_preview(&staff, &req.purpose_id).await?)
}

/// Publish a version (immutable from then on); says how many must consent again.
#[tauri::command]
pub async fn publish_consent_version(console: Ctx<'_>, req: PublishVersion) -> Result<Published> {
    let (engine, staff) = console.session().await?;
    Ok(engine.publish_consent_version(&staff, &req).await?)
}

/// A customer's consent: the answer in force per purpose, and the ledger (newest first).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CustomerConsent {
    pub state: Vec<PurposeState>,
    pub ledger: Vec<ConsentRecord>,
}

#[tauri::command]
pub async fn customer_consent(console: Ctx<'_>, req: CustomerRef) -> Result<CustomerConsent> {
    let (engine, staff) = console.session().await?;
    let ledger = engine.consent_ledger(&staff, req.id).await?;
    Ok(CustomerConsent {
        state: engine.consent_state(req.id).await?,
        ledger,
    })
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ReceiptRef {
    #[cfg_attr(test, ts(type = "string"))]
    pub record: Uuid,
}

/// A ledger record's signed receipt (a JWS, Kantara Consent Receipt v1.1).
#[tauri::command]
pub async fn consent_receipt(console: Ctx<'_>, req: ReceiptRef) -> Result<String> {
    let (engine, staff) = console.session().await?;
    Ok(engine.staff_consent_receipt(&staff, req.record).await?)
}

/// Where the staff member wants a file saved: the native save dialog (`None` when cancelled),
/// or in real-window tests `VESTIBULE_E2E_EXPORT_DIR` (a WebDriver cannot drive the dialog).
async fn save_dialog(
    app: &tauri::AppHandle,
    title: &str,
    name: &str,
    filter: &str,
    ext: &str,
) -> Result<Option<std::path::PathBuf>> {
    if let Some(dir) = std::env::var_os("VESTIBULE_E2E_EXPORT_DIR") {
        return Ok(Some(std::path::PathBuf::from(dir).join(name)));
    }
    use tauri_plugin_dialog::DialogExt;
    let dialog = app
        .dialog()
        .file()
        .set_title(title)
        .set_file_name(name)
        .add_filter(filter, &[ext]);
    tauri::async_runtime::spawn_blocking(move || dialog.blocking_save_file())
        .await
        .map_err(|e| ConsoleError::Io(e.to_string()))?
        .map(|p| p.into_path().map_err(|e| ConsoleError::Io(e.to_string())))
        .transpose()
}

/// Where an export was saved.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ExportSaved {
    /// The bundle: one ZIP holding `export.json` and `summary.html`.
    pub path: String,
    /// Rows exported, all tables together.
    pub rows: u64,
}

/// Export everything held on a customer (privacy staff and admins; audited) into the one
/// file the staff member chooses in a save dialog: a ZIP of the JSON and its HTML summary.
/// `None`: the dialog was cancelled. Real-window tests set `VESTIBULE_E2E_EXPORT_DIR` (a
/// WebDriver cannot drive a native dialog): the file then goes there.
#[tauri::command]
pub async fn export_customer_file(
    app: tauri::AppHandle,
    console: Ctx<'_>,
    req: CustomerRef,
) -> Result<Option<ExportSaved>> {
    let (engine, staff) = console.session().await?;
    let name = format!(
        "customer-{}-export-{}.zip",
        req.id,
        engine.now().format("%Y-%m-%d")
    );
    let chosen = save_dialog(
        &app,
        "Save the customer's data",
        &name,
        "ZIP archive",
        "zip",
    )
    .await?;
    let Some(path) = chosen else {
        return Ok(None);
    };
    let export = engine.export_customer(&staff, req.id).await?;
    let org = engine.branding().await.map(|b| b.name).unwrap_or_default();
    let bundle = export.bundle(&org)?;
    let rows = export.tables.values().map(|r| r.len() as u64).sum();
    // The export is personal data: readable by the staff member's account only.
    vestibule_engine::write_private_file(&path, &bundle)
        .map_err(|e| ConsoleError::Io(format!("{}: {e}", path.display())))?;
    Ok(Some(ExportSaved {
        path: path.display().to_string(),
        rows,
    }))
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct EraseRequest {
    #[cfg_attr(test, ts(type = "string"))]
    pub id: Uuid,
    /// The customer's address, typed by the staff member.
    pub confirm_email: String,
    pub reason: String,
}

/// Erase a customer (privacy staff and admins; audited, tombstone kept).
#[tauri::command]
pub async fn erase_customer(console: Ctx<'_>, req: EraseRequest) -> Result<Erasure> {
    let (engine, staff) = console.session().await?;
    Ok(engine
        .erase_customer(&staff, req.id, &req.confirm_email, &req.reason)
        .await?)
}

#[tauri::command]
pub async fn get_retention_rules(console: Ctx<'_>) -> Result<RetentionRules> {
    let (engine, staff) = console.session().await?;
    Ok(engine.retention_rules(&staff).await?)
}

#[tauri::command]
pub async fn update_retention_rules(
    console: Ctx<'_>,
    req: RetentionRules,
) -> Result<RetentionRules> {
    let (engine, staff) = console.session().await?;
    Ok(engine.update_retention_rules(&staff, &req).await?)
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RetentionRun {
    pub dry_run: bool,
}

/// Run the retention rules now, or only count what they would remove.
#[tauri::command]
pub async fn run_retention(console: Ctx<'_>, req: RetentionRun) -> Result<RetentionReport> {
    let (engine, staff) = console.session().await?;
    Ok(engine.run_retention(&staff, req.dry_run).await?)
}

#[tauri::command]
pub async fn last_retention_run(console: Ctx<'_>) -> Result<Option<RetentionReport>> {
    let (engine, staff) = console.session().await?;
    Ok(engine.last_retention_run(&staff).await?)
}

/// An Analytics screen's request: the figures' query and how its charts are drawn.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AnalyticsViewRequest {
    pub query: vestibule_engine::analytics::AnalyticsQuery,
    /// "light" or "dark": the console's theme.
    pub theme: String,
    /// The charts to draw (their names: sign-ins, attempts, …); empty for figures only.
    pub charts: Vec<String>,
    /// Each chart's size in CSS pixels.
    pub width: u32,
    pub height: u32,
}

/// One chart drawn for the window.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ChartSvg {
    pub name: String,
    pub title: String,
    /// The SVG (its data points carry `data-label` and `data-value`).
    pub svg: String,
}

/// The figures and the charts of one Analytics screen, with a sparkline per KPI for the
/// dashboard's tiles.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AnalyticsView {
    pub report: vestibule_engine::analytics::AnalyticsReport,
    pub charts: Vec<ChartSvg>,
    /// registrations, sign_ins, active, success_rate, mfa_adoption → SVG.
    pub sparklines: Vec<ChartSvg>,
}

fn theme_of(name: &str) -> Result<vestibule_charts::Theme> {
    vestibule_charts::Theme::parse(name)
        .ok_or_else(|| ConsoleError::Io("the theme is light or dark".into()))
}

fn chart_of(name: &str) -> Result<vestibule_charts::Chart> {
    vestibule_charts::Chart::parse(name)
        .ok_or_else(|| ConsoleError::Io(format!("there is no chart called {name}")))
}

fn drawn(e: vestibule_charts::Error) -> ConsoleError {
    ConsoleError::Io(e.to_string())
}

/// The figures for a range with its charts drawn (security, privacy and admins), after the
/// events not yet counted are. The report comes from the rollups; drawing happens on a
/// blocking thread, so the window never waits.
#[tauri::command]
pub async fn analytics_view(console: Ctx<'_>, req: AnalyticsViewRequest) -> Result<AnalyticsView> {
    let (engine, staff) = console.session().await?;
    // The background worker counts new events every second; counting what is left first
    // makes the screen show everything recorded up to now (on a vault opened after a bulk
    // load this is the long part, and the window shows its progress meanwhile).
    engine.analytics_catch_up().await?;
    let report = engine.analytics(&staff, &req.query).await?;
    let theme = theme_of(&req.theme)?;
    let charts = req
        .charts
        .iter()
        .map(|n| chart_of(n))
        .collect::<Result<Vec<_>>>()?;
    tauri::async_runtime::spawn_blocking(move || {
        let drawn_charts = charts
            .into_iter()
            .map(|c| {
                Ok(ChartSvg {
                    name: c.name().to_owned(),
                    title: c.title().to_owned(),
                    svg: vestibule_charts::svg(&report, c, theme, (req.width, req.height), false)
                        .map_err(drawn)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let per_bucket = |s: &[vestibule_engine::analytics::Series]| -> Vec<f64> {
            let mut out = vec![0.0; report.buckets.len()];
            for x in s {
                for (o, v) in out.iter_mut().zip(&x.values) {
                    *o += *v as f64;
                }
            }
            out
        };
        let attempts = |key: &str| -> Vec<f64> {
            per_bucket(
                &report
                    .attempts_by_outcome
                    .iter()
                    .filter(|s| s.key == key)
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        };
        let (ok, failed) = (attempts("success"), attempts("failure"));
        let rate: Vec<f64> = ok
            .iter()
            .zip(&failed)
            .map(|(s, f)| {
                if s + f > 0.0 {
                    100.0 * s / (s + f)
                } else {
                    0.0
                }
            })
            .collect();
        let lines: Vec<(&str, Vec<f64>)> = vec![
            (
                "registrations",
                report.registrations.iter().map(|&v| v as f64).collect(),
            ),
            ("sign_ins", per_bucket(&report.sign_ins_by_method)),
            (
                "active",
                report.active.iter().map(|p| p.active as f64).collect(),
            ),
            ("success_rate", rate),
            (
                "mfa_adoption",
                report
                    .active
                    .iter()
                    .map(|p| {
                        if p.active > 0 {
                            100.0 * p.with_mfa.min(p.active) as f64 / p.active as f64
                        } else {
                            0.0
                        }
                    })
                    .collect(),
            ),
        ];
        let sparklines = lines
            .into_iter()
            .map(|(name, values)| {
                Ok(ChartSvg {
                    name: name.to_owned(),
                    title: name.replace('_', " "),
                    svg: vestibule_charts::sparkline(&values, theme, (160, 36)).map_err(drawn)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AnalyticsView {
            report,
            charts: drawn_charts,
            sparklines,
        })
    })
    .await
    .map_err(|e| ConsoleError::Io(e.to_string()))?
}

/// Export one chart (PNG at print resolution, SVG with its font) or its data (CSV).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ChartExport {
    pub query: vestibule_engine::analytics::AnalyticsQuery,
    pub chart: String,
    /// "png", "svg" or "csv".
    pub format: String,
    pub theme: String,
}

/// Save one chart or its data where the staff member chooses in a save dialog; `None` when
/// the dialog was cancelled (`VESTIBULE_E2E_EXPORT_DIR` stands in for it in real-window tests).
#[tauri::command]
pub async fn export_chart(
    app: tauri::AppHandle,
    console: Ctx<'_>,
    req: ChartExport,
) -> Result<Option<ExportSaved>> {
    let (engine, staff) = console.session().await?;
    let chart = chart_of(&req.chart)?;
    let theme = theme_of(&req.theme)?;
    let (filter, ext) = match req.format.as_str() {
        "png" => ("PNG image", "png"),
        "svg" => ("SVG image", "svg"),
        "csv" => ("CSV table", "csv"),
        _ => return Err(ConsoleError::Io("export as png, svg or csv".into())),
    };
    let report = engine.analytics(&staff, &req.query).await?;
    let name = format!(
        "{}-{}-{}.{ext}",
        chart.name(),
        req.query.from.format("%Y-%m-%d"),
        req.query.to.format("%Y-%m-%d")
    );
    let chosen = save_dialog(&app, &format!("Save {}", chart.title()), &name, filter, ext).await?;
    let Some(path) = chosen else {
        return Ok(None);
    };
    let format = req.format.clone();
    let bytes = tauri::async_runtime::spawn_blocking(move || -> Result<Vec<u8>> {
        Ok(match format.as_str() {
            "png" => vestibule_charts::png(&report, chart, theme, (960, 480), 2).map_err(drawn)?,
            "svg" => vestibule_charts::svg(&report, chart, theme, (960, 480), true)
                .map_err(drawn)?
                .into_bytes(),
            _ => vestibule_charts::csv(&report, chart).into_bytes(),
        })
    })
    .await
    .map_err(|e| ConsoleError::Io(e.to_string()))??;
    std::fs::write(&path, &bytes)
        .map_err(|e| ConsoleError::Io(format!("{}: {e}", path.display())))?;
    Ok(Some(ExportSaved {
        path: path.display().to_string(),
        rows: bytes.len() as u64,
    }))
}
