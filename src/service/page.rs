//! Keyset (cursor) pagination shared by every list. A cursor carries the sort
//! value and the id of the last row seen, so pages stay stable while rows are
//! added, and every page is one indexed range scan (two for a nullable
//! column at the page where its values end). NULL sort values come last in
//! both directions.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::future::Future;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder, Select, Value};
use serde::{Deserialize, Serialize};

pub use crate::db::Limit;
use crate::error::{AppError, AppResult};

/// Declares a list's sort fields once: the enum, `ALL`, each field's API
/// name (as the GraphQL order enum and the CSV export's `orderBy` spell it)
/// and `parse`. Each list keeps its fields in a `with_…_sort_fields!`
/// registry, which `graphql::enums::mirror!` reads too.
macro_rules! sort_fields {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $api:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The API's name of the field (`CREATED_AT`, …).
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => $api),+ }
            }

            /// Accepts `CREATED_AT`, `created_at` or `created-at`.
            pub fn parse(raw: &str) -> Option<Self> {
                let wanted = raw.trim().to_ascii_uppercase().replace('-', "_");
                Self::ALL.iter().copied().find(|f| f.name() == wanted)
            }
        }
    };
}
pub(crate) use sort_fields;

/// The largest page a client may ask for.
pub const MAX_PAGE: u64 = 100;
pub const DEFAULT_PAGE: u64 = 20;

/// A sort value as it travels inside a cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v")]
pub enum SortValue {
    Null,
    Str(String),
    Int(i64),
    Time(DateTime<Utc>),
}

impl SortValue {
    fn to_value(&self) -> Option<Value> {
        match self {
            SortValue::Null => None,
            SortValue::Str(s) => Some(s.clone().into()),
            SortValue::Int(i) => Some((*i).into()),
            SortValue::Time(t) => Some((*t).into()),
        }
    }
}

impl From<Option<DateTime<Utc>>> for SortValue {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        v.map_or(SortValue::Null, SortValue::Time)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort field the cursor was made for, so a cursor is not reused
    /// with another order (the list's own name when it makes the cursor).
    pub sort: Cow<'static, str>,
    pub value: SortValue,
    pub id: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(raw: &str) -> AppResult<Self> {
        URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| AppError::validation("after", "not a cursor from this list"))
    }
}

/// A validated page request.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub first: u64,
    pub after: Option<Cursor>,
}

impl PageRequest {
    pub fn new(first: Option<i32>, after: Option<&str>) -> AppResult<Self> {
        let first = match first {
            None => DEFAULT_PAGE,
            Some(n) if n < 0 => return Err(AppError::validation("first", "first must not be negative")),
            Some(n) if n as u64 > MAX_PAGE => {
                return Err(AppError::validation("first", format!("first must be at most {MAX_PAGE}")));
            }
            Some(n) => n as u64,
        };
        let after = after.map(Cursor::decode).transpose()?;
        Ok(Self { first, after })
    }
}

/// One page of rows with their cursors, encoded only where they are shown
/// (`Cursor::encode`; 50 unasked-for cursors were 4 % of the CPU of a page
/// of referrals).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<(Cursor, T)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

/// How a list is sorted: a column and a direction; ties are broken by id in
/// the same direction.
pub struct Sort<C> {
    pub name: &'static str,
    pub column: C,
    pub id_column: C,
    pub descending: bool,
    /// The column may be NULL (NULLs come last in both directions).
    pub nullable: bool,
}

/// A column with its table's name, so a list may join other tables.
pub fn qualified<C: ColumnTrait>(column: C) -> Expr {
    Expr::col((column.entity_name(), column))
}

