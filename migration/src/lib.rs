//! Database migrations, applied in-process by `referral-hub migrate` and at
//! start-up. One module per change; a landed migration is never edited.

pub use sea_orm_migration::prelude::*;

/// Runs `sql` on PostgreSQL only: a change SQLite has no counterpart for.
pub(crate) async fn on_postgres(m: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    if m.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres {
        m.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}

mod m20261122_000001_foundation;
mod m20261122_000002_referrals;
mod m20261122_000003_delivery;
mod m20261122_000004_imports;
mod m20261122_000005_idempotency;
mod m20261122_000006_hot_updates;
mod m20261122_000007_outcomes;
mod m20261123_000008_import_staging;
mod m20261123_000009_billing;
mod m20261123_000010_rankings;
mod m20261201_000011_event_subjects;
mod m20261201_000012_assigned_referrals;
mod m20261201_000013_list_indexes;
mod m20261201_000014_lead_conflicts;
mod m20261201_000015_event_positions;
mod m20261202_000016_intake_policy;
mod m20261203_000017_unlogged_import_rows;
mod m20261203_000018_audit_job_key;
mod m20261203_000019_analyze_tenants_sooner;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_foundation::Migration),
            Box::new(m20261122_000002_referrals::Migration),
            Box::new(m20261122_000003_delivery::Migration),
            Box::new(m20261122_000004_imports::Migration),
            Box::new(m20261122_000005_idempotency::Migration),
            Box::new(m20261122_000006_hot_updates::Migration),
            Box::new(m20261122_000007_outcomes::Migration),
            Box::new(m20261123_000008_import_staging::Migration),
            Box::new(m20261123_000009_billing::Migration),
            Box::new(m20261123_000010_rankings::Migration),
            Box::new(m20261201_000011_event_subjects::Migration),
            Box::new(m20261201_000012_assigned_referrals::Migration),
            Box::new(m20261201_000013_list_indexes::Migration),
            Box::new(m20261201_000014_lead_conflicts::Migration),
            Box::new(m20261201_000015_event_positions::Migration),
            Box::new(m20261202_000016_intake_policy::Migration),
            Box::new(m20261203_000017_unlogged_import_rows::Migration),
            Box::new(m20261203_000018_audit_job_key::Migration),
            Box::new(m20261203_000019_analyze_tenants_sooner::Migration),
        ]
    }
}
