//! Lists answered at once. The engine resolves each selected field of each
//! object as a future of its own (boxed, joined, its value inserted into the
//! object's map): about 2,000 instructions a field, so a page of fifty
//! referrals showing six fields each (two of them objects) spent more on
//! that machinery than on its statement and its rows together (callgrind, README "The API against
//! PostGraphile"). The fields a page shows are mostly its rows' own
//! columns, which wait on nothing; such a list is answered here, in one
//! pass over its items: each field by its type's own resolver (the code the
//! engine would run), polled once, and written straight as JSON text.
//!
//! The text goes back to the engine as one `Value::Binary` part of the
//! answer, which the transport that asked for it (`Prewritten` in the
//! request's data: `POST` and `GET /graphql`) copies verbatim into its JSON
//! response (`Prewritten::write`). Building the engine's `Value` for it
//! instead (a map per object, a SipHash per key), then writing and dropping
//! it, cost a third of a page's answer. Other callers (subscriptions, the
//! schema run in-process) do not ask, and get the engine's answer.
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
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::task::{self, Poll};

use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{ContainerType, ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value};
use bytes::Bytes;
use serde_json::ser::{CompactFormatter, Formatter};

/// An object type some of whose fields answer at once (by default none: a
/// list of such objects goes to the engine).
pub trait AtOnce: ContainerType {
    /// Whether the scalar field `field` answers from the object itself,
    /// without waiting: its resolver reads only the object's own columns.
    fn at_once(field: &str) -> bool {
        let _ = field;
        false
    }

    /// The object-typed field `field`, answered by `show` from the object
    /// this one holds (`None`: it holds none, the field is null); `None`
    /// when the field waits on a loader, or is not one it answers itself.
    fn object(&self, field: &str, show: &mut dyn FnMut(Option<&dyn Answer>) -> Option<()>) -> Option<()> {
        let _ = (field, show);
        None
    }
}

/// An object answered at once, whatever its type: written to `out` as a
/// JSON object, or `None` for the engine.
pub trait Answer {
    fn answer(&self, ctx: &ContextSelectionSet<'_>, out: &mut Json) -> Option<()>;
}

impl<T: AtOnce + Sync> Answer for T {
    fn answer(&self, ctx: &ContextSelectionSet<'_>, out: &mut Json) -> Option<()> {
        let open = out.keys.len();
        out.text.push(b'{');
        fields(self, ctx, &ctx.item.node, out, open)?;
        out.keys.truncate(open);
        out.text.push(b'}');
        Some(())
    }
}

/// A list being written: its text, and the response keys of the objects
/// open in it (each object's after its parent's), so that a key selected
/// twice in one object is seen.
pub struct Json {
    text: Vec<u8>,
    keys: Vec<Name>,
}

/// A list's items answered at once as a JSON array, or `None` for the
/// engine.
pub fn list<T: Answer>(items: &[T], ctx: &ContextSelectionSet<'_>) -> Option<Vec<u8>> {
    // A little more than a node of a page writes (a referral with its
    // lead and partner: about 180 bytes), so that a page is written
    // without regrowing.
    let mut out = Json { text: Vec::with_capacity(64 + items.len() * 256), keys: Vec::new() };
    out.text.push(b'[');
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.text.push(b',');
        }
        item.answer(&ctx.with_index(index), &mut out)?;
    }
    out.text.push(b']');
    Some(out.text)
}

