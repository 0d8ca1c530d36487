// Starts GraphiQL against this server: queries and mutations over HTTP,
// subscriptions over WebSocket (graphql-transport-ws) with the headers from
// the Headers tab sent as the connection parameters.
(function () {
  'use strict';
  var url = '/graphql';
  var wsUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql';

  function isSubscription(opts, operationName) {
    var doc = opts && opts.documentAST;
    if (!doc) return false;
    var ops = doc.definitions.filter(function (d) { return d.kind === 'OperationDefinition'; });
    var op = operationName
      ? ops.find(function (d) { return d.name && d.name.value === operationName; })
      : ops.length === 1 ? ops[0] : null;
    return !!op && op.operation === 'subscription';
  }

  function overHttp(params, opts) {
    var headers = Object.assign({ 'content-type': 'application/json', accept: 'application/json' }, (opts && opts.headers) || {});
    return fetch(url, { method: 'POST', headers: headers, body: JSON.stringify(params) }).then(function (r) {
      return r.json();
    });
  }

  // One socket per subscription, initialised with the editor's headers, and
  // closed when the subscription ends.
  function overWebSocket(params, opts) {
    return {
      subscribe: function (observer) {
        var client = graphqlWs.createClient({ url: wsUrl, lazy: true, retryAttempts: 0, connectionParams: (opts && opts.headers) || {} });
        var dispose = client.subscribe(params, {
          next: function (v) { observer.next(v); },
          error: function (e) {
            var message = e && e.reason ? 'closed: ' + e.code + ' ' + e.reason : String((e && e.message) || e);
            observer.next({ errors: [{ message: message }] });
            observer.complete();
          },
          complete: function () { observer.complete(); },
        });
        return { unsubscribe: function () { dispose(); client.dispose(); } };
      },
    };
  }

  function fetcher(params, opts) {
    return isSubscription(opts, params.operationName) ? overWebSocket(params, opts) : overHttp(params, opts);
  }

  var config = JSON.parse(document.getElementById('graphiql-config').textContent);
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: config.defaultQuery,
      defaultHeaders: config.defaultHeaders,
      defaultEditorToolsVisibility: 'headers',
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    })
  );
})();
