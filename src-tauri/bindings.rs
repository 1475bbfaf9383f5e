//! The UI's TypeScript types for every IPC request, response and error code, generated from
//! the Rust types with ts-rs. The test fails when `ui/src/lib/shared/ipc/bindings.ts` differs from
//! what the Rust types say; `VESTIBULE_WRITE_BINDINGS=1 cargo test -p vestibule-console
//! bindings` rewrites it. It also checks that the command table, `commands.in` (build.rs
//! permissions) and the window's capability name the same commands.

use crate::commands::*;
use crate::error::{ConsoleCode, IpcError, IpcErrorCode};
use ts_rs::{Config, TS};
use vestibule_engine::analytics::{
    ActivePoint, AnalyticsFilter, AnalyticsQuery, AnalyticsReport, Breakdown, FunnelCohort,
    Granularity, Kpis, OptInRate, Series,
};
use vestibule_engine::consent::{
    ConsentChannel, ConsentRate, ConsentRecord, ConsentText, LegalBasis, PublishVersion, Published,
    Purpose, PurposeInput, PurposeState, PurposeVersion,
};
use vestibule_engine::demo::DemoAccount;
use vestibule_engine::privacy::{
    Erasure, KeptRows, RetentionClass, RetentionItem, RetentionReport, RetentionRules, Tombstone,
};
use vestibule_engine::{
    AttackOverview, AttackSource, AttributeAsk, AttributeDefinition, AttributeDefinitions,
    AttributeKind, AuditEntry, BlockRequest, Branding, ConsoleSettings, Customer, CustomerRisk,
    CustomerStatus, CustomerSummary, Decision, DecisionCounts, ErrorCode, Factor, FactorKind,
    IpBlock, Logo, NewUpstreamProvider, Permission, ProfilePatch, ReplayExample, ReplayReport,
    ReviewDecision, ReviewFilter, ReviewItem, ReviewOutcome, ReviewStatus, RiskLevel, RiskLimits,
    RiskMode, RiskPolicy, Role, SearchPage, SessionInfo, SignInAttempt, Signal, SignalKind,
    SignalRule, SocialLink, Staff, StaffFactor, StaffMember, TargetedAccount, UpstreamProvider,
    Verdict,
};

const PATH: &str = "ui/src/lib/shared/ipc/bindings.ts";

fn cfg() -> Config {
    Config::new().with_large_int("number")
}

macro_rules! decls {
    ($($t:ty),* $(,)?) => {
        vec![$(format!("export {}", <$t as TS>::decl(&cfg()))),*]
    };
}

