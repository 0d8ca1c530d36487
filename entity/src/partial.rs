//! Models read from rows that hold only some of their columns: a page
//! selects only the columns its query reads (64 columns a row for a page of
//! referrals with their partners, where the page showed five).

use std::borrow::Cow;
use std::marker::PhantomData;

use sea_orm::sqlx::{self, Row as _};
use sea_orm::{DbErr, Iterable, QueryResult, TryGetable};

/// A table's column with its place in the table's `Column` enum
/// (implemented by `partial_model!`).
pub trait Indexed: Copy + Iterable {
    fn index(self) -> u32;
}

/// A set of a table's columns (at most 64).
#[derive(Debug)]
pub struct Columns<C> {
    bits: u64,
    column: PhantomData<C>,
}

impl<C> Clone for Columns<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for Columns<C> {}

impl<C> PartialEq for Columns<C> {
    fn eq(&self, other: &Self) -> bool {
        self.bits == other.bits
    }
}

impl<C: Indexed> Columns<C> {
    pub fn none() -> Self {
        Columns { bits: 0, column: PhantomData }
    }

    pub fn all() -> Self {
        C::iter().fold(Self::none(), Self::with)
    }

    pub fn of(columns: &[C]) -> Self {
        columns.iter().copied().fold(Self::none(), Self::with)
    }

    #[must_use]
    pub fn with(self, column: C) -> Self {
        Columns { bits: self.bits | 1 << column.index(), column: PhantomData }
    }

    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Columns { bits: self.bits | other.bits, column: PhantomData }
    }

    pub fn has(self, column: C) -> bool {
        self.bits & 1 << column.index() != 0
    }

    /// How many columns of the set there are.
    pub fn len(self) -> usize {
        self.bits.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// Where `column` is among the set's columns in the table's order (a
    /// statement selecting `iter()` returns it at this index).
    pub fn rank(self, column: C) -> usize {
        (self.bits & ((1 << column.index()) - 1)).count_ones() as usize
    }

    pub fn is_all(self) -> bool {
        self == Self::all()
    }

    /// The columns in the table's order.
    pub fn iter(self) -> impl Iterator<Item = C> {
        C::iter().filter(move |c| self.has(*c))
    }
}

/// A model's field read from its place in a row (`from_columns`).
///
/// On PostgreSQL the value is decoded straight from sqlx's row, without the
/// type check `Row::try_get` makes (the column's type against the field's)
/// and without SeaORM's wrapping of it: a page of 50 referrals with their
/// partners took 532 k instructions a request instead of 562 k
/// (callgrind, README "The API against PostGraphile"). The check has
/// nothing to find here: the columns
/// are the model's own, in the table's order, and a field read from a
/// column of another type still fails to decode or, at worst, reads a wrong
/// value, which `tests/api/reads.rs` (every column read by the checked path
/// and by this one) would show. SQLite, the embedded database, keeps
/// SeaORM's checked path.
pub trait Cell: Sized {
    fn read(row: &QueryResult, index: usize) -> Result<Self, DbErr>;
}

/// A value decoded by sqlx from a PostgreSQL row, or by SeaORM from another.
fn decoded<T>(row: &QueryResult, index: usize) -> Result<T, DbErr>
where
    T: TryGetable + for<'r> sqlx::Decode<'r, sqlx::Postgres>,
{
    match row.try_as_pg_row() {
        Some(pg) => pg.try_get_unchecked(index).map_err(|e| DbErr::Type(e.to_string())),
        None => row.try_get_by_index(index),
    }
}

macro_rules! decoded_cells {
    ($($t:ty),*) => {$(
        impl Cell for $t {
            fn read(row: &QueryResult, index: usize) -> Result<Self, DbErr> {
                decoded(row, index)
            }
        }

        impl Cell for Option<$t> {
            fn read(row: &QueryResult, index: usize) -> Result<Self, DbErr> {
                decoded(row, index)
            }
        }
    )*};
}

decoded_cells!(bool, i32, i64, String, chrono::DateTime<chrono::Utc>);

/// A stored name (an enum's), borrowed from a PostgreSQL row, given to
/// `f`; `None` when the column is NULL.
pub fn named<T>(row: &QueryResult, index: usize, f: impl FnOnce(&str) -> Option<T>) -> Result<Option<T>, DbErr> {
    let name: Option<Cow<'_, str>> = match row.try_as_pg_row() {
        Some(pg) => {
            pg.try_get_unchecked::<Option<&str>, _>(index).map_err(|e| DbErr::Type(e.to_string()))?.map(Cow::Borrowed)
        }
        None => row.try_get_by_index::<Option<String>>(index)?.map(Cow::Owned),
    };
    name.map(|name| f(&name).ok_or_else(|| DbErr::Type(format!("column {index}: no such name: {name:?}")))).transpose()
}

/// Declares `Model::from_columns(row, offset, columns)`, the model from a
/// row holding only `columns`, in the table's order from index `offset`
/// (read by index: a look-up by name cost as much as the decoding), and
/// `Column`'s `Indexed`. Every other field is a placeholder: its type's default, or
/// the value after `=`. What keeps placeholders out of answers is the
/// caller's table of which columns each of its fields reads, checked
/// field by field against the whole row by a test. Every field of the
/// model is listed: one left out does not compile.
#[macro_export]
macro_rules! partial_model {
    ($($field:ident: $column:ident $(= $placeholder:expr)?),* $(,)?) => {
        impl $crate::partial::Indexed for Column {
            fn index(self) -> u32 {
                self as u32
            }
        }

        impl Entity {
            /// A select of the table with no columns yet, for a read of
            /// some of them (`QuerySelect::columns`, then `from_columns`):
            /// a copy of one made once. `find()` lists every column, each
            /// built with its cast, for `select_only` to drop (3 % of the
            /// CPU of a page of referrals).
            pub fn select_none() -> sea_orm::Select<Entity> {
                static NONE: std::sync::LazyLock<sea_orm::Select<Entity>> = std::sync::LazyLock::new(|| {
                    sea_orm::QuerySelect::select_only(<Entity as sea_orm::EntityTrait>::find())
                });
                NONE.clone()
            }
        }

        impl Model {
            pub fn from_columns(
                row: &sea_orm::QueryResult,
                offset: usize,
                columns: $crate::partial::Columns<Column>,
            ) -> Result<Self, sea_orm::DbErr> {
                Ok(Self {
                    $($field: if columns.has(Column::$column) {
                        $crate::partial::Cell::read(row, offset + columns.rank(Column::$column))?
                    } else {
                        $crate::partial_model!(@placeholder $($placeholder)?)
                    },)*
                })
            }
        }
    };
    (@placeholder) => {
        Default::default()
    };
    (@placeholder $value:expr) => {
        $value
    };
}
