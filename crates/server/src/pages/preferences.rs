//! The preference center at `/account/privacy`, on the browser's own session: every purpose
//! that needs consent with its text in the customer's language and a one-click grant or
//! withdraw (as easy as giving, GDPR Art. 7(3)), the receipts of what was recorded,
//! "download my data" (the JSON bundle and its HTML summary), and "delete my account"
//! (recent sign-in or step-up, the address typed, then erasure). Every form is
//! CSRF-protected.

use super::account::{Signed, failed, signed, step_up_form};
use super::hosted::see_other;
use super::{Chrome, PageForm, PostedForm, form_token, message_links, render};
use crate::AppState;
use crate::customer::{cookie, cookie_names};
use crate::http::Ctx;
use askama::Template;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vestibule_engine::Error;
use vestibule_engine::consent::{ConsentAnswer, ConsentChannel, ConsentRecord};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(preferences_page))
        .routes(routes!(set_consent))
        .routes(routes!(receipt))
        .routes(routes!(export_bundle))
        .routes(routes!(delete_account))
        .routes(routes!(reconsent_page, reconsent_submit))
}

/// The re-consent step's path.
const RECONSENT_PATH: &str = "/account/consent-update";

/// Does the signed-in customer have consent resting on a text changed materially since?
pub(crate) async fn reconsent_due(s: &AppState, token: &str) -> bool {
    s.engine
        .my_consent(token)
        .await
        .map(|(_, state)| state.iter().any(|p| p.needs_reconsent))
        .unwrap_or(false)
}

/// The re-consent step, coming back to `return_to`.
pub(crate) fn reconsent_url(return_to: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", return_to)
        .finish();
    format!("{RECONSENT_PATH}?{query}")
}

#[derive(Template)]
#[template(path = "reconsent.html")]
struct ReconsentPage<'a> {
    c: &'a Chrome,
    csrf: String,
    return_to: String,
    consents: Vec<super::hosted::ConsentField>,
    consent_shown: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReturnQuery {
    /// Where to go on afterwards (a path on this server).
    return_to: Option<String>,
}

/// "We changed what we asked you": each purpose whose text changed materially since the
/// customer agreed, with the new text and an unticked box.
#[utoipa::path(get, path = "/account/consent-update", tag = "pages", params(ReturnQuery),
    responses((status = 200, description = "The re-consent step", content_type = "text/html", body = String),
        (status = 303, description = "Nothing to ask (on to `return_to`), or not signed in (the sign-in page)")))]
async fn reconsent_page(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    q: Result<Query<ReturnQuery>, QueryRejection>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let return_to = super::hosted::return_path(q.ok().and_then(|Query(q)| q.return_to).as_deref());
    let due: Vec<String> = match s.engine.my_consent(&me.token).await {
        Ok((_, state)) => state
            .into_iter()
            .filter(|p| p.needs_reconsent)
            .map(|p| p.purpose_id)
            .collect(),
        Err(e) => return failed(&me.c, &e),
    };
    let texts: Vec<_> = super::hosted::consent_texts(&s, &me.c.lang)
        .await
        .into_iter()
        .filter(|t| due.contains(&t.0))
        .collect();
    if texts.is_empty() {
        return see_other(&return_to);
    }
    // Asked afresh: every box starts unticked.
    let (consents, consent_shown) =
        super::hosted::consent_form(texts, &std::collections::HashMap::new());
    let (jar, csrf) = form_token(&s, jar);
    let page = ReconsentPage {
        c: &me.c,
        csrf,
        return_to: return_to.clone(),
        consents,
        consent_shown,
    };
    let origin = super::details::client_origin(&s, &return_to).await;
    let origins: Vec<&str> = origin.iter().map(String::as_str).collect();
    (jar, render(StatusCode::OK, &me.c, &page, &origins)).into_response()
}

#[derive(Deserialize, ToSchema)]
struct ReconsentForm {
    csrf: String,
    #[serde(default)]
    return_to: String,
    /// `purpose:version:locale` of each text shown, and `consent_<purpose>` for each ticked.
    #[serde(flatten)]
    #[schema(value_type = std::collections::HashMap<String, String>)]
    values: std::collections::HashMap<String, String>,
}

