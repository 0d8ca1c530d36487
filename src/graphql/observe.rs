//! Metrics of GraphQL operations: execution time and count by operation
//! type (`query`, `mutation`), never by operation name (clients choose
//! names, so they would be unbounded labels).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Response, ServerResult, Variables};

pub struct Observe;

impl ExtensionFactory for Observe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ObserveRequest { kind: Mutex::new("query") })
    }
}

struct ObserveRequest {
    kind: Mutex<&'static str>,
}

fn kind_of(doc: &ExecutableDocument) -> &'static str {
    let first = match &doc.operations {
        DocumentOperations::Single(op) => Some(op.node.ty),
        DocumentOperations::Multiple(ops) => ops.values().next().map(|op| op.node.ty),
    };
    match first {
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        _ => "query",
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ObserveRequest {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        *self.kind.lock().unwrap_or_else(|e| e.into_inner()) = kind_of(&doc);
        Ok(doc)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let started = Instant::now();
        let response = next.run(ctx, operation_name).await;
        let kind = *self.kind.lock().unwrap_or_else(|e| e.into_inner());
        let errors = if response.errors.is_empty() { "false" } else { "true" };
        metrics::histogram!("graphql_operation_duration_seconds", "type" => kind)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("graphql_operations_total", "type" => kind, "errors" => errors).increment(1);
        response
    }
}
