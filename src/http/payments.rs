//! `POST /payments/webhook`: the payment gateway reports an invoice paid or
//! failed.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::{HttpState, error_response, json_response};
use crate::error::AppError;

/// The payment gateway reports a payment or a failure (PRODUCT.md §6):
/// `{"invoiceId", "status": "PAID" | "FAILED", "reference"}`, signed with
/// `PAYMENT_WEBHOOK_SECRET` the way our own webhooks are
/// (`x-referralhub-signature: t=…,v1=HMAC-SHA256(secret, "<t>.<body>")`,
/// within the replay window). Answers 200 with the invoice's status (also
/// for a repeated report), 401 for a bad signature, 400 for a bad body, 404
/// for an unknown invoice, 409 for a move the invoice cannot make.
pub async fn webhook(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = state.payment_webhook_secret.as_deref() else {
        return error_response(AppError::not_found("payment webhook"));
    };
    let signature = headers.get(crate::events::webhook::SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if !signature.is_some_and(|s| crate::events::webhook::verify(secret, s, &body, state.ctx.now().timestamp())) {
        return error_response(AppError::Unauthenticated("the signature does not match".into()));
    }
    let report = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error_response(AppError::validation("body", format!("not a payment report: {e}"))),
    };
    match crate::service::billing::record_payment(&state.ctx, report).await {
        Ok(invoice) => json_response(
            StatusCode::OK,
            "application/json",
            &json!({
                "invoiceId": crate::ids::encode("Invoice", invoice.id),
                "status": invoice.status.as_str(),
            }),
        ),
        Err(e) => error_response(e),
    }
}
