//! DataLoaders: relations are loaded in batches, one query per kind of row
//! per request tick, whatever the page size. They do not check tenancy: a
//! relation is reachable only from a parent the caller may already see.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader as LoaderTrait};
use entity::{organization, partner, program};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::service::Ctx;

pub struct Loader(Ctx);

pub fn loader(ctx: &Ctx) -> DataLoader<Loader> {
    DataLoader::new(Loader(ctx.clone()), tokio::spawn)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProgramId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrganizationId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartnerId(pub i64);

type LoadError = Arc<sea_orm::DbErr>;

impl LoaderTrait<ProgramId> for Loader {
    type Value = program::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[ProgramId]) -> Result<HashMap<ProgramId, program::Model>, LoadError> {
        let rows = program::Entity::find()
            .filter(program::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.0.db)
            .await
            .map_err(Arc::new)?;
        Ok(rows.into_iter().map(|r| (ProgramId(r.id), r)).collect())
    }
}

impl LoaderTrait<OrganizationId> for Loader {
    type Value = organization::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[OrganizationId]) -> Result<HashMap<OrganizationId, organization::Model>, LoadError> {
        let rows = organization::Entity::find()
            .filter(organization::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.0.db)
            .await
            .map_err(Arc::new)?;
        Ok(rows.into_iter().map(|r| (OrganizationId(r.id), r)).collect())
    }
}

impl LoaderTrait<PartnerId> for Loader {
    type Value = partner::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[PartnerId]) -> Result<HashMap<PartnerId, partner::Model>, LoadError> {
        let rows = partner::Entity::find()
            .filter(partner::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.0.db)
            .await
            .map_err(Arc::new)?;
        Ok(rows.into_iter().map(|r| (PartnerId(r.id), r)).collect())
    }
}

/// Loader errors are database errors: internal, logged, opaque to clients.
pub fn internal(err: LoadError) -> crate::error::AppError {
    crate::error::AppError::Internal(err.to_string())
}
