// Generated from the Rust types by src-tauri/bindings.rs. Do not edit by hand:
// VESTIBULE_WRITE_BINDINGS=1 cargo test -p vestibule-console bindings

export type ErrorCode = "invalid_input" | "weak_password" | "invalid_credentials" | "account_unavailable" | "invalid_token" | "invalid_session" | "not_found" | "email_in_use" | "conflict" | "forbidden" | "rate_limited" | "overloaded" | "vault_locked" | "vault_error" | "audit_tampered" | "storage" | "delivery" | "oauth" | "second_factor_required" | "authenticator_required" | "step_up_required" | "not_configured" | "upstream" | "internal";

export type ConsoleCode = "not_signed_in" | "idle_locked" | "no_vault" | "vault_exists" | "io";

export type IpcErrorCode = ErrorCode | ConsoleCode;

export type IpcError = { code: IpcErrorCode, message: string, 
/**
 * The input field an `invalid_input` error is about.
 */
field: string | null, };

export type Role = "support" | "security" | "privacy" | "admin";

export type Permission = "read_customers" | "edit_customers" | "resend_verification" | "start_password_reset" | "mark_email_verified" | "revoke_sessions" | "unlock_customers" | "remove_factors" | "lock_customers" | "disable_customers" | "review_risk" | "read_analytics" | "manage_consent" | "export_customers" | "erase_customers" | "manage_retention" | "read_audit" | "manage_staff" | "manage_settings" | "manage_clients" | "seed_demo_data";

export type Staff = { id: string, email: string, display_name: string, role: Role, factor: StaffFactor, };

export type StaffMember = { id: string, email: string, display_name: string, role: Role, status: string, version: number, 
/**
 * Whether they have an authenticator app set up (filled in the admins' staff list).
 */
authenticator: boolean, };

export type DemoAccount = { email: string, role: Role, password: string, };

export type ConsoleSettings = { 
/**
 * Staff must give a reason or ticket reference before a customer record opens.
 */
require_access_reason: boolean, 
/**
 * A console locks (and forgets the vault key) after this many idle minutes.
 */
idle_lock_minutes: number, version: number, };

export type SessionView = { staff: Staff, 
/**
 * The permissions of the staff member's role (the UI hides what is not allowed; the
 * engine refuses it anyway).
 */
permissions: Array<Permission>, settings: ConsoleSettings, 
/**
 * Seconds without activity before the console locks.
 */
idle_lock_seconds: number, };

export type AppStatus = { 
/**
 * The chosen vault file, if any.
 */
vault_path: string | null, 
/**
 * False on first launch: offer "open demo vault" or "create a new vault".
 */
vault_exists: boolean, 
/**
 * The chosen vault is the demo vault (its staff accounts are shown on sign-in).
 */
demo: boolean, 
/**
 * The demo vault's staff accounts and passwords (public: demo vaults only).
 */
demo_accounts: Array<DemoAccount>, 
/**
 * How many customers a new demo vault gets.
 */
demo_customers: number, session: SessionView | null, };

export type VaultCreated = { 
/**
 * Shown once: unlocks the vault if every staff password is lost.
 */
recovery_key: string, session: SessionView, };

export type Credentials = { email: string, password: string, };

export type CustomerStatus = "active" | "locked" | "disabled" | "erased";

export type Customer = { id: string, email: string, email_verified: boolean, phone: string | null, display_name: string, locale: string, attributes: Record<string, unknown>, status: CustomerStatus, tier: string, roles: Array<string>, mfa_enabled: boolean, created_at: string, updated_at: string, last_sign_in_at: string | null, version: number, };

export type CustomerSummary = { id: string, email: string, display_name: string, phone: string | null, status: CustomerStatus, email_verified: boolean, };

export type SearchPage = { items: Array<CustomerSummary>, next: string | null, };

export type SearchRequest = { query: string, cursor: string | null, limit: number, };

