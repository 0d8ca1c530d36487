//! The HTTP surface: GraphQL over HTTP details, health, metrics, GraphiQL,
//! limits and the WebSocket handshake.

use crate::common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn mutations_over_get_are_refused_with_405() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/graphql", app.base))
        .query(&[("query", "mutation { runJob(name: LAPSE_PARTNERS) { id } }")])
        .bearer_auth(app.admin())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
    let runs = app.ok(&app.admin(), "{ jobRuns { totalCount } }", json!({})).await;
    assert_eq!(runs["jobRuns"]["totalCount"], 0, "nothing ran");
    // Queries over GET work.
    let res =
        app.client.get(format!("{}/graphql", app.base)).query(&[("query", "{ __typename }")]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
}

#[tokio::test]
async fn batches_are_refused() {
    let app = spawn_app().await;
    let batch = json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]);
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("accept", "application/graphql-response+json")
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("batched"));
    assert!(body.get("data").is_none());
}

#[tokio::test]
async fn validation_errors_carry_a_code_and_no_data() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ noSuchField }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/graphql-response+json; charset=utf-8");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION");
    assert!(body.get("data").is_none());
    // Plain JSON clients get 200 with errors.
    let (status, body) = app.post(None, "{ noSuchField }", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION");
}

#[tokio::test]
async fn health_readiness_metrics_and_request_ids() {
    let app = spawn_app().await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.base)).send();
    let health = get("/healthz").await.unwrap();
    assert_eq!(health.status(), 200);
    let id = |response: &reqwest::Response| {
        let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        let uuid = uuid::Uuid::parse_str(&id).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(uuid.get_version(), Some(uuid::Version::Random), "{id}");
        id
    };
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_ne!(id(&health), id(&ready), "each request gets an id of its own");
    app.post(None, "{ __typename }", json!({})).await;
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
}

#[tokio::test]
async fn browsers_get_graphiql() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/graphql", app.base))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().to_lowercase().contains("graphiql"));
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = spawn_app().await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .body(format!("{{\"query\":\"{{ __typename }}\",\"variables\":{{\"a\":\"{huge}\"}}}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
}
