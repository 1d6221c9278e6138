// Runs the npm Firestore emulator (@firestore-emulator/server, a real gRPC server) on
// 127.0.0.1:PORT until SIGTERM. Usage: node firestore_server.js PORT REPO_ROOT
"use strict";

const path = require("path");

const port = Number.parseInt(process.argv[2] || "", 10);
const repoRoot = process.argv[3] || process.cwd();
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`firestore_server: PORT must be 1..65535, got ${process.argv[2]}`);
  process.exit(2);
}

let emulator;
try {
  // Resolve from the repository's node_modules (installed by `npm ci`), not from this file.
  emulator = require(require.resolve("@firestore-emulator/server", { paths: [repoRoot] }));
} catch (err) {
  console.error(
    "firestore_server: @firestore-emulator/server is not installed; run `npm ci` in " + repoRoot,
  );
  process.exit(3);
}
const grpc = require(require.resolve("@grpc/grpc-js", { paths: [repoRoot] }));

const server = new emulator.FirestoreServer();
// The package's own start() binds 0.0.0.0; a developer machine should only listen on loopback,
// so bind the same gRPC server ourselves on 127.0.0.1.
server.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) {
    console.error(`firestore_server: cannot bind 127.0.0.1:${port}: ${err.message}`);
    process.exit(4);
  }
  console.log(`firestore emulator listening on 127.0.0.1:${port}`);
});

function shutdown() {
  server.server.tryShutdown(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
