//! Organizations.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::organization;

use super::enums::OrganizationKind;
use super::intake::{self, IntakeSuspension};
use super::{ids, principal, svc};
use crate::service::{intake as intake_service, organizations};

pub struct Organization(pub organization::Model);

#[Object]
impl Organization {
    pub async fn id(&self) -> ID {
        ids::encode("Organization", self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn kind(&self) -> OrganizationKind {
        self.0.kind.into()
    }

    /// New referrals from partners to this vendor are refused (by ADMIN or
    /// by the network's intake policy: see `intakeSuspension`).
    async fn intake_suspended(&self) -> bool {
        self.0.intake_suspended
    }

    /// Why intake is paused, if it is: ADMIN's suspension when there is
    /// one (only ADMIN lifts it), else the policy's. Partners see its kind
    /// and reason only.
    async fn intake_suspension(&self, ctx: &Context<'_>) -> Result<Option<IntakeSuspension>> {
        Ok(intake::of_vendor(ctx, self).await?.into_iter().next())
    }

    /// Every suspension in force (at most one MANUAL and one POLICY).
    async fn intake_suspensions(&self, ctx: &Context<'_>) -> Result<Vec<IntakeSuspension>> {
        intake::of_vendor(ctx, self).await
    }

    /// A vendor is invoiced at once when its billable balance in a currency
    /// reaches this; null: at month end only.
    async fn billing_threshold_minor(&self) -> Option<super::MinorUnits> {
        self.0.billing_threshold_minor.map(Into::into)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Default)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    /// Every organization (ADMIN).
    async fn organizations(&self, ctx: &Context<'_>) -> Result<Vec<Organization>> {
        let rows = organizations::list(svc(ctx), principal(ctx)?).await?;
        Ok(rows.into_iter().map(Organization).collect())
    }
}

#[derive(Default)]
pub struct OrganizationMutation;

#[Object]
impl OrganizationMutation {
    /// Creates a vendor or partner organization (ADMIN).
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        name: String,
        kind: OrganizationKind,
    ) -> Result<Organization> {
        let org = organizations::create(svc(ctx), principal(ctx)?, &name, kind.into()).await?;
        Ok(Organization(org))
    }

    /// ADMIN: stops new referrals to a vendor (they are refused with
    /// FORBIDDEN naming the vendor) until `suspended: false` lifts it;
    /// `suspended` is true when omitted or null.
    async fn suspend_vendor_intake(
        &self,
        ctx: &Context<'_>,
        vendor_id: ID,
        suspended: Option<bool>,
        reason: Option<String>,
    ) -> Result<Organization> {
        let vendor = ids::decode("Organization", &vendor_id)?;
        let suspended = suspended.unwrap_or(true);
        let org = intake_service::set_manual(svc(ctx), principal(ctx)?, vendor, suspended, reason.as_deref()).await?;
        Ok(Organization(org))
    }
}