export type OpenCustomer = { id: string, 
/**
 * Why the record is opened (required when the organisation's setting says so).
 */
reason: string | null, };

export type CustomerRef = { id: string, };

export type SignInAttempt = { 
/**
 * Its number in the record (what review decisions name).
 */
seq: number, at: string, email: string, customer_id: string | null, outcome: string, reason: string, method: string, ip: string, user_agent: string, 
/**
 * The user agent in words ("Firefox on Linux").
 */
device: string, 
/**
 * The /24 or /48 network of the address.
 */
network: string, 
/**
 * Where GeoIP put the address, when a database is configured.
 */
country: string | null, 
/**
 * The risk score (0–100); none for attempts recorded before scoring.
 */
score: number | null, decision: Decision | null, 
/**
 * The decision took effect (not audit-only).
 */
enforced: boolean, 
/**
 * Why: each triggered signal with its points and evidence in words.
 */
signals: Array<Signal>, };

export type Decision = "allow" | "challenge" | "deny";

export type Signal = { signal: SignalKind, 
/**
 * The weight the policy gave it.
 */
points: number, 
/**
 * Why, in words: "new country FR; seen before: DE, NL in 180 days".
 */
evidence: string, };

export type SignalKind = "new_device" | "new_network" | "new_country" | "impossible_travel" | "ip_velocity" | "account_velocity" | "common_password" | "inactivity" | "bot_timing" | "shared_user_agent" | "blocked_ip";

export type SessionInfo = { id: string, customer_id: string, created_at: string, last_seen_at: string, idle_expires_at: string, absolute_expires_at: string, ip: string, user_agent: string, device: string, 
/**
 * How the customer proved who they are (RFC 8176 values: `pwd`, `otp`, `mfa`, …).
 */
amr: Array<string>, 
/**
 * When they last did (sign-in or step-up): "recent authentication" is measured from here.
 */
auth_at: string, };

export type AuditEntry = { seq: number, id: string, at: string, actor: string, action: string, target: string, reason: string | null, 
/**
 * `{field: [before, after]}` for changes; `{}` for reads.
 */
diff: Record<string, unknown>, 
/**
 * Who `actor` is, in words ("Ana Ruiz <ana@example.com>"), when the actor is a staff
 * member; filled on reads that join the staff table, not part of the hash chain.
 */
actor_label: string | null, };

export type RiskLevel = "low" | "elevated" | "high";

export type CustomerRisk = { level: RiskLevel, failed_last_24h: number, failed_ips_last_24h: number, };

export type StatusChange = { id: string, expected_version: number, status: CustomerStatus, reason: string | null, };

export type ProfilePatch = { display_name: string | null, 
/**
 * `Some("")` removes the phone number.
 */
phone: string | null, locale: string | null, attributes: Record<string, unknown> | null, tier: string | null, };

export type ProfileEdit = { id: string, expected_version: number, patch: ProfilePatch, };

export type MarkVerified = { id: string, expected_version: number, reason: string, };

export type RevokeSessions = { id: string, 
/**
 * One session, or all of the customer's when absent.
 */
session: string | null, };

export type SeedRequest = { customers: number, };

export type SeedResult = { customers: number, attempts: number, };

export type NewStaff = { email: string, display_name: string, role: Role, 
/**
 * The new member's initial password (it also unwraps the vault key for them).
 */
password: string, };

export type StaffRef = { id: string, };

export type StaffFactor = "verified" | "not_required" | "enrolment_needed" | "code_needed";

export type AuthenticatorCode = { 
/**
 * The authenticator app's current 6-digit code.
 */
code: string, };

export type AuthenticatorSetup = { 
/**
 * The secret in base32, for typing into the app.
 */
secret: string, 
/**
 * `otpauth://totp/…`
 */
uri: string, 
/**
 * The URI as a QR code, SVG markup (generated here, not from outside input).
 */
qr_svg: string, };

export type AuthenticatorReset = { id: string, 
/**
 * Why (recorded in the audit log).
 */
reason: string, };

