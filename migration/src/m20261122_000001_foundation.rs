//! The foundation: organizations, users, programs, partners with their contact
//! log and tasks, the audit trail, job runs and the notification outbox.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organization {
    Table,
    Id,
    Name,
    Kind,
    IntakeSuspended,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AppUser {
    Table,
    Id,
    OrganizationId,
    Subject,
    Role,
    Name,
    Email,
    CreatedAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum Program {
    Table,
    Id,
    VendorOrgId,
    Name,
    Currency,
    LapseAfterDays,
    AcceptanceWindowDays,
    ReportBackDays,
    RewardModel,
    RewardAmountMinor,
    RewardBasisPoints,
    RewardTrigger,
    HoldDays,
    MinimumPayoutMinor,
    Stages,
    DefaultStageEditor,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
#[allow(clippy::enum_variant_names)]
enum Partner {
    Table,
    Id,
    ProgramId,
    VendorOrgId,
    PartnerOrgId,
    Name,
    ContactName,
    ContactEmail,
    Status,
    StatusBeforeArchive,
    ArchiveReason,
    StageEditor,
    InviteCode,
    ReferralCode,
    TermsSentAt,
    TermsSignedAt,
    FirstLeadAt,
    LastLeadAt,
    LapsesAt,
    LastContactedAt,
    EndedAt,
    ArchivedAt,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PartnerContact {
    Table,
    Id,
    PartnerId,
    VendorOrgId,
    UserId,
    ContactedAt,
    Channel,
    Summary,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Task {
    Table,
    Id,
    PartnerId,
    VendorOrgId,
    OwnerUserId,
    Title,
    DueAt,
    CompletedAt,
    RemindedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum StatusChange {
    Table,
    Id,
    VendorOrgId,
    Subject,
    SubjectId,
    Field,
    Event,
    FromValue,
    ToValue,
    ActorUserId,
    ActorRole,
    Source,
    Reason,
    JobRunId,
    ImportBatchId,
    OccurredAt,
}

#[derive(DeriveIden)]
enum JobRun {
    Table,
    Id,
    Job,
    Slot,
    Trigger,
    AsOf,
    RequestedBy,
    StartedAt,
    FinishedAt,
    ItemsTouched,
    Error,
}

#[derive(DeriveIden)]
enum Notification {
    Table,
    Id,
    RecipientOrgId,
    RecipientUserId,
    RecipientEmail,
    Kind,
    Subject,
    SubjectId,
    Message,
    Payload,
    JobRunId,
    CreatedAt,
    ReadAt,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create().name(name).from(from.0, from.1).to(to.0, to.1).take()
}

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create().name(name).table(table).take();
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    stmt
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Organization::Table)
                .col(big_pk_auto(Organization::Id))
                .col(string_len(Organization::Name, 200))
                .col(string_len(Organization::Kind, 16))
                .col(boolean(Organization::IntakeSuspended).default(false))
                .col(timestamp_with_time_zone(Organization::CreatedAt))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AppUser::Table)
                .col(big_pk_auto(AppUser::Id))
                .col(big_integer_null(AppUser::OrganizationId))
                .col(string_len(AppUser::Subject, 255))
                .col(string_len(AppUser::Role, 32))
                .col(string_len_null(AppUser::Name, 200))
                .col(string_len_null(AppUser::Email, 320))
                .col(timestamp_with_time_zone(AppUser::CreatedAt))
                .col(timestamp_with_time_zone(AppUser::LastSeenAt))
                .foreign_key(&mut fk(
                    "fk_user_org",
                    (AppUser::Table, AppUser::OrganizationId),
                    (Organization::Table, Organization::Id),
                ))
                .take(),
        )
        .await?;
        // One user per subject and organization; ADMINs without an
        // organization are unique by subject through the application.
        m.create_index(index("ux_user_org_subject", AppUser::Table, &["organization_id", "subject"]).unique().take())
            .await?;

        m.create_table(
            Table::create()
                .table(Program::Table)
                .col(big_pk_auto(Program::Id))
                .col(big_integer(Program::VendorOrgId))
                .col(string_len(Program::Name, 200))
                .col(string_len(Program::Currency, 3))
                .col(integer(Program::LapseAfterDays))
                .col(integer(Program::AcceptanceWindowDays))
                .col(integer(Program::ReportBackDays))
                .col(string_len(Program::RewardModel, 16))
                .col(big_integer(Program::RewardAmountMinor))
                .col(integer(Program::RewardBasisPoints))
                .col(string_len(Program::RewardTrigger, 16))
                .col(integer(Program::HoldDays))
                .col(big_integer(Program::MinimumPayoutMinor))
                .col(json(Program::Stages))
                .col(string_len(Program::DefaultStageEditor, 16))
                .col(timestamp_with_time_zone(Program::CreatedAt))
                .col(timestamp_with_time_zone(Program::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_program_vendor",
                    (Program::Table, Program::VendorOrgId),
                    (Organization::Table, Organization::Id),
                ))
                .take(),
        )
        .await?;
        m.create_index(index("ix_program_vendor", Program::Table, &["vendor_org_id"])).await?;

        m.create_table(
            Table::create()
                .table(Partner::Table)
                .col(big_pk_auto(Partner::Id))
                .col(big_integer(Partner::ProgramId))
                .col(big_integer(Partner::VendorOrgId))
                .col(big_integer_null(Partner::PartnerOrgId))
                .col(string_len(Partner::Name, 200))
                .col(string_len_null(Partner::ContactName, 200))
                .col(string_len_null(Partner::ContactEmail, 320))
                .col(string_len(Partner::Status, 24))
                .col(string_len_null(Partner::StatusBeforeArchive, 24))
                .col(string_len_null(Partner::ArchiveReason, 500))
                .col(string_len(Partner::StageEditor, 16))
                .col(string_len_uniq(Partner::InviteCode, 64))
                .col(string_len_uniq(Partner::ReferralCode, 64))
                .col(timestamp_with_time_zone_null(Partner::TermsSentAt))
                .col(timestamp_with_time_zone_null(Partner::TermsSignedAt))
                .col(timestamp_with_time_zone_null(Partner::FirstLeadAt))
                .col(timestamp_with_time_zone_null(Partner::LastLeadAt))
                .col(timestamp_with_time_zone_null(Partner::LapsesAt))
                .col(timestamp_with_time_zone_null(Partner::LastContactedAt))
                .col(timestamp_with_time_zone_null(Partner::EndedAt))
                .col(timestamp_with_time_zone_null(Partner::ArchivedAt))
                .col(integer(Partner::Version))
                .col(timestamp_with_time_zone(Partner::CreatedAt))
                .col(timestamp_with_time_zone(Partner::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_partner_program",
                    (Partner::Table, Partner::ProgramId),
                    (Program::Table, Program::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_partner_vendor",
                    (Partner::Table, Partner::VendorOrgId),
                    (Organization::Table, Organization::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_partner_partner_org",
                    (Partner::Table, Partner::PartnerOrgId),
                    (Organization::Table, Organization::Id),
                ))
                .take(),
        )
        .await?;
        // Lists filter by tenant and status and page by id; the lapse job
        // scans ACTIVE partners by due time.
        m.create_index(index("ix_partner_vendor_status", Partner::Table, &["vendor_org_id", "status", "id"])).await?;
        m.create_index(index("ix_partner_partner_org", Partner::Table, &["partner_org_id", "id"])).await?;
        m.create_index(index("ix_partner_program", Partner::Table, &["program_id", "id"])).await?;
        m.create_index(index("ix_partner_lapse", Partner::Table, &["status", "lapses_at"])).await?;

        m.create_table(
            Table::create()
                .table(PartnerContact::Table)
                .col(big_pk_auto(PartnerContact::Id))
                .col(big_integer(PartnerContact::PartnerId))
                .col(big_integer(PartnerContact::VendorOrgId))
                .col(big_integer_null(PartnerContact::UserId))
                .col(timestamp_with_time_zone(PartnerContact::ContactedAt))
                .col(string_len(PartnerContact::Channel, 16))
                .col(text(PartnerContact::Summary))
                .col(timestamp_with_time_zone(PartnerContact::CreatedAt))
                .foreign_key(
                    &mut fk(
                        "fk_contact_partner",
                        (PartnerContact::Table, PartnerContact::PartnerId),
                        (Partner::Table, Partner::Id),
                    )
                    .on_delete(ForeignKeyAction::Cascade)
                    .take(),
                )
                .take(),
        )
        .await?;
        m.create_index(index("ix_contact_partner", PartnerContact::Table, &["partner_id", "contacted_at"])).await?;

        m.create_table(
            Table::create()
                .table(Task::Table)
                .col(big_pk_auto(Task::Id))
                .col(big_integer(Task::PartnerId))
                .col(big_integer(Task::VendorOrgId))
                .col(big_integer(Task::OwnerUserId))
                .col(string_len(Task::Title, 500))
                .col(timestamp_with_time_zone(Task::DueAt))
                .col(timestamp_with_time_zone_null(Task::CompletedAt))
                .col(timestamp_with_time_zone_null(Task::RemindedAt))
                .col(timestamp_with_time_zone(Task::CreatedAt))
                .foreign_key(
                    &mut fk("fk_task_partner", (Task::Table, Task::PartnerId), (Partner::Table, Partner::Id))
                        .on_delete(ForeignKeyAction::Cascade)
                        .take(),
                )
                .foreign_key(&mut fk("fk_task_owner", (Task::Table, Task::OwnerUserId), (AppUser::Table, AppUser::Id)))
                .take(),
        )
        .await?;
        m.create_index(index("ix_task_partner", Task::Table, &["partner_id", "due_at"])).await?;
        m.create_index(index("ix_task_due", Task::Table, &["completed_at", "reminded_at", "due_at"])).await?;

        m.create_table(
            Table::create()
                .table(JobRun::Table)
                .col(big_pk_auto(JobRun::Id))
                .col(string_len(JobRun::Job, 64))
                .col(string_len(JobRun::Slot, 128))
                .col(string_len(JobRun::Trigger, 16))
                .col(timestamp_with_time_zone(JobRun::AsOf))
                .col(big_integer_null(JobRun::RequestedBy))
                .col(timestamp_with_time_zone(JobRun::StartedAt))
                .col(timestamp_with_time_zone_null(JobRun::FinishedAt))
                .col(big_integer(JobRun::ItemsTouched).default(0))
                .col(text_null(JobRun::Error))
                .take(),
        )
        .await?;
        // The claim: a tick of a job runs once, whoever inserts first.
        m.create_index(index("ux_job_run_slot", JobRun::Table, &["job", "slot"]).unique().take()).await?;
        m.create_index(index("ix_job_run_started", JobRun::Table, &["started_at"])).await?;

        m.create_table(
            Table::create()
                .table(StatusChange::Table)
                .col(big_pk_auto(StatusChange::Id))
                .col(big_integer(StatusChange::VendorOrgId))
                .col(string_len(StatusChange::Subject, 16))
                .col(big_integer(StatusChange::SubjectId))
                .col(string_len(StatusChange::Field, 16))
                .col(string_len(StatusChange::Event, 32))
                .col(string_len_null(StatusChange::FromValue, 64))
                .col(string_len_null(StatusChange::ToValue, 64))
                .col(big_integer_null(StatusChange::ActorUserId))
                .col(string_len_null(StatusChange::ActorRole, 32))
                .col(string_len(StatusChange::Source, 16))
                .col(text_null(StatusChange::Reason))
                .col(big_integer_null(StatusChange::JobRunId))
                .col(big_integer_null(StatusChange::ImportBatchId))
                .col(timestamp_with_time_zone(StatusChange::OccurredAt))
                .foreign_key(&mut fk(
                    "fk_status_change_job_run",
                    (StatusChange::Table, StatusChange::JobRunId),
                    (JobRun::Table, JobRun::Id),
                ))
                .take(),
        )
        .await?;
        m.create_index(index("ix_status_change_subject", StatusChange::Table, &["subject", "subject_id", "id"]))
            .await?;

        m.create_table(
            Table::create()
                .table(Notification::Table)
                .col(big_pk_auto(Notification::Id))
                .col(big_integer_null(Notification::RecipientOrgId))
                .col(big_integer_null(Notification::RecipientUserId))
                .col(string_len_null(Notification::RecipientEmail, 320))
                .col(string_len(Notification::Kind, 48))
                .col(string_len_null(Notification::Subject, 16))
                .col(big_integer_null(Notification::SubjectId))
                .col(text(Notification::Message))
                .col(json(Notification::Payload))
                .col(big_integer_null(Notification::JobRunId))
                .col(timestamp_with_time_zone(Notification::CreatedAt))
                .col(timestamp_with_time_zone_null(Notification::ReadAt))
                .take(),
        )
        .await?;
        m.create_index(index("ix_notification_org", Notification::Table, &["recipient_org_id", "id"])).await?;
        m.create_index(index("ix_notification_user", Notification::Table, &["recipient_user_id", "id"])).await?;
        Ok(())
    }
}
