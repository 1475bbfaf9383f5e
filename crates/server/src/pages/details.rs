//! Progressive profiling in the hosted pages: the "a few more details" step a sign-in (or an
//! authorization request whose scope asks for an attribute) passes through while the
//! organisation's attributes are missing — one short form, every field optional, with "Skip
//! for now" — and the form fields of those attributes, shared with "Your details" and the
//! sign-up form. What is asked, when, and every value's check are the engine's
//! ([`vestibule_engine::AttributeDefinitions`]); a saved or skipped step is not shown again for
//! a week.

use super::account::signed;
use super::hosted::{return_path, see_other};
use super::{Chrome, PageForm, PostedForm, form_token, render};
use crate::AppState;
use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vestibule_engine::{AttributeDefinition, AttributeKind, Error, ProfileMoment, ProfilePatch};

/// The step's path.
pub(crate) const STEP_PATH: &str = "/account/more-details";
/// Form fields of attributes are named `attr_<name>`.
const PREFIX: &str = "attr_";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(step_page, step_submit))
}

/// One attribute as a form field.
pub(crate) struct AttrField {
    /// `attr_<name>`.
    pub id: String,
    pub label: String,
    /// `text`, `date`, `number` (a text input with a decimal keyboard) or `select`.
    pub input: &'static str,
    pub value: String,
    pub hint: String,
    pub error: String,
    /// For `select`: (value, what the customer reads), the first one empty.
    pub options: Vec<(String, String)>,
    pub max_length: u32,
}

/// The form text of a stored value.
fn text_of(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(true)) => "yes".into(),
        Some(Value::Bool(false)) => "no".into(),
        Some(other) => other.to_string(),
    }
}

/// A number attribute's allowed range, said in the page's language.
fn range(c: &Chrome, d: &AttributeDefinition) -> Option<String> {
    Some(match (d.min, d.max) {
        (Some(lo), Some(hi)) => c.targs(
            "details-between",
            &[
                ("min", lo.to_string().as_str()),
                ("max", hi.to_string().as_str()),
            ],
        ),
        (Some(lo), None) => c.t1("details-at-least", "min", &lo.to_string()),
        (None, Some(hi)) => c.t1("details-at-most", "max", &hi.to_string()),
        (None, None) => return None,
    })
}

/// The fields of `defs`, filled from `given` (what was posted) or else `stored`.
pub(crate) fn fields(
    c: &Chrome,
    defs: &[AttributeDefinition],
    stored: &Value,
    given: Option<&HashMap<String, String>>,
    errors: &HashMap<String, String>,
) -> Vec<AttrField> {
    defs.iter()
        .map(|d| {
            let id = format!("{PREFIX}{}", d.name);
            let value = given
                .and_then(|g| g.get(&id).cloned())
                .unwrap_or_else(|| text_of(stored.get(&d.name)));
            let empty = (String::new(), c.t("details-not-said"));
            let (input, options, hint) = match d.kind {
                AttributeKind::Text => ("text", vec![], String::new()),
                AttributeKind::Number => ("number", vec![], range(c, d).unwrap_or_default()),
                AttributeKind::Date => ("date", vec![], String::new()),
                AttributeKind::Boolean => (
                    "select",
                    vec![
                        empty,
                        ("yes".into(), c.t("details-yes")),
                        ("no".into(), c.t("details-no")),
                    ],
                    String::new(),
                ),
                AttributeKind::Choice => (
                    "select",
                    std::iter::once(empty)
                        .chain(d.options.iter().map(|o| (o.clone(), o.clone())))
                        .collect(),
                    String::new(),
                ),
            };
            AttrField {
                error: errors.get(&d.name).cloned().unwrap_or_default(),
                id,
                label: d.label.clone(),
                input,
                value,
                hint,
                options,
                max_length: d.max_length.unwrap_or(1000),
            }
        })
        .collect()
}

