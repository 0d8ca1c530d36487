//! `node(id:)`: any object by its global id, if the caller may see it.

use async_graphql::{Context, ID, Interface, Object, Result};

use super::assigned::ReferralAssignment;
use super::billing::Invoice;
use super::imports::ImportBatch;
use super::organization::Organization;
use super::partner::{Partner, Task};
use super::program::Program;
use super::referral::Referral;
use super::{ids, principal, svc};
use crate::error::AppError;
use crate::service::{assigned, billing, imports, organizations, partners, programs, referrals, tasks};

#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Organization(Organization),
    Program(Program),
    Partner(Partner),
    Referral(Referral),
    Invoice(Invoice),
    Task(Task),
    ImportBatch(ImportBatch),
    ReferralAssignment(ReferralAssignment),
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Node> {
        let p = principal(ctx)?;
        let ctxs = svc(ctx);
        let (kind, row) = ids::parse(&id).ok_or_else(|| AppError::not_found("node"))?;
        Ok(match kind.as_str() {
            "Organization" => Node::Organization(Organization(organizations::get(ctxs, p, row).await?)),
            "Program" => Node::Program(Program(programs::get(ctxs, p, row).await?)),
            "Partner" => Node::Partner(Partner(partners::get(ctxs, p, row).await?)),
            "Referral" => Node::Referral(Referral::from(referrals::get(ctxs, p, row).await?)),
            "Invoice" => Node::Invoice(Invoice(billing::get(ctxs, p, row).await?)),
            "Task" => Node::Task(Task(tasks::get(ctxs, p, row).await?)),
            "ImportBatch" => Node::ImportBatch(ImportBatch(imports::get(ctxs, p, row).await?)),
            "ReferralAssignment" => Node::ReferralAssignment(ReferralAssignment(assigned::offer(ctxs, p, row).await?)),
            _ => return Err(AppError::not_found("node").into()),
        })
    }
}