export type FactorKind = "totp" | "passkey";

export type Factor = { id: string, kind: FactorKind, name: string, created_at: string, last_used_at: string | null, 
/**
 * Set when the factor was turned off because it may have been copied (a passkey whose
 * signature counter went backwards); it no longer signs anyone in.
 */
flagged_at: string | null, };

export type SocialLink = { provider_id: string, provider: string, 
/**
 * The provider's address for the account when it was linked.
 */
email: string | null, linked_at: string, last_used_at: string | null, };

export type CustomerItemRemoval = { id: string, 
/**
 * The factor's id, or the provider's for a connected account.
 */
item: string, 
/**
 * Why (required; recorded in the audit log).
 */
reason: string, };

export type Logo = { 
/**
 * `image/png`, `image/jpeg` or `image/svg+xml`.
 */
content_type: string, base64: string, };

export type Branding = { 
/**
 * The organisation's name, shown in every page's header and title.
 */
name: string, 
/**
 * `#rrggbb`; buttons and focus rings.
 */
accent: string, 
/**
 * Where customers get help (`https://…` or `mailto:…`), linked in every page's footer.
 */
support_url: string | null, 
/**
 * The logo, if any.
 */
logo: Logo | null, version: number, };

export type AttributeDefinitions = { definitions: Array<AttributeDefinition>, version: number, };

export type AttributeDefinition = { 
/**
 * Its key in the customer's attributes (and its claim name): `a-z`, digits, `_`.
 */
name: string, 
/**
 * What customers and staff read.
 */
label: string, kind: AttributeKind, 
/**
 * Choice: the allowed values.
 */
options: Array<string>, 
/**
 * Text: at most this many characters (default and ceiling 1000).
 */
max_length: number | null, 
/**
 * Text: a regular expression the whole value must match.
 */
pattern: string | null, 
/**
 * Number: the smallest allowed.
 */
min: number | null, 
/**
 * Number: the largest allowed.
 */
max: number | null, 
/**
 * Customers may set and change it (account center, customer API, the asking step).
 */
customer_editable: boolean, ask: AttributeAsk, 
/**
 * `sign_in`: ask from this sign-in on (1 = the first).
 */
after_sign_ins: number, 
/**
 * The OpenID Connect scope that releases it to clients as a claim (and, with
 * `ask: scope`, the scope whose request asks for it).
 */
scope: string | null, };

export type AttributeKind = "text" | "number" | "boolean" | "date" | "choice";

export type AttributeAsk = "never" | "sign_up" | "sign_in" | "scope";

export type UpstreamProvider = { id: string, 
/**
 * What the button says after "Continue with".
 */
label: string, issuer: string, client_id: string, scopes: string, created_at: string, };

export type NewUpstreamProvider = { label: string, 
/**
 * The provider's issuer: its discovery document is `<issuer>/.well-known/openid-configuration`.
 */
issuer: string, client_id: string, client_secret: string, 
/**
 * Space-separated; `openid email profile` when empty.
 */
scopes: string | null, };

export type ProviderRef = { id: string, };

export type ReviewStatus = "open" | "legitimate" | "fraud";

export type ReviewFilter = { status: ReviewStatus | null, 
/**
 * Items where this signal triggered.
 */
signal: SignalKind | null, 
/**
 * Two-letter country code (GeoIP).
 */
country: string | null, 
/**
 * One address, or the /24 (/48) an attempt's address is counted under.
 */
network: string | null, decision: Decision | null, since: string | null, until: string | null, 
/**
 * At most this many (1–500; 100 when not given).
 */
limit: number | null, };

export type ReviewItem = { attempt: SignInAttempt, status: ReviewStatus, 
/**
 * The analyst it is assigned to.
 */
assignee: string | null, note: string, 
/**
 * Who decided it (`staff:<id>`) and when.
 */
decided_by: string | null, decided_at: string | null, };

export type Verdict = "legitimate" | "fraud";

