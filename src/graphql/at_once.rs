//! Lists answered at once. The engine resolves each selected field of each
//! object as a future of its own (boxed, joined, its value inserted into the
//! object's map): about 2,000 instructions a field, so a page of fifty
//! referrals showing six fields each (two of them objects) spent more on
//! that machinery than on its statement and its rows together (callgrind, README "The API against
//! PostGraphile"). The fields a page shows are mostly its rows' own
//! columns, which wait on nothing; such a list is answered here: its
//! selection worked out once (`Plan`), then one pass over its items, each
//! field by its type's own resolver (the code the engine would run),
//! polled once, and written straight as JSON text.
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
use std::cell::OnceCell;
use std::future::Future;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::task::{self, Poll};

use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{ContainerType, Context, ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value};
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

    /// The scalar fields the type writes by calling their resolvers itself
    /// (`scalars!`), skipping the engine's dispatch by name and its `Value`,
    /// which cost more than the value. Each is one `at_once` accepts, so
    /// one whose columns a page read
    /// (`tests::a_field_a_type_writes_itself_is_one_its_pages_read`).
    const SCALARS: &'static [&'static str] = &[];

    /// Writes the scalar field `SCALARS[index]` to `out` by its resolver;
    /// `false`, writing nothing, when the resolver fails or would wait (the
    /// engine answers the list then).
    fn scalar(&self, ctx: &Context<'_>, index: usize, out: &mut Scalar<'_>) -> bool {
        let _ = (ctx, index, out);
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
/// JSON object by a plan made for its type, or `None` for the engine.
pub trait Answer {
    /// The plan for objects of this type with the selection set `set`;
    /// `None` when the engine must answer them.
    fn plan<'a>(&self, env: Env<'a>, set: &'a SelectionSet) -> Option<Plan<'a>>;

    fn answer(&self, plan: &Plan<'_>, ctx: &ContextSelectionSet<'_>, out: &mut Vec<u8>) -> Option<()>;
}

impl<T: AtOnce + Sync> Answer for T {
    fn plan<'a>(&self, env: Env<'a>, set: &'a SelectionSet) -> Option<Plan<'a>> {
        Plan::new::<T>(env, set)
    }

    fn answer(&self, plan: &Plan<'_>, ctx: &ContextSelectionSet<'_>, out: &mut Vec<u8>) -> Option<()> {
        plan.write(self, ctx, out)
    }
}

/// What a plan reads of the request: its fragments, and the schema's
/// types (for the interfaces a fragment may be on).
#[derive(Clone, Copy)]
pub struct Env<'a> {
    query: &'a async_graphql::QueryEnv,
    schema: &'a async_graphql::SchemaEnv,
}

impl<'a> Env<'a> {
    fn of(ctx: &ContextSelectionSet<'a>) -> Self {
        Self { query: ctx.query_env, schema: ctx.schema_env }
    }
}

/// How the objects of one type are written for one selection set, worked
/// out once a list rather than once an object: its fragments flattened,
/// its response keys checked and written as JSON, each field's writer
/// found. Each object then only writes: dispatching each field by its
/// name, object by object, cost more than writing it
/// (callgrind, README "The API against PostGraphile").
pub struct Plan<'a> {
    /// The Rust type it was made for (`std::any::type_name`): an object of
    /// another type is not written by it, but by the engine.
    of: &'static str,
    env: Env<'a>,
    steps: Vec<Step<'a>>,
}

/// One field of a plan.
struct Step<'a> {
    /// `"key":`, after a comma but in the first field.
    key: Box<[u8]>,
    field: &'a Positioned<Field>,
    how: How<'a>,
}

/// How a field's value is written.
enum How<'a> {
    Typename,
    /// By the type's own writer: `AtOnce::SCALARS[_]`.
    Scalar(usize),
    /// By the resolver the engine would call, which must be ready at once.
    Resolved,
    /// An object the type answers itself, written by its own plan, made
    /// from the first such object (an object of another type goes to the
    /// engine).
    Object(OnceCell<Option<Plan<'a>>>),
}

