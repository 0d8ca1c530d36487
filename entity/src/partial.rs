//! Models read from rows that hold only some of their columns: a page
//! selects only the columns its query reads (64 columns a row for a page of
//! referrals with their partners, where the page showed five).

use std::borrow::Cow;
use std::marker::PhantomData;

use sea_orm::sqlx::postgres::PgValueFormat;
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
/// On PostgreSQL the value is read from the row's bytes (`FromBinary`),
/// without the type check `Row::try_get` makes (the column's type against
/// the field's), SeaORM's wrapping of it, or sqlx's `PgValueRef`. A page of
/// 50 referrals with their partners, callgrind (README "The API against
/// PostGraphile"): 562 k → 532 k instructions a request without the check,
/// 490 k → 444 k (a later build) from the bytes instead of through sqlx's
/// `Decode`. The check has nothing to find here: the columns are the
/// model's own, in the table's order, and a field read from a column of
/// another type still fails to decode or, at worst, reads a wrong value,
/// which `tests/api/reads.rs` (every column read by the checked path
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

/// A column's bytes in PostgreSQL's binary format, as sqlx's row holds
/// them (`Some(None)` for NULL); `None` on SQLite or for a row in the text
/// format (a statement sent unprepared).
fn binary(row: &QueryResult, index: usize) -> Option<Option<&[u8]>> {
    let (format, bytes) = row.try_as_pg_row()?.raw(index).ok()?;
    (format == PgValueFormat::Binary).then_some(bytes)
}

/// A value read from its bytes in PostgreSQL's binary format, as sqlx's
/// `Decode` reads it. Where this gives `None` (bytes of another length, a
/// string that is not UTF-8), the value goes through sqlx's `Decode`,
/// which reads it or says why not. Reading the bytes here skips building
/// sqlx's `PgValueRef` (a clone of the column's type info) and its checks
/// of the format: a page of 50 referrals with their partners reads 255
/// integers and times, at about 150 instructions each through sqlx.
trait FromBinary: Sized {
    fn from_binary(bytes: &[u8]) -> Option<Self>;
}

impl FromBinary for i64 {
    fn from_binary(bytes: &[u8]) -> Option<Self> {
        match bytes.len() {
            8 => Some(i64::from_be_bytes(bytes.try_into().ok()?)),
            _ => i32::from_binary(bytes).map(i64::from),
        }
    }
}

impl FromBinary for i32 {
    fn from_binary(bytes: &[u8]) -> Option<Self> {
        match bytes.len() {
            4 => Some(i32::from_be_bytes(bytes.try_into().ok()?)),
            2 => Some(i16::from_be_bytes(bytes.try_into().ok()?).into()),
            _ => None,
        }
    }
}

impl FromBinary for bool {
    fn from_binary(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [byte] => Some(*byte != 0),
            _ => None,
        }
    }
}

impl FromBinary for String {
    fn from_binary(bytes: &[u8]) -> Option<Self> {
        std::str::from_utf8(bytes).ok().map(str::to_owned)
    }
}

/// Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl FromBinary for chrono::DateTime<chrono::Utc> {
    /// `timestamptz` and `timestamp` alike: microseconds from 2000-01-01.
    /// `infinity` and `-infinity` overflow and go to sqlx, which refuses them.
    fn from_binary(bytes: &[u8]) -> Option<Self> {
        let micros = i64::from_be_bytes(bytes.try_into().ok()?);
        chrono::DateTime::from_timestamp_micros(micros.checked_add(POSTGRES_EPOCH_MICROS)?)
    }
}

macro_rules! decoded_cells {
    ($($t:ty),*) => {$(
        impl Cell for $t {
            fn read(row: &QueryResult, index: usize) -> Result<Self, DbErr> {
                match binary(row, index).flatten().and_then(<$t>::from_binary) {
                    Some(value) => Ok(value),
                    None => decoded(row, index),
                }
            }
        }

        impl Cell for Option<$t> {
            fn read(row: &QueryResult, index: usize) -> Result<Self, DbErr> {
                match binary(row, index).map(|bytes| bytes.map(<$t>::from_binary)) {
                    Some(None) => Ok(None),
                    Some(Some(Some(value))) => Ok(Some(value)),
                    _ => decoded(row, index),
                }
            }
        }
    )*};
}