export type BlockRequest = { network: string, hours: number, };

export type ReviewDecision = { 
/**
 * The attempts' `seq`s (up to 500).
 */
attempts: Array<number>, 
/**
 * A whole wave: every open item from this address or /24 (IPv6: /48), up to 10,000.
 */
wave: string | null, verdict: Verdict, 
/**
 * Fraud: lock the accounts (which also ends their sessions).
 */
lock: boolean, 
/**
 * Fraud: end the accounts' sessions.
 */
revoke_sessions: boolean, 
/**
 * Fraud: the password stops working; the customer is emailed a reset link.
 */
force_reset: boolean, 
/**
 * Fraud: block this address or range for a while.
 */
block: BlockRequest | null, note: string, };

export type ReviewOutcome = { decided: number, accounts_locked: number, sessions_revoked: number, passwords_reset: number, 
/**
 * Devices and networks now trusted for their customers.
 */
trusted: number, blocked: string | null, };

export type AssignRequest = { 
/**
 * The items' attempt `seq`s.
 */
attempts: Array<number>, assignee: string | null, note: string, };

export type OverviewRequest = { 
/**
 * 60, 1440 or 10080.
 */
window_minutes: number, };

export type AttackOverview = { since: string, until: string, window_minutes: number, 
/**
 * The length of one interval of `failures` and `successes`.
 */
bucket_minutes: number, 
/**
 * Failed sign-ins per interval, oldest first.
 */
failures: Array<number>, 
/**
 * Successful sign-ins per interval, oldest first.
 */
successes: Array<number>, failed_total: number, succeeded_total: number, 
/**
 * Attempts the policy challenged or denied in the window.
 */
challenged_or_denied: number, top_ips: Array<AttackSource>, top_networks: Array<AttackSource>, 
/**
 * Accounts with at least three failures in the window, most first.
 */
targeted_accounts: Array<TargetedAccount>, 
/**
 * Blocks in force now.
 */
active_blocks: number, };

export type AttackSource = { 
/**
 * An address, or a /24 (/48) range.
 */
source: string, failures: number, 
/**
 * Distinct addresses (accounts or not) tried from it.
 */
accounts: number, last_at: string, 
/**
 * A block in force covers it.
 */
blocked: boolean, };

export type TargetedAccount = { customer_id: string, email: string, failures: number, 
/**
 * Distinct addresses the failures came from.
 */
sources: number, last_at: string, };

export type RiskMode = "enforce" | "audit_only";

export type SignalRule = { enabled: boolean, weight: number, };

export type RiskLimits = { 
/**
 * Faster than this between two successful sign-ins is impossible travel.
 */
travel_kmh: number, 
/**
 * Distinct accounts failed on from one address within `velocity_minutes`.
 */
accounts_per_ip: number, 
/**
 * Distinct accounts failed on from one /24 (or /48) within `velocity_minutes`.
 */
accounts_per_network: number, 
/**
 * Distinct accounts failed on from one network operator (ASN, with a GeoIP ASN
 * database) within `velocity_minutes`.
 */
accounts_per_asn: number, 
/**
 * Distinct accounts one user agent failed on within `velocity_minutes`.
 */
accounts_per_user_agent: number, velocity_minutes: number, 
/**
 * Failures on one account within an hour.
 */
account_failures: number, 
/**
 * No sign-in for this many days is long inactivity.
 */
inactive_days: number, 
/**
 * A form submitted sooner than this after it was shown is bot-like.
 */
bot_ms: number, 
/**
 * How far back devices, networks and countries count as "seen before".
 */
history_days: number, };

export type RiskPolicy = { mode: RiskMode, 
/**
 * A score at or above this is challenged (second factor, or an emailed code).
 */
challenge_at: number, 
/**
 * A score at or above this is denied.
 */
deny_at: number, 
/**
 * A score at or above this goes to the analysts' review queue (challenged and denied
 * sign-ins always do).
 */
review_at: number, 
/**
 * Every signal by name (all of them; unknown names are refused).
 */
signals: Record<string, SignalRule>, limits: RiskLimits, version: number, };

