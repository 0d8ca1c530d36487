//! Limits that keep one request from costing the server more than it is
//! worth, in line with graphql-armor's defaults. They run in two steps:
//!
//! 1. **Before parsing**, on the text: its length, its number of tokens and
//!    how deeply brackets nest. The parser recurses once per nesting level,
//!    so a 4 KB document of 2,000 `[` would overflow a worker's stack and
//!    abort the process; it never reaches the parser.
//! 2. **After parsing**, on the document: aliases, directives (unknown ones
//!    are refused), the depth of data selections (introspection is not
//!    counted, so standard tools work) and at most one `__schema`.
//!
//! Complexity (a list's cost times its `first`) is async-graphql's own check,
//! with the costs declared on the list fields.
//!
//! Introspection-only operations are answered from a small cache: the schema
//! does not change while the process runs, so `getIntrospectionQuery()` is
//! computed once. Documents that passed both steps are kept parsed, keyed
//! by their text, so a client's repeated operations are parsed once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::{Directive, DocumentOperations, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Positioned, Request, Response, ServerError, ServerResult, Variables};
use futures_util::StreamExt;

use super::{AppSchema, observe};
use crate::bounded::Bounded;

/// The limits, each configurable by flag or environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Limits {
    /// Largest GraphQL document, bytes.
    #[arg(long = "graphql-max-length", env = "GRAPHQL_MAX_LENGTH", default_value_t = Limits::DEFAULT.max_length, global = true)]
    pub max_length: usize,
    /// Most lexical tokens in a GraphQL document.
    #[arg(long = "graphql-max-tokens", env = "GRAPHQL_MAX_TOKENS", default_value_t = Limits::DEFAULT.max_tokens, global = true)]
    pub max_tokens: usize,
    /// Deepest nesting of `{`, `[` and `(` in a GraphQL document.
    #[arg(long = "graphql-max-nesting", env = "GRAPHQL_MAX_NESTING", default_value_t = Limits::DEFAULT.max_nesting, global = true)]
    pub max_nesting: usize,
    /// Most aliased fields in a GraphQL document.
    #[arg(long = "graphql-max-aliases", env = "GRAPHQL_MAX_ALIASES", default_value_t = Limits::DEFAULT.max_aliases, global = true)]
    pub max_aliases: usize,
    /// Most directive uses in a GraphQL document.
    #[arg(long = "graphql-max-directives", env = "GRAPHQL_MAX_DIRECTIVES", default_value_t = Limits::DEFAULT.max_directives, global = true)]
    pub max_directives: usize,
    /// Deepest data selection (introspection not counted).
    #[arg(long = "graphql-max-depth", env = "GRAPHQL_MAX_DEPTH", default_value_t = Limits::DEFAULT.max_depth, global = true)]
    pub max_depth: usize,
    /// Highest complexity: each field costs 1, a list its `first` times
    /// what it selects.
    #[arg(long = "graphql-max-complexity", env = "GRAPHQL_MAX_COMPLEXITY", default_value_t = Limits::DEFAULT.max_complexity, global = true)]
    pub max_complexity: usize,
}