/// (command, request type or "void", response type).
fn command_table() -> Vec<(&'static str, String, String)> {
    fn n<T: TS>() -> String {
        T::name(&cfg())
    }
    let void = || "void".to_owned();
    vec![
        ("app_status", void(), n::<AppStatus>()),
        ("open_demo_vault", void(), n::<AppStatus>()),
        ("create_vault", n::<Credentials>(), n::<VaultCreated>()),
        ("sign_in", n::<Credentials>(), n::<SessionView>()),
        ("verify_code", n::<AuthenticatorCode>(), n::<SessionView>()),
        ("begin_authenticator", void(), n::<AuthenticatorSetup>()),
        (
            "confirm_authenticator",
            n::<AuthenticatorCode>(),
            n::<SessionView>(),
        ),
        ("sign_out", void(), void()),
        ("keep_alive", void(), void()),
        ("search_customers", n::<SearchRequest>(), n::<SearchPage>()),
        ("get_customer", n::<OpenCustomer>(), n::<Customer>()),
        (
            "customer_attempts",
            n::<CustomerRef>(),
            n::<Vec<SignInAttempt>>(),
        ),
        (
            "customer_sessions",
            n::<CustomerRef>(),
            n::<Vec<SessionInfo>>(),
        ),
        ("customer_audit", n::<CustomerRef>(), n::<Vec<AuditEntry>>()),
        ("customer_risk", n::<CustomerRef>(), n::<CustomerRisk>()),
        (
            "customer_lookalikes",
            n::<CustomerRef>(),
            n::<Vec<CustomerSummary>>(),
        ),
        ("customer_factors", n::<CustomerRef>(), n::<Vec<Factor>>()),
        ("remove_customer_factor", n::<CustomerItemRemoval>(), void()),
        (
            "customer_connections",
            n::<CustomerRef>(),
            n::<Vec<SocialLink>>(),
        ),
        (
            "remove_customer_connection",
            n::<CustomerItemRemoval>(),
            void(),
        ),
        ("set_customer_status", n::<StatusChange>(), n::<Customer>()),
        (
            "update_customer_profile",
            n::<ProfileEdit>(),
            n::<Customer>(),
        ),
        ("mark_email_verified", n::<MarkVerified>(), n::<Customer>()),
        ("resend_verification", n::<CustomerRef>(), void()),
        ("start_password_reset", n::<CustomerRef>(), void()),
        (
            "revoke_customer_sessions",
            n::<RevokeSessions>(),
            "number".to_owned(),
        ),
        (
            "seed_sample_customers",
            n::<SeedRequest>(),
            n::<SeedResult>(),
        ),
        ("get_settings", void(), n::<ConsoleSettings>()),
        (
            "update_settings",
            n::<ConsoleSettings>(),
            n::<ConsoleSettings>(),
        ),
        ("get_branding", void(), n::<Branding>()),
        ("update_branding", n::<Branding>(), n::<Branding>()),
        (
            "get_attribute_definitions",
            void(),
            n::<AttributeDefinitions>(),
        ),
        (
            "update_attribute_definitions",
            n::<AttributeDefinitions>(),
            n::<AttributeDefinitions>(),
        ),
        ("list_providers", void(), n::<Vec<UpstreamProvider>>()),
        (
            "add_provider",
            n::<NewUpstreamProvider>(),
            n::<UpstreamProvider>(),
        ),
        ("remove_provider", n::<ProviderRef>(), void()),
        ("list_staff", void(), n::<Vec<StaffMember>>()),
        ("add_staff", n::<NewStaff>(), n::<StaffMember>()),
        ("remove_staff", n::<StaffRef>(), void()),
        (
            "reset_staff_authenticator",
            n::<AuthenticatorReset>(),
            void(),
        ),
        ("review_queue", n::<ReviewFilter>(), n::<Vec<ReviewItem>>()),
        (
            "decide_reviews",
            n::<ReviewDecision>(),
            n::<ReviewOutcome>(),
        ),
        ("assign_reviews", n::<AssignRequest>(), void()),
        ("review_analysts", void(), n::<Vec<StaffMember>>()),
        (
            "attack_overview",
            n::<OverviewRequest>(),
            n::<AttackOverview>(),
        ),
        ("get_risk_policy", void(), n::<RiskPolicy>()),
        ("update_risk_policy", n::<RiskPolicy>(), n::<RiskPolicy>()),
        ("replay_risk_policy", n::<RiskPolicy>(), n::<ReplayReport>()),
        ("list_ip_blocks", void(), n::<Vec<IpBlock>>()),
        ("add_ip_block", n::<NewBlock>(), n::<IpBlock>()),
        ("remove_ip_block", n::<BlockRef>(), void()),
        ("consent_overview", void(), n::<ConsentOverview>()),
        (
            "get_purpose_version",
            n::<PurposeVersionRef>(),
            n::<PurposeVersion>(),
        ),
        ("save_consent_purpose", n::<PurposeInput>(), n::<Purpose>()),
        ("reconsent_preview", n::<PurposeRef>(), "number".to_owned()),
        (
            "publish_consent_version",
            n::<PublishVersion>(),
            n::<Published>(),
        ),
        (
            "customer_consent",
            n::<CustomerRef>(),
            n::<CustomerConsent>(),
        ),
        ("consent_receipt", n::<ReceiptRef>(), "string".to_owned()),
        (
            "export_customer_file",
            n::<CustomerRef>(),
            "ExportSaved | null".to_owned(),
        ),
        ("erase_customer", n::<EraseRequest>(), n::<Erasure>()),
        ("get_retention_rules", void(), n::<RetentionRules>()),
        (
            "update_retention_rules",
            n::<RetentionRules>(),
            n::<RetentionRules>(),
        ),
        ("run_retention", n::<RetentionRun>(), n::<RetentionReport>()),
        (
            "last_retention_run",
            void(),
            "RetentionReport | null".to_owned(),
        ),
        (
            "analytics_view",
            n::<AnalyticsViewRequest>(),
            n::<AnalyticsView>(),
        ),
        (
            "export_chart",
            n::<ChartExport>(),
            "ExportSaved | null".to_owned(),
        ),
    ]
}