export type DecisionCounts = { allow: number, challenge: number, deny: number, };

export type ReplayExample = { seq: number, at: string, email: string, was: Decision, would: Decision, score_was: number, score_would: number, 
/**
 * The evidence of its signals, in words.
 */
reasons: Array<string>, 
/**
 * What an analyst decided about it, if anyone did: `legitimate` or `fraud`.
 */
reviewed: string | null, };

export type ReplayReport = { since: string, 
/**
 * Scored attempts replayed.
 */
attempts: number, 
/**
 * What the policies of the time decided.
 */
recorded: DecisionCounts, 
/**
 * What the candidate would decide.
 */
candidate: DecisionCounts, changed: number, 
/**
 * Attempts analysts called fraud that the candidate would allow.
 */
fraud_allowed: number, 
/**
 * Attempts analysts called legitimate that the candidate would challenge or deny.
 */
legitimate_stopped: number, examples: Array<ReplayExample>, 
/**
 * What the replay could not take into account.
 */
caveats: Array<string>, };

export type IpBlock = { id: string, 
/**
 * "203.0.113.0/24", "2001:db8::/48", or one address.
 */
network: string, reason: string, created_at: string, expires_at: string, 
/**
 * `staff:<id>` or `system` (the throttle).
 */
created_by: string, };

export type NewBlock = { network: string, reason: string, hours: number, };

export type BlockRef = { id: string, };

export type LegalBasis = "consent" | "contract" | "legal_obligation" | "vital_interests" | "public_task" | "legitimate_interests";

export type ConsentText = { locale: string, title: string, body: string, };

export type PurposeInput = { 
/**
 * `a-z0-9_`, starting with a letter: `marketing_email`. Fixed once created.
 */
id: string, name: string, legal_basis: LegalBasis, 
/**
 * What data it uses, in words ("email address", "purchase history").
 */
data_categories: Array<string>, retention_days: number, 
/**
 * Data is used for it only with the customer's consent (otherwise the customer may
 * object, and a withdrawal is honoured).
 */
consent_required: boolean, 
/**
 * The version read (0: a new purpose); a stale one is a conflict.
 */
version: number, };

export type PurposeVersion = { purpose_id: string, version: number, material: boolean, published_at: string, published_by: string, texts: Array<ConsentText>, };

export type Purpose = { id: string, name: string, legal_basis: LegalBasis, data_categories: Array<string>, retention_days: number, consent_required: boolean, 
/**
 * Of the fields above (for [`PurposeInput::version`]).
 */
version: number, 
/**
 * None until a first version is published (customers are not asked before).
 */
latest: PurposeVersion | null, 
/**
 * The newest material version: consent given to an older one must be asked again.
 */
material_version: number, };

export type ConsentRate = { purpose_id: string, version: number, 
/**
 * Customers whose consent rests on this version.
 */
opted_in: number, 
/**
 * Customers who refused or withdrew it on this version.
 */
opted_out: number, };

export type ConsentOverview = { purposes: Array<Purpose>, rates: Array<ConsentRate>, };

export type PurposeVersionRef = { purpose_id: string, version: number, };

export type PurposeRef = { purpose_id: string, };

export type PublishVersion = { purpose_id: string, 
/**
 * The number it gets: one more than the latest (anything else: it was published over).
 */
version: number, material: boolean, texts: Array<ConsentText>, };

export type Published = { version: PurposeVersion, 
/**
 * Customers whose consent rests on an older version and who are now asked again (0 for
 * a minor version).
 */
reconsent: number, };

export type ConsentChannel = "sign_up" | "account_center" | "api" | "staff";

export type ConsentRecord = { 
/**
 * The receipt id.
 */
id: string, seq: number, customer_id: string, purpose_id: string, version: number, locale: string, granted: boolean, at: string, channel: ConsentChannel, client_id: string | null, staff_id: string | null, reason: string | null, ip: string, user_agent: string, };

