//! Tauri build step: capabilities live in src-tauri/capabilities, and every app command gets
//! an `allow-<command>` permission so the window is granted exactly the commands it uses.

const COMMANDS: &[&str] = include!("commands.in");

fn main() {
    println!("cargo:rerun-if-changed=src-tauri/commands.in");
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .capabilities_path_pattern("./src-tauri/capabilities/**/*")
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .unwrap_or_else(|e| panic!("tauri build step failed: {e:#}"));
}
