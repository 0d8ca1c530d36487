//! The referral update integration (seed 001 "Referral update integration"):
//! `updateReferral(key: …)` finds a referral by one of the importer's keys
//! and changes it through the same rules, with source API. An
//! `Idempotency-Key` makes retries safe: the same key with the same input
//! replays the first result without new effects, the same key with other
//! input is a CONFLICT. Keys are kept 48 hours.

use chrono::Duration;
use entity::{ChangeSource, InvalidReason, NoteVisibility, ReferralOutcome, ReferralStatus, idempotency_key, referral};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set, TransactionTrait};
use sha2::{Digest, Sha256};

use super::notes;
use super::outcomes::{self, OutcomeRequest};
use super::referrals::{self, StatusRequest};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::error::{AppError, AppResult};

/// Exactly one of these names the referral.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReferralKey {
    /// The Relay id or the reference id (`referralkey_ID`).
    pub id: Option<String>,
    pub external_id: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Update {
    pub status: Option<String>,
    pub stage: Option<String>,
    pub note: Option<String>,
    pub sale_amount_minor: Option<i64>,
    /// A report back instead of a status (IN_PROGRESS, SOLD, NO_SALE).
    pub outcome: Option<ReferralOutcome>,
    pub invalid_reason: Option<InvalidReason>,
    pub invalid_reason_text: Option<String>,
}

const KEEP_HOURS: i64 = 48;

async fn resolve(ctx: &Ctx, vendor: i64, key: &ReferralKey) -> AppResult<referral::Model> {
    use referral::Column as C;
    let given = [key.id.is_some(), key.external_id.is_some(), key.email.is_some()].iter().filter(|g| **g).count();
    if given != 1 {
        return Err(AppError::validation("key", "give exactly one of id, externalId, email"));
    }
    // Keys name leads: an ASSIGNED referral is not one (PRODUCT.md §7).
    let q =
        referral::Entity::find().filter(C::VendorOrgId.eq(vendor)).filter(C::Direction.eq(entity::Direction::Inbound));
    let rows = if let Some(id) = &key.id {
        match crate::ids::parse(id) {
            Some((kind, row)) if kind == "Referral" => q.filter(C::Id.eq(row)).all(&ctx.db).await?,
            _ => q.filter(C::ReferenceId.eq(id.trim().to_ascii_uppercase())).all(&ctx.db).await?,
        }
    } else if let Some(external) = &key.external_id {
        q.filter(C::ExternalId.eq(external.trim())).all(&ctx.db).await?
    } else {
        let email = key.email.as_deref().unwrap_or_default().trim().to_lowercase();
        q.filter(Expr::expr(Func::lower(Expr::col(C::LeadEmail))).eq(email)).all(&ctx.db).await?
    };
    match rows.len() {
        0 => Err(AppError::not_found("referral")),
        1 => Ok(rows.into_iter().next().expect("one row")),
        n => Err(AppError::Conflict(format!("{n} referrals have this e-mail: use id or externalId"))),
    }
}

