//! Use cases, one module per aggregate. Each takes the context, the caller and
//! its input, opens the transaction, asks `domain` for the decision, and
//! writes the row with its audit (and outbox) rows together. Nothing here
//! knows about GraphQL.

pub mod assigned;
pub mod audit;
pub mod billing;
pub mod exports;
pub mod imports;
pub mod intake;
pub mod integration;
pub mod lead_claims;
pub mod notes;
pub mod notifications;
pub mod organizations;
pub mod outcomes;
pub mod page;
pub mod partner_contacts;
pub mod partners;
pub mod programs;
pub mod rankings;
pub mod referrals;
pub mod rewards;
pub mod tasks;
pub mod webhooks;

/// Trims a required one-line text input (a name, a title, an id) and checks
/// its length. Control characters — NUL, line breaks, tabs, escapes — are
/// refused: PostgreSQL cannot store NUL, and none belongs in a name.
pub fn required_text(field: &str, value: &str, max: usize) -> crate::error::AppResult<String> {
    checked(field, value.trim(), max, false)
}

/// Trims an optional one-line text input; blank becomes None.
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> crate::error::AppResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => checked(field, v, max, false).map(Some),
    }
}

/// Trims a required free-text input (a note, details, a reason): line breaks
/// (CRLF stored as LF) and tabs are kept, other control characters refused.
pub fn required_prose(field: &str, value: &str, max: usize) -> crate::error::AppResult<String> {
    checked(field, &value.trim().replace("\r\n", "\n"), max, true)
}

/// Trims an optional free-text input; blank becomes None.
pub fn optional_prose(field: &str, value: Option<&str>, max: usize) -> crate::error::AppResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => required_prose(field, v, max).map(Some),
    }
}

fn checked(field: &str, value: &str, max: usize, prose: bool) -> crate::error::AppResult<String> {
    use crate::error::AppError;
    if value.is_empty() {
        return Err(AppError::validation(field, format!("{field} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(AppError::validation(field, format!("{field} must be at most {max} characters")));
    }
    if let Some(c) = value.chars().find(|&c| c.is_control() && !(prose && matches!(c, '\n' | '\t'))) {
        let allowed = if prose { " (line breaks and tabs are fine)" } else { "" };
        return Err(AppError::validation(
            field,
            format!("{field} must not contain control characters such as U+{:04X}{allowed}", c as u32),
        ));
    }
    Ok(value.to_owned())
}

/// A light e-mail syntax check: one `@`, a dot in the domain, no spaces.
pub fn optional_email(field: &str, value: Option<&str>) -> crate::error::AppResult<Option<String>> {
    let Some(email) = optional_text(field, value, 320)? else { return Ok(None) };
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
    }) && !email.contains(char::is_whitespace);
    if valid {
        Ok(Some(email.to_lowercase()))
    } else {
        Err(crate::error::AppError::validation(field, format!("{field} is not a valid e-mail address")))
    }
}

/// A case-insensitive LIKE pattern matching `text` anywhere, with the
/// wildcards of the text itself escaped.
pub fn contains_pattern(text: &str) -> sea_orm::sea_query::LikeExpr {
    let mut escaped = String::with_capacity(text.len() + 2);
    for c in text.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')
}
