//! The floor of `bench/api.sh`'s request (a) in this stack, without GraphQL:
//! an axum route that runs the statement pgbench runs for (a) on a pool
//! from `db::connect` (the server's settings), and writes the page's JSON
//! with serde. What our server costs above it is the GraphQL engine's;
//! what it costs above pgbench is HTTP, sqlx, SeaORM and serde's.
//!
//! An example, not a `bench` subcommand: it runs on the server's allocator,
//! where the bench binary counts every allocation.
//!
//!   cargo run --release --example api_floor -- DATABASE_URL SQL_FILE 127.0.0.1:PORT
//!
//! SQL_FILE is `bench/api.sh`'s statement (a): the referral's id, reference
//! id, status, lead name and creation time in columns 1, 3, 4, 5 and 6,
//! the partner's name in column 8.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryResult, Statement};
use serde::Serialize;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The page (a) asks for: 50 referrals, each with its lead's and partner's name.
const PAGE: usize = 50;

const JSON: [(header::HeaderName, &str); 1] = [(header::CONTENT_TYPE, "application/json")];

#[derive(Serialize)]
struct Name {
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    id: String,
    reference_id: String,
    status: Option<String>,
    created_at: String,
    lead: Name,
    partner: Option<Name>,
}

#[derive(Serialize)]
struct Edge {
    node: Node,
}

#[derive(Serialize)]
struct Page {
    edges: Vec<Edge>,
}

#[derive(Serialize)]
struct Data {
    referrals: Page,
}

#[derive(Serialize)]
struct Body {
    data: Data,
}

#[derive(Clone)]
struct Floor {
    db: DatabaseConnection,
    sql: String,
}

fn node(row: &QueryResult) -> Result<Node, sea_orm::DbErr> {
    let created: chrono::DateTime<chrono::Utc> = row.try_get_by_index(5)?;
    Ok(Node {
        id: referral_hub::ids::encode("Referral", row.try_get_by_index(0)?),
        reference_id: row.try_get_by_index(2)?,
        status: row.try_get_by_index(3)?,
        created_at: created.to_rfc3339(),
        lead: Name { name: row.try_get_by_index(4)? },
        partner: row.try_get_by_index::<Option<String>>(7)?.map(|name| Name { name }),
    })
}

async fn page(State(floor): State<Floor>, body: Bytes) -> impl IntoResponse {
    // The server parses the request body too.
    if serde_json::from_slice::<serde_json::Value>(&body).is_err() {
        return (StatusCode::BAD_REQUEST, JSON, Vec::new());
    }
    let statement = Statement::from_string(floor.db.get_database_backend(), floor.sql.clone());
    let edges = match floor.db.query_all_raw(statement).await {
        Ok(rows) => rows.iter().take(PAGE).map(|r| node(r).map(|node| Edge { node })).collect(),
        Err(e) => Err(e),
    };
    match edges {
        Ok(edges) => {
            let body = Body { data: Data { referrals: Page { edges } } };
            (StatusCode::OK, JSON, serde_json::to_vec(&body).unwrap_or_default())
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, JSON, e.to_string().into_bytes()),
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, sql_file, bind] = args.as_slice() else {
        return Err("usage: api_floor DATABASE_URL SQL_FILE ADDRESS".into());
    };
    let sql = std::fs::read_to_string(sql_file).map_err(|e| format!("{sql_file}: {e}"))?;
    let db = referral_hub::db::connect(url).await?;
    let floor = Floor { db, sql: sql.trim().trim_end_matches(';').to_owned() };
    let app = Router::new().route("/graphql", post(page)).with_state(floor);
    let listener = tokio::net::TcpListener::bind(bind).await.map_err(|e| format!("{bind}: {e}"))?;
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