/// Writes the fields of `set` (fragments included, as the engine includes
/// them) into the object opened at `open`.
fn fields<'a, T: AtOnce + Sync>(
    object: &T,
    ctx: &ContextSelectionSet<'a>,
    set: &'a SelectionSet,
    out: &mut Json,
    open: usize,
) -> Option<()> {
    for selection in &set.items {
        if !selection.node.directives().is_empty() {
            return None;
        }
        match &selection.node {
            Selection::Field(field) => {
                let key = &field.node.response_key().node;
                if out.keys[open..].contains(key) {
                    return None;
                }
                if out.keys.len() > open {
                    out.text.push(b',');
                }
                out.keys.push(key.clone());
                // A response key is a GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`,
                // the parser's rule): nothing in it needs escaping.
                out.text.push(b'"');
                out.text.extend_from_slice(key.as_bytes());
                out.text.extend_from_slice(b"\":");
                value(object, ctx, field, out)?;
            }
            Selection::FragmentSpread(spread) => {
                let fragment = ctx.query_env.fragments.get(&spread.node.fragment_name.node)?;
                if applies::<T>(ctx, Some(&fragment.node.type_condition.node.on.node)) {
                    fields(object, ctx, &fragment.node.selection_set.node, out, open)?;
                }
            }
            Selection::InlineFragment(fragment) => {
                if applies::<T>(ctx, fragment.node.type_condition.as_ref().map(|c| &c.node.on.node)) {
                    fields(object, ctx, &fragment.node.selection_set.node, out, open)?;
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

/// Writes one field's value: `__typename`, an object the type answers
/// itself, or a scalar field by the type's resolver, which must be ready at
/// once.
fn value<'a, T: AtOnce + Sync>(
    object: &T,
    ctx: &ContextSelectionSet<'a>,
    field: &'a Positioned<Field>,
    out: &mut Json,
) -> Option<()> {
    let name = field.node.name.node.as_str();
    if name == "__typename" {
        return serde_json::to_writer(&mut out.text, object.introspection_type_name().as_ref()).ok();
    }
    let ctx_field = ctx.with_field(field);
    if !field.node.selection_set.node.items.is_empty() {
        let inner = ctx_field.with_selection_set(&field.node.selection_set);
        return object.object(name, &mut |child| match child {
            Some(child) => child.answer(&inner, out),
            None => {
                out.text.extend_from_slice(b"null");
                Some(())
            }
        });
    }
    if !T::at_once(name) {
        return None;
    }
    // Polled where it lies: a resolver future is as large as the type's
    // largest, about a kilobyte for `Referral`, not worth moving.
    let resolving = std::pin::pin!(object.resolve_field(&ctx_field));
    match resolving.poll(&mut task::Context::from_waker(task::Waker::noop())) {
        Poll::Ready(Ok(Some(value))) => serde_json::to_writer(&mut out.text, &value).ok(),
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
        let written = ctx.data_opt::<Prewritten>().and_then(|parts| Some(parts.keep(list(&self.0, ctx)?)));
        metrics::counter!("graphql_lists_total", "answered" => if written.is_some() { "at_once" } else { "by_engine" })
            .increment(1);
        match written {
            Some(part) => Ok(part),
            None => OutputType::resolve(&self.0, ctx, field).await,
        }
    }
}

/// The parts of one request's answer written as JSON text (`list`), which
/// its JSON response copies in verbatim. A transport that writes its
/// response with `write` puts a clone in the request's data; no other
/// `Value::Binary` is written verbatim (the schema has no binary scalar,
/// and one added would still be written as serde writes bytes).
#[derive(Clone, Default)]
pub struct Prewritten(Arc<Mutex<Vec<Bytes>>>);

impl Prewritten {
    fn keep(&self, text: Vec<u8>) -> Value {
        let part = Bytes::from(text);
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(part.clone());
        Value::Binary(part)
    }

    /// Whether `bytes` is one of the parts (the same memory, not equal text).
    fn holds(&self, bytes: &[u8]) -> bool {
        let parts = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        parts.iter().any(|part| part.as_ptr() == bytes.as_ptr() && part.len() == bytes.len())
    }

    /// `value` as JSON text, the parts copied in.
    pub fn write(&self, value: &impl serde::Serialize, capacity: usize) -> serde_json::Result<Vec<u8>> {
        let mut text = Vec::with_capacity(capacity);
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut text, Verbatim(self)))?;
        Ok(text)
    }

    /// `value` as a JSON value, the parts read back in (for answers that
    /// are amended before they are written: those with errors).
    pub fn to_value(&self, value: &impl serde::Serialize) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(&self.write(value, 4096)?)
    }
}

/// serde_json's compact output, with the parts of `Prewritten` copied in.
struct Verbatim<'p>(&'p Prewritten);

impl Formatter for Verbatim<'_> {
    fn write_byte_array<W: ?Sized + Write>(&mut self, writer: &mut W, value: &[u8]) -> io::Result<()> {
        if self.0.holds(value) { writer.write_all(value) } else { CompactFormatter.write_byte_array(writer, value) }
    }
}
