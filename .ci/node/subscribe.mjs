// A real graphql-ws client (the npm package frontends use) subscribes to
// referral events as the vendor of the demo data, submits a referral over
// HTTP, and must receive the event. Usage: node subscribe.mjs URL TOKEN
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { gql as request } from './gql.mjs';

const [url, token] = process.argv.slice(2);
const http = url.replace(/^ws/, 'http');

const gql = (query, variables) => request(http, token, query, variables);

const client = createClient({ url, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${token}` } });
const timeout = setTimeout(() => {
  console.error('graphql-ws: no event within 10 s');
  process.exit(1);
}, 10_000);

const received = new Promise((resolve, reject) => {
  client.subscribe(
    { query: 'subscription { referralEvents { kind referenceId status } }' },
    { next: (result) => resolve(result), error: reject, complete: () => reject(new Error('completed early')) },
  );
});

// Give the subscription a moment to register, then make a change.
await new Promise((r) => setTimeout(r, 500));
const partners = await gql('{ partners(filter: { status: [ACTIVE] }, first: 1) { edges { node { id } } } }');
const partnerId = partners.partners.edges[0].node.id;
const created = await gql(
  'mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { referenceId } }',
  { i: { partnerId, lead: { name: 'graphql-ws client' } } },
);
const event = await received;
clearTimeout(timeout);
const got = event.data.referralEvents;
if (got.kind !== 'REFERRAL_SUBMITTED' || got.referenceId !== created.submitReferral.referenceId) {
  console.error('graphql-ws: unexpected event', JSON.stringify(event));
  process.exit(1);
}
console.log(`graphql-ws client received ${got.kind} for ${got.referenceId}`);
await client.dispose();
process.exit(0);
