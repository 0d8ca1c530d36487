//! Rankings (PRODUCT.md §8): the latest or any past snapshot, with the
//! inputs that put each row where it is.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::{RankingKind as Kind, ranking_row, ranking_snapshot};

use super::connection::{Parts, connection};
use super::enums::RankingKind;
use super::{ids, principal, svc};
use crate::service::page::PageRequest;
use crate::service::rankings;

connection!(RankingRowConnection, RankingRowEdge, RankingRow);

/// A snapshot as the caller may see it.
pub struct Ranking {
    snapshot: ranking_snapshot::Model,
    program: Option<i64>,
}

#[Object]
impl Ranking {
    async fn snapshot_id(&self) -> ID {
        ids::encode("RankingSnapshot", self.snapshot.id)
    }

    async fn kind(&self) -> RankingKind {
        self.snapshot.kind.into()
    }

    /// The time the ranking describes.
    async fn as_of(&self) -> DateTime<Utc> {
        self.snapshot.as_of
    }

    /// The trailing window the inputs cover.
    async fn window_days(&self) -> i32 {
        self.snapshot.window_days
    }

    async fn taken_at(&self) -> DateTime<Utc> {
        self.snapshot.created_at
    }

    /// The rows the caller may see, best first: ADMIN every row; a vendor
    /// its own row (VENDOR) or its programs' partners (PARTNER).
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn rows(&self, ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> Result<RankingRowConnection> {
        let p = principal(ctx)?;
        let page = PageRequest::new(first, after.as_deref())?;
        let (id, program) = (self.snapshot.id, self.program);
        let rows = rankings::rows(svc(ctx), p, id, program, &page).await?;
        let count = rankings::count_rows(svc(ctx), p, id, program);
        let kind = self.snapshot.kind;
        Ok(Parts::from_page(ctx, rows, |r| RankingRow(r, kind), count).await?.into())
    }
}

pub struct RankingRow(ranking_row::Model, Kind);

// Its lists go to the engine whole (`at_once`).
impl super::at_once::AtOnce for RankingRow {}

#[Object]
impl RankingRow {
    /// 1 is best.
    async fn position(&self) -> i32 {
        self.0.position
    }

    /// How many are ranked: vendors network-wide, or partners in the program.
    async fn ranked(&self) -> i32 {
        self.0.ranked
    }

    /// The vendor organization or the partner.
    async fn subject_id(&self) -> ID {
        match self.1 {
            Kind::Vendor => ids::encode("Organization", self.0.subject_id),
            Kind::Partner => ids::encode("Partner", self.0.subject_id),
        }
    }

    /// The name when the snapshot was taken.
    async fn name(&self) -> &str {
        &self.0.subject_name
    }

    async fn program_id(&self) -> Option<ID> {
        self.0.program_id.map(|p| ids::encode("Program", p))
    }

    /// Inbound referrals created in the window.
    async fn referrals(&self) -> i64 {
        self.0.referrals
    }

    /// Referrals without an invalid reason.
    async fn valid_referrals(&self) -> i64 {
        self.0.valid_referrals
    }

    async fn invalid_referrals(&self) -> i64 {
        self.0.invalid_referrals
    }

    async fn approved(&self) -> i64 {
        self.0.approved
    }

    /// Sale amounts of the approved referrals, minor units.
    async fn revenue_minor(&self) -> super::MinorUnits {
        self.0.revenue_minor.into()
    }

    /// Vendors: the rewards of the valid referrals, net of clawbacks.
    async fn paid_minor(&self) -> super::MinorUnits {
        self.0.paid_minor.into()
    }

    /// Vendors: `paidMinor / validReferrals`; null without valid referrals.
    async fn avg_paid_per_valid_minor(&self) -> Option<super::MinorUnits> {
        self.0.avg_paid_per_valid_minor.map(Into::into)
    }

    /// Vendors: referrals with an outcome or a final status, per 10,000.
    async fn report_back_rate_basis_points(&self) -> Option<i32> {
        self.0.report_back_rate_bp
    }

    /// Vendors: report backs overdue as of the snapshot.
    async fn overdue(&self) -> i64 {
        self.0.overdue
    }

    /// Partners: approved per valid referral, per 10,000.
    async fn conversion_basis_points(&self) -> Option<i32> {
        self.0.conversion_bp
    }

    /// Partners: invalid per referral, per 10,000.
    async fn invalid_rate_basis_points(&self) -> Option<i32> {
        self.0.invalid_rate_bp
    }
}

#[derive(Default)]
pub struct RankingQuery;

#[Object]
impl RankingQuery {
    /// The latest ranking of a kind taken as of `asOf` or before (the
    /// latest without it); null before the first `rank` run. PARTNER
    /// rankings may be narrowed to one program.
    async fn rankings(
        &self,
        ctx: &Context<'_>,
        kind: RankingKind,
        as_of: Option<DateTime<Utc>>,
        program_id: Option<ID>,
    ) -> Result<Option<Ranking>> {
        let program = program_id.map(|p| ids::decode("Program", &p)).transpose()?;
        let found = rankings::snapshot(svc(ctx), principal(ctx)?, kind.into(), as_of).await?;
        Ok(found.map(|snapshot| Ranking { snapshot, program }))
    }
}
