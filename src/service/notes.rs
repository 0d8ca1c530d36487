//! Timeline notes and the referral timeline: notes interleaved with every
//! status and stage change, oldest first. SHARED notes are seen by both
//! sides; INTERNAL ones only by the author's organization.

use chrono::{DateTime, Utc};
use entity::{NoteVisibility, Role, Subject, note, referral, status_change};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};

use super::{audit, referrals, required_prose};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::error::{AppError, AppResult};
use crate::events::EventKind;

/// Writes a note inside the caller's transaction, under the offer in force
/// if the referral is an assigned one.
pub async fn write(
    db: &impl ConnectionTrait,
    principal: Option<&Principal>,
    referral: &entity::referral::Model,
    visibility: NoteVisibility,
    body: &str,
    now: DateTime<Utc>,
) -> AppResult<note::Model> {
    let offer = super::assigned::offers::offer_in_force(db, referral).await?;
    write_as(db, principal, referral, visibility, body, offer, now).await
}

/// Writes a note under a given offer (or none).
pub async fn write_as(
    db: &impl ConnectionTrait,
    principal: Option<&Principal>,
    referral: &entity::referral::Model,
    visibility: NoteVisibility,
    body: &str,
    assignment_id: Option<i64>,
    now: DateTime<Utc>,
) -> AppResult<note::Model> {
    let body = required_prose("body", body, 10_000)?;
    Ok(note::ActiveModel {
        referral_id: Set(referral.id),
        vendor_org_id: Set(referral.vendor_org_id),
        author_user_id: Set(principal.map(|p| p.user_id)),
        author_org_id: Set(principal.and_then(|p| p.org_id)),
        author_role: Set(principal.map(|p| p.role)),
        visibility: Set(visibility),
        body: Set(body),
        created_at: Set(now),
        assignment_id: Set(assignment_id),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// `addNote`: VENDOR, PARTNER (on its own referrals) and ADMIN may write.
pub async fn add(
    ctx: &Ctx,
    principal: &Principal,
    referral_id: i64,
    body: &str,
    visibility: NoteVisibility,
) -> AppResult<note::Model> {
    let tx = ctx.db.begin().await?;
    let note = add_in(&tx, principal, referral_id, body, visibility, ctx.now()).await?;
    tx.commit().await?;
    Ok(note)
}

/// `addNote` inside a caller's transaction.
pub async fn add_in(
    tx: &DatabaseTransaction,
    principal: &Principal,
    referral_id: i64,
    body: &str,
    visibility: NoteVisibility,
    now: DateTime<Utc>,
) -> AppResult<note::Model> {
    let referral = referral::Entity::find_by_id(referral_id)
        .filter(referrals::scope(principal))
        .one(tx)
        .await?
        .ok_or_else(|| AppError::not_found("referral"))?;
    principal.require(&[Role::Vendor, Role::Partner, Role::Admin])?;
    let note = write(tx, Some(principal), &referral, visibility, body, now).await?;
    if visibility == NoteVisibility::Shared {
        let message = format!("A note was added to referral {}", referral.reference_id);
        referrals::notify(tx, Some(principal), &referral, EventKind::NoteAdded, &message, Some(&note.body), now)
            .await?;
    }
    Ok(note)
}

/// Notes the caller may read: SHARED ones, and INTERNAL ones of its own
/// organization (ADMIN reads all).
fn readable(principal: &Principal) -> Condition {
    if principal.is_admin() {
        return Condition::all();
    }
    Condition::any()
        .add(note::Column::Visibility.eq(NoteVisibility::Shared))
        .add(note::Column::AuthorOrgId.eq(principal.org_id))
}

/// The offers of an assigned referral whose events the caller sees: all
/// for the vendor, its own organization's for a partner.
async fn visible_offers(ctx: &Ctx, principal: &Principal, r: &referral::Model) -> AppResult<Vec<i64>> {
    use entity::referral_assignment::{Column as C, Entity};
    if r.direction != entity::Direction::Assigned {
        return Ok(Vec::new());
    }
    let mut q = Entity::find().filter(C::ReferralId.eq(r.id));
    if principal.is_partner_side() {
        q = q.filter(C::PartnerOrgId.eq(principal.org_id));
    }
    Ok(q.all(&ctx.db).await?.into_iter().map(|o| o.id).collect())
}

/// One entry of a referral's timeline.
#[derive(Debug, Clone)]
pub enum TimelineItem {
    Note(note::Model),
    Change(status_change::Model),
}

impl TimelineItem {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::Note(n) => n.created_at,
            Self::Change(c) => c.occurred_at,
        }
    }
}

pub async fn timeline(ctx: &Ctx, principal: &Principal, referral_id: i64) -> AppResult<Vec<TimelineItem>> {
    let referral = referrals::get(ctx, principal, referral_id).await?;
    let offers = visible_offers(ctx, principal, &referral).await?;
    let mut notes = note::Entity::find().filter(note::Column::ReferralId.eq(referral.id)).filter(readable(principal));
    if principal.is_partner_side() {
        // A holder sees the notes of its own offers and those written while
        // no offer was in force, never another holder's (PRODUCT.md §7).
        notes = notes.filter(
            Condition::any()
                .add(note::Column::AssignmentId.is_null())
                .add(note::Column::AssignmentId.is_in(offers.clone())),
        );
    }
    let notes = notes.order_by_asc(note::Column::Id).all(&ctx.db).await?;
    let mut changes = audit::history(&ctx.db, Subject::Referral, referral.id).await?;
    for offer in offers {
        changes.extend(audit::history(&ctx.db, Subject::Assignment, offer).await?);
    }
    let mut items: Vec<TimelineItem> =
        notes.into_iter().map(TimelineItem::Note).chain(changes.into_iter().map(TimelineItem::Change)).collect();
    // Oldest first; at the same instant a change comes before the note that
    // was written with it.
    items.sort_by_key(|i| (i.at(), matches!(i, TimelineItem::Note(_))));
    Ok(items)
}