/// Read the posted attribute fields into the attributes document, on top of `stored`. An
/// empty field leaves a missing attribute missing and removes a set one only when `clear`.
/// Each field's problem is returned by attribute name.
pub(crate) fn apply(
    c: &Chrome,
    defs: &[AttributeDefinition],
    stored: &Value,
    posted: &HashMap<String, String>,
    clear: bool,
) -> Result<Value, HashMap<String, String>> {
    let mut doc = stored.as_object().cloned().unwrap_or_default();
    let mut errors = HashMap::new();
    for d in defs {
        let Some(text) = posted.get(&format!("{PREFIX}{}", d.name)) else {
            continue;
        };
        match d.parse_input(text) {
            Ok(Some(v)) => {
                doc.insert(d.name.clone(), v);
            }
            Ok(None) if clear => {
                doc.remove(&d.name);
            }
            Ok(None) => {}
            Err(_) => {
                // Said in the page's language (the engine's checks are the rules).
                let m = match d.kind {
                    AttributeKind::Number => {
                        range(c, d).unwrap_or_else(|| c.t("details-error-number"))
                    }
                    AttributeKind::Text => c.t("details-error-text"),
                    AttributeKind::Date => c.t("details-error-date"),
                    AttributeKind::Boolean | AttributeKind::Choice => c.t("details-error-choice"),
                };
                errors.insert(d.name.clone(), m);
            }
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(doc))
    } else {
        Err(errors)
    }
}

/// The `scope` of a `return_to` that continues an authorization request.
fn scope_of(return_to: &str) -> Option<String> {
    let q = return_to.strip_prefix("/oauth2/authorize?")?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
}

/// Where a browser just signed in with `token` goes: the re-consent step when a purpose's
/// text changed materially since they agreed, the details step when attributes are due (for
/// an authorization request `return_to`, with its scope), else `return_to`.
pub(crate) async fn after_sign_in(s: &AppState, token: &str, return_to: &str) -> String {
    // Consent given to a text that has since changed materially is asked again first.
    if super::preferences::reconsent_due(s, token).await {
        return super::preferences::reconsent_url(return_to);
    }
    after_consent(s, token, return_to).await
}

/// Where a browser goes once consent is settled: the details step when attributes are due,
/// else `return_to`.
pub(crate) async fn after_consent(s: &AppState, token: &str, return_to: &str) -> String {
    let scope = scope_of(return_to);
    let due = s
        .engine
        .profile_due(
            token,
            ProfileMoment::SignIn {
                scope: scope.as_deref(),
            },
        )
        .await
        .unwrap_or_default();
    if due.is_empty() {
        return_to.to_owned()
    } else {
        step_url(return_to)
    }
}

/// The step, coming back to `return_to`.
pub(crate) fn step_url(return_to: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", return_to)
        .finish();
    format!("{STEP_PATH}?{query}")
}

#[derive(Template)]
#[template(path = "details.html")]
struct StepPage<'a> {
    c: &'a Chrome,
    csrf: String,
    return_to: String,
    error: Option<String>,
    fields: Vec<AttrField>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StepQuery {
    /// Where to go afterwards (a path on this server).
    return_to: Option<String>,
}

/// The moment a step for `return_to` is about.
fn moment(scope: &Option<String>) -> ProfileMoment<'_> {
    ProfileMoment::SignIn {
        scope: scope.as_deref(),
    }
}

/// The origin an authorization request's `return_to` ends at (the client's redirect), which
/// the form's CSP must allow (browsers check `form-action` along the redirects).
pub(crate) async fn client_origin(s: &AppState, return_to: &str) -> Option<String> {
    let q = return_to.strip_prefix("/oauth2/authorize?")?;
    crate::oidc::redirect_origin(s, q).await
}