export type PurposeState = { purpose_id: string, 
/**
 * The purpose's name, for people.
 */
name: string, 
/**
 * Whether the purpose needs consent at all (false: another legal basis; nobody is asked).
 */
consent_required: boolean, 
/**
 * None: never answered.
 */
granted: boolean | null, 
/**
 * The version the answer was given to.
 */
version: number | null, 
/**
 * Consent was given to a version older than the newest material one.
 */
needs_reconsent: boolean, 
/**
 * The record in force.
 */
record_id: string | null, at: string | null, };

export type CustomerConsent = { state: Array<PurposeState>, ledger: Array<ConsentRecord>, };

export type ReceiptRef = { record: string, };

export type ExportSaved = { 
/**
 * The bundle: one ZIP holding `export.json` and `summary.html`.
 */
path: string, 
/**
 * Rows exported, all tables together.
 */
rows: number, };

export type EraseRequest = { id: string, 
/**
 * The customer's address, typed by the staff member.
 */
confirm_email: string, reason: string, };

export type KeptRows = { rows: number, basis: string, };

export type Tombstone = { customer_id: string, erased_at: string, 
/**
 * `customer:<id>` (they asked, in the account center or API) or `staff:<id>`.
 */
requested_by: string, reason: string | null, 
/**
 * Table → rows kept and the legal basis for keeping them.
 */
kept: { [key in string]: KeptRows }, };

export type Erasure = { tombstone: Tombstone, 
/**
 * Table → rows deleted.
 */
deleted: Record<string, number>, 
/**
 * Table → rows kept without anything that identifies the customer.
 */
anonymised: Record<string, number>, 
/**
 * SQLite: every WAL frame reached the main file and the WAL was truncated (`false`: a
 * reader held old frames; the next checkpoint removes them). PostgreSQL: `true`.
 */
wal_truncated: boolean, };

export type RetentionRules = { 
/**
 * Sign-in attempts (the risk engine's and analysts' history): at least 30 days.
 */
sign_in_attempts_days: number | null, 
/**
 * Addresses and user agents in attempts, sessions and consent records.
 */
ip_addresses_days: number | null, 
/**
 * Sessions that ended (signed out, revoked or expired).
 */
ended_sessions_days: number | null, 
/**
 * Accounts whose address was never verified (erased).
 */
unverified_accounts_days: number | null, 
/**
 * Accounts nobody signed in to (erased): at least 30 days.
 */
inactive_accounts_days: number | null, 
/**
 * Consent records no longer in force (superseded, or of erased customers): at least
 * 365 days, the proof of consent must outlive a complaint about it.
 */
consent_history_days: number | null, 
/**
 * Optimistic concurrency: the version read (0: never saved).
 */
version: number, };

export type RetentionClass = "sign_in_attempts" | "ip_addresses" | "ended_sessions" | "consent_history" | "unverified_accounts" | "inactive_accounts";

export type RetentionItem = { class: RetentionClass, days: number, 
/**
 * Rows deleted or stripped; accounts erased for the account classes.
 */
rows: number, };

export type RetentionReport = { dry_run: boolean, at: string, 
/**
 * `staff:<id>` or `system` (the daily run).
 */
by: string, 
/**
 * One item per rule that is set, in the order they run.
 */
items: Array<RetentionItem>, };

export type RetentionRun = { dry_run: boolean, };

export type Granularity = "hour" | "day" | "week" | "month";

export type AnalyticsFilter = { client: string | null, 
/**
 * A sign-in method: password, passkey, email, social, totp, recovery, …
 */
method: string | null, 
/**
 * An ISO 3166 alpha-2 code (known when GeoIP is configured).
 */
country: string | null, tier: string | null, };

export type AnalyticsQuery = { from: string, to: string, granularity: Granularity, filter: AnalyticsFilter, };

export type Series = { key: string, values: Array<number>, };

