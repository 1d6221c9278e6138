// Runs the npm Firestore emulator (@firestore-emulator/server, a real gRPC server) on
// 127.0.0.1:PORT until SIGTERM, keeping its data across restarts and crashes.
//
// The emulator holds documents in memory. Every Commit (the only write RPC it implements; the
// Python client's set/update/delete, batches and transactions all end in one) is appended to
// JOURNAL and flushed to disk (fdatasync) before it is applied and answered, with the commit time
// it is applied at; on start the journal is replayed in order, so an acknowledged write survives
// SIGKILL and the documents come back with their original update times. A record torn by a crash
// mid-append was never acknowledged and is cut off.
//
// Usage: node firestore_server.js PORT REPO_ROOT JOURNAL
"use strict";

const fs = require("fs");

const port = Number.parseInt(process.argv[2] || "", 10);
const repoRoot = process.argv[3] || process.cwd();
const journalPath = process.argv[4];
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`firestore_server: PORT must be 1..65535, got ${process.argv[2]}`);
  process.exit(2);
}
if (!journalPath) {
  console.error("firestore_server: JOURNAL (the file that keeps every write) is required");
  process.exit(2);
}

// Resolve from the repository's node_modules (installed by `npm ci`), not from this file.
const fromRepo = (name) => require(require.resolve(name, { paths: [repoRoot] }));
let emulator;
try {
  emulator = fromRepo("@firestore-emulator/server");
} catch (err) {
  console.error(`firestore_server: @firestore-emulator/server is not installed; run \`npm ci\` in ${repoRoot}`);
  process.exit(3);
}
const grpc = fromRepo("@grpc/grpc-js");
const { CommitRequest, CommitResponse, UnimplementedFirestoreService } =
  fromRepo("@firestore-emulator/proto/dist/google/firestore/v1/firestore");

// Applies one commit's writes in order, as the emulator's own Commit does (it stops at the first
// write that fails; the ones before it stay applied).
function applyWrites(state, writes, date) {
  return writes.map((write) => state.writeV1Document(date, write));
}

function replay(state) {
  if (!fs.existsSync(journalPath)) return 0;
  const text = fs.readFileSync(journalPath, "utf8");
  let good = 0;
  let count = 0;
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf("\n", start);
    if (end < 0) break; // a torn last record: never acknowledged
    let record;
    try {
      record = JSON.parse(text.slice(start, end));
    } catch (err) {
      break;
    }
    const request = CommitRequest.deserializeBinary(Buffer.from(record.commit, "base64"));
    try {
      applyWrites(state, request.writes, new Date(record.at));
    } catch (err) {
      // It failed the same way when it was first committed (a precondition, say): nothing more to do.
    }
    count += 1;
    start = end + 1;
    good = Buffer.byteLength(text.slice(0, start), "utf8");
  }
  if (good < fs.statSync(journalPath).size) fs.truncateSync(journalPath, good);
  return count;
}

const server = new emulator.FirestoreServer();
const replayed = replay(server.state);
const journal = fs.openSync(journalPath, "a");

function commit(call, callback) {
  const date = new Date();
  try {
    const record = JSON.stringify({ at: date.getTime(), commit: Buffer.from(call.request.serializeBinary()).toString("base64") });
    fs.writeSync(journal, record + "\n");
    fs.fdatasyncSync(journal);
  } catch (err) {
    callback({ code: grpc.status.UNAVAILABLE, message: `firestore_server: the journal cannot be written: ${err.message}` });
    return;
  }
  try {
    const results = applyWrites(server.state, call.request.writes, date);
    callback(null, CommitResponse.fromObject({
      commit_time: emulator.TimestampFromDate(date),
      write_results: results.map((result) => result.toObject()),
    }));
  } catch (err) {
    callback({ code: err.code ?? grpc.status.INTERNAL, message: err.message || "commit failed" });
  }
}

// The package registers its service implementation inside FirestoreServer; register the journalled
// Commit in its place (grpc-js's public register/unregister), with the service's own (de)serialisers.
const method = UnimplementedFirestoreService.definition.Commit;
if (!server.server.unregister(method.path)) {
  console.error("firestore_server: this @firestore-emulator/server version has no Commit handler to journal");
  process.exit(5);
}
server.server.register(method.path, commit, method.responseSerialize, method.requestDeserialize, "unary");

// The package's own start() binds 0.0.0.0; a developer machine should only listen on loopback,
// so bind the same gRPC server ourselves on 127.0.0.1.
server.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) {
    console.error(`firestore_server: cannot bind 127.0.0.1:${port}: ${err.message}`);
    process.exit(4);
  }
  console.log(`firestore emulator listening on 127.0.0.1:${port} (${replayed} commits replayed from ${journalPath})`);
});

function shutdown() {
  server.server.tryShutdown(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
