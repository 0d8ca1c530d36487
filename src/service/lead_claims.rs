//! Lead conflicts (PRODUCT.md §4): each referral's identity keys, who
//! holds priority for each (the claim), and the conflict a vendor sees.
//!
//! A claim is a row per (vendor, key kind, key value) whose primary key
//! decides a race: two partners submitting one customer at the same instant
//! both try to insert it, and exactly one holds it. A claim lasts the
//! holder's program's `leadProtectionDays`. When the next referral with the
//! key arrives after that, the claim goes, in the one upsert, to the next
//! live referral that added the key after the holder did (one flagged
//! earlier, or the newcomer). When the holder is DENIED, the next live
//! referral with the key (the earliest to have added it) takes the claim
//! over in one statement, and conflicts that pointed at the denied referral
//! follow the claim. Everything here runs in the caller's transaction.

use chrono::{DateTime, Duration, Utc};
use entity::lead_identity::{self, Identity, LeadKey};
use entity::{
    ChangeSource, Direction, InvalidReason, LeadKeyKind, ReferralOutcome, ReferralStatus, lead_conflict, partner,
    program, referral, user,
};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
    TransactionTrait, Value,
};

use super::audit::{self, Actor};
use super::outcomes::OutcomeRequest;
use crate::auth::Principal;

use crate::db::{Bulk, stmt};
use crate::domain::lead_conflict::{Holder, Submission, Verdict, judge};
use crate::error::{AppError, AppResult};

/// The reason given with a refusal under `duplicatePolicy: REFUSE`.
pub const DUPLICATE_LEAD: &str = "DUPLICATE_LEAD";

/// The note the partner reads when its lead is denied as a duplicate: it
/// never names who holds priority.
pub const DUPLICATE_NOTE: &str = "another partner has priority for this customer";

/// The keys of a referral, normalized with its program's phone region.
pub fn keys_of(r: &referral::Model, program: &program::Model) -> Vec<LeadKey> {
    lead_identity::keys(Identity {
        email: r.lead_email.as_deref(),
        phone: r.lead_phone.as_deref(),
        external_id: r.external_id.as_deref(),
        tenant_id: r.tenant_id.as_deref(),
        phone_region: program.phone_region.as_deref(),
    })
}

/// A claim's row, its PostgreSQL types for `db::Bulk`; a key's row is
/// the first five (`added_at` in the claim's place).
const CLAIM_COLUMNS: [(&str, &str); 6] = [
    ("vendor_org_id", "bigint"),
    ("kind", "text"),
    ("value", "text"),
    ("referral_id", "bigint"),
    ("claimed_at", "timestamptz"),
    ("expires_at", "timestamptz"),
];

/// When a claim made `now` under `program` runs out.
fn expiry(program: &program::Model, now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::days(i64::from(program.lead_protection_days.max(0)))
}

/// `(c.kind = $n AND c.value = $n+1) OR …` for the keys, from parameter
/// `first` on, with their values.
fn key_match(alias: &str, keys: &[LeadKey], first: usize) -> (String, Vec<Value>) {
    let mut values = Vec::with_capacity(keys.len() * 2);
    let sql = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            values.push(k.kind.to_value().into());
            values.push(k.value.clone().into());
            let n = first + 2 * i;
            format!("({alias}.kind = ${n} AND {alias}.value = ${})", n + 1)
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    (sql, values)
}