impl<'a> Plan<'a> {
    /// The plan for objects of type `T` with the selection set `set`;
    /// `None` when the engine must answer them: a field `T` does not
    /// answer itself, a response key selected twice (which GraphQL merges)
    /// or a directive.
    fn new<T: AtOnce>(env: Env<'a>, set: &'a SelectionSet) -> Option<Self> {
        let mut plan = Plan { of: std::any::type_name::<T>(), env, steps: Vec::with_capacity(set.items.len()) };
        plan.add::<T>(set)?;
        Some(plan)
    }

    /// Adds the fields of `set`, fragments included as the engine includes
    /// them.
    fn add<T: AtOnce>(&mut self, set: &'a SelectionSet) -> Option<()> {
        for selection in &set.items {
            if !selection.node.directives().is_empty() {
                return None;
            }
            match &selection.node {
                Selection::Field(field) => self.add_field::<T>(field)?,
                Selection::FragmentSpread(spread) => {
                    let fragment = self.env.query.fragments.get(&spread.node.fragment_name.node)?;
                    if self.applies::<T>(Some(&fragment.node.type_condition.node.on.node)) {
                        self.add::<T>(&fragment.node.selection_set.node)?;
                    }
                }
                Selection::InlineFragment(fragment) => {
                    if self.applies::<T>(fragment.node.type_condition.as_ref().map(|c| &c.node.on.node)) {
                        self.add::<T>(&fragment.node.selection_set.node)?;
                    }
                }
            }
        }
        Some(())
    }

    fn add_field<T: AtOnce>(&mut self, field: &'a Positioned<Field>) -> Option<()> {
        let key = field.node.response_key().node.as_str();
        if self.steps.iter().any(|step| step.field.node.response_key().node == key) {
            return None;
        }
        let name = field.node.name.node.as_str();
        let how = if name == "__typename" {
            How::Typename
        } else if !field.node.selection_set.node.items.is_empty() {
            How::Object(OnceCell::new())
        } else if let Some(index) = T::SCALARS.iter().position(|scalar| *scalar == name) {
            How::Scalar(index)
        } else if T::at_once(name) {
            How::Resolved
        } else {
            return None;
        };
        // A response key is a GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`, the
        // parser's rule): nothing in it needs escaping.
        let mut text = Vec::with_capacity(key.len() + 4);
        if !self.steps.is_empty() {
            text.push(b',');
        }
        text.push(b'"');
        text.extend_from_slice(key.as_bytes());
        text.extend_from_slice(b"\":");
        self.steps.push(Step { key: text.into_boxed_slice(), field, how });
        Some(())
    }

    /// Whether a fragment on `condition` applies to an object of type
    /// `T`: its own type or an interface it implements (the engine's rule).
    fn applies<T: OutputType>(&self, condition: Option<&Name>) -> bool {
        let Some(on) = condition else { return true };
        let own = T::type_name();
        on.as_str() == own
            || self.env.schema.registry.implements.get(own.as_ref()).is_some_and(|i| i.contains(on.as_str()))
    }

