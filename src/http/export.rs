//! `GET /export/referrals.csv`: the referral list as CSV, streamed.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::{HttpState, error_body, error_response, json_response};
use crate::auth::authenticate;
use crate::context::Ctx;
use crate::error::AppError;
use crate::graphql::ReferralFilterInput;

/// `GET /export/referrals.csv`: the referral list as CSV, streamed, with the
/// list's filters as query parameters (the fields of the GraphQL
/// `ReferralFilter`, lists comma separated: `ReferralFilterInput`) and its
/// order (`orderBy` = a `ReferralOrderField`, `direction` = ASC or DESC;
/// newest first by default).
pub async fn referrals(
    State(state): State<HttpState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let auth = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("<not text>"));
    let principal = match authenticate(&state.ctx, &state.keys, auth).await {
        Ok(Some(p)) => p,
        Ok(None) | Err(AppError::Unauthenticated(_)) => {
            return json_response(
                StatusCode::UNAUTHORIZED,
                "application/json",
                &error_body("a bearer token is needed", "UNAUTHENTICATED"),
            );
        }
        Err(e) => return error_response(e),
    };
    match export_stream(state.ctx.clone(), principal, &uri, &q) {
        Ok(stream) => {
            let mut response = axum::body::Body::from_stream(stream).into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"referrals.csv\""));
            response
        }
        Err(e) => error_response(e),
    }
}

fn export_stream(
    ctx: Ctx,
    principal: crate::auth::Principal,
    uri: &Uri,
    q: &HashMap<String, String>,
) -> Result<impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + use<>, AppError> {
    use crate::service::referrals::ReferralSortField as F;
    let Query(filter) = Query::<ReferralFilterInput>::try_from_uri(uri)
        .map_err(|e| AppError::validation("query", format!("the export's filter: {}", e.body_text())))?;
    let filter = filter.into_filter(ctx.now())?;
    let bad = |field: &str| AppError::validation(field, format!("{field} has a value this export does not know"));
    let sort = match q.get("orderBy") {
        None => F::CreatedAt,
        Some(name) => F::parse(name).ok_or_else(|| bad("orderBy"))?,
    };
    let descending = !q.get("direction").is_some_and(|d| d.eq_ignore_ascii_case("ASC"));
    crate::service::exports::referrals_csv(ctx, principal, filter, sort, descending)
}

/// `GET /export/assigned-referrals.csv`: the partner's list of assigned
/// referrals as CSV, with the list's filter (`search`, `acceptance` comma
/// separated, `vendorId`, `programId`) and order (`orderBy` = an
/// `AssignedReferralOrderField`, `direction`; newest assignment first).
pub async fn assigned(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    use crate::service::assigned::list::{AssignedFilter, AssignedSortField};
    let auth = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("<not text>"));
    let principal = match authenticate(&state.ctx, &state.keys, auth).await {
        Ok(Some(p)) => p,
        Ok(None) | Err(AppError::Unauthenticated(_)) => {
            return json_response(
                StatusCode::UNAUTHORIZED,
                "application/json",
                &error_body("a bearer token is needed", "UNAUTHENTICATED"),
            );
        }
        Err(e) => return error_response(e),
    };
    let bad = |field: &str| AppError::validation(field, format!("{field} has a value this export does not know"));
    let parsed = (|| -> Result<_, AppError> {
        let states = q
            .get("acceptance")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        <entity::AssignmentState as sea_orm::ActiveEnum>::try_from_value(&s.to_ascii_uppercase())
                            .map_err(|_| bad("acceptance"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let id =
            |key: &str, kind: &str| q.get(key).map(|v| crate::ids::decode(kind, v).ok_or_else(|| bad(key))).transpose();
        let filter = AssignedFilter {
            search: crate::service::optional_text("search", q.get("search").map(String::as_str), 200)?,
            states,
            vendor_org_id: id("vendorId", "Organization")?,
            program_id: id("programId", "Program")?,
        };
        let field = match q.get("orderBy") {
            None => AssignedSortField::AssignedAt,
            Some(name) => AssignedSortField::parse(name).ok_or_else(|| bad("orderBy"))?,
        };
        let descending = !q.get("direction").is_some_and(|d| d.eq_ignore_ascii_case("ASC"));
        Ok((filter, field, descending))
    })();
    let (filter, field, descending) = match parsed {
        Ok(p) => p,
        Err(e) => return error_response(e),
    };
    match crate::service::assigned::list::export(state.ctx.clone(), principal, filter, field, descending) {
        Ok(stream) => {
            let mut response = axum::body::Body::from_stream(stream).into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"assigned-referrals.csv\""),
            );
            response
        }
        Err(e) => error_response(e),
    }
}
