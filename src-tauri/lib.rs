//! Vestibule's desktop console: a thin Tauri v2 host over the identity engine. It owns the
//! window, the IPC commands (`commands`), the console's state — chosen vault, unlocked engine,
//! idle lock (`state`) — and the IPC error shape (`error`). Business rules, permissions and
//! audit are the engine's; the UI (ui/) reaches these commands only through its `Backend`.

mod commands;
mod error;
mod state;

#[cfg(test)]
mod bindings;

use state::{Console, Paths};
use std::sync::Arc;
use std::time::Duration;
use tauri::Manager;

/// Every IPC command's name (the capability grants exactly these).
pub const COMMANDS: &[&str] = include!("commands.in");

pub fn run() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    tauri::Builder::default()
        // The save dialog for exports, opened by the export command itself (the window has
        // no dialog permission of its own).
        .plugin(tauri_plugin_dialog::init())
        .setup(|app| {
            let data_dir = app.path().app_data_dir()?;
            let console = Arc::new(Console::new(Paths::from_env(&data_dir)));
            let watcher = console.clone();
            // Lock an idle console even when nobody calls a command.
            tauri::async_runtime::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    watcher.lock_if_idle().await;
                }
            });
            app.manage(console);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_status,
            commands::open_demo_vault,
            commands::create_vault,
            commands::sign_in,
            commands::verify_code,
            commands::begin_authenticator,
            commands::confirm_authenticator,
            commands::sign_out,
            commands::keep_alive,
            commands::search_customers,
            commands::get_customer,
            commands::customer_attempts,
            commands::customer_sessions,
            commands::customer_audit,
            commands::customer_risk,
            commands::customer_lookalikes,
            commands::customer_factors,
            commands::remove_customer_factor,
            commands::customer_connections,
            commands::remove_customer_connection,
            commands::set_customer_status,
            commands::update_customer_profile,
            commands::mark_email_verified,
            commands::resend_verification,
            commands::start_password_reset,
            commands::revoke_customer_sessions,
            commands::seed_sample_customers,
            commands::get_settings,
            commands::update_settings,
            commands::get_branding,
            commands::update_branding,
            commands::get_attribute_definitions,
            commands::update_attribute_definitions,
            commands::list_providers,
            commands::add_provider,
            commands::remove_provider,
            commands::list_staff,
            commands::add_staff,
            commands::remove_staff,
            commands::reset_staff_authenticator,
            commands::review_queue,
            commands::decide_reviews,
            commands::assign_reviews,
            commands::review_analysts,
            commands::attack_overview,
            commands::get_risk_policy,
            commands::update_risk_policy,
            commands::replay_risk_policy,
            commands::list_ip_blocks,
            commands::add_ip_block,
            commands::remove_ip_block,
            commands::consent_overview,
            commands::get_purpose_version,
            commands::save_consent_purpose,
            commands::reconsent_preview,
            commands::publish_consent_version,
            commands::customer_consent,
            commands::consent_receipt,
            commands::export_customer_file,
            commands::analytics_view,
            commands::export_chart,
            commands::erase_customer,
            commands::get_retention_rules,
            commands::update_retention_rules,
            commands::run_retention,
            commands::last_retention_run,
        ])
        .build(tauri::generate_context!())
        .unwrap_or_else(|e| {
            eprintln!("vestibule console failed: {e}");
            std::process::exit(1);
        })
        .run(|app, event| {
            // Close the vault before the process ends: its connections must be closed, not
            // just dropped (see `Engine::close`), and the WAL is checkpointed into the file.
            if let tauri::RunEvent::Exit = event
                && let Some(console) = app.try_state::<Arc<Console>>()
            {
                tauri::async_runtime::block_on(console.lock());
            }
        });
}