export type Breakdown = { key: string, total: number, };

export type ActivePoint = { at: string, active: number, with_mfa: number, with_passkey: number, };

export type FunnelCohort = { week: string, registered: number, verified: number, signed_in: number, second_factor: number, };

export type OptInRate = { purpose: string, granted: number, withdrawn: number, 
/**
 * granted / (granted + withdrawn); none without answers.
 */
opt_in_rate: number | null, };

export type Kpis = { from: string, to: string, registrations: number, 
/**
 * Completed sign-ins (sessions made).
 */
sign_ins: number, attempts: number, failed_attempts: number, 
/**
 * Successful attempts over successful and failed ones; none without attempts.
 */
success_rate: number | null, 
/**
 * Distinct customers who signed in (estimate).
 */
active: number, 
/**
 * Share of those with a second factor; none without active customers.
 */
mfa_adoption: number | null, passkey_adoption: number | null, };

export type AnalyticsReport = { query: AnalyticsQuery, 
/**
 * The start of each bucket (UTC).
 */
buckets: Array<string>, registrations: Array<number>, verified: Array<number>, 
/**
 * Completed sign-ins per bucket by method.
 */
sign_ins_by_method: Array<Series>, 
/**
 * Attempts per bucket by outcome (success, failure, challenged).
 */
attempts_by_outcome: Array<Series>, attempts_by_method: Array<Series>, 
/**
 * Failed attempts by reason over the range, most first.
 */
failure_reasons: Array<Breakdown>, 
/**
 * Risk decisions per bucket (allow, challenge, deny, review).
 */
risk_decisions: Array<Series>, 
/**
 * Second factors and passkeys added per bucket, by kind.
 */
factors_added: Array<Series>, 
/**
 * Distinct active customers per bucket (per day for hourly queries), with adoption.
 */
active: Array<ActivePoint>, 
/**
 * Distinct customers active on the range's last day, its last 7 and last 30 days.
 */
dau: number, wau: number, mau: number, funnel: Array<FunnelCohort>, consent: Array<OptInRate>, 
/**
 * Completed sign-ins by weekday (Monday first) and hour of day, UTC.
 */
heatmap: Array<Array<number>>, kpis: Kpis, 
/**
 * The same figures for the period of the same length just before.
 */
previous: Kpis, 
/**
 * The relative standard error of every distinct-customer figure.
 */
sketch_error: number, 
/**
 * Events counted so far, and when the rollups were last brought up to date.
 */
counted_events: number, as_of: string | null, };

export type AnalyticsViewRequest = { query: AnalyticsQuery, 
/**
 * "light" or "dark": the console's theme.
 */
theme: string, 
/**
 * The charts to draw (their names: sign-ins, attempts, …); empty for figures only.
 */
charts: Array<string>, 
/**
 * Each chart's size in CSS pixels.
 */
width: number, height: number, };

export type ChartSvg = { name: string, title: string, 
/**
 * The SVG (its data points carry `data-label` and `data-value`).
 */
svg: string, };

export type AnalyticsView = { report: AnalyticsReport, charts: Array<ChartSvg>, 
/**
 * registrations, sign_ins, active, success_rate, mfa_adoption → SVG.
 */
sparklines: Array<ChartSvg>, };

export type ChartExport = { query: AnalyticsQuery, chart: string, 
/**
 * "png", "svg" or "csv".
 */
format: string, theme: string, };