/// Records the referral's keys as of `now` and claims each one not held
/// (or whose claim has run out). Keys it already had keep their time.
async fn add_keys(
    db: &impl ConnectionTrait,
    r: &referral::Model,
    program: &program::Model,
    keys: &[LeadKey],
    now: DateTime<Utc>,
) -> AppResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let until = expiry(program, now);
    let rows = |width: usize| -> Vec<Vec<Value>> {
        keys.iter()
            .map(|k| {
                let row: [Value; 6] = [
                    r.vendor_org_id.into(),
                    k.kind.to_value().into(),
                    k.value.clone().into(),
                    r.id.into(),
                    now.into(),
                    until.into(),
                ];
                row[..width].to_vec()
            })
            .collect()
    };
    // A referral has a handful of keys: one statement each way.
    let added = Bulk::new(backend, &CLAIM_COLUMNS[..5], rows(5));
    let key_sql = format!(
        "INSERT INTO lead_key (vendor_org_id, kind, value, referral_id, added_at) {}
         ON CONFLICT (referral_id, kind, value) DO NOTHING",
        added.sql
    );
    db.execute_raw(stmt(backend, &key_sql, added.values)).await?;
    // Claims of these keys that ran out, and who held them.
    let (matches, mut match_values) = key_match("c", keys, 3);
    let expired = format!(
        "SELECT c.referral_id, c.kind, c.value FROM lead_claim c
         WHERE c.vendor_org_id = $1 AND c.expires_at <= $2 AND ({matches})"
    );
    let mut params: Vec<Value> = vec![r.vendor_org_id.into(), now.into()];
    params.append(&mut match_values);
    let expired = db.query_all_raw(stmt(backend, &expired, params)).await?;
    // A free key is claimed; a claim that ran out goes to the next live
    // referral that added the key after its holder did (this one, or one
    // flagged against the old holder before).
    let claims = Bulk::new(backend, &CLAIM_COLUMNS, rows(6));
    let claim = format!(
        "INSERT INTO lead_claim (vendor_org_id, kind, value, referral_id, claimed_at, expires_at) {}
         ON CONFLICT (vendor_org_id, kind, value) DO UPDATE
         SET referral_id = COALESCE((
                 SELECT k.referral_id FROM lead_key k JOIN referral n ON n.id = k.referral_id
                 JOIN lead_key h ON h.referral_id = lead_claim.referral_id AND h.kind = lead_claim.kind
                                AND h.value = lead_claim.value
                 WHERE k.vendor_org_id = lead_claim.vendor_org_id AND k.kind = lead_claim.kind
                   AND k.value = lead_claim.value AND (n.status IS NULL OR n.status <> 'DENIED')
                   AND (k.added_at > h.added_at OR (k.added_at = h.added_at AND k.referral_id > h.referral_id))
                 ORDER BY k.added_at, k.referral_id LIMIT 1), excluded.referral_id),
             claimed_at = excluded.claimed_at, expires_at = excluded.expires_at
         WHERE lead_claim.expires_at <= excluded.claimed_at",
        claims.sql
    );
    db.execute_raw(stmt(backend, &claim, claims.values)).await?;
    // Conflicts with the old holders on those keys follow the claim.
    for row in expired {
        let (holder, kind, value): (i64, String, String) =
            (row.try_get("", "referral_id")?, row.try_get("", "kind")?, row.try_get("", "value")?);
        let filter = "holder_referral_id = $1 AND kind = $4 AND key_value = $5";
        let why = "the priority of the referral it conflicted with ran out";
        follow(db, filter, vec![holder.into(), now.into(), why.into(), kind.into(), value.into()]).await?;
    }
    Ok(())
}

/// Open conflicts matching `filter` (over `$1`, `$4`…) follow their key's
/// claim to its holder now, and end (`$2` the time, `$3` the reason) when
/// their own referral holds it or no one does.
async fn follow(db: &impl ConnectionTrait, filter: &str, values: Vec<Value>) -> AppResult<()> {
    let holder = "SELECT c.referral_id FROM lead_claim c WHERE c.vendor_org_id = lead_conflict.vendor_org_id
        AND c.kind = lead_conflict.kind AND c.value = lead_conflict.key_value";
    let sql = format!(
        "UPDATE lead_conflict SET holder_referral_id = ({holder}), claimed_at = $2,
             cleared_at = CASE WHEN COALESCE(({holder}), referral_id) = referral_id THEN $2 END,
             clear_reason = CASE WHEN COALESCE(({holder}), referral_id) = referral_id THEN $3 END
         WHERE {filter} AND cleared_at IS NULL"
    );
    db.execute_raw(stmt(db.get_database_backend(), &sql, values)).await?;
    Ok(())
}

/// One claim held by another referral on one of the keys.
struct Claimed {
    holder: Holder,
    referral_id: i64,
    value: String,
    claimed_at: DateTime<Utc>,
}

/// The claims on `keys` held by referrals other than `r`.
async fn held_by_others(db: &impl ConnectionTrait, r: &referral::Model, keys: &[LeadKey]) -> AppResult<Vec<Claimed>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (matches, mut values) = key_match("c", keys, 3);
    let sql = format!(
        "SELECT c.kind, c.value, c.referral_id, c.claimed_at, h.partner_id, h.direction
         FROM lead_claim c JOIN referral h ON h.id = c.referral_id
         WHERE c.vendor_org_id = $1 AND c.referral_id <> $2 AND ({matches})"
    );
    let mut params: Vec<Value> = vec![r.vendor_org_id.into(), r.id.into()];
    params.append(&mut values);
    let rows = db.query_all_raw(stmt(db.get_database_backend(), &sql, params)).await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("", "kind")?;
            let direction: String = row.try_get("", "direction")?;
            let partner_id: Option<i64> = row.try_get("", "partner_id")?;
            let assigned = Direction::try_from_value(&direction).ok() == Some(Direction::Assigned);
            Ok(Claimed {
                holder: Holder {
                    kind: LeadKeyKind::try_from_value(&kind).map_err(|e| AppError::Internal(e.to_string()))?,
                    // An assigned customer is the vendor's, whoever is offered it.
                    partner_id: if assigned { None } else { partner_id },
                },
                referral_id: row.try_get("", "referral_id")?,
                value: row.try_get("", "value")?,
                claimed_at: row.try_get("", "claimed_at")?,
            })
        })
        .collect()
}

