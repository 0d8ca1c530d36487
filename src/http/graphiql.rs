//! GraphiQL, served by the server itself (`assets/graphiql/`, vendored from
//! npm with their licences): the page works with no outside network. It
//! shows how to pass a token (the Headers tab, pre-filled), and runs
//! subscriptions over `graphql-transport-ws` with those headers as the
//! connection parameters. Not served when introspection is off.

use std::io::Read;
use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::HttpState;

/// Part of every asset's path, so browsers may cache them for good: GraphiQL's
/// version and ours.
pub const ASSETS_VERSION: &str = concat!("3.8.3-", env!("CARGO_PKG_VERSION"));

struct Asset {
    name: &'static str,
    content_type: &'static str,
    gzipped: &'static [u8],
}

macro_rules! gz {
    ($file:literal, $type:literal) => {
        Asset {
            name: $file,
            content_type: $type,
            gzipped: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/graphiql/", $file, ".gz")),
        }
    };
}

const ASSETS: [Asset; 5] = [
    gz!("graphiql.min.js", "text/javascript; charset=utf-8"),
    gz!("graphiql.min.css", "text/css; charset=utf-8"),
    gz!("react.production.min.js", "text/javascript; charset=utf-8"),
    gz!("react-dom.production.min.js", "text/javascript; charset=utf-8"),
    gz!("graphql-ws.min.js", "text/javascript; charset=utf-8"),
];

/// Our start-up script: not compressed, it is small.
const INIT_JS: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/graphiql/init.js"));

/// What the editor shows first: how to get and pass a token.
const DEFAULT_QUERY: &str = "# Welcome to Referral Hub's GraphQL API.
#
# Most operations need a bearer token. Put it in the Headers tab below:
#   {\"Authorization\": \"Bearer <token>\"}
# On a development machine, mint one with
#   referral-hub token --role VENDOR --org 1 --sub demo-vendor
# (after `referral-hub demo-data`). Subscriptions run over WebSocket
# with the same headers.

query Me {
  me { id name role organization { name kind } }
}

# subscription Events {
#   referralEvents { kind referenceId status message at }
# }
";

/// The page's Content-Security-Policy: everything from this server, and it
/// may not be framed (clickjacking).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";

/// The GraphiQL page (a browser's GET of `/graphql` without a query).
pub fn page(state: &HttpState) -> Response {
    if !state.graphiql {
        return (StatusCode::NOT_FOUND, "GraphiQL is off (INTROSPECTION=false)").into_response();
    }
    let config = json!({
        "defaultQuery": DEFAULT_QUERY,
        "defaultHeaders": "{\n  \"Authorization\": \"Bearer <token>\"\n}",
    });
    // `<` escaped so the JSON cannot close the script element.
    let config = config.to_string().replace('<', "\\u003c");
    let v = ASSETS_VERSION;
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Referral Hub · GraphiQL</title>
<link rel="stylesheet" href="/graphiql/{v}/graphiql.min.css">
<style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script type="application/json" id="graphiql-config">{config}</script>
<script src="/graphiql/{v}/react.production.min.js"></script>
<script src="/graphiql/{v}/react-dom.production.min.js"></script>
<script src="/graphiql/{v}/graphql-ws.min.js"></script>
<script src="/graphiql/{v}/graphiql.min.js"></script>
<script src="/graphiql/{v}/init.js"></script>
</body>
</html>"#
    );
    let mut response = Html(html).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// `GET /graphiql/{version}/{file}`: gzip as stored to clients that take it,
/// decompressed (once) for the others.
pub async fn asset(
    State(state): State<HttpState>,
    Path((version, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !state.graphiql || version != ASSETS_VERSION {
        return StatusCode::NOT_FOUND.into_response();
    }
    let cache = [(header::CACHE_CONTROL, "public, max-age=31536000, immutable")];
    if file == "init.js" {
        return (cache, [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], INIT_JS).into_response();
    }
    let Some(index) = ASSETS.iter().position(|a| a.name == file) else { return StatusCode::NOT_FOUND.into_response() };
    let asset = &ASSETS[index];
    let vary = (header::VARY, "accept-encoding");
    let content_type = (header::CONTENT_TYPE, asset.content_type);
    if accepts_gzip(&headers) {
        return (cache, [content_type, vary, (header::CONTENT_ENCODING, "gzip")], asset.gzipped).into_response();
    }
    match plain(index) {
        Some(body) => (cache, [content_type, vary], body).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| p.replace(' ', "") == "q=0");
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
    })
}

/// An asset decompressed, once per process.
fn plain(index: usize) -> Option<&'static [u8]> {
    static PLAIN: [OnceLock<Option<Vec<u8>>>; 5] = [const { OnceLock::new() }; 5];
    PLAIN[index]
        .get_or_init(|| {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(ASSETS[index].gzipped).read_to_end(&mut out).ok().map(|_| out)
        })
        .as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_decompresses() {
        for (i, asset) in ASSETS.iter().enumerate() {
            assert!(plain(i).is_some_and(|b| b.len() > asset.gzipped.len()), "{}", asset.name);
        }
    }

    #[test]
    fn gzip_is_negotiated() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&h)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, gzip;q=0.8"));
        assert!(!with("gzip;q=0"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