    /// Writes `object` as a JSON object, or `None` for the engine.
    fn write<T: AtOnce + Sync>(&self, object: &T, ctx: &ContextSelectionSet<'_>, out: &mut Vec<u8>) -> Option<()> {
        // The same type's name is mostly the same string: its address
        // answers before its bytes are compared.
        let of = std::any::type_name::<T>();
        if !(std::ptr::eq(self.of, of) || self.of == of) {
            return None;
        }
        out.push(b'{');
        for step in &self.steps {
            out.extend_from_slice(&step.key);
            match &step.how {
                How::Typename => serde_json::to_writer(&mut *out, object.introspection_type_name().as_ref()).ok()?,
                How::Scalar(index) => {
                    if !object.scalar(&ctx.with_field(step.field), *index, &mut Scalar(out)) {
                        return None;
                    }
                }
                How::Resolved => resolved(object, &ctx.with_field(step.field), out)?,
                How::Object(plan) => {
                    let field = ctx.with_field(step.field);
                    let inner = field.with_selection_set(&step.field.node.selection_set);
                    let name = step.field.node.name.node.as_str();
                    object.object(name, &mut |child| match child {
                        Some(child) => {
                            let set = &step.field.node.selection_set.node;
                            child.answer(plan.get_or_init(|| child.plan(self.env, set)).as_ref()?, &inner, out)
                        }
                        None => {
                            out.extend_from_slice(b"null");
                            Some(())
                        }
                    })?;
                }
            }
        }
        out.push(b'}');
        Some(())
    }
}

/// A list's items answered at once as a JSON array, or `None` for the
/// engine.
pub fn list<T: Answer>(items: &[T], ctx: &ContextSelectionSet<'_>) -> Option<Vec<u8>> {
    let Some(first) = items.first() else { return Some(b"[]".to_vec()) };
    let plan = first.plan(Env::of(ctx), &ctx.item.node)?;
    // A little more than a node of a page writes (a referral with its
    // lead and partner: about 180 bytes), so that a page is written
    // without regrowing.
    let mut out = Vec::with_capacity(64 + items.len() * 256);
    out.push(b'[');
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        item.answer(&plan, &ctx.with_index(index), &mut out)?;
    }
    out.push(b']');
    Some(out)
}

/// A field's value by the resolver the engine would call, polled once.
fn resolved<T: AtOnce + Sync>(object: &T, ctx: &Context<'_>, out: &mut Vec<u8>) -> Option<()> {
    // Polled where it lies: a resolver future is as large as the type's
    // largest, about a kilobyte for `Referral`, not worth moving.
    let resolving = std::pin::pin!(object.resolve_field(ctx));
    match resolving.poll(&mut task::Context::from_waker(task::Waker::noop())) {
        Poll::Ready(Ok(Some(value))) => serde_json::to_writer(out, &value).ok(),
        _ => None,
    }
}

/// `AtOnce::SCALARS` for the fields listed, each written by calling its
/// resolver method as `#[Object]` leaves it (taking the field's context,
/// returning a `Result`), which must take no arguments and not wait. What
/// the engine does around a resolver is skipped, so a field with a guard,
/// or any `#[graphql(...)]` attribute acting on its value, stays off the
/// list (a check inside the method, like `money`, still runs). A field
/// listed under another's method would show on a page what the whole row
/// does not: `tests/api/reads.rs` compares every field.
macro_rules! scalars {
    ($($field:literal => $method:ident),* $(,)?) => {
        const SCALARS: &'static [&'static str] = &[$($field),*];

        fn scalar(
            &self,
            ctx: &async_graphql::Context<'_>,
            index: usize,
            out: &mut $crate::graphql::at_once::Scalar<'_>,
        ) -> bool {
            // `SCALARS[index]`'s resolver: the compiler makes these tests
            // of a constant one jump.
            let mut at = 0;
            $(
                if index == at {
                    return out.show(self.$method(ctx));
                }
                at += 1;
            )*
            let _ = at;
            false
        }
    };
}
pub(crate) use scalars;

/// Where a type's `AtOnce::scalar` writes a field's value.
pub struct Scalar<'a>(&'a mut Vec<u8>);

impl Scalar<'_> {
    /// Writes what `resolving` (a field's resolver, called) gives at once;
    /// `false`, writing nothing, when it fails or would wait.
    pub fn show<T: Shown>(&mut self, resolving: impl Future<Output = async_graphql::Result<T>>) -> bool {
        let resolving = std::pin::pin!(resolving);
        match resolving.poll(&mut task::Context::from_waker(task::Waker::noop())) {
            Poll::Ready(Ok(value)) => {
                value.show(self.0);
                true
            }
            _ => false,
        }
    }
}

