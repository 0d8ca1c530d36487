//! Report back (PRODUCT.md §5, seed 002): `reportOutcome` records the
//! vendor's outcome on an inbound referral, moves its status where the
//! outcome says (SOLD → APPROVED, invalid NO_SALE → DENIED) and keeps
//! `reportBackDueAt`, in one transaction with its audit rows, note, reward
//! changes and the notice to the partner.

use chrono::{DateTime, Duration, Utc};
use entity::{
    ChangeSource, InvalidReason, NoteVisibility, ReferralOutcome, ReferralStatus, RewardModel, program, referral,
};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, IntoActiveModel, Set, TransactionTrait};

use super::audit::{self, Actor};
use super::referrals::{
    bump, get_after_change, inbound_status, lock, notify, program_of, require_vendor_staff, status_change,
};
use super::{notes, optional_prose, rewards};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::domain::outcome::{self, Current, Effect, Report, ReportBack};
use crate::error::{AppError, AppResult};
use crate::events::EventKind;

#[derive(Debug, Clone)]
pub struct OutcomeRequest {
    pub outcome: ReferralOutcome,
    /// Marks a NO_SALE referral invalid.
    pub invalid_reason: Option<InvalidReason>,
    /// Required with OTHER.
    pub invalid_reason_text: Option<String>,
    /// SHARED with the partner.
    pub note: Option<String>,
    pub sale_amount_minor: Option<i64>,
    pub expected_version: Option<i32>,
}

impl OutcomeRequest {
    /// A report of `outcome` with nothing else.
    pub fn new(outcome: ReferralOutcome) -> Self {
        Self {
            outcome,
            invalid_reason: None,
            invalid_reason_text: None,
            note: None,
            sale_amount_minor: None,
            expected_version: None,
        }
    }
}

/// The input checks of a report's invalid reason, shared with the
/// importer: the rules are `outcome::reason_requirements`; here the text is
/// trimmed and checked as prose.
pub fn check_invalid_reason(
    outcome: ReferralOutcome,
    reason: Option<InvalidReason>,
    text: Option<&str>,
) -> Result<Option<String>, (&'static str, String)> {
    let text = text.map(str::trim).filter(|t| !t.is_empty());
    outcome::reason_requirements(outcome, reason, text.is_some()).map_err(|m| (m.field, m.message.to_owned()))?;
    text.map(|t| super::required_prose("invalidReasonText", t, 500).map_err(|e| ("invalidReasonText", e.message())))
        .transpose()
}

/// When a report back is next due after `report_back` at `now`.
pub fn due_after(program: &program::Model, report_back: ReportBack, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match report_back {
        ReportBack::Extend if outcome::owes_report_back(program.reward_trigger) => {
            Some(now + Duration::days(program.report_back_days.into()))
        }
        _ => None,
    }
}

/// `reportOutcome`.
pub async fn report(ctx: &Ctx, principal: &Principal, id: i64, req: OutcomeRequest) -> AppResult<referral::Model> {
    let tx = ctx.db.begin().await?;
    let changed = report_in(&tx, principal, id, req, ctx.now()).await?;
    tx.commit().await?;
    get_after_change(ctx, changed.id).await
}

/// `reportOutcome` inside a caller's transaction.
pub(super) async fn report_in(
    tx: &DatabaseTransaction,
    principal: &Principal,
    id: i64,
    req: OutcomeRequest,
    now: DateTime<Utc>,
) -> AppResult<referral::Model> {
    let reason_text = check_invalid_reason(req.outcome, req.invalid_reason, req.invalid_reason_text.as_deref())
        .map_err(|(field, message)| AppError::validation(field, message))?;
    let note = optional_prose("note", req.note.as_deref(), 10_000)?;
    if req.sale_amount_minor.is_some_and(|a| a < 0) {
        return Err(AppError::validation("saleAmountMinor", "saleAmountMinor must not be negative"));
    }
    let current = lock(tx, principal, id, req.expected_version).await?;
    require_vendor_staff(principal)?;
    let from = inbound_status(&current)?;
    let facts = Current {
        status: from,
        outcome: current.outcome,
        invalid: current.invalid_reason.is_some(),
        ever_qualified: current.ever_qualified,
    };
    let invalid = req.invalid_reason.is_some();
    let (status, report_back) = match outcome::decide(facts, Report { outcome: req.outcome, invalid }) {
        Ok(Effect::NoOp) => return Ok(current),
        Ok(Effect::Record { status, report_back }) => (status, report_back),
        Err(refusal) => return Err(refusal.into()),
    };
    let program = program_of(tx, &current).await?;
    let sale_amount = req.sale_amount_minor.or(current.sale_amount_minor);
    let commission = program.reward_model == RewardModel::Commission;
    outcome::requirements(req.outcome, commission, sale_amount.is_some())?;
    let mut m = current.clone().into_active_model();
    m.outcome = Set(Some(req.outcome));
    m.invalid_reason = Set(req.invalid_reason);
    m.invalid_reason_text = Set(reason_text.clone());
    m.sale_amount_minor = Set(sale_amount);
    m.report_back_due_at = Set(due_after(&program, report_back, now));
    if let Some(to) = status {
        m.status = Set(Some(to));
    }
    let updated = bump(m, &current, now).update(tx).await?;
    let actor = || Actor::person(principal, ChangeSource::Manual);
    let why = req.invalid_reason.map(|r| match &reason_text {
        Some(text) => format!("invalid: {} ({text})", r.as_str()),
        None => format!("invalid: {}", r.as_str()),
    });
    let change = status_change(
        &updated,
        "OUTCOME",
        "REPORT_OUTCOME",
        current.outcome.map(|v| v.as_str()),
        Some(req.outcome.as_str()),
        why,
    );
    audit::record(tx, change, actor(), now).await?;
    let updated = match status {
        Some(to) => {
            let change =
                status_change(&updated, "STATUS", "REPORT_OUTCOME", Some(from.as_str()), Some(to.as_str()), None);
            audit::record(tx, change, actor(), now).await?;
            let updated = rewards::on_status_change(tx, &updated, &program, to, now).await?;
            super::lead_claims::on_status_change(tx, &updated, &program, to, now).await?;
            updated
        }
        None => updated,
    };
    if let Some(note) = &note {
        notes::write(tx, Some(principal), &updated, NoteVisibility::Shared, note, now).await?;
    }
    let message = match status {
        Some(to) => {
            format!("Referral {} outcome: {} (now {})", updated.reference_id, req.outcome.as_str(), to.as_str())
        }
        None => format!("Referral {} outcome: {}", updated.reference_id, req.outcome.as_str()),
    };
    notify(tx, Some(principal), &updated, EventKind::ReferralOutcomeReported, &message, note.as_deref(), now).await?;
    // Reporting back may clear the last cause of a policy suspension.
    if updated.report_back_due_at != current.report_back_due_at {
        super::intake::enforce::recheck(tx, updated.vendor_org_id, now).await?;
    }
    Ok(updated)
}

/// The due time after a status change (see `outcome::clears_report_back`).
pub fn due_after_status(current: Option<DateTime<Utc>>, to: ReferralStatus) -> Option<DateTime<Utc>> {
    if outcome::clears_report_back(to) { None } else { current }
}
