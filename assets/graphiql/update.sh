#!/usr/bin/env bash
# Refreshes the vendored GraphiQL assets from the npm registry.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack graphiql@3.8.3 react@18.3.1 react-dom@18.3.1 graphql-ws@5.16.2 >/dev/null)
for f in "$work"/*.tgz; do d="$work/$(basename "$f" .tgz)"; mkdir -p "$d"; tar xzf "$f" -C "$d"; done
gz() { gzip -9 -n -c "$1" >"$2"; }
gz "$work"/graphiql-3.8.3/package/graphiql.min.js graphiql.min.js.gz
gz "$work"/graphiql-3.8.3/package/graphiql.min.css graphiql.min.css.gz
gz "$work"/react-18.3.1/package/umd/react.production.min.js react.production.min.js.gz
gz "$work"/react-dom-18.3.1/package/umd/react-dom.production.min.js react-dom.production.min.js.gz
gz "$work"/graphql-ws-5.16.2/package/umd/graphql-ws.min.js graphql-ws.min.js.gz
cp "$work"/graphiql-3.8.3/package/LICENSE LICENSE.graphiql
cp "$work"/react-18.3.1/package/LICENSE LICENSE.react
cp "$work"/react-dom-18.3.1/package/LICENSE LICENSE.react-dom
cp "$work"/graphql-ws-5.16.2/package/LICENSE.md LICENSE.graphql-ws
