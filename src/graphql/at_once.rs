//! Lists answered at once. The engine resolves each selected field of each
//! object as a future of its own (boxed, joined, its value inserted into the
//! object's map): about 2,000 instructions a field, so a page of fifty
//! referrals showing six fields each (two of them objects) spent more on
//! that machinery than on its statement and its rows together (callgrind, README "The API against
//! PostGraphile"). The fields a page shows are mostly its rows' own
//! columns, which wait on nothing; such a list is answered here, in one
//! pass over its items: each field by its type's own resolver (the code the
//! engine would run), polled once.
//!
//! Anything this pass cannot answer the way the engine would hands the
//! whole list back to the engine, which then answers it as before: a field
//! that may wait (a loader, a statement), a resolver that fails (so the
//! error gets its path), an object a type does not answer itself, a
//! response key selected twice (which GraphQL merges), a directive. So a
//! selection is answered one way or the other, never half of each. (The
//! schema has no engine extensions, whose hooks around each field this
//! pass would skip: `build_api`.)

use std::borrow::Cow;
use std::future::Future;
use std::task::{self, Poll};

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{ContainerType, ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value};

/// An object type some of whose fields answer at once (by default none: a
/// list of such objects goes to the engine).
pub trait AtOnce: ContainerType {
    /// Whether the scalar field `field` answers from the object itself,
    /// without waiting: its resolver reads only the object's own columns.
    fn at_once(field: &str) -> bool {
        let _ = field;
        false
    }

    /// The object-typed field `field`, answered by `show` from an object
    /// this one holds; `None` when it holds none (the field waits on a
    /// loader, or is not one it answers itself).
    fn object(&self, field: &str, show: &mut dyn FnMut(&dyn Answer) -> Option<Value>) -> Option<Value> {
        let _ = (field, show);
        None
    }
}

/// An object answered at once, whatever its type; `None` hands it back to
/// the engine.
pub trait Answer {
    fn answer(&self, ctx: &ContextSelectionSet<'_>) -> Option<Value>;
}

impl<T: AtOnce + Sync> Answer for T {
    fn answer(&self, ctx: &ContextSelectionSet<'_>) -> Option<Value> {
        let mut shown = IndexMap::with_capacity(ctx.item.node.items.len());
        fields(self, ctx, &ctx.item.node, &mut shown)?;
        Some(Value::Object(shown))
    }
}

/// A list's items answered at once, or `None` for the engine.
pub fn list<'i, T: Answer + 'i>(
    items: impl IntoIterator<Item = &'i T>,
    ctx: &ContextSelectionSet<'_>,
) -> Option<Value> {
    let answered: Option<Vec<Value>> =
        items.into_iter().enumerate().map(|(index, item)| item.answer(&ctx.with_index(index))).collect();
    metrics::counter!("graphql_lists_total", "answered" => if answered.is_some() { "at_once" } else { "by_engine" })
        .increment(1);
    answered.map(Value::List)
}

/// Adds the fields of `set` (fragments included, as the engine includes
/// them) to `shown`.
fn fields<T: AtOnce + Sync>(
    object: &T,
    ctx: &ContextSelectionSet<'_>,
    set: &SelectionSet,
    shown: &mut IndexMap<Name, Value>,
) -> Option<()> {
    for selection in &set.items {
        if !selection.node.directives().is_empty() {
            return None;
        }
        match &selection.node {
            Selection::Field(field) => {
                let value = value(object, ctx, field)?;
                if shown.insert(field.node.response_key().node.clone(), value).is_some() {
                    return None;
                }
            }
            Selection::FragmentSpread(spread) => {
                let fragment = ctx.query_env.fragments.get(&spread.node.fragment_name.node)?;
                if applies::<T>(ctx, Some(&fragment.node.type_condition.node.on.node)) {
                    fields(object, ctx, &fragment.node.selection_set.node, shown)?;
                }
            }
            Selection::InlineFragment(fragment) => {
                if applies::<T>(ctx, fragment.node.type_condition.as_ref().map(|c| &c.node.on.node)) {
                    fields(object, ctx, &fragment.node.selection_set.node, shown)?;
                }
            }
        }
    }
    Some(())
}

/// Whether a fragment on `condition` applies to an object of type `T`: its
/// own type or an interface it implements (the engine's rule).
fn applies<T: OutputType>(ctx: &ContextSelectionSet<'_>, condition: Option<&Name>) -> bool {
    let Some(on) = condition else { return true };
    let own = T::type_name();
    on.as_str() == own || ctx.schema_env.registry.implements.get(own.as_ref()).is_some_and(|i| i.contains(on.as_str()))
}

/// One field's value: `__typename`, an object the type answers itself, or
/// a scalar field by the type's resolver, which must be ready at once.
fn value<T: AtOnce + Sync>(object: &T, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<Value> {
    let name = field.node.name.node.as_str();
    if name == "__typename" {
        return Some(Value::String(object.introspection_type_name().into_owned()));
    }
    let ctx_field = ctx.with_field(field);
    if !field.node.selection_set.node.items.is_empty() {
        let inner = ctx_field.with_selection_set(&field.node.selection_set);
        return object.object(name, &mut |child| child.answer(&inner));
    }
    if !T::at_once(name) {
        return None;
    }
    // Polled where it lies: a resolver future is as large as the type's
    // largest, about a kilobyte for `Referral`, not worth moving.
    let resolving = std::pin::pin!(object.resolve_field(&ctx_field));
    match resolving.poll(&mut task::Context::from_waker(task::Waker::noop())) {
        Poll::Ready(Ok(Some(value))) => Some(value),
        _ => None,
    }
}

/// A connection's edges: answered at once when they can be, else by the
/// engine as the list they are (the schema sees that list).
pub struct Edges<E>(pub Vec<E>);

impl<E: OutputType + AtOnce> OutputType for Edges<E> {
    fn type_name() -> Cow<'static, str> {
        <Vec<E>>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<E>>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Vec<E>>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        match list(&self.0, ctx) {
            Some(answered) => Ok(answered),
            None => OutputType::resolve(&self.0, ctx, field).await,
        }
    }
}