/// A scalar written as JSON exactly as the engine writes its `Value`
/// (`tests::each_scalar_is_written_as_the_engine_writes_it`).
pub trait Shown {
    fn show(&self, out: &mut Vec<u8>);
}

impl Shown for str {
    fn show(&self, out: &mut Vec<u8>) {
        // Writing to a vector fails only for a value that refuses to be
        // serialized, which a string never does.
        let _ = serde_json::to_writer(out, self);
    }
}

impl<T: Shown + ?Sized> Shown for &T {
    fn show(&self, out: &mut Vec<u8>) {
        T::show(self, out)
    }
}

impl Shown for String {
    fn show(&self, out: &mut Vec<u8>) {
        self.as_str().show(out)
    }
}

impl Shown for async_graphql::ID {
    fn show(&self, out: &mut Vec<u8>) {
        self.as_str().show(out)
    }
}

impl Shown for bool {
    fn show(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

impl Shown for i32 {
    fn show(&self, out: &mut Vec<u8>) {
        let _ = serde_json::to_writer(out, self);
    }
}

/// The `DateTime` scalar's form: `to_rfc3339`, as its `to_value` writes it
/// (seconds with the fraction's shortest of 0, 3, 6 or 9 digits,
/// `+00:00`), written here digit by digit: chrono's formatter and the
/// string it returns cost ~550 instructions a time, fifty times a page.
/// Years outside 0–9999 (written with a sign) and leap seconds, which no
/// stored time has, are left to chrono.
impl Shown for chrono::DateTime<chrono::Utc> {
    fn show(&self, out: &mut Vec<u8>) {
        use chrono::{Datelike, Timelike};
        // Nothing in an RFC 3339 time needs escaping.
        out.push(b'"');
        let (date, time) = (self.date_naive(), self.time());
        let nanos = time.nanosecond();
        match u32::try_from(date.year()) {
            Ok(year) if year <= 9999 && nanos < 1_000_000_000 => {
                let seconds = time.num_seconds_from_midnight();
                let mut text = *b"0000-00-00T00:00:00.000000000+00:00";
                for (at, value) in [
                    (0..4, year),
                    (5..7, date.month()),
                    (8..10, date.day()),
                    (11..13, seconds / 3600),
                    (14..16, seconds / 60 % 60),
                    (17..19, seconds % 60),
                ] {
                    digits(&mut text[at], value);
                }
                let (fraction, width) = match nanos {
                    0 => (0, 0),
                    n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
                    n if n % 1_000 == 0 => (n / 1_000, 6),
                    n => (n, 9),
                };
                digits(&mut text[20..20 + width], fraction);
                // The fraction's point only with a fraction.
                out.extend_from_slice(&text[..19 + usize::from(width > 0) + width]);
                out.extend_from_slice(&text[29..]);
            }
            _ => out.extend_from_slice(self.to_rfc3339().as_bytes()),
        }
        out.push(b'"');
    }
}

/// Writes `value` in decimal into `place`, zero-padded (it has no more
/// digits than `place` has room for).
fn digits(place: &mut [u8], mut value: u32) {
    for digit in place.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

impl<T: Shown> Shown for Option<T> {
    fn show(&self, out: &mut Vec<u8>) {
        match self {
            Some(value) => value.show(out),
            None => out.extend_from_slice(b"null"),
        }
    }
}

/// An enum's GraphQL name, from the engine's own table of them (for
/// `Shown` of the API's enums: `enums::mirror!`).
pub fn show_enum<E: async_graphql::resolver_utils::EnumType>(value: E, out: &mut Vec<u8>) {
    // Every variant is in the table (the derive writes it from them).
    let name = E::items().iter().find(|item| item.value == value).map_or("", |item| item.name);
    name.show(out)
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

#[cfg(test)]
mod tests {
    use async_graphql::resolver_utils::{EnumType, enum_value};
    use async_graphql::{ID, ScalarType};
    use chrono::{DateTime, Datelike, TimeZone, Utc};

    use super::{AtOnce, Shown};
    use crate::graphql::enums::{PartnerStatus, ReferralStatus};
    use crate::graphql::partner::Partner;
    use crate::graphql::referral::{LeadDetails, Referral};

    fn ours(value: impl Shown) -> String {
        let mut out = Vec::new();
        value.show(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn engine(value: async_graphql::Value) -> String {
        serde_json::to_string(&value).unwrap()
    }

    fn every_variant<E: EnumType + Shown>() {
        for item in E::items() {
            assert_eq!(ours(item.value), engine(enum_value(item.value)), "{}", item.name);
        }
    }

    #[test]
    fn each_scalar_is_written_as_the_engine_writes_it() {
        for text in ["", "plain", "quote \" backslash \\ newline \n tab \t", "\u{1}\u{1f} control", "é 😀 </script>"]
        {
            assert_eq!(ours(text), engine(text.to_owned().to_value()), "{text:?}");
            assert_eq!(ours(text.to_owned()), engine(text.to_owned().to_value()), "{text:?}");
            assert_eq!(ours(ID::from(text)), engine(ID::from(text).to_value()), "{text:?}");
        }
        for flag in [true, false] {
            assert_eq!(ours(flag), engine(flag.to_value()));
        }
        for number in [0, -5, 42, i32::MIN, i32::MAX] {
            assert_eq!(ours(number), engine(number.to_value()));
        }
        for time in times() {
            assert_eq!(ours(time), engine(time.to_value()), "{time:?}");
        }
        assert_eq!(ours(None::<&str>), "null");
        assert_eq!(ours(Some("x")), engine(async_graphql::Value::String("x".into())));
        assert_eq!(ours(None::<DateTime<Utc>>), engine(async_graphql::Value::Null));
        every_variant::<ReferralStatus>();
        every_variant::<PartnerStatus>();
    }

    /// Times of every form `to_rfc3339` gives: whole seconds, milli-,
    /// micro- and nanoseconds, a leap second, years of one to six digits
    /// and before year 1, and a sweep of the years the API stores.
    fn times() -> Vec<DateTime<Utc>> {
        let whole = Utc.with_ymd_and_hms(2025, 2, 4, 17, 20, 0).unwrap();
        let mut times = vec![DateTime::<Utc>::UNIX_EPOCH, whole];
        for nanos in [1, 5_000, 120_000_000, 123_456_789, 999_999_999, 100_000, 7_000_000] {
            times.push(whole + chrono::Duration::nanoseconds(nanos));
        }
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31).unwrap().and_hms_nano_opt(23, 59, 59, 1_250_000_000);
        times.push(leap.unwrap().and_utc());
        for year in [1, 9, 10, 99, 100, 999, 1000, 9999, 10_000, 262_000, 0, -1, -10_000] {
            let day = chrono::NaiveDate::from_ymd_opt(year, 12, 31).unwrap();
            times.push(day.and_hms_micro_opt(1, 2, 3, 456).unwrap().and_utc());
        }
        // Every 7,777,777.777 seconds from 1970 for ~250 years.
        let mut t = DateTime::<Utc>::UNIX_EPOCH;
        while t.year() < 2220 {
            times.push(t);
            t += chrono::Duration::milliseconds(7_777_777_777) + chrono::Duration::nanoseconds(1_001);
        }
        times
    }

    fn each_written_itself_is_read<T: AtOnce>() {
        assert!(!T::SCALARS.is_empty());
        for field in T::SCALARS {
            assert!(T::at_once(field), "{}.{field} is written without its columns being read", T::type_name());
        }
    }

    #[test]
    fn a_field_a_type_writes_itself_is_one_its_pages_read() {
        each_written_itself_is_read::<Referral>();
        each_written_itself_is_read::<LeadDetails<'static>>();
        each_written_itself_is_read::<Partner>();
    }
}
