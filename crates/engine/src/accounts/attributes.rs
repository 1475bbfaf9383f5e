//! Customer attribute definitions and progressive profiling. Admins define the custom
//! attributes the organisation keeps on its customers (name, type, validation, whether
//! customers may edit them, and when the hosted pages ask for a missing one: on the sign-up
//! form, from the Nth sign-in on, or when a client asks for a given scope). The definitions are
//! the `attributes` settings document (one per store; changing them needs `ManageSettings` and
//! is audited). Every write of a customer's attributes — sign-up, the customer API, the account
//! center, staff edits — is checked against them here: customers may set only defined,
//! editable attributes; staff may also keep undefined free-form keys; a defined attribute's
//! value always has its type and rules. A definition with a `scope` is released to clients as
//! a claim of that name when the scope is granted (the scope becomes one the provider knows).
//!
//! A customer who skips the "a few more details" step is not asked again for
//! [`SKIP_QUIET`].

use crate::Engine;
use crate::accounts::normalize;
use crate::error::{Error, Result};
use crate::staff::settings::{read_raw, write_raw};
use crate::staff::{Permission, Staff, audit};
use crate::time::to_us;
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

const KEY: &str = "attributes";
/// At most this many definitions.
pub const MAX_DEFINITIONS: usize = 50;
/// A skipped step is not shown again for this long.
pub const SKIP_QUIET: Duration = Duration::days(7);
/// Text attributes are at most this long unless a definition says less.
const MAX_TEXT: u32 = 1000;
/// JWT claims an attribute may not be released as, besides the provider's own
/// ([`crate::oidc::CLAIMS`]).
const RESERVED: [&str; 3] = ["nbf", "jti", "azp"];

/// What kind of value an attribute holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AttributeKind {
    /// A string (`max_length`, `pattern`).
    Text,
    /// A JSON number (`min`, `max`).
    Number,
    /// `true` or `false`.
    Boolean,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// One of `options`.
    Choice,
}

/// When the hosted pages ask a customer for the attribute while it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AttributeAsk {
    /// Never: set by the customer in the account center or by staff.
    Never,
    /// An optional field of the sign-up form.
    SignUp,
    /// After a sign-in, from the `after_sign_ins`-th on.
    SignIn,
    /// When a client's authorization request asks for `scope`.
    Scope,
}

/// One custom attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttributeDefinition {
    /// Its key in the customer's attributes (and its claim name): `a-z`, digits, `_`.
    pub name: String,
    /// What customers and staff read.
    pub label: String,
    pub kind: AttributeKind,
    /// Choice: the allowed values.
    #[serde(default)]
    pub options: Vec<String>,
    /// Text: at most this many characters (default and ceiling 1000).
    #[serde(default)]
    pub max_length: Option<u32>,
    /// Text: a regular expression the whole value must match.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Number: the smallest allowed.
    #[serde(default)]
    pub min: Option<f64>,
    /// Number: the largest allowed.
    #[serde(default)]
    pub max: Option<f64>,
    /// Customers may set and change it (account center, customer API, the asking step).
    pub customer_editable: bool,
    pub ask: AttributeAsk,
    /// `sign_in`: ask from this sign-in on (1 = the first).
    #[serde(default)]
    pub after_sign_ins: u32,
    /// The OpenID Connect scope that releases it to clients as a claim (and, with
    /// `ask: scope`, the scope whose request asks for it).
    #[serde(default)]
    pub scope: Option<String>,
}

/// The organisation's attribute definitions. `version` increases with every change.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttributeDefinitions {
    pub definitions: Vec<AttributeDefinition>,
    #[serde(default)]
    pub version: i64,
}

/// When the pages look for missing attributes.
#[derive(Debug, Clone, Copy)]
pub enum ProfileMoment<'a> {
    /// A sign-in has just completed (with the authorization request's scope, if any).
    SignIn { scope: Option<&'a str> },
    /// An authorization request a session already satisfies.
    Authorize { scope: &'a str },
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 40
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A scope the provider may keep besides its own (an attribute's scope): lowercase letters,
/// digits and `_ : . -`.
pub(crate) fn is_scope_token(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | ':' | '.' | '-')
        })
}

