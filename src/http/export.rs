//! `GET /export/referrals.csv` and `GET /export/assigned-referrals.csv`:
//! the two lists as CSV, streamed. Each takes its list's GraphQL filter as
//! query parameters (the same fields, lists comma separated) and its order
//! (`orderBy` = the list's order field, `direction` = ASC or DESC).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::de::DeserializeOwned;

use super::{HttpState, error_body, error_response, json_response};
use crate::auth::{Principal, authenticate};
use crate::error::{AppError, AppResult};
use crate::graphql::{AssignedReferralFilterInput, ReferralFilterInput};
use crate::service::assigned::list::AssignedSortField;
use crate::service::referrals::ReferralSortField;

/// `GET /export/referrals.csv`: newest first by default.
pub async fn referrals(State(state): State<HttpState>, headers: HeaderMap, uri: Uri) -> Response {
    let principal = match caller(&state, &headers).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    let ctx = state.ctx.clone();
    let stream = (|| {
        let filter = query::<ReferralFilterInput>(&uri)?.into_filter(ctx.now())?;
        let (sort, descending) = order(&uri, ReferralSortField::CreatedAt, ReferralSortField::parse)?;
        crate::service::exports::referrals_csv(ctx, principal, filter, sort, descending)
    })();
    csv(stream, "attachment; filename=\"referrals.csv\"")
}

/// `GET /export/assigned-referrals.csv`: the partner's list (the vendor's
/// own offers for the vendor), newest assignment first by default.
pub async fn assigned(State(state): State<HttpState>, headers: HeaderMap, uri: Uri) -> Response {
    let principal = match caller(&state, &headers).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    let ctx = state.ctx.clone();
    let stream = (|| {
        let filter = query::<AssignedReferralFilterInput>(&uri)?.into_filter()?;
        let (sort, descending) = order(&uri, AssignedSortField::AssignedAt, AssignedSortField::parse)?;
        crate::service::assigned::list::export(ctx, principal, filter, sort, descending)
    })();
    csv(stream, "attachment; filename=\"assigned-referrals.csv\"")
}

/// The bearer token's principal, or the 401 an export answers without one.
async fn caller(state: &HttpState, headers: &HeaderMap) -> Result<Principal, Response> {
    let auth = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("<not text>"));
    match authenticate(&state.ctx, &state.keys, auth).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) | Err(AppError::Unauthenticated(_)) => Err(json_response(
            StatusCode::UNAUTHORIZED,
            "application/json",
            &error_body("a bearer token is needed", "UNAUTHENTICATED"),
        )),
        Err(e) => Err(error_response(e)),
    }
}

/// The list's filter, read from the query string by the filter input's
/// serde declaration.
fn query<T: DeserializeOwned>(uri: &Uri) -> AppResult<T> {
    Query::<T>::try_from_uri(uri)
        .map(|Query(filter)| filter)
        .map_err(|e| AppError::validation("query", format!("the export's filter: {}", e.body_text())))
}

/// `orderBy` (by `parse`, else `default`) and `direction` (DESC unless ASC).
fn order<F>(uri: &Uri, default: F, parse: impl Fn(&str) -> Option<F>) -> AppResult<(F, bool)> {
    let Query(q) = Query::<HashMap<String, String>>::try_from_uri(uri)
        .map_err(|e| AppError::validation("query", e.body_text()))?;
    let sort = match q.get("orderBy") {
        None => default,
        Some(name) => parse(name)
            .ok_or_else(|| AppError::validation("orderBy", "orderBy has a value this export does not know"))?,
    };
    Ok((sort, !q.get("direction").is_some_and(|d| d.eq_ignore_ascii_case("ASC"))))
}

/// The streamed file, or the error that stopped it before its first byte.
fn csv(
    stream: AppResult<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static>,
    disposition: &'static str,
) -> Response {
    match stream {
        Ok(stream) => {
            let mut response = axum::body::Body::from_stream(stream).into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static(disposition));
            response
        }
        Err(e) => error_response(e),
    }
}