impl Limits {
    /// graphql-armor's defaults where it has one (tokens 1,000, aliases 15,
    /// directives 50); our own for the rest (README, "Request limits").
    pub const DEFAULT: Limits = Limits {
        max_length: 32 * 1024,
        max_tokens: 1_000,
        max_nesting: 40,
        max_aliases: 15,
        max_directives: 50,
        max_depth: 12,
        max_complexity: 5_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A refusal: VALIDATION with the limit's name and value, so a client can
/// tell which limit it hit.
fn refusal(limit: &str, max: usize, message: String) -> ServerError {
    let mut err = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", "VALIDATION");
    ext.set("limit", limit);
    ext.set("max", max as u64);
    err.extensions = Some(ext);
    err
}

/// Whether an error is one of these refusals (the HTTP layer answers 400).
pub fn is_refusal(err: &ServerError) -> bool {
    err.extensions.as_ref().is_some_and(|e| e.get("limit").is_some())
}

impl Limits {
    /// Step 1, on the text. Stops at the first limit crossed, so a huge
    /// document costs no more than the limit to reject.
    pub fn scan(&self, query: &str) -> ServerResult<()> {
        if query.len() > self.max_length {
            return Err(refusal(
                "length",
                self.max_length,
                format!("the document is longer than {} bytes", self.max_length),
            ));
        }
        let mut lexer = Lexer { bytes: query.as_bytes(), at: 0 };
        let (mut tokens, mut nesting) = (0usize, 0usize);
        while let Some(token) = lexer.next_token() {
            tokens += 1;
            if tokens > self.max_tokens {
                return Err(refusal(
                    "tokens",
                    self.max_tokens,
                    format!("the document has more than {} tokens", self.max_tokens),
                ));
            }
            match token {
                b'{' | b'[' | b'(' => {
                    nesting += 1;
                    if nesting > self.max_nesting {
                        return Err(refusal(
                            "nesting",
                            self.max_nesting,
                            format!("the document nests brackets more than {} deep", self.max_nesting),
                        ));
                    }
                }
                b'}' | b']' | b')' => nesting = nesting.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }

    /// Step 2, on the parsed document.
    pub fn check(&self, doc: &ExecutableDocument) -> ServerResult<()> {
        let mut walk = Walk { doc, aliases: 0, directives: 0, unknown: None, fragments: HashMap::new() };
        let mut shape = Shape::default();
        for (_, op) in doc.operations.iter() {
            walk.directives(&op.node.directives, false);
            for var in &op.node.variable_definitions {
                walk.directives(&var.node.directives, false);
            }
            walk.count(&op.node.selection_set.node);
            let s = walk.shape(&op.node.selection_set.node);
            shape = Shape { depth: shape.depth.max(s.depth), schemas: shape.schemas.saturating_add(s.schemas) };
        }
        for fragment in doc.fragments.values() {
            walk.directives(&fragment.node.directives, false);
            walk.count(&fragment.node.selection_set.node);
        }
        if let Some(name) = walk.unknown {
            return Err(refusal("directives", self.max_directives, format!("unknown directive \"@{name}\" here")));
        }
        if walk.aliases > self.max_aliases {
            return Err(refusal(
                "aliases",
                self.max_aliases,
                format!("the document has {} aliases; at most {} are allowed", walk.aliases, self.max_aliases),
            ));
        }
        if walk.directives > self.max_directives {
            return Err(refusal(
                "directives",
                self.max_directives,
                format!("the document has more than {} directives", self.max_directives),
            ));
        }
        if shape.depth > self.max_depth {
            return Err(refusal(
                "depth",
                self.max_depth,
                format!("the query is nested deeper than {} levels", self.max_depth),
            ));
        }
        if shape.schemas > 1 {
            return Err(refusal("introspection", 1, "`__schema` may be asked for once per operation".into()));
        }
        Ok(())
    }
}

/// A GraphQL lexer that only finds token boundaries: each call returns the
/// token's first byte (punctuators are their own byte; `...` is one token).
struct Lexer<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Lexer<'_> {
    fn next_token(&mut self) -> Option<u8> {
        loop {
            let c = *self.bytes.get(self.at)?;
            match c {
                // Ignored tokens: white space, line terminators, commas, a BOM.
                b' ' | b'\t' | b'\n' | b'\r' | b',' => self.at += 1,
                0xEF if self.bytes[self.at..].starts_with(&[0xEF, 0xBB, 0xBF]) => self.at += 3,
                b'#' => {
                    while self.bytes.get(self.at).is_some_and(|&b| b != b'\n' && b != b'\r') {
                        self.at += 1;
                    }
                }
                b'"' => {
                    self.string();
                    return Some(c);
                }
                b'.' if self.bytes[self.at..].starts_with(b"...") => {
                    self.at += 3;
                    return Some(c);
                }
                c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                    // Names and numbers (with `.`, exponents and signs).
                    self.at += 1;
                    while self
                        .bytes
                        .get(self.at)
                        .is_some_and(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'))
                    {
                        self.at += 1;
                    }
                    return Some(c);
                }
                _ => {
                    // A punctuator, or a character the parser will refuse.
                    self.at += 1;
                    return Some(c);
                }
            }
        }
    }

    /// Skips a string or block string (the opening quote is at `at`).
    fn string(&mut self) {
        if self.bytes[self.at..].starts_with(b"\"\"\"") {
            self.at += 3;
            while self.at < self.bytes.len() {
                if self.bytes[self.at..].starts_with(b"\\\"\"\"") {
                    self.at += 4;
                } else if self.bytes[self.at..].starts_with(b"\"\"\"") {
                    self.at += 3;
                    return;
                } else {
                    self.at += 1;
                }
            }
            return;
        }
        self.at += 1;
        while let Some(&b) = self.bytes.get(self.at) {
            self.at += 1;
            match b {
                b'\\' => self.at += 1,
                b'"' | b'\n' | b'\r' => return,
                _ => {}
            }
        }
    }
}

/// Counts over a document: aliases and directives as written (each
/// fragment once, where it is defined); depth and `__schema` as executed
/// (fragments expanded where spread, each fragment's shape computed once, so
/// neither a cycle nor fragments spread many times can make this slow).
struct Walk<'a> {
    doc: &'a ExecutableDocument,
    aliases: usize,
    directives: usize,
    unknown: Option<String>,
    /// Each fragment's shape; `None` while it is being computed (a cycle,
    /// which validation refuses later).
    fragments: HashMap<&'a str, Option<Shape>>,
}

/// How deep a selection set goes and how often it asks for `__schema`.
#[derive(Debug, Clone, Copy, Default)]
struct Shape {
    depth: usize,
    schemas: usize,
}

/// Executable directives this schema defines (on fields and fragments).
const KNOWN_DIRECTIVES: [&str; 2] = ["skip", "include"];

impl<'a> Walk<'a> {
    fn directives(&mut self, list: &[Positioned<Directive>], allowed_here: bool) {
        self.directives += list.len();
        for d in list {
            let name = d.node.name.node.as_str();
            if self.unknown.is_none() && !(allowed_here && KNOWN_DIRECTIVES.contains(&name)) {
                self.unknown = Some(name.to_owned());
            }
        }
    }

    /// Aliases and directives as written (spreads are not followed).
    fn count(&mut self, set: &'a SelectionSet) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    self.aliases += usize::from(field.node.alias.is_some());
                    self.directives(&field.node.directives, true);
                    self.count(&field.node.selection_set.node);
                }
                Selection::InlineFragment(inline) => {
                    self.directives(&inline.node.directives, true);
                    self.count(&inline.node.selection_set.node);
                }
                Selection::FragmentSpread(spread) => self.directives(&spread.node.directives, true),
            }
        }
    }

    /// The shape of a selection set; introspection fields are one level and
    /// are not entered.
    fn shape(&mut self, set: &'a SelectionSet) -> Shape {
        let mut out = Shape::default();
        for item in &set.items {
            let s = match &item.node {
                Selection::Field(field) => {
                    let (name, children) = (field.node.name.node.as_str(), &field.node.selection_set.node);
                    if name.starts_with("__") || children.items.is_empty() {
                        Shape { depth: 1, schemas: usize::from(name == "__schema") }
                    } else {
                        let inner = self.shape(children);
                        Shape { depth: inner.depth + 1, schemas: inner.schemas }
                    }
                }
                Selection::InlineFragment(inline) => self.shape(&inline.node.selection_set.node),
                Selection::FragmentSpread(spread) => self.fragment(spread.node.fragment_name.node.as_str()),
            };
            out = Shape { depth: out.depth.max(s.depth), schemas: out.schemas.saturating_add(s.schemas) };
        }
        out
    }

    fn fragment(&mut self, name: &'a str) -> Shape {
        match self.fragments.get(name) {
            Some(Some(shape)) => return *shape,
            Some(None) => return Shape::default(),
            None => {}
        }
        let Some(fragment) = self.doc.fragments.get(name) else { return Shape::default() };
        self.fragments.insert(name, None);
        let shape = self.shape(&fragment.node.selection_set.node);
        self.fragments.insert(name, Some(shape));
        shape
    }
}

