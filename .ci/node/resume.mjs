// A graphql-ws client that never loses an event: it keeps the cursor of the
// last event it handled and, whenever it (re)subscribes, passes it as
// `after`. The server replays what the client missed, then goes on live.
// This file is the README's example, and CI runs it: subscribe on server A,
// drop the socket, make 10 changes alternating between servers A and B
// (one PostgreSQL), resubscribe on server B → exactly those 10, in order.
// Usage: node resume.mjs WS_URL_A WS_URL_B TOKEN
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { gql as request } from './gql.mjs';

const [urlA, urlB, token] = process.argv.slice(2);

// --- the pattern (README) ---------------------------------------------------
let lastCursor = null; // persist it (localStorage, a file) to survive restarts too

function follow(url, onEvent) {
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: Infinity, // graphql-ws reconnects and resends this same payload…
  });
  const payload = {
    query: 'subscription($after: String) { referralEvents(after: $after) { cursor kind referenceId } }',
    variables: { after: lastCursor },
  };
  client.subscribe(payload, {
    next: ({ data, errors }) => {
      if (errors?.some((e) => e.extensions?.code === 'CURSOR_EXPIRED')) {
        lastCursor = null; // too far behind: reload the data, then follow from now
        return;
      }
      lastCursor = data.referralEvents.cursor;
      payload.variables.after = lastCursor; // …so a reconnect resumes from here
      onEvent(data.referralEvents);
    },
    error: (e) => console.error('subscription error', e),
    complete: () => {},
  });
  return client;
}
// ---------------------------------------------------------------------------

const gql = (url, query, variables) => request(url, token, query, variables);

const fail = (why) => {
  console.error(`resume: ${why}`);
  process.exit(1);
};
setTimeout(() => fail('no result within 30 s'), 30_000);

const submit = async (url, name) => {
  const partners = await gql(url, '{ partners(filter: { status: [ACTIVE] }, first: 1) { edges { node { id } } } }');
  const created = await gql(url, 'mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { referenceId } }', {
    i: { partnerId: partners.partners.edges[0].node.id, lead: { name } },
  });
  return created.submitReferral.referenceId;
};

// 1. Follow on server A until one event arrives, then drop the socket.
const first = await new Promise((resolve) => {
  const client = follow(urlA, async (event) => {
    await client.dispose();
    resolve(event);
  });
  setTimeout(() => submit(urlA, 'before the drop'), 500);
});

// 2. Ten changes while nobody listens, alternating between the servers.
const missed = [];
for (let i = 0; i < 10; i++) missed.push(await submit(i % 2 ? urlB : urlA, `missed ${i}`));

// 3. Come back on server B with the last cursor.
const replayed = [];
await new Promise((resolve) => {
  const client = follow(urlB, async (event) => {
    replayed.push(event.referenceId);
    if (replayed.length === missed.length) {
      await client.dispose();
      resolve();
    }
  });
});
if (JSON.stringify(replayed) !== JSON.stringify(missed)) {
  fail(`expected ${JSON.stringify(missed)}, got ${JSON.stringify(replayed)}`);
}
console.log(`resume: after ${first.referenceId}, the 10 missed events arrived in order through the other server`);

// 4. graphql-ws's own reconnect: the socket dies under the client, which
//    retries with the same payload object, now carrying the newest cursor.
const afterDrop = [];
await new Promise((resolve) => {
  let dropped = false;
  const client = follow(urlA, async (event) => {
    afterDrop.push(event.referenceId);
    if (!dropped) {
      dropped = true;
      client.terminate(); // as a lost connection: graphql-ws retries
      for (let i = 0; i < 3; i++) missed.push(await submit(i % 2 ? urlB : urlA, `while reconnecting ${i}`));
    }
    if (afterDrop.length === 4) {
      await client.dispose();
      resolve();
    }
  });
  setTimeout(() => submit(urlB, 'before the drop'), 500).unref();
});
const expected = missed.slice(-3);
if (JSON.stringify(afterDrop.slice(1)) !== JSON.stringify(expected)) {
  fail(`after graphql-ws reconnected: expected ${JSON.stringify(expected)}, got ${JSON.stringify(afterDrop.slice(1))}`);
}
console.log('resume: after graphql-ws reconnected by itself, the 3 changes made meanwhile arrived once, in order');
process.exit(0);
