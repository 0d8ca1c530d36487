// GraphQL over HTTP for the CI clients: the data of an answer, or a throw
// with its errors. `url` may be the WebSocket address (ws:// → http://).
export async function gql(url, token, query, variables) {
  const res = await fetch(url.replace(/^ws/, 'http'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}