/// No string of a request may hold NUL (U+0000): PostgreSQL cannot store
/// it, and no field means it. Refused up front for every field, so no
/// resolver can forget to (other control characters are each input's own
/// rule, `service::required_text`).
fn refuse_nul(doc: &ExecutableDocument, variables: &Variables) -> ServerResult<()> {
    use async_graphql::Value as ConstValue;
    fn in_const(v: &ConstValue) -> bool {
        match v {
            ConstValue::String(s) => s.contains('\0'),
            ConstValue::List(items) => items.iter().any(in_const),
            ConstValue::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || in_const(v)),
            _ => false,
        }
    }
    fn in_set(set: &SelectionSet) -> bool {
        set.items.iter().any(|item| match &item.node {
            Selection::Field(f) => {
                // Literals only: variables are checked as variables.
                f.node.arguments.iter().any(|(_, v)| {
                    v.node.clone().into_const_with(|_| Ok::<_, ()>(ConstValue::Null)).is_ok_and(|c| in_const(&c))
                }) || in_set(&f.node.selection_set.node)
            }
            Selection::InlineFragment(i) => in_set(&i.node.selection_set.node),
            Selection::FragmentSpread(_) => false,
        })
    }
    let in_doc = doc.operations.iter().any(|(_, op)| in_set(&op.node.selection_set.node))
        || doc.fragments.values().any(|f| in_set(&f.node.selection_set.node));
    if in_doc || variables.iter().any(|(_, v)| in_const(v)) {
        let mut err = ServerError::new("strings must not contain NUL (U+0000)", None);
        let mut ext = async_graphql::ErrorExtensionValues::default();
        ext.set("code", "VALIDATION");
        err.extensions = Some(ext);
        return Err(err);
    }
    Ok(())
}

