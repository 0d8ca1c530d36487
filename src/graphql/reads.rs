//! Which columns a page's selection reads. Each node type a list pages
//! keeps, beside its resolvers, a table of its fields and the columns each
//! reads; a page selects only those (`entity::partial`).

use async_graphql::Lookahead;
use entity::partial::{Columns, Indexed};

/// A node type's fields and the columns each reads. A field not in the
/// table (one that reads more than columns of its own row, or whose
/// columns nobody listed) makes a page read whole rows.
pub type FieldReads<C> = &'static [(&'static str, &'static [C])];

/// The columns `node` reads (every place the query selects it, fragments
/// included); all of them when it selects a field not in `table`.
pub fn columns<C: Indexed>(node: &Lookahead<'_>, table: FieldReads<C>) -> Columns<C> {
    let mut read = Columns::none();
    for selected in node.selection_fields() {
        for field in selected.selection_set() {
            if field.name() == "__typename" {
                continue;
            }
            match table.iter().find(|(name, _)| *name == field.name()) {
                Some((_, columns)) => read = read.union(Columns::of(columns)),
                None => return Columns::all(),
            }
        }
    }
    read
}