fn generate() -> String {
    let mut parts = decls![
        ErrorCode,
        ConsoleCode,
        IpcErrorCode,
        IpcError,
        Role,
        Permission,
        Staff,
        StaffMember,
        DemoAccount,
        ConsoleSettings,
        SessionView,
        AppStatus,
        VaultCreated,
        Credentials,
        CustomerStatus,
        Customer,
        CustomerSummary,
        SearchPage,
        SearchRequest,
        OpenCustomer,
        CustomerRef,
        SignInAttempt,
        Decision,
        Signal,
        SignalKind,
        SessionInfo,
        AuditEntry,
        RiskLevel,
        CustomerRisk,
        StatusChange,
        ProfilePatch,
        ProfileEdit,
        MarkVerified,
        RevokeSessions,
        SeedRequest,
        SeedResult,
        NewStaff,
        StaffRef,
        StaffFactor,
        AuthenticatorCode,
        AuthenticatorSetup,
        AuthenticatorReset,
        FactorKind,
        Factor,
        SocialLink,
        CustomerItemRemoval,
        Logo,
        Branding,
        AttributeDefinitions,
        AttributeDefinition,
        AttributeKind,
        AttributeAsk,
        UpstreamProvider,
        NewUpstreamProvider,
        ProviderRef,
        ReviewStatus,
        ReviewFilter,
        ReviewItem,
        Verdict,
        BlockRequest,
        ReviewDecision,
        ReviewOutcome,
        AssignRequest,
        OverviewRequest,
        AttackOverview,
        AttackSource,
        TargetedAccount,
        RiskMode,
        SignalRule,
        RiskLimits,
        RiskPolicy,
        DecisionCounts,
        ReplayExample,
        ReplayReport,
        IpBlock,
        NewBlock,
        BlockRef,
        LegalBasis,
        ConsentText,
        PurposeInput,
        PurposeVersion,
        Purpose,
        ConsentRate,
        ConsentOverview,
        PurposeVersionRef,
        PurposeRef,
        PublishVersion,
        Published,
        ConsentChannel,
        ConsentRecord,
        PurposeState,
        CustomerConsent,
        ReceiptRef,
        ExportSaved,
        EraseRequest,
        KeptRows,
        Tombstone,
        Erasure,
        RetentionRules,
        RetentionClass,
        RetentionItem,
        RetentionReport,
        RetentionRun,
        Granularity,
        AnalyticsFilter,
        AnalyticsQuery,
        Series,
        Breakdown,
        ActivePoint,
        FunnelCohort,
        OptInRate,
        Kpis,
        AnalyticsReport,
        AnalyticsViewRequest,
        ChartSvg,
        AnalyticsView,
        ChartExport,
    ];
    let mut map = String::from(
        "/** Every IPC command: its request (sent as `{ req }`) and its response. */\nexport interface Commands {\n",
    );
    for (name, req, res) in command_table() {
        map.push_str(&format!("  {name}: {{ req: {req}; res: {res} }};\n"));
    }
    map.push('}');
    parts.push(map);
    format!(
        "// Generated from the Rust types by src-tauri/bindings.rs. Do not edit by hand:\n\
         // VESTIBULE_WRITE_BINDINGS=1 cargo test -p vestibule-console bindings\n\n{}\n",
        parts.join("\n\n")
    )
}

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn typescript_bindings_match_the_rust_types() {
    let generated = generate();
    let path = root().join(PATH);
    if std::env::var("VESTIBULE_WRITE_BINDINGS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{PATH} is out of date with the Rust types; run \
         VESTIBULE_WRITE_BINDINGS=1 cargo test -p vestibule-console bindings"
    );
}

#[test]
fn command_table_permissions_and_capability_agree() {
    let table: Vec<&str> = command_table().iter().map(|c| c.0).collect();
    assert_eq!(table, crate::COMMANDS, "command table vs commands.in");
    let cap: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("src-tauri/capabilities/main.json")).unwrap(),
    )
    .unwrap();
    let granted: Vec<String> = cap["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = crate::COMMANDS
        .iter()
        .map(|c| format!("allow-{}", c.replace('_', "-")))
        .collect();
    assert_eq!(
        granted, expected,
        "the window is granted exactly the app's commands"
    );
}