/// Whether every operation selects only introspection (`__schema`,
/// `__type`, `__typename`), so its answer is the same for every caller.
fn introspection_only(doc: &ExecutableDocument) -> bool {
    fn only(doc: &ExecutableDocument, set: &SelectionSet, hops: usize) -> bool {
        hops < 8
            && set.items.iter().all(|item| match &item.node {
                Selection::Field(f) => f.node.name.node.starts_with("__"),
                Selection::InlineFragment(i) => only(doc, &i.node.selection_set.node, hops + 1),
                Selection::FragmentSpread(s) => doc
                    .fragments
                    .get(&s.node.fragment_name.node)
                    .is_some_and(|f| only(doc, &f.node.selection_set.node, hops + 1)),
            })
    }
    let ops: Vec<_> = match &doc.operations {
        DocumentOperations::Single(op) => vec![op],
        DocumentOperations::Multiple(map) => map.values().collect(),
    };
    ops.iter().all(|op| {
        op.node.ty == async_graphql::parser::types::OperationType::Query && only(doc, &op.node.selection_set.node, 0)
    })
}

/// Cached introspection answers, keyed by the request (tools send a handful
/// of distinct queries).
const CACHED_ANSWERS: usize = 32;

/// Parsed documents that passed the limits, keyed by their text: parsing was
/// a tenth of the CPU of a request for one referral. Only documents up to
/// `CACHED_DOCUMENT_BYTES` are kept, so the cache holds a few MiB at most.
const CACHED_DOCUMENTS: usize = 128;
const CACHED_DOCUMENT_BYTES: usize = 4 * 1024;