/// Claims a new (or edited) referral's keys and records its conflict, if
/// any. Under `duplicatePolicy: REFUSE` a refusable conflict is CONFLICT
/// with `extensions.reason: DUPLICATE_LEAD`, and the caller's transaction
/// (with the referral) is rolled back. A lead that is the submitting
/// partner organization itself is flagged as a self-referral.
/// `contacts` are an assigned referral's contacts (e-mail, phone): their
/// keys are the referral's too.
pub async fn claim(
    db: &impl ConnectionTrait,
    r: &referral::Model,
    program: &program::Model,
    contacts: &[(Option<&str>, Option<&str>)],
    now: DateTime<Utc>,
) -> AppResult<Option<lead_conflict::Model>> {
    let mut keys = keys_of(r, program);
    for (email, phone) in contacts {
        let region = program.phone_region.as_deref();
        keys.extend(lead_identity::keys(Identity {
            email: *email,
            phone: *phone,
            phone_region: region,
            ..Default::default()
        }));
    }
    keys.sort();
    keys.dedup();
    add_keys(db, r, program, &keys, now).await?;
    let claims = held_by_others(db, r, &keys).await?;
    let holders: Vec<Holder> = claims.iter().map(|c| c.holder).collect();
    let submission = Submission { partner_id: r.partner_id, policy: program.duplicate_policy };
    let found = match judge(submission, &holders) {
        Some(Verdict::Refuse(_)) => {
            return Err(AppError::ConflictBecause {
                reason: DUPLICATE_LEAD,
                message: "this customer was already referred: another referral has priority for it".into(),
            });
        }
        Some(Verdict::Flag(i)) => {
            let c = &claims[i];
            Some((Some(c.referral_id), c.holder.kind, c.value.clone(), Some(c.claimed_at)))
        }
        None => self_referral(db, r, &keys).await?.map(|value| (None, LeadKeyKind::SelfReferral, value, None)),
    };
    let Some((holder, kind, value, claimed_at)) = found else { return Ok(None) };
    let conflict = lead_conflict::ActiveModel {
        referral_id: Set(r.id),
        vendor_org_id: Set(r.vendor_org_id),
        holder_referral_id: Set(holder),
        kind: Set(kind),
        key_value: Set(value),
        claimed_at: Set(claimed_at),
        found_at: Set(now),
        cleared_at: Set(None),
        cleared_by: Set(None),
        clear_reason: Set(None),
    };
    lead_conflict::Entity::delete_by_id(r.id).exec(db).await?;
    Ok(Some(conflict.insert(db).await?))
}

/// The key by which a partner's lead is the partner organization itself:
/// the e-mail of one of its users or of the partner's contact, or their
/// company domain.
async fn self_referral(db: &impl ConnectionTrait, r: &referral::Model, keys: &[LeadKey]) -> AppResult<Option<String>> {
    let Some(partner_id) = r.partner_id else { return Ok(None) };
    let Some(p) = partner::Entity::find_by_id(partner_id).one(db).await? else { return Ok(None) };
    let mut own: Vec<String> = p.contact_email.into_iter().collect();
    if let Some(org) = p.partner_org_id {
        let emails: Vec<Option<String>> = user::Entity::find()
            .select_only()
            .column(user::Column::Email)
            .filter(user::Column::OrganizationId.eq(org))
            .limit(1_000)
            .into_tuple()
            .all(db)
            .await?;
        own.extend(emails.into_iter().flatten());
    }
    let own_keys: Vec<LeadKey> =
        own.iter().flat_map(|e| lead_identity::keys(Identity { email: Some(e), ..Identity::default() })).collect();
    Ok(keys
        .iter()
        .filter(|k| matches!(k.kind, LeadKeyKind::Email | LeadKeyKind::Domain))
        .find(|k| own_keys.contains(k))
        .map(|k| k.value.clone()))
}

/// After a status change: a DENIED referral gives up its claims.
pub async fn on_status_change(
    db: &impl ConnectionTrait,
    r: &referral::Model,
    program: &program::Model,
    to: ReferralStatus,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if to != ReferralStatus::Denied {
        return Ok(());
    }
    pass_on(db, "SELECT CAST($1 AS BIGINT)", r.id.into(), program, now).await
}

