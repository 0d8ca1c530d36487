use sea_orm::entity::prelude::*;

use crate::{NoteVisibility, Role};

/// A timeline note on a referral.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "note")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub referral_id: i64,
    pub vendor_org_id: i64,
    pub author_user_id: Option<i64>,
    pub author_org_id: Option<i64>,
    pub author_role: Option<Role>,
    pub visibility: NoteVisibility,
    pub body: String,
    pub created_at: DateTimeUtc,
    /// The offer in force when it was written (assigned referrals, §7): a
    /// partner sees the notes of its own offers only.
    pub assignment_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