fn short_text(s: &str, max: usize) -> bool {
    let n = s.trim().chars().count();
    n > 0 && n <= max && !s.chars().any(normalize::is_invisible_or_control)
}

fn pattern_of(p: &str) -> Result<regex::Regex> {
    regex::RegexBuilder::new(&format!("^(?:{p})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|_| Error::invalid("pattern", "the pattern is not a valid regular expression"))
}

impl AttributeDefinition {
    /// A definition with no rules beyond its kind: editable by customers, never asked for,
    /// not released as a claim.
    pub fn new(name: &str, label: &str, kind: AttributeKind) -> Self {
        Self {
            name: name.to_owned(),
            label: label.to_owned(),
            kind,
            options: vec![],
            max_length: None,
            pattern: None,
            min: None,
            max: None,
            customer_editable: true,
            ask: AttributeAsk::Never,
            after_sign_ins: 0,
            scope: None,
        }
    }

    fn validate(&self) -> Result<()> {
        if !is_name(&self.name) {
            return Err(Error::invalid(
                "name",
                "an attribute name is 1 to 40 lowercase letters, digits or _ and starts with a letter",
            ));
        }
        if RESERVED.contains(&self.name.as_str())
            || crate::oidc::CLAIMS.contains(&self.name.as_str())
        {
            return Err(Error::invalid(
                "name",
                format!("\"{}\" is a standard claim; choose another name", self.name),
            ));
        }
        if !short_text(&self.label, 80) {
            return Err(Error::invalid(
                "label",
                "the label must be 1 to 80 characters without control characters",
            ));
        }
        match self.kind {
            AttributeKind::Choice => {
                if self.options.is_empty() || self.options.len() > 50 {
                    return Err(Error::invalid("options", "a choice needs 1 to 50 options"));
                }
                for (i, o) in self.options.iter().enumerate() {
                    if !short_text(o, 80) || o.trim() != o {
                        return Err(Error::invalid(
                            "options",
                            "each option must be 1 to 80 characters without surrounding spaces",
                        ));
                    }
                    if self.options.iter().take(i).any(|p| p == o) {
                        return Err(Error::invalid(
                            "options",
                            format!("the option \"{o}\" is listed twice"),
                        ));
                    }
                }
            }
            _ if !self.options.is_empty() => {
                return Err(Error::invalid("options", "only a choice has options"));
            }
            _ => {}
        }
        if self.kind != AttributeKind::Text && (self.max_length.is_some() || self.pattern.is_some())
        {
            return Err(Error::invalid(
                "pattern",
                "only text attributes have a length or a pattern",
            ));
        }
        if self.max_length.is_some_and(|m| m == 0 || m > MAX_TEXT) {
            return Err(Error::invalid(
                "max_length",
                format!("the length limit must be 1 to {MAX_TEXT}"),
            ));
        }
        if let Some(p) = &self.pattern {
            if p.is_empty() || p.len() > 500 {
                return Err(Error::invalid(
                    "pattern",
                    "the pattern must be 1 to 500 characters",
                ));
            }
            pattern_of(p)?;
        }
        if self.kind != AttributeKind::Number && (self.min.is_some() || self.max.is_some()) {
            return Err(Error::invalid(
                "min",
                "only number attributes have a minimum or maximum",
            ));
        }
        if self.min.is_some_and(|v| !v.is_finite()) || self.max.is_some_and(|v| !v.is_finite()) {
            return Err(Error::invalid("min", "the limits must be numbers"));
        }
        if let (Some(lo), Some(hi)) = (self.min, self.max)
            && lo > hi
        {
            return Err(Error::invalid(
                "min",
                "the minimum is larger than the maximum",
            ));
        }
        if self.ask != AttributeAsk::Never && !self.customer_editable {
            return Err(Error::invalid(
                "ask",
                "customers can only be asked for attributes they may edit",
            ));
        }
        match self.ask {
            AttributeAsk::SignIn if !(1..=1000).contains(&self.after_sign_ins) => {
                return Err(Error::invalid(
                    "after_sign_ins",
                    "ask from a sign-in between the 1st and the 1000th",
                ));
            }
            AttributeAsk::Scope if self.scope.is_none() => {
                return Err(Error::invalid(
                    "scope",
                    "asking when a client requests a scope needs the scope",
                ));
            }
            _ => {}
        }
        if let Some(s) = &self.scope
            && (!is_scope_token(s) || s == "openid" || s == "offline_access")
        {
            return Err(Error::invalid(
                "scope",
                "a scope is lowercase letters, digits and _ : . - (not openid or offline_access)",
            ));
        }
        Ok(())
    }

    /// Check a value for this attribute (`null` removes it).
    pub fn check_value(&self, v: &Value) -> Result<()> {
        let bad = |why: String| Error::invalid("attributes", format!("{}: {why}", self.label));
        match (self.kind, v) {
            (_, Value::Null) => Ok(()),
            (AttributeKind::Text, Value::String(s)) => {
                let max = self.max_length.unwrap_or(MAX_TEXT);
                if s.chars().count() > max as usize {
                    return Err(bad(format!("at most {max} characters")));
                }
                if let Some(p) = &self.pattern
                    && !pattern_of(p)?.is_match(s)
                {
                    return Err(bad("not in the expected format".into()));
                }
                Ok(())
            }
            (AttributeKind::Number, Value::Number(n)) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                if self.min.is_some_and(|m| x < m) || self.max.is_some_and(|m| x > m) {
                    let range = match (self.min, self.max) {
                        (Some(lo), Some(hi)) => format!("between {lo} and {hi}"),
                        (Some(lo), None) => format!("at least {lo}"),
                        (None, Some(hi)) => format!("at most {hi}"),
                        (None, None) => String::new(),
                    };
                    return Err(bad(format!("must be {range}")));
                }
                Ok(())
            }
            (AttributeKind::Boolean, Value::Bool(_)) => Ok(()),
            (AttributeKind::Date, Value::String(s))
                if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() && s.len() == 10 =>
            {
                Ok(())
            }
            (AttributeKind::Date, _) => Err(bad("must be a date like 1990-04-23".into())),
            (AttributeKind::Choice, Value::String(s)) if self.options.contains(s) => Ok(()),
            (AttributeKind::Choice, _) => {
                Err(bad(format!("must be one of {}", self.options.join(", "))))
            }
            (AttributeKind::Text, _) => Err(bad("must be text".into())),
            (AttributeKind::Number, _) => Err(bad("must be a number".into())),
            (AttributeKind::Boolean, _) => Err(bad("must be true or false".into())),
        }
    }

    /// A form field's text as this attribute's value (`None`: left empty), checked.
    pub fn parse_input(&self, text: &str) -> Result<Option<Value>> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(None);
        }
        let v = match self.kind {
            AttributeKind::Text | AttributeKind::Date | AttributeKind::Choice => json!(t),
            AttributeKind::Number => {
                let n: f64 = t.replace(',', ".").parse().map_err(|_| {
                    Error::invalid("attributes", format!("{}: must be a number", self.label))
                })?;
                if n.fract() == 0.0 && n.abs() < 9.0e15 {
                    #[allow(clippy::cast_possible_truncation)]
                    let i = n as i64;
                    json!(i)
                } else {
                    serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
                }
            }
            AttributeKind::Boolean => match t {
                "true" | "yes" | "on" => json!(true),
                "false" | "no" => json!(false),
                _ => {
                    return Err(Error::invalid(
                        "attributes",
                        format!("{}: must be yes or no", self.label),
                    ));
                }
            },
        };
        self.check_value(&v)?;
        Ok(Some(v))
    }
}

