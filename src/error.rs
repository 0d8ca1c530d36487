//! One error type for the whole server. Each variant maps to a GraphQL error
//! whose `extensions.code` is one of PRODUCT.md §11; internal errors are logged
//! and shown to clients only as an opaque message carrying the request id.

use async_graphql::ErrorExtensions;

/// Deliberately not `Display`: async-graphql converts any `Display` type into
/// an error without a code, so this type goes through its own `From` below.
#[derive(Debug)]
pub enum AppError {
    Unauthenticated(String),
    Forbidden(String),
    /// FORBIDDEN with a machine-readable `extensions.reason` (e.g.
    /// `ACCEPT_TO_VIEW`: accept the assigned referral to see this).
    ForbiddenBecause {
        reason: &'static str,
        message: String,
    },
    /// FORBIDDEN, `extensions.reason: INTAKE_SUSPENDED`: the vendor takes no
    /// new referrals now; `kind` (MANUAL or POLICY) and `suspensionReason`
    /// (MANUAL, OVERDUE_REPORT_BACKS, UNPAID_INVOICES) say why, as codes.
    IntakeSuspended {
        kind: String,
        reason: String,
        message: String,
    },
    NotFound(String),
    InvalidTransition {
        from: String,
        event: String,
        to: Option<String>,
        rule: String,
    },
    Validation {
        field: Option<String>,
        message: String,
    },
    Conflict(String),
    /// CONFLICT with a machine-readable `extensions.reason` (e.g.
    /// `DUPLICATE_LEAD`: another referral has priority for this customer).
    ConflictBecause {
        reason: &'static str,
        message: String,
    },
    RateLimited(String),
    /// A subscription's cursor is too old to resume from (its next event was
    /// pruned, or too many events followed it): the client reloads.
    CursorExpired(String),
    /// The database cannot be reached (no connection within the acquire
    /// timeout, or the connection failed): the client may retry.
    Unavailable(String),
    Database(sea_orm::DbErr),
    Internal(String),
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        use sea_orm::DbErr;
        match e {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::Unavailable(e.to_string()),
            DbErr::Query(ref r) | DbErr::Exec(ref r) if connection_lost(r) => Self::Unavailable(e.to_string()),
            e => Self::Database(e),
        }
    }
}

/// A statement failed because its connection did (the database went away
/// while the pool still held the connection): an outage, not a fault.
fn connection_lost(e: &sea_orm::RuntimeErr) -> bool {
    use sea_orm::sqlx::Error;
    matches!(e, sea_orm::RuntimeErr::SqlxError(e) if matches!(**e, Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed))
}

pub type AppResult<T> = Result<T, AppError>;

impl From<crate::domain::refusal::Refusal> for AppError {
    fn from(r: crate::domain::refusal::Refusal) -> Self {
        Self::InvalidTransition {
            from: r.from.into(),
            event: r.event.into(),
            to: r.to.map(Into::into),
            rule: r.rule.into(),
        }
    }
}

impl From<crate::domain::refusal::Missing> for AppError {
    fn from(m: crate::domain::refusal::Missing) -> Self {
        Self::validation(m.field, m.message)
    }
}

impl AppError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self::Validation { field: Some(field.to_owned()), message: message.into() }
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    /// The message a client sees (internal details only in logs).
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated(m) | Self::Forbidden(m) | Self::NotFound(m) | Self::Conflict(m) => m.clone(),
            Self::ForbiddenBecause { message, .. }
            | Self::ConflictBecause { message, .. }
            | Self::IntakeSuspended { message, .. } => message.clone(),
            Self::RateLimited(m) | Self::Internal(m) | Self::Unavailable(m) | Self::CursorExpired(m) => m.clone(),
            Self::InvalidTransition { from, event, rule, .. } => format!("{event} is not allowed from {from}: {rule}"),
            Self::Validation { message, .. } => message.clone(),
            Self::Database(e) => e.to_string(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) | Self::ForbiddenBecause { .. } | Self::IntakeSuspended { .. } => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::InvalidTransition { .. } => "INVALID_TRANSITION",
            Self::Validation { .. } => "VALIDATION",
            Self::Conflict(_) | Self::ConflictBecause { .. } => "CONFLICT",
            Self::RateLimited(_) => "RATE_LIMITED",
            Self::CursorExpired(_) => "CURSOR_EXPIRED",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::Database(_) | Self::Internal(_) => "INTERNAL",
        }
    }

    /// Unique-key violations are the database telling us about a conflict,
    /// not an internal failure.
    pub fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
        matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
    }
}

