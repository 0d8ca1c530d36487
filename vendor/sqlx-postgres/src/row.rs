use crate::column::ColumnIndex;
use crate::error::Error;
use crate::message::DataRow;
use crate::statement::PgStatementMetadata;
use crate::value::PgValueFormat;
use crate::{PgColumn, PgValueRef, Postgres};
use sqlx_core::row::debug_row;
pub(crate) use sqlx_core::row::Row;
use std::sync::Arc;

/// Implementation of [`Row`] for PostgreSQL.
pub struct PgRow {
    pub(crate) data: DataRow,
    pub(crate) format: PgValueFormat,
    pub(crate) metadata: Arc<PgStatementMetadata>,
}

impl PgRow {
    /// referral-hub patch: the bytes of column `index` as PostgreSQL sent
    /// them (`None` for NULL), with their format, for a caller that decodes
    /// them itself. `try_get_raw` clones the column's type info into the
    /// `PgValueRef` it builds and drops it after, which cost more than
    /// decoding an integer.
    pub fn raw(&self, index: usize) -> Result<(PgValueFormat, Option<&[u8]>), Error> {
        let len = self.data.values.len();
        if index >= len {
            return Err(Error::ColumnIndexOutOfBounds { index, len });
        }
        Ok((self.format, self.data.get(index)))
    }
}

impl Row for PgRow {
    type Database = Postgres;

    fn columns(&self) -> &[PgColumn] {
        &self.metadata.columns
    }

    fn try_get_raw<I>(&self, index: I) -> Result<PgValueRef<'_>, Error>
    where
        I: ColumnIndex<Self>,
    {
        let index = index.index(self)?;
        let column = &self.metadata.columns[index];
        let value = self.data.get(index);

        Ok(PgValueRef {
            format: self.format,
            row: Some(&self.data.storage),
            type_info: column.type_info.clone(),
            value,
        })
    }
}

impl ColumnIndex<PgRow> for &'_ str {
    fn index(&self, row: &PgRow) -> Result<usize, Error> {
        row.metadata
            .column_names
            .get(*self)
            .ok_or_else(|| Error::ColumnNotFound((*self).into()))
            .copied()
    }
}

impl std::fmt::Debug for PgRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_row(self, f)
    }
}
