//! Lead conflicts (PRODUCT.md §4): one customer, one partner with priority.
//!
//! - `program` gains `lead_protection_days` (90), `duplicate_policy`
//!   (FLAG) and `phone_region`.
//! - `lead_key`: a referral's normalized identity keys (e-mail, company
//!   domain, phone in E.164, external id, tenant id), with when each was
//!   added; `(vendor, kind, value)` finds the referrals sharing one.
//! - `lead_claim`: who holds priority for a key, one row per (vendor,
//!   kind, value), so the primary key decides a race between two partners.
//! - `lead_conflict`: a referral's conflict with the holder, for the vendor.
//!
//! Existing referrals are backfilled: their keys (normalized by
//! `entity::lead_identity`, the code the server uses), and each key's claim
//! for its first live referral, from when that referral was created. Past
//! duplicates are not turned into conflicts: vendors already decided them.

use entity::lead_identity::{self, Identity};
use sea_orm_migration::sea_orm::prelude::ChronoDateTimeUtc;
use sea_orm_migration::sea_orm::{ActiveEnum, ConnectionTrait, DbBackend, Statement, TryGetable, Value};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Program {
    Table,
    LeadProtectionDays,
    DuplicatePolicy,
    PhoneRegion,
}

#[derive(DeriveIden)]
enum LeadKey {
    Table,
    ReferralId,
    VendorOrgId,
    Kind,
    Value,
    AddedAt,
}

