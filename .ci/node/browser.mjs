// Real-browser checks in headless Chromium (Debian's), driven by
// playwright-core:
//  1. GraphiQL works with every outside host unreachable: it loads from the
//     server alone, runs a query with a token from the Headers tab, and
//     receives a subscription event over graphql-transport-ws.
//  2. CORS: a page on an allowed origin calls the API; a page on another
//     origin is refused by the browser.
//
// usage: node browser.mjs API_BASE VENDOR_TOKEN ALLOWED_PORT DENIED_PORT
//   API_BASE: http://127.0.0.1:PORT of a server with
//   CORS_ALLOWED_ORIGINS=http://127.0.0.1:ALLOWED_PORT
import http from 'node:http';
import { chromium } from 'playwright-core';

const [base, token, allowedPort, deniedPort] = process.argv.slice(2);
const api = `${base}/graphql`;
const fail = (message) => {
  console.error(`FAIL: ${message}`);
  process.exit(1);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    // Every host but this machine is unreachable.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  ],
});

async function graphiql(query, expect, afterRun) {
  const context = await browser.newContext();
  const outside = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname !== '127.0.0.1') {
      outside.push(url.href);
      return route.abort();
    }
    return route.continue();
  });
  // What a user would have typed: the query, and the token in the Headers tab.
  await context.addInitScript(
    ([q, headers]) => {
      localStorage.setItem('graphiql:query', q);
      localStorage.setItem('graphiql:headers', headers);
    },
    [query, JSON.stringify({ Authorization: `Bearer ${token}` })],
  );
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(api, { waitUntil: 'load' });
  await page.waitForSelector('.graphiql-execute-button', { timeout: 20000 }).catch(() => {
    fail(`GraphiQL did not start; page errors: ${errors.join('; ')}; outside requests: ${outside.join(', ')}`);
  });
  await page.click('.graphiql-execute-button');
  if (afterRun) await afterRun();
  const result = page.locator('.result-window');
  try {
    await result.getByText(expect).first().waitFor({ timeout: 20000 });
  } catch {
    fail(`GraphiQL did not show ${expect}: ${await result.innerText().catch(() => '?')}`);
  }
  if (outside.length) fail(`GraphiQL asked outside hosts: ${outside.join(', ')}`);
  await context.close();
}

// 1a. A query with the token.
await graphiql('{ me { role organization { name } } }', 'VENDOR');
console.log('GraphiQL offline: a query with a bearer token from the Headers tab');

// 1b. A subscription receives an event made meanwhile.
await graphiql('subscription { referralEvents { kind referenceId } }', 'REFERRAL_SUBMITTED', async () => {
  await new Promise((r) => setTimeout(r, 1500)); // the socket subscribes
  const partners = await post({ query: '{ partners(filter: { status: [ACTIVE] }, first: 1) { edges { node { id } } } }' });
  const partnerId = partners.data.partners.edges[0].node.id;
  const submitted = await post({
    query: 'mutation($p: ID!) { submitReferral(input: { partnerId: $p, lead: { name: "Browser Lead" } }) { referenceId } }',
    variables: { p: partnerId },
  });
  if (!submitted.data) fail(`submitting a referral: ${JSON.stringify(submitted)}`);
});
console.log('GraphiQL offline: a subscription received an event over graphql-transport-ws');

async function post(body) {
  const res = await fetch(api, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return res.json();
}

// 2. CORS from a page on another origin (another port is another origin).
function page(port) {
  return new Promise((resolve) => {
    const server = http.createServer((_, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>app</title>');
    });
    server.listen(Number(port), '127.0.0.1', () => resolve(server));
  });
}

async function crossOrigin(port) {
  const server = await page(port);
  const context = await browser.newContext();
  const tab = await context.newPage();
  await tab.goto(`http://127.0.0.1:${port}/`);
  const outcome = await tab.evaluate(
    async ([url, bearer]) => {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
          body: JSON.stringify({ query: '{ me { role } }' }),
        });
        return { ok: true, body: await res.json(), requestId: res.headers.get('x-request-id') };
      } catch (e) {
        return { ok: false, error: String(e) };
      }
    },
    [api, token],
  );
  await context.close();
  server.close();
  return outcome;
}

const allowed = await crossOrigin(allowedPort);
if (!allowed.ok || allowed.body?.data?.me?.role !== 'VENDOR') fail(`allowed origin: ${JSON.stringify(allowed)}`);
if (!allowed.requestId) fail('the request id is not exposed to the allowed origin');
console.log(`CORS: http://127.0.0.1:${allowedPort} calls the API (preflight with authorization and content-type)`);
const denied = await crossOrigin(deniedPort);
if (denied.ok) fail(`another origin was let through: ${JSON.stringify(denied)}`);
console.log(`CORS: http://127.0.0.1:${deniedPort} is refused by the browser (${denied.error})`);

await browser.close();