impl PostedForm for ReconsentForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Record the answers to the new texts (ticked: agreed; unticked: withdrawn), then on.
#[utoipa::path(post, path = "/account/consent-update", tag = "pages",
    request_body(content = ReconsentForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Recorded: on to `return_to` (or the details step), or not signed in"),
        (status = 400, description = "The form is incomplete or names no published text", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn reconsent_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<ReconsentForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let return_to = super::hosted::return_path(Some(&f.return_to));
    let answers = super::hosted::posted_consents(&f.values);
    if !answers.is_empty()
        && let Err(e) = s
            .engine
            .record_my_consent(
                &me.token,
                &answers,
                ConsentChannel::AccountCenter,
                None,
                &ctx,
            )
            .await
    {
        return failed(&me.c, &e);
    }
    see_other(&super::details::after_consent(&s, &me.token, &return_to).await)
}

/// One purpose as the preference center shows it.
struct PurposeRow {
    id: String,
    title: String,
    body: String,
    version: i64,
    locale: String,
    granted: bool,
    /// Granted to an older text: asked again.
    reconsent: bool,
}

/// One recorded answer, with its receipt.
struct RecordRow {
    id: Uuid,
    when: String,
    title: String,
    granted: bool,
}

#[derive(Template)]
#[template(path = "preferences.html")]
struct PreferencesPage<'a> {
    c: &'a Chrome,
    csrf: String,
    notice: Option<String>,
    email: String,
    purposes: Vec<PurposeRow>,
    records: Vec<RecordRow>,
    delete_error: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct NoticeQuery {
    /// What just happened (`saved`).
    done: Option<String>,
}

async fn page(
    s: &AppState,
    me: &Signed,
    jar: CookieJar,
    notice: Option<String>,
    delete_error: Option<String>,
) -> Response {
    let c = &me.c;
    let texts = super::hosted::consent_texts(s, &c.lang).await;
    let loaded = async {
        Ok::<_, Error>((
            s.engine.my_consent(&me.token).await?.1,
            s.engine.my_consent_records(&me.token).await?,
        ))
    }
    .await;
    let (state, records) = match loaded {
        Ok(v) => v,
        Err(e) => return failed(c, &e),
    };
    let purposes = texts
        .iter()
        .map(|(id, version, locale, title, body)| {
            let st = state.iter().find(|p| &p.purpose_id == id);
            PurposeRow {
                id: id.clone(),
                title: title.clone(),
                body: body.clone(),
                version: *version,
                locale: locale.clone(),
                granted: st.and_then(|p| p.granted).unwrap_or(false),
                reconsent: st.is_some_and(|p| p.needs_reconsent),
            }
        })
        .collect();
    let title_of = |r: &ConsentRecord| {
        texts
            .iter()
            .find(|t| t.0 == r.purpose_id)
            .map_or_else(|| r.purpose_id.clone(), |t| t.3.clone())
    };
    let records = records
        .iter()
        .map(|r| RecordRow {
            id: r.id,
            when: r.at.format("%Y-%m-%d %H:%M UTC").to_string(),
            title: title_of(r),
            granted: r.granted,
        })
        .collect();
    let (jar, csrf) = form_token(s, jar);
    let status = if delete_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = PreferencesPage {
        c,
        csrf,
        notice,
        email: me.customer.email.clone(),
        purposes,
        records,
        delete_error,
    };
    (jar, render(status, c, &page, &[])).into_response()
}

/// The preference center.
#[utoipa::path(get, path = "/account/privacy", tag = "pages", params(NoticeQuery),
    responses((status = 200, description = "The preference center", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page")))]
async fn preferences_page(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    q: Result<Query<NoticeQuery>, QueryRejection>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let notice = q
        .ok()
        .and_then(|Query(q)| q.done)
        .filter(|d| d == "saved")
        .map(|_| me.c.t("prefs-saved"));
    page(&s, &me, jar, notice, None).await
}

#[derive(Deserialize, ToSchema)]
struct ConsentForm {
    csrf: String,
    purpose: String,
    version: i64,
    locale: String,
    /// `1` to grant, `0` to withdraw.
    granted: u8,
}

/// Grant or withdraw one purpose (recorded with the text shown; a receipt is issued).
#[utoipa::path(post, path = "/account/privacy/consent", tag = "pages",
    request_body(content = ConsentForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Recorded (back to the preference center), or not signed in"),
        (status = 400, description = "The form is incomplete or names no published text", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn set_consent(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<ConsentForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let answer = ConsentAnswer {
        purpose_id: f.purpose,
        version: f.version,
        locale: f.locale,
        granted: f.granted == 1,
    };
    match s
        .engine
        .record_my_consent(
            &me.token,
            &[answer],
            ConsentChannel::AccountCenter,
            None,
            &ctx,
        )
        .await
    {
        Ok(_) => see_other("/account/privacy?done=saved"),
        Err(e) => failed(&me.c, &e),
    }
}

/// An attachment download of `body`.
fn download(content_type: &'static str, filename: &str, body: Vec<u8>) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The signed receipt of one of the customer's records (a JWS).
#[utoipa::path(get, path = "/account/privacy/receipts/{id}", tag = "pages",
    params(("id" = Uuid, Path, description = "The record's receipt id")),
    responses((status = 200, description = "The receipt (JWS compact serialisation)", content_type = "application/jose", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 400, description = "Not one of theirs", content_type = "text/html", body = String)))]
async fn receipt(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    id: Result<Path<Uuid>, PathRejection>,
) -> Response {
    // A malformed id is the request's fault whether or not anyone is signed in.
    let Ok(Path(id)) = id else {
        let c = super::chrome(&s, &headers, None, None).await;
        return failed(&c, &Error::NotFound("consent record"));
    };
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s.engine.my_consent_receipt(&me.token, id).await {
        Ok(jws) => download(
            "application/jose",
            &format!("consent-receipt-{id}.jws"),
            jws.into_bytes(),
        ),
        Err(e) => failed(&me.c, &e),
    }
}

/// "Download my data": everything held on the customer in one file — a ZIP holding the
/// data for other services (`export.json`) and a page to read (`summary.html`).
#[utoipa::path(get, path = "/account/privacy/export.zip", tag = "pages",
    responses((status = 200, description = "The export bundle", content_type = "application/zip", body = String),
        (status = 303, description = "Not signed in: to the sign-in page")))]
async fn export_bundle(State(s): State<AppState>, jar: CookieJar, headers: HeaderMap) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let bundle = async {
        let export = s.engine.export_my_data(&me.token).await?;
        Ok::<_, Error>((export.bundle_name(), export.bundle(&me.c.brand.name)?))
    }
    .await;
    match bundle {
        Ok((name, body)) => download("application/zip", &name, body),
        Err(e) => failed(&me.c, &e),
    }
}

#[derive(Deserialize, ToSchema)]
struct DeleteForm {
    csrf: String,
    /// The account's email address, typed as confirmation.
    confirm_email: String,
}

/// "Delete my account": after a recent sign-in (or the step-up page first) and the address
/// typed, everything held on the customer is erased and this browser is signed out.
#[utoipa::path(post, path = "/account/delete", tag = "pages",
    request_body(content = DeleteForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Deleted; or the step-up page first", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 422, description = "The address typed is not the account's", content_type = "text/html", body = String),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn delete_account(
    State(s): State<AppState>,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<DeleteForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s.engine.erase_my_account(&me.token, &f.confirm_email).await {
        Ok(_) => {
            let (session_name, csrf_name) = cookie_names(&s);
            let jar = jar
                .add(cookie(&s, session_name, String::new(), true, 0))
                .add(cookie(&s, csrf_name, String::new(), false, 0));
            let page = message_links(
                StatusCode::OK,
                &me.c,
                me.c.t("delete-done-title"),
                vec![me.c.t("delete-done")],
                vec![("/signup", me.c.t("signup-title"))],
            );
            (jar, page).into_response()
        }
        Err(Error::StepUpRequired) => step_up_form(&s, &me, jar, None),
        Err(Error::InvalidInput {
            field: "confirm_email",
            ..
        }) => {
            let msg = me.c.t("delete-mismatch");
            page(&s, &me, jar, None, Some(msg)).await
        }
        Err(e) => failed(&me.c, &e),
    }
}

impl PostedForm for ConsentForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl PostedForm for DeleteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