/// Where every request enters the schema, over HTTP or a WebSocket: the
/// limits, the introspection cache and the operation metrics. It wraps the
/// engine rather than extending it: an async-graphql extension is called
/// around every field of every response, which cost a tenth of a list
/// request's CPU for hooks that only need the whole request.
pub struct Gate {
    limits: Limits,
    answers: Bounded<async_graphql::Value>,
    documents: Bounded<Arc<ExecutableDocument>>,
}

/// What the gate learned of an admitted request.
struct Admitted {
    kind: observe::OperationKind,
    /// Set when the request is introspection only: its cache key.
    cache_key: Option<String>,
}

impl Gate {
    pub fn new(limits: Limits) -> Self {
        Self { limits, answers: Bounded::new(CACHED_ANSWERS), documents: Bounded::new(CACHED_DOCUMENTS) }
    }

    /// Steps 1 and 2. The document is parsed here, once (or found parsed
    /// and within the limits in the cache): the engine runs the parsed
    /// document it finds in the request. What depends on the variables is
    /// checked on every request.
    fn admit(&self, request: &mut Request) -> ServerResult<Admitted> {
        // Only a document small enough to be kept is looked up: a larger
        // one is never hashed before the limits have read it.
        let cached = (request.query.len() <= CACHED_DOCUMENT_BYTES).then(|| self.documents.get(&request.query));
        let doc = match cached.flatten() {
            Some(doc) => ExecutableDocument::clone(&doc),
            None => self.parse(&request.query)?,
        };
        refuse_nul(&doc, &request.variables)?;
        let kind = observe::OperationKind::of(&doc, request.operation_name.as_deref());
        let cache_key = introspection_only(&doc).then(|| {
            format!(
                "{}\u{0}{}\u{0}{}",
                request.query,
                request.operation_name.as_deref().unwrap_or(""),
                serde_json::to_string(&request.variables).unwrap_or_default()
            )
        });
        request.set_parsed_query(doc);
        Ok(Admitted { kind, cache_key })
    }

    /// Steps 1 and 2 on a document not in the cache; one that passes is
    /// kept if it is small.
    fn parse(&self, query: &str) -> ServerResult<ExecutableDocument> {
        // Before the engine parses anything.
        self.limits.scan(query)?;
        let doc = async_graphql::parser::parse_query(query)?;
        self.limits.check(&doc)?;
        if query.len() <= CACHED_DOCUMENT_BYTES {
            self.documents.put(query.to_owned(), Arc::new(doc.clone()));
        }
        Ok(doc)
    }

    /// Runs a query or mutation; `prepare` adds what the request needs
    /// once its operation is known.
    pub async fn execute(
        &self,
        schema: &AppSchema,
        mut request: Request,
        prepare: impl FnOnce(Request, observe::OperationKind) -> Request,
    ) -> Response {
        let admitted = match self.admit(&mut request) {
            Ok(admitted) => admitted,
            Err(refused) => return Response::from_errors(vec![refused]),
        };
        if let Some(hit) = admitted.cache_key.as_deref().and_then(|key| self.answers.get(key)) {
            return Response::new(hit);
        }
        let request = prepare(request, admitted.kind);
        let started = Instant::now();
        let response = self.name_complexity(schema.execute(request).await);
        observe::record(admitted.kind, started.elapsed(), &response);
        if let Some(key) = admitted.cache_key
            && response.errors.is_empty()
        {
            self.answers.put(key, response.data.clone());
        }
        response
    }

