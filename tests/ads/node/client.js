// SPDX-License-Identifier: MIT
// fsxds's ADS tests: a proxyless gRPC client. grpc-js-xds reads its
// bootstrap (GRPC_XDS_BOOTSTRAP or GRPC_XDS_BOOTSTRAP_CONFIG: xds_servers[0]
// at fsxdsd's ADS socket, node.id) and resolves TARGET (xds:///NAME)
// through LDS -> RDS -> CDS -> EDS; the client calls
// /fsxds.test.Backend/Who every INTERVAL ms (COUNT times, default: until
// killed) and prints one JSON line per call:
//   {"n": 3, "ok": true, "backend": "a"}  or  {"n": 3, "ok": false, "code": 14, "error": "..."}
// Usage: node client.js xds:///NAME [INTERVAL_MS] [COUNT]
'use strict';
const grpc = require('@grpc/grpc-js');
require('@grpc/grpc-js-xds').register();

const target = process.argv[2];
const interval = Number(process.argv[3] || 100);
const count = Number(process.argv[4] || 0);
if (!target) {
  process.stderr.write('usage: node client.js xds:///NAME [INTERVAL_MS] [COUNT]\n');
  process.exit(2);
}
const identity = (b) => b;
const client = new grpc.Client(target, grpc.credentials.createInsecure());
let n = 0;
function call() {
  const i = n++;
  client.makeUnaryRequest('/fsxds.test.Backend/Who', identity, identity, Buffer.alloc(0),
    { deadline: Date.now() + 5000 }, (err, reply) => {
      const line = err ? { n: i, ok: false, code: err.code, error: err.details || err.message }
        : { n: i, ok: true, backend: reply.toString() };
      process.stdout.write(JSON.stringify(line) + '\n');
      if (count && n >= count) {
        client.close();
        process.exit(0); // the xDS client's channel would keep node running
      }
      setTimeout(call, interval);
    });
}
call();
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => { client.close(); process.exit(0); });
}