/// The referrals of `denied` (a subquery over parameter `$1`, whose rows
/// are now DENIED, all of `program`) give up their claims, set-based:
/// each claim goes to the next live referral with the key (the earliest to
/// have added it) in one statement, or ends; conflicts that pointed at them
/// follow the claim, ending when their own referral holds it now (or no one
/// does); their own conflicts close. The API's moves call it for one
/// referral, the CSV import for a batch's denials per program.
pub async fn pass_on(
    db: &impl ConnectionTrait,
    denied: &str,
    param: Value,
    program: &program::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let backend = db.get_database_backend();
    let next = "SELECT k.referral_id FROM lead_key k JOIN referral n ON n.id = k.referral_id
        WHERE k.vendor_org_id = lead_claim.vendor_org_id AND k.kind = lead_claim.kind AND k.value = lead_claim.value
          AND (n.status IS NULL OR n.status <> 'DENIED')
        ORDER BY k.added_at, k.referral_id LIMIT 1";
    let take_over = format!(
        "UPDATE lead_claim SET referral_id = ({next}), claimed_at = $2, expires_at = $3
         WHERE referral_id IN ({denied}) AND EXISTS ({next})"
    );
    let values = vec![param.clone(), now.into(), expiry(program, now).into()];
    db.execute_raw(stmt(backend, &take_over, values)).await?;
    let gone = format!("DELETE FROM lead_claim WHERE referral_id IN ({denied})");
    db.execute_raw(stmt(backend, &gone, vec![param.clone()])).await?;
    let why = "the referral with priority was denied";
    follow(db, &format!("holder_referral_id IN ({denied})"), vec![param.clone(), now.into(), why.into()]).await?;
    let own = format!(
        "UPDATE lead_conflict SET cleared_at = $2, clear_reason = $3 WHERE referral_id IN ({denied}) AND cleared_at IS NULL"
    );
    db.execute_raw(stmt(backend, &own, vec![param, now.into(), "denied".into()])).await?;
    Ok(())
}

/// Clears an open conflict the vendor judges wrong (`clearConflict`).
pub async fn clear(
    db: &impl ConnectionTrait,
    referral_id: i64,
    user_id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> AppResult<lead_conflict::Model> {
    let open = lead_conflict::Entity::find_by_id(referral_id)
        .filter(lead_conflict::Column::ClearedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("open conflict"))?;
    let mut m: lead_conflict::ActiveModel = open.into();
    m.cleared_at = Set(Some(now));
    m.cleared_by = Set(Some(user_id));
    m.clear_reason = Set(Some(reason.to_owned()));
    Ok(m.update(db).await?)
}

/// `id IN (…)` of the vendor's referrals with an open conflict, for the
/// `hasConflict` filter.
pub fn open_conflicts() -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .column(lead_conflict::Column::ReferralId)
        .from(lead_conflict::Entity)
        .and_where(lead_conflict::Column::ClearedAt.is_null())
        .to_owned()
}

/// `denyAsDuplicate`: the vendor reports the referral NO_SALE, invalid as
/// DUPLICATE, which denies it (voiding an unbilled reward) with a SHARED
/// note that names no one.
pub async fn deny_as_duplicate(
    ctx: &crate::context::Ctx,
    principal: &Principal,
    id: i64,
) -> AppResult<referral::Model> {
    let mut req = OutcomeRequest::new(ReferralOutcome::NoSale);
    req.invalid_reason = Some(InvalidReason::Duplicate);
    req.note = Some(DUPLICATE_NOTE.to_owned());
    super::outcomes::report(ctx, principal, id, req).await
}

/// `clearConflict`: the vendor judges a conflict wrong; the referral's
/// money is no longer held back. Audited with the reason.
pub async fn clear_conflict(
    ctx: &crate::context::Ctx,
    principal: &Principal,
    id: i64,
    reason: &str,
) -> AppResult<lead_conflict::Model> {
    let reason = super::required_text("reason", reason, 1_000)?;
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let current = super::referrals::lock(&tx, principal, id, None).await?;
    super::referrals::require_vendor_staff(principal)?;
    let cleared = clear(&tx, current.id, principal.user_id, &reason, now).await?;
    let change = super::referrals::status_change(
        &current,
        "CONFLICT",
        "CLEAR_CONFLICT",
        Some("OPEN"),
        Some("CLEARED"),
        Some(reason),
    );
    audit::record(&tx, change, Actor::person(principal, ChangeSource::Manual), now).await?;
    tx.commit().await?;
    Ok(cleared)
}
