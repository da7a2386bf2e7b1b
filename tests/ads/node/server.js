// SPDX-License-Identifier: MIT
// fsxds's ADS tests: a tiny gRPC test server on 127.0.0.1 that answers
// every call of /fsxds.test.Backend/Who with its own name. The service
// definition is made by hand with identity serializers (raw bytes), so no
// .proto file is needed. Prints {"port": N} once it listens.
// Usage: node server.js NAME [PORT]   (PORT 0 or none: a free one)
'use strict';
const grpc = require('@grpc/grpc-js');

const name = process.argv[2];
const port = process.argv[3] || '0';
if (!name) {
  process.stderr.write('usage: node server.js NAME [PORT]\n');
  process.exit(2);
}
const identity = (b) => b;
const service = {
  Who: {
    path: '/fsxds.test.Backend/Who',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
const server = new grpc.Server();
server.addService(service, {
  Who: (call, callback) => callback(null, Buffer.from(name)),
});
server.bindAsync('127.0.0.1:' + port, grpc.ServerCredentials.createInsecure(), (err, bound) => {
  if (err) {
    process.stderr.write('bind: ' + err.message + '\n');
    process.exit(1);
  }
  process.stdout.write(JSON.stringify({ name, port: bound }) + '\n');
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.tryShutdown(() => process.exit(0)));
}
