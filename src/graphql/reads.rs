//! Which columns a page's selection reads. Each node type a list pages
//! keeps, beside its resolvers, a table of its fields and the columns each
//! reads; a page selects only those (`entity::partial`).

use async_graphql::{Lookahead, SelectionField};
use entity::partial::{Columns, Indexed};

/// A node type's fields and the columns each reads. A field not in the
/// table (one that reads more than columns of its own row, or whose
/// columns nobody listed) makes a page read whole rows. An object made of
/// the row's own columns lists each of its fields as `object.field`, so
/// that `lead { name }` reads the one column it shows.
pub type FieldReads<C> = &'static [(&'static str, &'static [C])];

/// The columns `node` reads (every place the query selects it, fragments
/// included); all of them when it selects a field not in `table`.
pub fn columns<C: Indexed>(node: &Lookahead<'_>, table: FieldReads<C>) -> Columns<C> {
    let mut read = Columns::none();
    for selected in node.selection_fields() {
        let found = selected_columns(selected, |field| match entry(table, None, field.name()) {
            Some(columns) => Some(Columns::of(columns)),
            None => object_columns(field, table),
        });
        match found {
            Some(columns) => read = read.union(columns),
            None => return Columns::all(),
        }
    }
    read
}

/// The columns the fields selected under `object` read, from the table's
/// `object.field` entries; `None` when one of them is not listed.
fn object_columns<C: Indexed>(object: SelectionField<'_>, table: FieldReads<C>) -> Option<Columns<C>> {
    if !table.iter().any(|(name, _)| under(name, object.name()).is_some()) {
        return None;
    }
    selected_columns(object, |field| entry(table, Some(object.name()), field.name()).map(Columns::of))
}

/// The columns `table` lists for `field` of the node (`object` None) or of
/// its object field `object` (an `object.field` entry); `None` when it
/// lists none: the field reads more than its row.
pub fn entry<C>(table: FieldReads<C>, object: Option<&str>, field: &str) -> Option<&'static [C]> {
    let names = |name: &'static str| match object {
        None => Some(name),
        Some(object) => under(name, object),
    };
    table.iter().find(|(name, _)| names(name) == Some(field)).map(|(_, columns)| *columns)
}

/// The field an `object.field` entry names under `object`.
fn under(name: &'static str, object: &str) -> Option<&'static str> {
    name.strip_prefix(object).and_then(|rest| rest.strip_prefix('.'))
}

/// The union of what `read` finds for each field selected under `object`
/// (`__typename` reads nothing); `None` as soon as it finds nothing for one.
fn selected_columns<'a, C: Indexed>(
    object: SelectionField<'a>,
    read: impl Fn(SelectionField<'a>) -> Option<Columns<C>>,
) -> Option<Columns<C>> {
    let mut all = Columns::none();
    for field in object.selection_set() {
        if field.name() != "__typename" {
            all = all.union(read(field)?);
        }
    }
    Some(all)
}
