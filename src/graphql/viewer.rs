//! `me`: who the caller is.

use async_graphql::{Context, ID, Object, Result};

use super::enums::Role;
use super::organization::Organization;
use super::{ids, loader, loaders, principal};
use crate::auth::Principal;

pub struct Viewer(Principal);

#[Object]
impl Viewer {
    async fn id(&self) -> ID {
        ids::encode("User", self.0.user_id)
    }

    async fn role(&self) -> Role {
        self.0.role.into()
    }

    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    async fn organization(&self, ctx: &Context<'_>) -> Result<Option<Organization>> {
        let Some(org) = self.0.org_id else { return Ok(None) };
        let found = loader(ctx).load_one(loaders::OrganizationId(org)).await.map_err(loaders::internal)?;
        Ok(found.map(Organization))
    }
}

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The caller.
    async fn me(&self, ctx: &Context<'_>) -> Result<Viewer> {
        Ok(Viewer(principal(ctx)?.clone()))
    }
}
