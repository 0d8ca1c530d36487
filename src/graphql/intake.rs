//! A vendor's intake: its suspensions and the network's intake policy
//! (PRODUCT.md §8; `service::intake`).

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{SuspensionKind as StoredKind, intake_policy, intake_suspension};

use super::enums::{SuspensionKind, SuspensionReason};
use super::organization::Organization;
use super::{ids, principal, svc};
use crate::auth::Principal;
use crate::service::intake;

/// Why and since when a vendor takes no new referrals. Partners see only
/// `kind` and `reason`; the vendor's people and ADMIN see everything.
pub struct IntakeSuspension {
    row: intake_suspension::Model,
    /// Whether the caller may see the details.
    full: bool,
}

impl IntakeSuspension {
    pub fn for_caller(row: intake_suspension::Model, p: &Principal) -> Self {
        IntakeSuspension { full: !p.is_partner_side(), row }
    }
}

/// A record that keeps a policy suspension in force.
#[derive(SimpleObject)]
pub struct IntakeCause {
    /// OVERDUE_REPORT_BACKS (a referral) or UNPAID_INVOICES (an invoice).
    pub reason: SuspensionReason,
    /// The referral's or the invoice's global id.
    pub id: ID,
}

#[derive(serde::Deserialize)]
struct StoredCause {
    subject: String,
    id: i64,
}

#[Object]
impl IntakeSuspension {
    async fn kind(&self) -> SuspensionKind {
        self.row.kind.into()
    }

    /// MANUAL for ADMIN's; for the policy's, OVERDUE_REPORT_BACKS when any
    /// report back is past the limit, else UNPAID_INVOICES (`reasons` has
    /// both when both are).
    async fn reason(&self) -> SuspensionReason {
        self.row.reason.into()
    }

    async fn reasons(&self) -> Option<Vec<SuspensionReason>> {
        if !self.full {
            return None;
        }
        let mut out = Vec::new();
        if self.row.kind == StoredKind::Manual {
            out.push(SuspensionReason::Manual);
        }
        if self.row.overdue_count > 0 {
            out.push(SuspensionReason::OverdueReportBacks);
        }
        if self.row.unpaid_count > 0 {
            out.push(SuspensionReason::UnpaidInvoices);
        }
        Some(out)
    }

    /// ADMIN's reason, in words.
    async fn note(&self) -> Option<&str> {
        self.row.note.as_deref().filter(|_| self.full)
    }

    async fn since(&self) -> Option<DateTime<Utc>> {
        self.full.then_some(self.row.since)
    }

    /// Report backs past the limit when last checked.
    async fn overdue_count(&self) -> Option<i64> {
        self.full.then_some(self.row.overdue_count)
    }

    /// Invoices past the limit when last checked.
    async fn unpaid_count(&self) -> Option<i64> {
        self.full.then_some(self.row.unpaid_count)
    }

    /// The records that keep it in force (the first 100, overdue report
    /// backs first, oldest first), as of the last check.
    async fn causes(&self) -> Result<Option<Vec<IntakeCause>>> {
        if !self.full {
            return Ok(None);
        }
        let stored: Vec<StoredCause> = serde_json::from_str(&self.row.causes)
            .map_err(|e| crate::error::AppError::Internal(format!("reading intake causes: {e}")))?;
        Ok(Some(
            stored
                .into_iter()
                .map(|c| match entity::Subject::from_name(&c.subject) {
                    Some(entity::Subject::Invoice) => {
                        IntakeCause { reason: SuspensionReason::UnpaidInvoices, id: ids::encode("Invoice", c.id) }
                    }
                    _ => {
                        IntakeCause { reason: SuspensionReason::OverdueReportBacks, id: ids::encode("Referral", c.id) }
                    }
                })
                .collect(),
        ))
    }

    /// What lifts it.
    async fn lifted_by(&self) -> Option<&'static str> {
        if !self.full {
            return None;
        }
        Some(match self.row.kind {
            StoredKind::Manual => "ADMIN lifts it (suspendVendorIntake with suspended: false)",
            StoredKind::Policy => {
                "reporting back on the overdue referrals and paying the unpaid invoices listed: the change that \
                 clears the last of them lifts it at once"
            }
        })
    }

    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.full.then_some(self.row.updated_at)
    }
}

/// The network's intake policy. A null limit is off.
pub struct IntakePolicy(pub intake_policy::Model);

#[Object]
impl IntakePolicy {
    /// Days a report back may be overdue before intake pauses.
    async fn max_overdue_days(&self) -> Option<i32> {
        self.0.max_overdue_days
    }

    /// Days an invoice may stay OPEN or FAILED after it was issued.
    async fn max_unpaid_days(&self) -> Option<i32> {
        self.0.max_unpaid_days
    }

    /// Days before a limit is crossed that the vendor is warned.
    async fn warn_days_before(&self) -> Option<i32> {
        self.0.warn_days_before
    }

    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.0.updated_at
    }

    async fn updated_by(&self) -> Option<ID> {
        self.0.updated_by.map(|id| ids::encode("User", id))
    }
}

/// A change to the intake policy: a field left out keeps its value; null
/// switches that limit (or the warning) off.
#[derive(InputObject)]
pub struct IntakePolicyInput {
    pub max_overdue_days: MaybeUndefined<i32>,
    pub max_unpaid_days: MaybeUndefined<i32>,
    pub warn_days_before: MaybeUndefined<i32>,
}

fn change(v: MaybeUndefined<i32>) -> Option<Option<i32>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(d) => Some(Some(d)),
    }
}

#[derive(Default)]
pub struct IntakeQuery;

#[Object]
impl IntakeQuery {
    /// The network's intake policy (ADMIN).
    async fn intake_policy(&self, ctx: &Context<'_>) -> Result<IntakePolicy> {
        Ok(IntakePolicy(intake::read_policy(svc(ctx), principal(ctx)?).await?))
    }
}

#[derive(Default)]
pub struct IntakeMutation;

#[Object]
impl IntakeMutation {
    /// ADMIN: sets the limits past which a vendor's intake pauses by itself
    /// (`enforce-intake-policy`, daily and after each overdue and billing
    /// run). Audited.
    async fn set_intake_policy(&self, ctx: &Context<'_>, input: IntakePolicyInput) -> Result<IntakePolicy> {
        let c = intake::PolicyChange {
            max_overdue_days: change(input.max_overdue_days),
            max_unpaid_days: change(input.max_unpaid_days),
            warn_days_before: change(input.warn_days_before),
        };
        Ok(IntakePolicy(intake::set_policy(svc(ctx), principal(ctx)?, c).await?))
    }
}

/// `Organization.intakeSuspension(s)`.
pub async fn of_vendor(ctx: &Context<'_>, org: &Organization) -> Result<Vec<IntakeSuspension>> {
    let p = principal(ctx)?;
    if !org.0.intake_suspended {
        return Ok(Vec::new());
    }
    let rows = intake::suspensions(&svc(ctx).db, org.0.id).await?;
    Ok(rows.into_iter().map(|r| IntakeSuspension::for_caller(r, p)).collect())
}