decoded_cells!(bool, i32, i64, String, chrono::DateTime<chrono::Utc>);

/// A stored name (an enum's), borrowed from a PostgreSQL row, given to
/// `f`; `None` when the column is NULL.
pub fn named<T>(row: &QueryResult, index: usize, f: impl FnOnce(&str) -> Option<T>) -> Result<Option<T>, DbErr> {
    let name: Option<Cow<'_, str>> = match binary(row, index) {
        Some(bytes) => bytes
            .map(std::str::from_utf8)
            .transpose()
            .map_err(|e| DbErr::Type(format!("column {index}: {e}")))?
            .map(Cow::Borrowed),
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
/// model is listed, in the order of `Column`: one left out, or out of
/// order, does not compile.
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
                // The fields are listed in the table's order (checked
                // below), so each column read is the row's next one.
                let mut at = offset;
                let mut next = || {
                    at += 1;
                    at - 1
                };
                Ok(Self {
                    $($field: if columns.has(Column::$column) {
                        $crate::partial::Cell::read(row, next())?
                    } else {
                        $crate::partial_model!(@placeholder $($placeholder)?)
                    },)*
                })
            }
        }

        // `from_columns` reads a set's columns one after another, so the
        // fields must be listed in the order of `Column`, the table's.
        const _: () = {
            let order = [$(Column::$column as u32),*];
            let mut i = 0;
            while i < order.len() {
                assert!(order[i] == i as u32, "partial_model!: list the fields in the order of Column");
                i += 1;
            }
        };
    };
    (@placeholder) => {
        Default::default()
    };
    (@placeholder $value:expr) => {
        $value
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    #[test]
    fn integers_are_read_big_endian_from_their_widths() {
        assert_eq!(i64::from_binary(&(-5_000_000_000i64).to_be_bytes()), Some(-5_000_000_000));
        assert_eq!(i64::from_binary(&(-7i32).to_be_bytes()), Some(-7));
        assert_eq!(i64::from_binary(&300i16.to_be_bytes()), Some(300));
        assert_eq!(i32::from_binary(&(-70_000i32).to_be_bytes()), Some(-70_000));
        assert_eq!(i32::from_binary(&(-2i16).to_be_bytes()), Some(-2));
        // Other widths are left to sqlx, which reads or refuses them.
        assert_eq!(i32::from_binary(&1i64.to_be_bytes()), None);
        assert_eq!(i64::from_binary(&[]), None);
        assert_eq!(i64::from_binary(&[1, 2, 3]), None);
    }

    #[test]
    fn booleans_strings_and_times_are_read_as_sqlx_reads_them() {
        assert_eq!(bool::from_binary(&[1]), Some(true));
        assert_eq!(bool::from_binary(&[0]), Some(false));
        assert_eq!(bool::from_binary(&[0, 1]), None);
        assert_eq!(String::from_binary("Zoë".as_bytes()).as_deref(), Some("Zoë"));
        assert_eq!(String::from_binary(&[0xff, 0xfe]), None);

        let at = |micros: i64| DateTime::<Utc>::from_binary(&micros.to_be_bytes());
        assert_eq!(at(0), Some("2000-01-01T00:00:00Z".parse().unwrap()));
        assert_eq!(at(-1), Some("1999-12-31T23:59:59.999999Z".parse().unwrap()));
        assert_eq!(at(-POSTGRES_EPOCH_MICROS), Some(DateTime::UNIX_EPOCH));
        assert_eq!(at(1_234_567), Some("2000-01-01T00:00:01.234567Z".parse().unwrap()));
        // infinity and -infinity
        assert_eq!(at(i64::MAX), None);
        assert_eq!(at(i64::MIN), None);
        assert_eq!(DateTime::<Utc>::from_binary(&[0; 4]), None);
    }
}
