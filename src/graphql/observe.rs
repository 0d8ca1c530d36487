//! Metrics of GraphQL operations: execution time and count by operation
//! type (`query`, `mutation`), never by operation name (clients choose
//! names, so they would be unbounded labels).

use std::time::Duration;

use async_graphql::Response;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};

/// The type of the operation a request runs, as its metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationKind(&'static str);

impl OperationKind {
    pub fn is_query(self) -> bool {
        self.0 == "query"
    }

    /// The type of the operation the executor will choose (see
    /// [`selected_operation`]); `query` when none can be chosen (the
    /// engine then refuses the request).
    pub fn of(doc: &ExecutableDocument, name: Option<&str>) -> Self {
        Self(match selected_operation(doc, name) {
            Some(OperationType::Mutation) => "mutation",
            Some(OperationType::Subscription) => "subscription",
            _ => "query",
        })
    }
}

/// The type of the operation a request would run, chosen as the executor
/// chooses it: by `operationName`, or the document's only operation (named
/// or not).
pub fn selected_operation(doc: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| op.node.ty),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// Records one executed operation.
pub fn record(kind: OperationKind, took: Duration, response: &Response) {
    let errors = if response.errors.is_empty() { "false" } else { "true" };
    metrics::histogram!("graphql_operation_duration_seconds", "type" => kind.0).record(took.as_secs_f64());
    metrics::counter!("graphql_operations_total", "type" => kind.0, "errors" => errors).increment(1);
}