#[derive(DeriveIden)]
enum LeadClaim {
    Table,
    VendorOrgId,
    Kind,
    Value,
    ReferralId,
    ClaimedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum LeadConflict {
    Table,
    ReferralId,
    VendorOrgId,
    HolderReferralId,
    Kind,
    KeyValue,
    ClaimedAt,
    FoundAt,
    ClearedAt,
    ClearedBy,
    ClearReason,
}

/// Referrals read per backfill batch.
const BATCH: i64 = 10_000;
/// Keys per INSERT (5 bind values each, under SQLite's 32,766).
const KEYS_PER_INSERT: usize = 1_000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            integer(Program::LeadProtectionDays).default(90).to_owned(),
            string_len(Program::DuplicatePolicy, 16).default("FLAG").to_owned(),
            string_len_null(Program::PhoneRegion, 2).to_owned(),
        ] {
            m.alter_table(Table::alter().table(Program::Table).add_column(column).to_owned()).await?;
        }
        m.create_table(
            Table::create()
                .table(LeadKey::Table)
                .col(big_integer(LeadKey::ReferralId))
                .col(big_integer(LeadKey::VendorOrgId))
                .col(string_len(LeadKey::Kind, 16))
                .col(string_len(LeadKey::Value, 320))
                .col(timestamp_with_time_zone(LeadKey::AddedAt))
                .primary_key(Index::create().col(LeadKey::ReferralId).col(LeadKey::Kind).col(LeadKey::Value))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_lead_key_value")
                .table(LeadKey::Table)
                .col(LeadKey::VendorOrgId)
                .col(LeadKey::Kind)
                .col(LeadKey::Value)
                .col(LeadKey::AddedAt)
                .col(LeadKey::ReferralId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LeadClaim::Table)
                .col(big_integer(LeadClaim::VendorOrgId))
                .col(string_len(LeadClaim::Kind, 16))
                .col(string_len(LeadClaim::Value, 320))
                .col(big_integer(LeadClaim::ReferralId))
                .col(timestamp_with_time_zone(LeadClaim::ClaimedAt))
                .col(timestamp_with_time_zone(LeadClaim::ExpiresAt))
                .primary_key(Index::create().col(LeadClaim::VendorOrgId).col(LeadClaim::Kind).col(LeadClaim::Value))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_lead_claim_holder").table(LeadClaim::Table).col(LeadClaim::ReferralId).to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LeadConflict::Table)
                .col(big_integer(LeadConflict::ReferralId).primary_key())
                .col(big_integer(LeadConflict::VendorOrgId))
                .col(big_integer_null(LeadConflict::HolderReferralId))
                .col(string_len(LeadConflict::Kind, 16))
                .col(string_len(LeadConflict::KeyValue, 320))
                .col(timestamp_with_time_zone_null(LeadConflict::ClaimedAt))
                .col(timestamp_with_time_zone(LeadConflict::FoundAt))
                .col(timestamp_with_time_zone_null(LeadConflict::ClearedAt))
                .col(big_integer_null(LeadConflict::ClearedBy))
                .col(text_null(LeadConflict::ClearReason))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_lead_conflict_holder")
                .table(LeadConflict::Table)
                .col(LeadConflict::HolderReferralId)
                .to_owned(),
        )
        .await?;
        backfill(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["lead_conflict", "lead_claim", "lead_key"] {
            m.drop_table(Table::drop().table(Alias::new(table)).to_owned()).await?;
        }
        for column in [Program::LeadProtectionDays, Program::DuplicatePolicy, Program::PhoneRegion] {
            m.alter_table(Table::alter().table(Program::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

fn get<T: TryGetable>(row: &sea_orm_migration::sea_orm::QueryResult, column: &str) -> Result<T, DbErr> {
    row.try_get("", column)
}

/// Keys of every existing referral (and of assigned referrals' contacts),
/// then each key's claim for its first live referral.
async fn backfill(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = m.get_connection();
    let backend = db.get_database_backend();
    let param = |n: usize| if backend == DbBackend::Sqlite { "?".to_owned() } else { format!("${n}") };
    let mut last = 0i64;
    loop {
        let sql = format!(
            "SELECT r.id, r.vendor_org_id, r.lead_email, r.lead_phone, r.external_id, r.tenant_id, r.created_at
             FROM referral r WHERE r.id > {} ORDER BY r.id LIMIT {BATCH}",
            param(1)
        );
        let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, [last.into()])).await?;
        let Some(end) = rows.last() else { break };
        last = get(end, "id")?;
        let mut values: Vec<Value> = Vec::new();
        for row in &rows {
            let (email, phone, external, tenant): (Option<String>, Option<String>, Option<String>, Option<String>) =
                (get(row, "lead_email")?, get(row, "lead_phone")?, get(row, "external_id")?, get(row, "tenant_id")?);
            let identity = Identity {
                email: email.as_deref(),
                phone: phone.as_deref(),
                external_id: external.as_deref(),
                tenant_id: tenant.as_deref(),
                phone_region: None,
            };
            let (id, vendor): (i64, i64) = (get(row, "id")?, get(row, "vendor_org_id")?);
            let created: ChronoDateTimeUtc = get(row, "created_at")?;
            for key in lead_identity::keys(identity) {
                values.extend([id.into(), vendor.into(), kind_name(key.kind).into(), key.value.into(), created.into()]);
            }
        }
        insert_keys(db, backend, values).await?;
    }
    let contacts = "INSERT INTO lead_key (referral_id, vendor_org_id, kind, value, added_at)
        SELECT DISTINCT c.referral_id, r.vendor_org_id, 'EMAIL', LOWER(TRIM(c.email)), r.created_at
        FROM referral_contact c JOIN referral r ON r.id = c.referral_id
        WHERE c.email IS NOT NULL AND TRIM(c.email) <> ''
          AND NOT EXISTS (SELECT 1 FROM lead_key k WHERE k.referral_id = c.referral_id
                          AND k.kind = 'EMAIL' AND k.value = LOWER(TRIM(c.email)))";
    db.execute_unprepared(contacts).await?;
    let expires = match backend {
        DbBackend::Postgres => "k.added_at + make_interval(days => p.lead_protection_days)",
        _ => "strftime('%Y-%m-%dT%H:%M:%f+00:00', k.added_at, '+' || p.lead_protection_days || ' days')",
    };
    // One aggregate over the keys, not a subquery per key: a key shared by
    // a vendor's 100,000 referrals (one company domain) would be read once
    // per referral.
    let claims = format!(
        "INSERT INTO lead_claim (vendor_org_id, kind, value, referral_id, claimed_at, expires_at)
         SELECT k.vendor_org_id, k.kind, k.value, k.referral_id, k.added_at, {expires}
         FROM (SELECT k2.vendor_org_id, k2.kind, k2.value, MIN(k2.referral_id) AS holder
               FROM lead_key k2 JOIN referral r2 ON r2.id = k2.referral_id
               WHERE r2.status IS NULL OR r2.status <> 'DENIED'
               GROUP BY k2.vendor_org_id, k2.kind, k2.value) h
         JOIN lead_key k ON k.referral_id = h.holder AND k.kind = h.kind AND k.value = h.value
         JOIN referral r ON r.id = k.referral_id JOIN program p ON p.id = r.program_id"
    );
    db.execute_unprepared(&claims).await?;
    Ok(())
}

async fn insert_keys(db: &impl ConnectionTrait, backend: DbBackend, values: Vec<Value>) -> Result<(), DbErr> {
    for chunk in values.chunks(KEYS_PER_INSERT * 5) {
        let rows = chunk.len() / 5;
        let placeholders: Vec<String> = (0..rows)
            .map(|i| match backend {
                DbBackend::Sqlite => "(?, ?, ?, ?, ?)".to_owned(),
                _ => {
                    let n = i * 5;
                    format!("(${}, ${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4, n + 5)
                }
            })
            .collect();
        let sql = format!(
            "INSERT INTO lead_key (referral_id, vendor_org_id, kind, value, added_at) VALUES {}",
            placeholders.join(", ")
        );
        db.execute_raw(Statement::from_sql_and_values(backend, sql, chunk.to_vec())).await?;
    }
    Ok(())
}

fn kind_name(kind: entity::LeadKeyKind) -> String {
    kind.to_value()
}