#[allow(clippy::too_many_arguments)]
async fn step_form(
    s: &AppState,
    c: &Chrome,
    jar: CookieJar,
    status: StatusCode,
    defs: &[AttributeDefinition],
    stored: &Value,
    given: Option<&HashMap<String, String>>,
    errors: &HashMap<String, String>,
    top: Option<String>,
    return_to: &str,
) -> Response {
    let (jar, csrf) = form_token(s, jar);
    let page = StepPage {
        c,
        csrf,
        return_to: return_to.to_owned(),
        error: top.or_else(|| (!errors.is_empty()).then(|| c.t("details-fix"))),
        fields: fields(c, defs, stored, given, errors),
    };
    let origin = client_origin(s, return_to).await;
    let origins: Vec<&str> = origin.iter().map(String::as_str).collect();
    (jar, render(status, c, &page, &origins)).into_response()
}

/// The "a few more details" step: the organisation's attributes this moment asks for.
#[utoipa::path(get, path = "/account/more-details", tag = "pages", params(StepQuery),
    responses((status = 200, description = "The step's form", content_type = "text/html", body = String),
        (status = 303, description = "Nothing to ask (on to `return_to`), or not signed in (the sign-in page)")))]
async fn step_page(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    q: Result<Query<StepQuery>, QueryRejection>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let return_to = return_path(q.ok().and_then(|Query(q)| q.return_to).as_deref());
    let scope = scope_of(&return_to);
    let due = match s.engine.profile_due(&me.token, moment(&scope)).await {
        Ok(d) if !d.is_empty() => d,
        _ => return see_other(&return_to),
    };
    step_form(
        &s,
        &me.c,
        jar,
        StatusCode::OK,
        &due,
        &me.customer.attributes,
        None,
        &HashMap::new(),
        None,
        &return_to,
    )
    .await
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct StepForm {
    csrf: String,
    #[serde(default)]
    return_to: String,
    /// `save` or `skip`.
    #[serde(default)]
    action: String,
    /// The attributes, as `attr_<name>` fields.
    #[serde(flatten)]
    #[schema(value_type = HashMap<String, String>)]
    values: HashMap<String, String>,
}

impl PostedForm for StepForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Save what was given (empty fields stay empty) or skip; either way on to `return_to`, and
/// the step is not shown again for a week.
#[utoipa::path(post, path = "/account/more-details", tag = "pages",
    request_body(content = StepForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Saved or skipped: on to `return_to` (or not signed in: the sign-in page)"),
        (status = 400, description = "A value is not valid, or the form is incomplete: the form again", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn step_submit(
    State(s): State<AppState>,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<StepForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let return_to = return_path(Some(&f.return_to));
    let scope = scope_of(&return_to);
    let due = s
        .engine
        .profile_due(&me.token, moment(&scope))
        .await
        .unwrap_or_default();
    if f.action != "skip" && !due.is_empty() {
        let stored = &me.customer.attributes;
        // Field errors, or one message for the whole form (the engine's refusal).
        let saved: Result<(), (HashMap<String, String>, Option<String>)> =
            match apply(&me.c, &due, stored, &f.values, false) {
                Err(errors) => Err((errors, None)),
                Ok(doc) if &doc == stored => Ok(()),
                Ok(doc) => {
                    let patch = ProfilePatch {
                        attributes: Some(doc),
                        ..Default::default()
                    };
                    s.engine
                        .update_my_profile(&me.token, me.customer.version, patch)
                        .await
                        .map(drop)
                        .map_err(|e| {
                            let msg = match &e {
                                Error::InvalidInput { message, .. } => message.clone(),
                                other => super::signin::error_message(&me.c, other),
                            };
                            (HashMap::new(), Some(msg))
                        })
                }
            };
        if let Err((errors, msg)) = saved {
            return step_form(
                &s,
                &me.c,
                jar,
                StatusCode::BAD_REQUEST,
                &due,
                stored,
                Some(&f.values),
                &errors,
                msg,
                &return_to,
            )
            .await;
        }
    }
    if let Err(e) = s.engine.skip_profile_step(&me.token).await {
        tracing::warn!(error = %e, "recording the details step failed");
    }
    see_other(&return_to)
}
