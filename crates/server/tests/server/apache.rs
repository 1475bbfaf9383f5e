//! A relying party nobody here wrote: Apache's mod_auth_openidc (Debian's package), run as
//! its own `apache2` process in front of a protected directory. It is configured the way that
//! used to break refresh: the protected path adds `offline_access` to the authorization request
//! (`OIDCPathScope`), while every refresh sends the configured `OIDCScope` — `openid email`, a
//! narrower scope — and it refreshes before every request (`OIDCRefreshAccessTokenBeforeExpiry`
//! longer than the access token lives). Each refresh must succeed with a new refresh token,
//! never be taken for reuse. What the module sent and got is read from its debug log.
//!
//! Needs `apache2` and `libapache2-mod-auth-openidc`; the test command installs them and sets
//! `VESTIBULE_REQUIRE_APACHE=1`, without which a machine missing them skips this test.

use super::*;
use std::path::Path;

const MODULES: &str = "/usr/lib/apache2/modules";
const APACHE: &str = "/usr/sbin/apache2";

fn apache_ready() -> bool {
    let ready =
        Path::new(APACHE).exists() && Path::new(MODULES).join("mod_auth_openidc.so").exists();
    if !ready && std::env::var("VESTIBULE_REQUIRE_APACHE").is_ok() {
        panic!("VESTIBULE_REQUIRE_APACHE is set but apache2 or mod_auth_openidc is missing");
    }
    ready
}

#[tokio::test]
async fn apache_mod_auth_openidc_keeps_refreshing_with_a_narrower_scope() {
    if !apache_ready() {
        eprintln!("skipped: install apache2 and libapache2-mod-auth-openidc");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    // Real clock and an issuer that is the server's own address: the module checks both.
    let s = super::pages::localhost_server().await;
    for _ in 0..100 {
        if reqwest::get(format!("{}/healthz", s.base)).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    registered(&s, &client(), "apache@example.com").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rp = format!("http://127.0.0.1:{port}");
    let redirect = format!("{rp}/protected/redirect_uri");
    let reg = shop_client(&s, "Apache", &redirect).await;

    // Apache's files, readable by the `nobody` its worker runs as.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("www/protected")).unwrap();
    std::fs::write(d.join("www/protected/index.html"), "behind the door\n").unwrap();
    for p in [d.to_path_buf(), d.join("www"), d.join("www/protected")] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(
        d.join("www/protected/index.html"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let conf = format!(
        r#"ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {d}/httpd.pid
ErrorLog {d}/error.log
DefaultRuntimeDir {d}
LoadModule mpm_event_module {MODULES}/mod_mpm_event.so
LoadModule authn_core_module {MODULES}/mod_authn_core.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule authz_user_module {MODULES}/mod_authz_user.so
LoadModule dir_module {MODULES}/mod_dir.so
LoadModule auth_openidc_module {MODULES}/mod_auth_openidc.so
User nobody
Group nogroup
DocumentRoot {d}/www
DirectoryIndex index.html
LogLevel warn auth_openidc:debug
OIDCProviderMetadataURL {base}/.well-known/openid-configuration
OIDCClientID {id}
OIDCClientSecret {secret}
OIDCRedirectURI {redirect}
OIDCCryptoPassphrase a-long-random-passphrase-for-this-test
OIDCPKCEMethod S256
OIDCScope "openid email"
OIDCPathScope "offline_access"
OIDCRefreshAccessTokenBeforeExpiry 86400
<Location /protected>
  AuthType openid-connect
  Require valid-user
</Location>
"#,
        d = d.display(),
        base = s.base,
        id = reg.client.id,
        secret = reg.client_secret.as_deref().unwrap(),
    );
    std::fs::write(d.join("httpd.conf"), conf).unwrap();
    // One process in the foreground (-X), stopped with the test.
    let mut apache = tokio::process::Command::new(APACHE)
        .args(["-X", "-f"])
        .arg(d.join("httpd.conf"))
        .kill_on_drop(true)
        .spawn()
        .expect("apache2 starts");
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(
            [(
                reqwest::header::ACCEPT,
                reqwest::header::HeaderValue::from_static("text/html"),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let mut start = None;
    for _ in 0..100 {
        if let Ok(r) = browser.get(format!("{rp}/protected/")).send().await {
            start = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let start = start.expect("apache answers");
    assert_eq!(start.status(), StatusCode::FOUND);
    let auth = location(&start);
    let scope = param(&auth, "scope").unwrap();
    assert_eq!(scope, "openid email offline_access", "{auth}");

    // The customer signs in on our page; the module exchanges the code.
    let page = browser.get(auth.as_str()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let r = browser
        .post(format!("{}/oauth2/signin", s.base))
        .form(&[
            ("params", hidden(&html, "params")),
            ("csrf", hidden(&html, "csrf")),
            ("email", "apache@example.com".to_owned()),
            ("password", PW.to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let back = browser.get(location(&r)).send().await.unwrap();
    assert_eq!(back.status(), StatusCode::FOUND, "the module took the code");

    // Five requests, each refreshed first with the narrower scope.
    for i in 0..5 {
        let r = browser
            .get(format!("{rp}/protected/"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "request {i}");
        assert_eq!(r.text().await.unwrap(), "behind the door\n");
    }
    apache.kill().await.unwrap();
    let log = std::fs::read_to_string(d.join("error.log")).unwrap();
    let token_calls: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("oidc_util_http_call: url=") && l.contains("/oauth2/token"))
        .collect();
    let refreshes: Vec<&&str> = token_calls
        .iter()
        .filter(|l| l.contains("grant_type=refresh_token"))
        .collect();
    assert_eq!(refreshes.len(), 5, "one refresh per request:\n{log}");
    assert!(
        refreshes
            .iter()
            .all(|l| l.contains("scope=openid%20email") && !l.contains("offline_access")),
        "the module refreshes with its narrower scope:\n{log}"
    );
    let answers: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("oidc_util_http_call: response={\"access_token\""))
        .collect();
    assert_eq!(
        answers.len(),
        6,
        "the code and every refresh answered:\n{log}"
    );
    assert!(
        answers.iter().all(|l| l.contains("\"refresh_token\"")),
        "a new refresh token every time"
    );
    assert!(
        !log.contains("invalid_grant"),
        "never taken for reuse:\n{log}"
    );
}