    /// Runs a subscription (or any operation sent over a WebSocket).
    pub fn execute_stream(
        &self,
        schema: &AppSchema,
        mut request: Request,
        session: std::sync::Arc<async_graphql::Data>,
    ) -> futures_util::stream::BoxStream<'static, Response> {
        match self.admit(&mut request) {
            Ok(_) => {
                let max = self.limits.max_complexity;
                schema.execute_stream_with_session_data(request, session).map(move |r| name_complexity(r, max)).boxed()
            }
            Err(refused) => futures_util::stream::once(async move { Response::from_errors(vec![refused]) }).boxed(),
        }
    }

    fn name_complexity(&self, response: Response) -> Response {
        name_complexity(response, self.limits.max_complexity)
    }
}

/// async-graphql's own complexity refusal, named like ours.
fn name_complexity(mut response: Response, max: usize) -> Response {
    for e in &mut response.errors {
        if e.message == "Query is too complex." {
            *e = refusal(
                "complexity",
                max,
                format!(
                    "the query is too complex (at most {max}: each field costs 1, a list its `first` times what it \
                     selects)"
                ),
            );
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit_of(result: ServerResult<()>) -> Option<String> {
        result.err().map(|e| {
            let ext = serde_json::to_value(e.extensions.unwrap()).unwrap();
            ext["limit"].as_str().unwrap().to_owned()
        })
    }

    fn check(query: &str) -> Option<String> {
        let limits = Limits::default();
        limits
            .scan(query)
            .and_then(|()| {
                let doc =
                    async_graphql::parser::parse_query(query).map_err(|e| ServerError::new(e.to_string(), None))?;
                limits.check(&doc)
            })
            .err()
            .map(|e| {
                e.extensions.map_or_else(
                    || "parse".into(),
                    |x| serde_json::to_value(x).unwrap()["limit"].as_str().unwrap_or("?").to_owned(),
                )
            })
    }

    #[test]
    fn a_document_is_cached_only_once_it_passed_the_limits() {
        let gate = Gate::new(Limits::default());
        let over = format!("{{ {} }}", (0..16).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" "));
        for _ in 0..2 {
            let refused = gate.admit(&mut Request::new(over.clone())).err().expect("too many aliases");
            assert!(is_refusal(&refused), "{refused:?}");
        }
        assert!(gate.documents.get(&over).is_none());
        let fine = "{ __typename }";
        gate.admit(&mut Request::new(fine)).unwrap();
        assert!(gate.documents.get(fine).is_some());
        let huge = format!("{{ __typename {} }}", "# padding\n".repeat(500));
        gate.admit(&mut Request::new(huge.clone())).unwrap();
        assert!(gate.documents.get(&huge).is_none(), "documents over 4 KiB are not kept");
    }

    #[test]
    fn deep_brackets_are_refused_before_parsing() {
        let limits = Limits::default();
        let lists = format!("{{ __typename(a: {}1{}) }}", "[".repeat(2000), "]".repeat(2000));
        assert_eq!(limit_of(limits.scan(&lists)).as_deref(), Some("nesting"));
        let objects = format!("{{ a(b: {}) }}", "{c: ".repeat(2000) + &"}".repeat(2000));
        assert_eq!(limit_of(limits.scan(&objects)).as_deref(), Some("nesting"));
        // 40 levels are fine; 41 are not.
        let ok = format!("{{ a(b: {}1{}) }}", "[".repeat(38), "]".repeat(38));
        assert_eq!(limit_of(limits.scan(&ok)), None);
        let over = format!("{{ a(b: {}1{}) }}", "[".repeat(39), "]".repeat(39));
        assert_eq!(limit_of(limits.scan(&over)).as_deref(), Some("nesting"));
    }

    #[test]
    fn brackets_inside_strings_and_comments_do_not_count() {
        let limits = Limits::default();
        let q =
            format!("{{ a(b: \"{}\", c: \"\"\"{}\"\"\") # {}\n }}", "[".repeat(500), "{".repeat(500), "(".repeat(500));
        assert_eq!(limit_of(limits.scan(&q)), None);
    }

    #[test]
    fn tokens_and_length_are_counted() {
        let limits = Limits::default();
        let many = format!("{{ {} }}", "a ".repeat(999));
        assert_eq!(limit_of(limits.scan(&many)).as_deref(), Some("tokens"));
        let fits = format!("{{ {} }}", "a ".repeat(998));
        assert_eq!(limit_of(limits.scan(&fits)), None);
        let long = format!("{{ a(b: \"{}\") }}", "x".repeat(40_000));
        assert_eq!(limit_of(limits.scan(&long)).as_deref(), Some("length"));
        // `...` is one token, a string one, a comment none.
        let mut lexer = Lexer { bytes: br#"{ ...F a(b: "x y z") # c d e"#, at: 0 };
        let mut n = 0;
        while lexer.next_token().is_some() {
            n += 1;
        }
        assert_eq!(n, 9);
    }

    #[test]
    fn aliases_directives_and_depth() {
        let aliases = |n: usize| format!("{{ {} }}", (0..n).map(|i| format!("a{i}: __typename ")).collect::<String>());
        assert_eq!(check(&aliases(15)), None);
        assert_eq!(check(&aliases(16)).as_deref(), Some("aliases"));
        assert_eq!(check("{ a @unknown }").as_deref(), Some("directives"));
        assert_eq!(check("query Q @skip(if: true) { a }").as_deref(), Some("directives"));
        assert_eq!(check("{ a @skip(if: true) b @include(if: false) }"), None);
        let many = format!("{{ a {} }}", "@skip(if: false) ".repeat(51));
        assert_eq!(check(&many).as_deref(), Some("directives"));
        let nest = |n: usize| format!("{{ {}x{}", "a { ".repeat(n - 1), " }".repeat(n));
        assert_eq!(check(&nest(12)), None);
        assert_eq!(check(&nest(13)).as_deref(), Some("depth"));
    }

    #[test]
    fn introspection_does_not_count_in_depth_but_schema_is_asked_once() {
        let deep_introspection = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType \
            { ofType { ofType { ofType { name } } } } } } } } } } } } }";
        assert_eq!(check(deep_introspection), None);
        assert_eq!(
            check("{ a: __schema { __typename } b: __schema { __typename } }").as_deref(),
            Some("introspection")
        );
        assert_eq!(
            check("{ ...F ...F } fragment F on Query { __schema { __typename } }").as_deref(),
            Some("introspection")
        );
    }

    #[test]
    fn fragments_count_in_depth_where_spread_and_cycles_end() {
        let q =
            "{ a { ...F } } fragment F on A { b { c { d { e { f { g { h { i { j { k { l { m } } } } } } } } } } } }";
        assert_eq!(check(q).as_deref(), Some("depth"));
        // A cycle ends (validation refuses it later), and fragments spread
        // twice at each of 60 levels (2^60 expansions) are measured once each.
        let cycle = "{ a { ...F } } fragment F on A { b { ...F } }";
        assert_eq!(check(cycle), None);
        let fan: String = (0..60).map(|i| format!("fragment F{i} on Q {{ ...F{n} ...F{n} }} ", n = i + 1)).collect();
        let started = std::time::Instant::now();
        assert_eq!(check(&format!("{{ ...F0 }} {fan} fragment F60 on Q {{ x }}")), None);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn introspection_only_documents() {
        let doc = |q: &str| async_graphql::parser::parse_query(q).unwrap();
        assert!(introspection_only(&doc("{ __schema { types { name } } }")));
        assert!(introspection_only(&doc(
            "query IntrospectionQuery { __schema { ...S } } fragment S on __Schema { types { name } }"
        )));
        assert!(!introspection_only(&doc("{ __schema { types { name } } me { id } }")));
        assert!(!introspection_only(&doc("mutation { __typename }")));
    }
}
