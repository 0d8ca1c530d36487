//! `bench resume`: subscribers that come back after missing events
//! (PRODUCT.md §9). On the real server, SQLite or `DATABASE_URL`:
//! - one subscriber resumes after `missed` events (the vendor's own);
//! - `clients` subscribers reconnect at once, each `each` events behind;
//!   time until all have caught up, database statements per reconnect
//!   (`db_statements_total` from `/metrics`), server memory.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{Api, Server, percentile, start};

const EVENTS: &str = "subscription($a: String) { referralEvents(after: $a) { cursor referenceId } }";

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(port: u16, token: &str, after: Option<&str>) -> Socket {
    let mut req = format!("ws://127.0.0.1:{port}/graphql").into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("socket");
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::text(init.to_string())).await.unwrap();
    ws.next().await.unwrap().unwrap();
    let sub = json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS, "variables": { "a": after } } });
    ws.send(Message::text(sub.to_string())).await.unwrap();
    ws
}

/// The cursors of the next `n` events.
async fn receive(ws: &mut Socket, n: usize) -> Vec<String> {
    let mut cursors = Vec::with_capacity(n);
    while cursors.len() < n {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next()).await.expect("an event").unwrap().unwrap();
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            let cursor = v["payload"]["data"]["referralEvents"]["cursor"].as_str();
            cursors.push(cursor.unwrap_or_else(|| panic!("not an event: {v}")).to_owned());
        }
    }
    cursors
}

/// `n` referrals for `partner`, submitted by 16 clients at once; returns the rate.
async fn submit(api: &Api, partner: &Value, n: usize) -> f64 {
    let q = "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { id } }";
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let worker = || async {
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= n {
                return;
            }
            let lead = json!({ "name": format!("Missed {i}") });
            api.post(q, json!({ "i": { "partnerId": partner, "lead": lead } })).await;
        }
    };
    futures_util::future::join_all((0..16).map(|_| worker())).await;
    n as f64 / started.elapsed().as_secs_f64()
}

async fn statements(server: &Server) -> f64 {
    let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", server.port)).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("db_statements_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub async fn run(missed: usize, clients: usize, each: usize) {
    let bin = std::env::current_exe().unwrap().with_file_name("referral-hub");
    let server = start(&bin).await;
    server.cli(&["demo-data"]);
    let token = server.cli(&["token", "--role", "VENDOR", "--org", "1", "--sub", "demo-vendor"]);
    let api = Api::new(&server, &token);
    let q = "{ partners(filter: { status: [ACTIVE] }, first: 1) { edges { node { id } } } }";
    let partner = api.post(q, json!({})).await["partners"]["edges"][0]["node"]["id"].clone();
    let backend =
        if std::env::var("DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) { "PostgreSQL" } else { "SQLite" };

    // A cursor, from one live event: the newest the socket received once
    // things are quiet (an event of the demo data that the server's relay
    // was still publishing would otherwise start the count early).
    let mut ws = subscribe(server.port, &token, None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    submit(&api, &partner, 1).await;
    let mut start_cursor = receive(&mut ws, 1).await.remove(0);
    while let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
        let v: Value = serde_json::from_str(&t).unwrap();
        start_cursor = v["payload"]["data"]["referralEvents"]["cursor"].as_str().unwrap().to_owned();
    }
    drop(ws);

    let rate = submit(&api, &partner, missed).await;
    let before = statements(&server).await;
    let started = Instant::now();
    let mut ws = subscribe(server.port, &token, Some(&start_cursor)).await;
    let cursors = receive(&mut ws, missed).await;
    let replay = started.elapsed();
    let replay_statements = statements(&server).await - before;
    drop(ws);
    println!("{backend}: {missed} events written by 16 API clients at {rate:.0} referrals/s");
    println!("replay of {missed} missed events to one subscriber: {replay:?} ({replay_statements:.0} statements)");

    let behind = cursors.last().unwrap().clone();
    submit(&api, &partner, each).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = server.rss_kib();
    let before = statements(&server).await;
    let started = Instant::now();
    let port = server.port;
    let reconnects = (0..clients).map(|_| {
        let (token, behind) = (token.clone(), behind.clone());
        tokio::spawn(async move {
            let mut ws = subscribe(port, &token, Some(&behind)).await;
            receive(&mut ws, each).await;
            let caught_up = Instant::now();
            // Stay subscribed until every client is back, for the memory figure.
            (caught_up, ws)
        })
    });
    let done = futures_util::future::join_all(reconnects).await;
    let mut times: Vec<Duration> = done.iter().map(|r| r.as_ref().unwrap().0 - started).collect();
    let all = started.elapsed();
    let reconnect_statements = statements(&server).await - before;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = server.rss_kib();
    times.sort();
    println!(
        "{clients} subscribers reconnecting at once, {each} events behind each: all caught up in {all:?} \
         (p50 {:?}, p99 {:?}); {:.1} statements per reconnect; server memory {rss_before} → {rss_after} KiB \
         ({:.1} KiB per subscribed socket)",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        reconnect_statements / clients as f64,
        (rss_after.saturating_sub(rss_before)) as f64 / clients as f64,
    );
    drop(done);
}
