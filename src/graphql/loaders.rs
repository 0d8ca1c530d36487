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

type LoadError = Arc<sea_orm::DbErr>;

/// A key type for rows of one entity by id, and the loader for it.
macro_rules! by_id {
    ($key:ident, $entity:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $key(pub i64);

        impl LoaderTrait<$key> for Loader {
            type Value = $entity::Model;
            type Error = LoadError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $entity::Model>, LoadError> {
                let rows = $entity::Entity::find()
                    .filter($entity::Column::Id.is_in(keys.iter().map(|k| k.0)))
                    .all(&self.0.db)
                    .await
                    .map_err(Arc::new)?;
                Ok(rows.into_iter().map(|r| ($key(r.id), r)).collect())
            }
        }
    };
}

by_id!(ProgramId, program);
by_id!(OrganizationId, organization);
by_id!(PartnerId, partner);

/// Loader errors are database errors: internal, logged, opaque to clients.
pub fn internal(err: LoadError) -> crate::error::AppError {
    crate::error::AppError::Internal(err.to_string())
}
