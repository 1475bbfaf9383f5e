//! What the server benchmarks share: their admin's authenticator set-up.

use vestibule_engine::{Engine, Staff};

/// The bench admin sets up an authenticator app (code from totp-rs) before acting.
pub async fn with_authenticator(engine: &Engine, admin: &Staff) -> Staff {
    let en = engine.begin_staff_authenticator(admin).await.unwrap();
    let code = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(&en.secret).unwrap())
        .build()
        .unwrap()
        .generate(engine.now().timestamp() as u64)
        .to_string();
    engine
        .confirm_staff_authenticator(admin, &code)
        .await
        .unwrap()
}