impl<C: ColumnTrait> Sort<C> {
    /// The rows of one page (one more than asked for, see `page`), read by
    /// `run`, which may join other tables to the select.
    ///
    /// A column that is never NULL is one index range (`apply`). A
    /// nullable one is read in two parts, each a range of the same index on
    /// (…, column, id): the rows with a value, and once those run out the
    /// NULLs by id. So NULLs come last in both directions and no sort key
    /// such as `column IS NULL` defeats the index.
    pub async fn fetch<E, T, F, Fut>(&self, select: Select<E>, page: &PageRequest, run: F) -> AppResult<Vec<T>>
    where
        E: EntityTrait<Column = C>,
        F: Fn(Select<E>, Limit) -> Fut,
        Fut: Future<Output = AppResult<Vec<T>>>,
    {
        if !self.nullable {
            let (select, limit) = self.apply(select, page)?;
            return run(select, limit).await;
        }
        let wanted = Limit(page.first + 1);
        let mut rows = Vec::new();
        let nulls_after = match &page.after {
            Some(cursor) if cursor.value == SortValue::Null => {
                self.check_cursor(cursor)?;
                Some(cursor.id)
            }
            _ => {
                let (values, limit) = self.apply(select.clone().filter(qualified(self.column).is_not_null()), page)?;
                rows = run(values, limit).await?;
                if rows.len() as u64 >= wanted.0 {
                    return Ok(rows);
                }
                None
            }
        };
        let mut nulls = select.filter(qualified(self.column).is_null());
        if let Some(id) = nulls_after {
            let id_col = qualified(self.id_column);
            nulls = nulls.filter(if self.descending { id_col.lt(id) } else { id_col.gt(id) });
        }
        let order = if self.descending { Order::Desc } else { Order::Asc };
        // The whole page's limit, not what is left of it: one statement
        // (and one cached plan) whatever number of values the page ends with.
        rows.extend(run(nulls.order_by(self.id_column, order), wanted).await?);
        rows.truncate(wanted.0 as usize);
        Ok(rows)
    }

    /// One page's rows as the entity's models.
    pub async fn all<E>(
        &self,
        db: &impl ConnectionTrait,
        select: Select<E>,
        page: &PageRequest,
    ) -> AppResult<Vec<E::Model>>
    where
        E: EntityTrait<Column = C>,
    {
        self.fetch(select, page, |q, limit| async move { Ok(limit.models(db, q).await?) }).await
    }

    /// Orders by the column and skips past the cursor with one row-value
    /// comparison, `(column, id) > (value, id)`: an index on
    /// (…, column, id) serves both as one range, in either direction. For a
    /// column that is never NULL (or the part of a nullable one that is not).
    /// The page's size comes back beside the select, which has no LIMIT of
    /// its own (see `Limit`).
    pub fn apply<E: EntityTrait<Column = C>>(
        &self,
        mut select: Select<E>,
        page: &PageRequest,
    ) -> AppResult<(Select<E>, Limit)> {
        let order = if self.descending { Order::Desc } else { Order::Asc };
        // A list sorted by a unique column (its id, an event's position) is
        // sorted by that column alone: a repeated ORDER BY term costs SQLite
        // a sort step.
        let unique = self.column.as_str() == self.id_column.as_str();
        if let Some(cursor) = &page.after {
            self.check_cursor(cursor)?;
            let value =
                cursor.value.to_value().ok_or_else(|| AppError::validation("after", "not a cursor from this list"))?;
            let (key, past) = if unique {
                (qualified(self.column), Expr::val(value))
            } else {
                (
                    Expr::tuple([qualified(self.column), qualified(self.id_column)]),
                    Expr::tuple([Expr::val(value), Expr::val(cursor.id)]),
                )
            };
            select = select.filter(if self.descending { key.lt(past) } else { key.gt(past) });
        }
        select = select.order_by(self.column, order.clone());
        if !unique {
            select = select.order_by(self.id_column, order);
        }
        Ok((select, Limit(page.first + 1)))
    }

    fn check_cursor(&self, cursor: &Cursor) -> AppResult<()> {
        if cursor.sort != self.name {
            return Err(AppError::validation("after", "the cursor belongs to another sort order"));
        }
        Ok(())
    }

    /// Turns the fetched rows (one more than asked for) into a page.
    pub fn page<T>(&self, mut rows: Vec<T>, page: &PageRequest, key: impl Fn(&T) -> (SortValue, i64)) -> Page<T> {
        let has_next_page = rows.len() as u64 > page.first;
        rows.truncate(page.first as usize);
        let items = rows
            .into_iter()
            .map(|row| {
                let (value, id) = key(&row);
                (Cursor { sort: Cow::Borrowed(self.name), value, id }, row)
            })
            .collect();
        Page { items, has_next_page, has_previous_page: page.after.is_some() }
    }
}
