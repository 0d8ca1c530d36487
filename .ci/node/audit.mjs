// Runs the GraphQL-over-HTTP conformance audit of graphql-http against a
// running server and fails on any error or warning.
import { auditServer } from 'graphql-http';

const url = process.argv[2] ?? 'http://127.0.0.1:8080/graphql';
const results = await auditServer({ url });
let errors = 0;
let warnings = 0;
for (const r of results) {
  if (r.status === 'ok') continue;
  if (r.status === 'error') errors++;
  else if (r.status === 'warn') warnings++;
  console.log(`${r.status.toUpperCase()} ${r.id} ${r.name}: ${r.reason}`);
}
console.log(`graphql-http audit: ${results.length} audits, ${errors} errors, ${warnings} warnings`);
process.exit(errors + warnings === 0 ? 0 : 1);
