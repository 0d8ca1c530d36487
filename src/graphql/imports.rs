//! Bulk updates by CSV: preview, then commit.

use async_graphql::{Context, ID, Json, Object, Result, SimpleObject, Upload};
use chrono::{DateTime, Duration, Utc};
use entity::import_batch;

use super::{ids, principal, svc};
use crate::error::AppError;
use crate::service::imports::{self, PREVIEW_LIFETIME_MINUTES};

pub struct ImportBatch(pub import_batch::Model);

/// A problem with one line (and column) of the file.
#[derive(SimpleObject, serde::Deserialize)]
pub struct ImportError {
    /// The row as a spreadsheet shows it; the header is row 1.
    pub row: i32,
    pub column: Option<String>,
    pub message: String,
}

/// A valid line as it will be applied.
#[derive(SimpleObject)]
pub struct ImportRowPreview {
    pub row: i32,
    pub referral_id: ID,
    pub reference_id: String,
    pub status_from: Option<String>,
    pub status_to: Option<String>,
    pub stage_from: Option<String>,
    pub stage_to: Option<String>,
    pub note: Option<String>,
    pub sale_amount_minor: Option<super::MinorUnits>,
    /// False when the line leaves the referral as it is.
    pub changes: bool,
}

#[Object]
impl ImportBatch {
    pub async fn id(&self) -> ID {
        ids::encode("ImportBatch", self.0.id)
    }

    /// PREVIEWED or COMMITTED.
    async fn status(&self) -> &str {
        &self.0.status
    }

    /// Data lines in the file.
    async fn row_count(&self) -> i32 {
        self.0.row_count
    }

    /// Lines that will be applied.
    async fn valid_count(&self) -> i32 {
        self.0.valid_count
    }

    /// Lines with at least one error (not applied).
    async fn error_count(&self) -> i32 {
        self.0.error_count
    }

    async fn errors(&self) -> Vec<ImportError> {
        serde_json::from_value(self.0.errors.clone()).unwrap_or_default()
    }

    /// The first valid lines as they will be applied.
    async fn sample(&self, ctx: &Context<'_>, #[graphql(default = 20)] first: i32) -> Result<Vec<ImportRowPreview>> {
        let rows = imports::sample(svc(ctx), self.0.id, first.clamp(0, 100) as u64).await?;
        Ok(rows
            .into_iter()
            .map(|(r, reference_id)| ImportRowPreview {
                row: r.row_number,
                referral_id: ids::encode("Referral", r.referral_id),
                reference_id,
                status_from: r.status_from,
                status_to: r.status_to,
                stage_from: r.stage_from,
                stage_to: r.stage_to,
                note: r.note,
                sale_amount_minor: r.sale_amount_minor.map(Into::into),
                changes: r.changes,
            })
            .collect())
    }

    /// What the commit changed: applied, unchanged, statusChanges,
    /// stageChanges, notes, rewardsEarned, rewardsVoided.
    async fn result(&self) -> Option<Json<serde_json::Value>> {
        self.0.result.clone().map(Json)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// After this the preview must be made again.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.created_at + Duration::minutes(PREVIEW_LIFETIME_MINUTES)
    }

    async fn committed_at(&self) -> Option<DateTime<Utc>> {
        self.0.committed_at
    }
}

#[derive(Default)]
pub struct ImportQuery;

#[Object]
impl ImportQuery {
    async fn import_batch(&self, ctx: &Context<'_>, id: ID) -> Result<ImportBatch> {
        let id = ids::decode("ImportBatch", &id)?;
        Ok(ImportBatch(imports::get(svc(ctx), principal(ctx)?, id).await?))
    }
}

#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Validates a CSV of status updates (seed 001's "Referrals: Update
    /// Existing"): one key column per line (`referralkey_ID`,
    /// `referralkey_externalid` or `referralkey_email`), and `status`,
    /// `stage`, `note`, `sale_amount`. Nothing changes until commit.
    ///
    /// Give the file as `csv` text, or as `file` in a GraphQL multipart
    /// request (up to `UPLOAD_LIMIT_BYTES`).
    async fn preview_referral_import(
        &self,
        ctx: &Context<'_>,
        csv: Option<String>,
        file: Option<Upload>,
    ) -> Result<ImportBatch> {
        let text = match (csv, file) {
            (Some(text), None) => text,
            (None, Some(upload)) => {
                let value = upload.value(ctx).map_err(|e| AppError::validation("file", e.to_string()))?;
                String::from_utf8(value.content.to_vec())
                    .map_err(|_| AppError::validation("file", "the file is not UTF-8 text"))?
            }
            _ => return Err(AppError::validation("csv", "give either csv or file").into()),
        };
        Ok(ImportBatch(imports::preview(svc(ctx), principal(ctx)?, &text).await?))
    }

    /// Applies a previewed batch's valid lines in one transaction; a
    /// second commit returns the first result and changes nothing.
    async fn commit_referral_import(&self, ctx: &Context<'_>, batch_id: ID) -> Result<ImportBatch> {
        let id = ids::decode("ImportBatch", &batch_id)?;
        Ok(ImportBatch(imports::commit(svc(ctx), principal(ctx)?, id).await?))
    }
}
