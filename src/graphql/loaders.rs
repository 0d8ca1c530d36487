//! DataLoaders: relations are loaded in batches, one query per kind of row
//! per request tick, whatever the page size. They do not check tenancy: a
//! relation is reachable only from a parent the caller may already see.
//!
//! Each request has its own loader. A query's loader keeps what it loaded
//! (and what a list joined and fed it), so a row is read once per request
//! whatever the depth it is asked at; a mutation's or subscription's keeps
//! nothing, so each reads what was just written.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader as LoaderTrait};
use entity::{lead_conflict, organization, partner, program, referral};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::context::Ctx;

pub struct Loader(Ctx);

pub type Loaders = DataLoader<Loader, HashMapCache>;

/// The loader of one request; `cached` for queries.
pub fn for_request(ctx: &Ctx, cached: bool) -> Loaders {
    let loaders = DataLoader::with_cache(Loader(ctx.clone()), tokio::spawn, HashMapCache::default());
    loaders.enable_all_cache(cached);
    loaders
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
by_id!(ReferralId, referral);

/// A referral's lead conflict, by the referral's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConflictOf(pub i64);

impl LoaderTrait<ConflictOf> for Loader {
    type Value = lead_conflict::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[ConflictOf]) -> Result<HashMap<ConflictOf, lead_conflict::Model>, LoadError> {
        let rows = lead_conflict::Entity::find()
            .filter(lead_conflict::Column::ReferralId.is_in(keys.iter().map(|k| k.0)))
            .all(&self.0.db)
            .await
            .map_err(Arc::new)?;
        Ok(rows.into_iter().map(|r| (ConflictOf(r.referral_id), r)).collect())
    }
}

/// Loader errors are database errors: internal, logged, opaque to clients.
pub fn internal(err: LoadError) -> crate::error::AppError {
    crate::error::AppError::Internal(err.to_string())
}

/// Hands a list's joined programs, and its partners when it read them
/// whole, to the request's loader (a partner read in part stays with its
/// referral: another field of the request could ask the loader for a
/// column the page did not read).
pub async fn feed_relations<'a>(
    loaders: &Loaders,
    rows: impl Iterator<Item = &'a crate::service::referrals::WithRelations> + Clone,
    whole_partners: bool,
) {
    if whole_partners {
        loaders
            .feed_many(rows.clone().filter_map(|(_, p, _)| p.as_deref().cloned()).map(|p| (PartnerId(p.id), p)))
            .await;
    }
    loaders.feed_many(rows.filter_map(|(_, _, p)| p.as_deref().cloned()).map(|p| (ProgramId(p.id), p))).await;
}
