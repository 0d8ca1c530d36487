//! Invoices (PRODUCT.md §6): vendors read their own, ADMIN reads all and
//! records payments (the manual payment gateway).

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::{invoice, invoice_line};

use super::connection::{Parts, connection};
use super::enums::{InvoiceKind, InvoiceStatus};
use super::organization::Organization;
use super::{MinorUnits, ids, principal, svc};
use crate::domain::invoice_status::InvoiceEvent;
use crate::service::billing;
use crate::service::page::PageRequest;

connection!(InvoiceConnection, InvoiceEdge, Invoice);
connection!(InvoiceLineConnection, InvoiceLineEdge, InvoiceLine);

pub struct Invoice(pub invoice::Model);

// Its lists go to the engine whole (`at_once`).
impl super::at_once::AtOnce for Invoice {}

#[Object]
impl Invoice {
    pub async fn id(&self) -> ID {
        ids::encode("Invoice", self.0.id)
    }

    async fn vendor_id(&self) -> ID {
        ids::encode("Organization", self.0.vendor_org_id)
    }

    async fn currency(&self) -> &str {
        &self.0.currency
    }

    async fn kind(&self) -> InvoiceKind {
        self.0.kind.into()
    }

    /// `YYYY-MM` of a month-end invoice.
    async fn month(&self) -> Option<&str> {
        self.0.month.as_deref()
    }

    async fn status(&self) -> InvoiceStatus {
        self.0.status.into()
    }

    /// The sum of the lines, in minor units (clawbacks are negative lines).
    async fn total_minor(&self) -> MinorUnits {
        self.0.total_minor.into()
    }

    async fn line_count(&self) -> i32 {
        self.0.line_count
    }

    async fn issued_at(&self) -> DateTime<Utc> {
        self.0.issued_at
    }

    async fn paid_at(&self) -> Option<DateTime<Utc>> {
        self.0.paid_at
    }

    async fn failed_at(&self) -> Option<DateTime<Utc>> {
        self.0.failed_at
    }

    async fn voided_at(&self) -> Option<DateTime<Utc>> {
        self.0.voided_at
    }

    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure_reason.as_deref()
    }

    async fn payment_reference(&self) -> Option<&str> {
        self.0.payment_reference.as_deref()
    }

    async fn version(&self) -> i32 {
        self.0.version
    }

    /// The billed rewards, in order. A voided invoice keeps its lines, no
    /// longer live.
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn lines(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<InvoiceLineConnection> {
        let page = PageRequest::new(first, after.as_deref())?;
        let rows = billing::lines(svc(ctx), self.0.id, &page).await?;
        Ok(Parts::from_page(ctx, rows, InvoiceLine, billing::count_lines(svc(ctx), self.0.id)).await?.into())
    }
}

pub struct InvoiceLine(invoice_line::Model);

// Its lists go to the engine whole (`at_once`).
impl super::at_once::AtOnce for InvoiceLine {}

#[Object]
impl InvoiceLine {
    async fn id(&self) -> ID {
        ids::encode("InvoiceLine", self.0.id)
    }

    async fn reward_id(&self) -> ID {
        ids::encode("Reward", self.0.reward_id)
    }

    async fn referral_id(&self) -> ID {
        ids::encode("Referral", self.0.referral_id)
    }

    async fn partner_id(&self) -> Option<ID> {
        self.0.partner_id.map(|p| ids::encode("Partner", p))
    }

    async fn amount_minor(&self) -> MinorUnits {
        self.0.amount_minor.into()
    }

    /// False once the invoice is voided (its rewards can be billed again).
    async fn live(&self) -> bool {
        self.0.live
    }
}

#[derive(Default)]
pub struct BillingQuery;

#[Object]
impl BillingQuery {
    /// Invoices, newest first: a vendor's own; ADMIN every vendor's, or one's.
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        vendor_id: Option<ID>,
        status: Option<InvoiceStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<InvoiceConnection> {
        let p = principal(ctx)?;
        let vendor = vendor_id.map(|v| ids::decode("Organization", &v)).transpose()?;
        let status = status.map(Into::into);
        let page = PageRequest::new(first, after.as_deref())?;
        let rows = billing::list(svc(ctx), p, vendor, status, &page).await?;
        Ok(Parts::from_page(ctx, rows, Invoice, billing::count(svc(ctx), p, vendor, status)).await?.into())
    }

    async fn invoice(&self, ctx: &Context<'_>, id: ID) -> Result<Invoice> {
        let id = ids::decode("Invoice", &id)?;
        Ok(Invoice(billing::get(svc(ctx), principal(ctx)?, id).await?))
    }
}

#[derive(Default)]
pub struct BillingMutation;

#[Object]
impl BillingMutation {
    /// ADMIN: the payment arrived. The invoice's rewards are PAID_OUT and
    /// their partners told.
    async fn mark_invoice_paid(&self, ctx: &Context<'_>, id: ID, payment_reference: Option<String>) -> Result<Invoice> {
        move_invoice(ctx, id, InvoiceEvent::Pay, payment_reference).await
    }

    /// ADMIN: collecting the payment failed; the rewards stay BILLED.
    async fn mark_invoice_failed(&self, ctx: &Context<'_>, id: ID, reason: Option<String>) -> Result<Invoice> {
        move_invoice(ctx, id, InvoiceEvent::Fail, reason).await
    }

    /// ADMIN: a FAILED invoice is OPEN again, to collect once more.
    async fn reopen_invoice(&self, ctx: &Context<'_>, id: ID) -> Result<Invoice> {
        move_invoice(ctx, id, InvoiceEvent::Retry, None).await
    }

    /// ADMIN: cancels an OPEN or FAILED invoice; its rewards return to
    /// EARNED and are billed again by the next run.
    async fn void_invoice(&self, ctx: &Context<'_>, id: ID, reason: Option<String>) -> Result<Invoice> {
        move_invoice(ctx, id, InvoiceEvent::Void, reason).await
    }

    /// ADMIN: the vendor's billing threshold in minor units (any currency);
    /// null bills it at month end only.
    async fn set_billing_threshold(
        &self,
        ctx: &Context<'_>,
        vendor_id: ID,
        threshold_minor: Option<MinorUnits>,
    ) -> Result<Organization> {
        let vendor = ids::decode("Organization", &vendor_id)?;
        let threshold = threshold_minor.map(i64::from);
        Ok(Organization(billing::set_threshold(svc(ctx), principal(ctx)?, vendor, threshold).await?))
    }
}

async fn move_invoice(ctx: &Context<'_>, id: ID, event: InvoiceEvent, note: Option<String>) -> Result<Invoice> {
    let id = ids::decode("Invoice", &id)?;
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    Ok(Invoice(billing::transition(svc(ctx), principal(ctx)?, id, event, note).await?))
}