tokio::task_local! {
    /// The id of the HTTP request being served, for opaque internal errors.
    pub static REQUEST_ID: String;
}

pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        let code = err.code();
        let message = match &err {
            AppError::Database(_) | AppError::Internal(_) => {
                let request_id = current_request_id().unwrap_or_else(|| "-".into());
                tracing::error!(error = %err.message(), request_id = %request_id, "internal error");
                format!("Internal server error (request id {request_id})")
            }
            AppError::Unavailable(_) => {
                let request_id = current_request_id().unwrap_or_else(|| "-".into());
                tracing::warn!(error = %err.message(), request_id = %request_id, "database unavailable");
                format!("The database is unavailable; try again shortly (request id {request_id})")
            }
            other => other.message(),
        };
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code);
            match &err {
                AppError::InvalidTransition { from, event, to, rule } => {
                    ext.set("from", from.as_str());
                    ext.set("event", event.as_str());
                    if let Some(to) = to {
                        ext.set("to", to.as_str());
                    }
                    ext.set("rule", rule.as_str());
                }
                AppError::Validation { field: Some(field), .. } => ext.set("field", field.as_str()),
                AppError::ForbiddenBecause { reason, .. } | AppError::ConflictBecause { reason, .. } => {
                    ext.set("reason", *reason)
                }
                AppError::IntakeSuspended { kind, reason, .. } => {
                    ext.set("reason", "INTAKE_SUSPENDED");
                    ext.set("kind", kind.as_str());
                    ext.set("suspensionReason", reason.as_str());
                }
                AppError::Database(_) | AppError::Internal(_) | AppError::Unavailable(_) => {
                    if let Some(id) = current_request_id() {
                        ext.set("requestId", id);
                    }
                }
                _ => {}
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_errors_are_opaque_and_carry_the_request_id() {
        let err: async_graphql::Error = REQUEST_ID
            .scope("req-123".into(), async { AppError::Internal("password=hunter2 at db.rs:42".into()).into() })
            .await;
        assert_eq!(err.message, "Internal server error (request id req-123)");
        let ext = serde_json::to_value(err.extensions.unwrap()).unwrap();
        assert_eq!(ext["code"], "INTERNAL");
        assert_eq!(ext["requestId"], "req-123");
    }

    #[test]
    fn a_statement_whose_connection_is_lost_is_an_outage_and_other_failures_are_not() {
        use sea_orm::{DbErr, RuntimeErr, sqlx};
        use std::sync::Arc;
        let sqlx = |e: sqlx::Error| RuntimeErr::SqlxError(Arc::new(e));
        let eof = || sqlx(sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)));
        assert!(matches!(DbErr::Query(eof()).into(), AppError::Unavailable(_)));
        assert!(matches!(DbErr::Exec(eof()).into(), AppError::Unavailable(_)));
        assert!(matches!(DbErr::Query(sqlx(sqlx::Error::PoolTimedOut)).into(), AppError::Unavailable(_)));
        let bad = DbErr::Query(sqlx(sqlx::Error::Protocol("bad message".into())));
        assert!(matches!(bad.into(), AppError::Database(_)));
        assert!(matches!(DbErr::Custom("x".into()).into(), AppError::Database(_)));
    }

    #[test]
    fn refusals_name_from_event_and_rule() {
        let err: async_graphql::Error = AppError::InvalidTransition {
            from: "LIVE".into(),
            event: "SEND_TERMS".into(),
            to: None,
            rule: "terms go to prospects".into(),
        }
        .into();
        let ext = serde_json::to_value(err.extensions.unwrap()).unwrap();
        assert_eq!(ext["code"], "INVALID_TRANSITION");
        assert_eq!((ext["from"].as_str(), ext["event"].as_str()), (Some("LIVE"), Some("SEND_TERMS")));
        assert_eq!(err.message, "SEND_TERMS is not allowed from LIVE: terms go to prospects");
    }
}