fn hash(key: &ReferralKey, update: &Update) -> String {
    let body = serde_json::json!({ "key": key, "update": update }).to_string();
    Sha256::digest(body.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// What a key says about a request: go ahead, or replay.
enum Claim {
    New(idempotency_key::Model),
    Replay(i64),
}

async fn claim(ctx: &Ctx, vendor: i64, key: &str, request_hash: &str) -> AppResult<Claim> {
    let key = key.trim();
    if key.is_empty() || key.len() > 255 {
        return Err(AppError::validation("idempotencyKey", "an idempotency key has 1 to 255 characters"));
    }
    let now = ctx.now();
    idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::VendorOrgId.eq(vendor))
        .filter(idempotency_key::Column::CreatedAt.lt(now - Duration::hours(KEEP_HOURS)))
        .exec(&ctx.db)
        .await?;
    let fresh = idempotency_key::ActiveModel {
        vendor_org_id: Set(vendor),
        key: Set(key.to_owned()),
        request_hash: Set(request_hash.to_owned()),
        referral_id: Set(None),
        created_at: Set(now),
        ..Default::default()
    };
    match fresh.insert(&ctx.db).await {
        Ok(row) => Ok(Claim::New(row)),
        Err(e) if AppError::is_unique_violation(&e) => {
            let first = idempotency_key::Entity::find()
                .filter(idempotency_key::Column::VendorOrgId.eq(vendor))
                .filter(idempotency_key::Column::Key.eq(key))
                .one(&ctx.db)
                .await?
                .ok_or_else(|| AppError::Conflict("this idempotency key is being used; retry".into()))?;
            match (first.request_hash == request_hash, first.referral_id) {
                (false, _) => Err(AppError::Conflict("this idempotency key was used with other input".into())),
                (true, None) => Err(AppError::Conflict("a request with this idempotency key is in progress".into())),
                (true, Some(id)) => Ok(Claim::Replay(id)),
            }
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn update(
    ctx: &Ctx,
    principal: &Principal,
    key: ReferralKey,
    update: Update,
    idempotency: Option<String>,
) -> AppResult<referral::Model> {
    let vendor = principal.vendor_org("referral updates")?;
    let claimed = match &idempotency {
        None => None,
        Some(k) => match claim(ctx, vendor, k, &hash(&key, &update)).await? {
            Claim::Replay(id) => return referrals::get(ctx, principal, id).await,
            Claim::New(row) => Some(row),
        },
    };
    let result = apply(ctx, principal, vendor, &key, update).await;
    if let Some(row) = claimed {
        match &result {
            Ok(r) => {
                let mut m = row.into_active_model();
                m.referral_id = Set(Some(r.id));
                m.update(&ctx.db).await?;
            }
            // A failed request leaves no trace: the key may be retried.
            Err(_) => {
                idempotency_key::Entity::delete_by_id(row.id).exec(&ctx.db).await?;
            }
        }
    }
    result
}

/// Applies every part of the update in one transaction: a stage that
/// fails after a status that succeeded leaves nothing behind.
async fn apply(
    ctx: &Ctx,
    principal: &Principal,
    vendor: i64,
    key: &ReferralKey,
    u: Update,
) -> AppResult<referral::Model> {
    let r = resolve(ctx, vendor, key).await?;
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let mut note = u.note.clone();
    match (&u.status, u.outcome) {
        (Some(_), Some(_)) => {
            return Err(AppError::validation("outcome", "give a status or an outcome, not both"));
        }
        (Some(raw), None) => {
            let status: ReferralStatus = super::imports::parse_status(raw)
                .ok_or_else(|| AppError::validation("status", format!("not a status: {raw}")))?;
            let req = StatusRequest {
                status: Some(status),
                note: note.take(),
                sale_amount_minor: u.sale_amount_minor,
                source: Some(ChangeSource::Api),
                ..StatusRequest::default()
            };
            referrals::set_status_in(&tx, principal, r.id, req, now).await?;
        }
        (None, Some(outcome)) => {
            let req = OutcomeRequest {
                outcome,
                invalid_reason: u.invalid_reason,
                invalid_reason_text: u.invalid_reason_text.clone(),
                note: note.take(),
                sale_amount_minor: u.sale_amount_minor,
                expected_version: None,
            };
            outcomes::report_in(&tx, principal, r.id, req, now).await?;
        }
        (None, None) if u.sale_amount_minor.is_some() => {
            return Err(AppError::validation("saleAmountMinor", "a sale amount is given with a status or an outcome"));
        }
        (None, None) => {}
    }
    if let Some(stage) = &u.stage {
        referrals::set_stage_in(&tx, principal, r.id, stage, note.take().as_deref(), None, now).await?;
    }
    if let Some(body) = note {
        notes::add_in(&tx, principal, r.id, &body, NoteVisibility::Shared, now).await?;
    }
    tx.commit().await?;
    referrals::get(ctx, principal, r.id).await
}
