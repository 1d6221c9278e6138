// Starts the Firestore emulator (npm @firestore-emulator/server) on the port given as argv[2]
// for the maintenance tests, and says "ready" once it listens.
const { FirestoreServer } = require('@firestore-emulator/server');

const server = new FirestoreServer();
server.start(Number(process.argv[2])).then(() => console.log('ready'));