impl AttributeDefinitions {
    /// The definition named `name`.
    pub fn get(&self, name: &str) -> Option<&AttributeDefinition> {
        self.definitions.iter().find(|d| d.name == name)
    }

    /// The scopes the definitions add to those the provider knows.
    pub fn scopes(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .definitions
            .iter()
            .filter_map(|d| d.scope.clone())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The claims `scope` releases from a customer's attributes.
    pub(crate) fn claims(&self, attributes: &Value, scope: &str) -> serde_json::Map<String, Value> {
        let granted: Vec<&str> = scope.split(' ').collect();
        self.definitions
            .iter()
            .filter(|d| d.scope.as_deref().is_some_and(|s| granted.contains(&s)))
            .filter_map(|d| {
                attributes
                    .get(&d.name)
                    .filter(|v| !v.is_null())
                    .map(|v| (d.name.clone(), v.clone()))
            })
            .collect()
    }

    /// Check a change of a customer's attributes from `before` to `after`. Every key whose
    /// value changes must be valid for its definition; by a customer, it must also be defined
    /// and editable by customers. Unchanged keys are not looked at (a tightened rule does not
    /// make an unrelated edit fail).
    pub(crate) fn check_change(
        &self,
        before: &Value,
        after: &Value,
        by_customer: bool,
    ) -> Result<()> {
        let empty = serde_json::Map::new();
        let b = before.as_object().unwrap_or(&empty);
        let a = after.as_object().unwrap_or(&empty);
        let changed = a
            .iter()
            .filter(|(k, v)| b.get(*k) != Some(*v))
            .map(|(k, v)| (k, v.clone()))
            .chain(
                b.keys()
                    .filter(|k| !a.contains_key(*k))
                    .map(|k| (k, Value::Null)),
            );
        for (k, v) in changed {
            match self.get(k) {
                Some(d) if by_customer && !d.customer_editable => {
                    return Err(Error::invalid(
                        "attributes",
                        format!("{}: only the organisation can change this", d.label),
                    ));
                }
                Some(d) => d.check_value(&v)?,
                None if by_customer => {
                    return Err(Error::invalid(
                        "attributes",
                        format!("\"{k}\" is not an attribute you can set"),
                    ));
                }
                None => {}
            }
        }
        Ok(())
    }
}

fn validate_all(defs: &AttributeDefinitions) -> Result<()> {
    if defs.definitions.len() > MAX_DEFINITIONS {
        return Err(Error::invalid(
            "definitions",
            format!("at most {MAX_DEFINITIONS} attributes"),
        ));
    }
    for (i, d) in defs.definitions.iter().enumerate() {
        d.validate()?;
        if defs.definitions.iter().take(i).any(|p| p.name == d.name) {
            return Err(Error::invalid(
                "name",
                format!("the attribute \"{}\" is defined twice", d.name),
            ));
        }
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct Stored {
    definitions: Vec<AttributeDefinition>,
}

pub(crate) async fn read<'e>(
    ex: impl sqlx::Executor<'e, Database = sqlx::Any>,
) -> Result<AttributeDefinitions> {
    Ok(match read_raw(ex, KEY).await? {
        None => AttributeDefinitions::default(),
        Some((value, version)) => {
            let s: Stored = serde_json::from_str(&value)
                .map_err(|e| Error::Internal(format!("stored attribute definitions: {e}")))?;
            AttributeDefinitions {
                definitions: s.definitions,
                version,
            }
        }
    })
}

impl Engine {
    /// The organisation's attribute definitions (none until an admin adds some). Public: the
    /// hosted pages build their forms from them.
    pub async fn attribute_definitions(&self) -> Result<AttributeDefinitions> {
        read(self.store.reader()).await
    }

    /// Replace the attribute definitions (admins). `new.version` must be the version read.
    /// Customers' stored values are kept: a removed definition's values stay as staff-only
    /// free-form data.
    pub async fn update_attribute_definitions(
        &self,
        staff: &Staff,
        new: &AttributeDefinitions,
    ) -> Result<AttributeDefinitions> {
        staff.require(Permission::ManageSettings)?;
        let mut new = new.clone();
        for d in &mut new.definitions {
            d.label = d.label.trim().to_owned();
            d.scope = d.scope.take().filter(|s| !s.trim().is_empty());
            d.pattern = d.pattern.take().filter(|p| !p.is_empty());
            if d.ask != AttributeAsk::SignIn {
                d.after_sign_ins = 0;
            }
        }
        validate_all(&new)?;
        let before = self.attribute_definitions().await?;
        let value = serde_json::to_string(&Stored {
            definitions: new.definitions.clone(),
        })
        .map_err(|e| Error::Internal(e.to_string()))?;
        let mut tx = self.store.begin().await?;
        write_raw(
            &mut tx,
            KEY,
            &value,
            new.version,
            "the attribute definitions",
        )
        .await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "settings.attributes_updated",
            "settings:attributes",
            None,
            audit::diff(&[(
                "definitions",
                json!(before.definitions),
                json!(new.definitions),
            )]),
        )
        .await?;
        tx.commit().await?;
        self.attribute_definitions().await
    }

    /// The attributes the hosted pages should ask `customer` for at `moment`: editable,
    /// missing, due — none while a skipped step is quiet. Reads inside `conn` (a sign-in's
    /// own transaction, or a pooled connection).
    pub(crate) async fn profile_due_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        customer: Uuid,
        moment: ProfileMoment<'_>,
    ) -> Result<Vec<AttributeDefinition>> {
        let defs = read(&mut *conn).await?;
        let (scope, at_sign_in) = match moment {
            ProfileMoment::SignIn { scope } => (scope.unwrap_or(""), true),
            ProfileMoment::Authorize { scope } => (scope, false),
        };
        let asked: Vec<&str> = scope.split(' ').collect();
        let by_scope = |d: &AttributeDefinition| {
            d.ask == AttributeAsk::Scope && d.scope.as_deref().is_some_and(|s| asked.contains(&s))
        };
        let candidates: Vec<&AttributeDefinition> = defs
            .definitions
            .iter()
            .filter(|d| by_scope(d) || (at_sign_in && d.ask == AttributeAsk::SignIn))
            .collect();
        if candidates.is_empty() {
            return Ok(vec![]);
        }
        let row: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT attributes, profile_skipped_us FROM customers WHERE id = $1")
                .bind(customer.to_string())
                .fetch_optional(&mut *conn)
                .await?;
        let Some((attrs, skipped)) = row else {
            return Ok(vec![]);
        };
        if skipped.is_some_and(|s| s > to_us(self.now() - SKIP_QUIET)) {
            return Ok(vec![]);
        }
        let attrs: Value = serde_json::from_str(&attrs).unwrap_or_else(|_| json!({}));
        let missing: Vec<&AttributeDefinition> = candidates
            .into_iter()
            .filter(|d| attrs.get(&d.name).is_none_or(Value::is_null))
            .collect();
        let needed = missing
            .iter()
            .filter(|d| d.ask == AttributeAsk::SignIn)
            .map(|d| d.after_sign_ins)
            .min();
        let sign_ins =
            match needed {
                Some(n) => sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM (SELECT 1 FROM sign_in_attempts WHERE customer_id = $1 \
                     AND outcome = 'success' LIMIT $2) AS s",
                )
                .bind(customer.to_string())
                .bind(i64::from(n))
                .fetch_one(&mut *conn)
                .await?,
                None => 0,
            };
        Ok(missing
            .into_iter()
            .filter(|d| d.ask != AttributeAsk::SignIn || sign_ins >= i64::from(d.after_sign_ins))
            .cloned()
            .collect())
    }

    /// [`Engine::profile_due_in`] for the customer signed in with `token`.
    pub async fn profile_due(
        &self,
        token: &str,
        moment: ProfileMoment<'_>,
    ) -> Result<Vec<AttributeDefinition>> {
        let s = self.validate_session(token).await?;
        let mut conn = self.store.reader().acquire().await?;
        self.profile_due_in(&mut conn, s.customer_id, moment).await
    }

    /// The signed-in customer skipped the step: not asked again for [`SKIP_QUIET`].
    pub async fn skip_profile_step(&self, token: &str) -> Result<()> {
        let s = self.validate_session(token).await?;
        let mut tx = self.store.begin().await?;
        sqlx::query("UPDATE customers SET profile_skipped_us = $1 WHERE id = $2")
            .bind(to_us(self.now()))
            .bind(s.customer_id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: AttributeKind) -> AttributeDefinition {
        AttributeDefinition::new("x", "X", kind)
    }

    #[test]
    fn values_are_checked_by_kind() {
        let mut n = def(AttributeKind::Number);
        n.min = Some(0.0);
        n.max = Some(10.0);
        assert!(n.check_value(&json!(3)).is_ok());
        assert!(n.check_value(&json!(11)).is_err());
        assert!(n.check_value(&json!("3")).is_err());
        assert_eq!(n.parse_input(" 4 ").unwrap(), Some(json!(4)));
        assert_eq!(n.parse_input("").unwrap(), None);
        let d = def(AttributeKind::Date);
        assert!(d.check_value(&json!("1990-02-28")).is_ok());
        assert!(d.check_value(&json!("1990-02-30")).is_err());
        assert!(d.check_value(&json!("1990-2-3")).is_err());
        let mut t = def(AttributeKind::Text);
        t.pattern = Some("[A-Z]{2}[0-9]{3}".into());
        t.max_length = Some(5);
        assert!(t.check_value(&json!("AB123")).is_ok());
        assert!(
            t.check_value(&json!("xAB123")).is_err(),
            "the whole value matches"
        );
        let mut c = def(AttributeKind::Choice);
        c.options = vec!["a".into(), "b".into()];
        assert!(c.check_value(&json!("b")).is_ok());
        assert!(c.check_value(&json!("c")).is_err());
        let b = def(AttributeKind::Boolean);
        assert_eq!(b.parse_input("yes").unwrap(), Some(json!(true)));
        assert!(b.parse_input("maybe").is_err());
    }

    #[test]
    fn definitions_are_validated() {
        let mut d = def(AttributeKind::Text);
        assert!(d.validate().is_ok());
        d.name = "email".into();
        assert!(d.validate().is_err(), "standard claims are reserved");
        d.name = "Bad Name".into();
        assert!(d.validate().is_err());
        d.name = "x".into();
        d.ask = AttributeAsk::SignIn;
        assert!(d.validate().is_err(), "needs after_sign_ins");
        d.after_sign_ins = 3;
        assert!(d.validate().is_ok());
        d.customer_editable = false;
        assert!(d.validate().is_err(), "asked attributes are editable");
        let mut s = def(AttributeKind::Text);
        s.ask = AttributeAsk::Scope;
        assert!(s.validate().is_err());
        s.scope = Some("openid".into());
        assert!(s.validate().is_err());
        s.scope = Some("shipping".into());
        assert!(s.validate().is_ok());
        s.pattern = Some("(".into());
        assert!(s.validate().is_err());
    }

    #[test]
    fn changes_by_customers_are_limited_to_editable_definitions() {
        let mut locked = def(AttributeKind::Text);
        locked.name = "crm_id".into();
        locked.customer_editable = false;
        let defs = AttributeDefinitions {
            definitions: vec![def(AttributeKind::Number), locked],
            version: 1,
        };
        let before = json!({"crm_id": "C1", "legacy": "kept"});
        assert!(
            defs.check_change(
                &before,
                &json!({"crm_id": "C1", "legacy": "kept", "x": 2}),
                true
            )
            .is_ok()
        );
        assert!(
            defs.check_change(&before, &json!({"crm_id": "C2"}), true)
                .is_err()
        );
        assert!(
            defs.check_change(&before, &json!({"crm_id": "C1", "other": 1}), true)
                .is_err()
        );
        assert!(
            defs.check_change(&before, &json!({"crm_id": "C2", "other": 1}), false)
                .is_ok()
        );
        assert!(
            defs.check_change(&before, &json!({"x": "two"}), false)
                .is_err()
        );
    }
}