/** Every IPC command: its request (sent as `{ req }`) and its response. */
export interface Commands {
  app_status: { req: void; res: AppStatus };
  open_demo_vault: { req: void; res: AppStatus };
  create_vault: { req: Credentials; res: VaultCreated };
  sign_in: { req: Credentials; res: SessionView };
  verify_code: { req: AuthenticatorCode; res: SessionView };
  begin_authenticator: { req: void; res: AuthenticatorSetup };
  confirm_authenticator: { req: AuthenticatorCode; res: SessionView };
  sign_out: { req: void; res: void };
  keep_alive: { req: void; res: void };
  search_customers: { req: SearchRequest; res: SearchPage };
  get_customer: { req: OpenCustomer; res: Customer };
  customer_attempts: { req: CustomerRef; res: Array<SignInAttempt> };
  customer_sessions: { req: CustomerRef; res: Array<SessionInfo> };
  customer_audit: { req: CustomerRef; res: Array<AuditEntry> };
  customer_risk: { req: CustomerRef; res: CustomerRisk };
  customer_lookalikes: { req: CustomerRef; res: Array<CustomerSummary> };
  customer_factors: { req: CustomerRef; res: Array<Factor> };
  remove_customer_factor: { req: CustomerItemRemoval; res: void };
  customer_connections: { req: CustomerRef; res: Array<SocialLink> };
  remove_customer_connection: { req: CustomerItemRemoval; res: void };
  set_customer_status: { req: StatusChange; res: Customer };
  update_customer_profile: { req: ProfileEdit; res: Customer };
  mark_email_verified: { req: MarkVerified; res: Customer };
  resend_verification: { req: CustomerRef; res: void };
  start_password_reset: { req: CustomerRef; res: void };
  revoke_customer_sessions: { req: RevokeSessions; res: number };
  seed_sample_customers: { req: SeedRequest; res: SeedResult };
  get_settings: { req: void; res: ConsoleSettings };
  update_settings: { req: ConsoleSettings; res: ConsoleSettings };
  get_branding: { req: void; res: Branding };
  update_branding: { req: Branding; res: Branding };
  get_attribute_definitions: { req: void; res: AttributeDefinitions };
  update_attribute_definitions: { req: AttributeDefinitions; res: AttributeDefinitions };
  list_providers: { req: void; res: Array<UpstreamProvider> };
  add_provider: { req: NewUpstreamProvider; res: UpstreamProvider };
  remove_provider: { req: ProviderRef; res: void };
  list_staff: { req: void; res: Array<StaffMember> };
  add_staff: { req: NewStaff; res: StaffMember };
  remove_staff: { req: StaffRef; res: void };
  reset_staff_authenticator: { req: AuthenticatorReset; res: void };
  review_queue: { req: ReviewFilter; res: Array<ReviewItem> };
  decide_reviews: { req: ReviewDecision; res: ReviewOutcome };
  assign_reviews: { req: AssignRequest; res: void };
  review_analysts: { req: void; res: Array<StaffMember> };
  attack_overview: { req: OverviewRequest; res: AttackOverview };
  get_risk_policy: { req: void; res: RiskPolicy };
  update_risk_policy: { req: RiskPolicy; res: RiskPolicy };
  replay_risk_policy: { req: RiskPolicy; res: ReplayReport };
  list_ip_blocks: { req: void; res: Array<IpBlock> };
  add_ip_block: { req: NewBlock; res: IpBlock };
  remove_ip_block: { req: BlockRef; res: void };
  consent_overview: { req: void; res: ConsentOverview };
  get_purpose_version: { req: PurposeVersionRef; res: PurposeVersion };
  save_consent_purpose: { req: PurposeInput; res: Purpose };
  reconsent_preview: { req: PurposeRef; res: number };
  publish_consent_version: { req: PublishVersion; res: Published };
  customer_consent: { req: CustomerRef; res: CustomerConsent };
  consent_receipt: { req: ReceiptRef; res: string };
  export_customer_file: { req: CustomerRef; res: ExportSaved | null };
  erase_customer: { req: EraseRequest; res: Erasure };
  get_retention_rules: { req: void; res: RetentionRules };
  update_retention_rules: { req: RetentionRules; res: RetentionRules };
  run_retention: { req: RetentionRun; res: RetentionReport };
  last_retention_run: { req: void; res: RetentionReport | null };
  analytics_view: { req: AnalyticsViewRequest; res: AnalyticsView };
  export_chart: { req: ChartExport; res: ExportSaved | null };
}
