// A stock y-protocols client reconnects, and a stock watcher on another server process must see
// its presence again from the state it re-announces, as providers (y-websocket, Hocuspocus) do on
// reconnect: the same clock it had, no local change.
// Usage: node awareness_reconnect.mjs <clientUrl> <watcherUrl> <clientToken> <watcherToken> <projectId> <collection> <documentId>
// Prints one JSON line: {clientID, clock, reannounced (its ack), reappearedMs, removedSeen}. Nothing
// else is sent after the re-announcement (no listener sends the Awareness's own renewals).
// It waits on events, never on the clock: the timer below only reports a hang.
import { io } from "socket.io-client";
import * as Y from "yjs";
import * as awarenessProtocol from "y-protocols/awareness";
import { followSync, REMOTE, syncStep1 } from "./collab.mjs";

const [clientUrl, watcherUrl, clientToken, watcherToken, projectId, collection, documentId] = process.argv.slice(2);
const ref = { projectId, collection, documentId };
const fail = (msg) => { console.error(msg); process.exit(1); };
let step = "start";
setTimeout(() => fail(`timed out at ${step}`), 90000);

// One stock peer: a Y.Doc, its Awareness, a socket that syncs the document and applies what comes.
function connect(url, token, doc, awareness) {
  const socket = io(`${url}/collab`, { auth: { token }, transports: ["websocket"], reconnection: false,
                                      forceNew: true });
  let synced;
  const ready = new Promise((resolve) => { synced = resolve; });
  socket.on("connect_error", (err) => fail(`connect_error ${err.message}`));
  followSync(socket, ref, () => doc, () => synced());
  socket.on("awareness", (data) => {
    awarenessProtocol.applyAwarenessUpdate(awareness, new Uint8Array(data.message), REMOTE);
  });
  socket.on("connect", async () => {
    const join = await socket.emitWithAck("join", { projectId });
    if (!join.ok) fail(`join refused ${JSON.stringify(join)}`);
    const ack = await socket.emitWithAck("yjs", { ...ref, message: syncStep1(doc) });
    if (!ack.ok) fail(`sync refused ${JSON.stringify(ack)}`);
  });
  return { socket, ready };
}

const until = (awareness, test) => new Promise((resolve) => {
  const check = () => { if (test()) { awareness.off("change", check); resolve(); } };
  awareness.on("change", check);
  check();
});

const watcherDoc = new Y.Doc();
const watcher = new awarenessProtocol.Awareness(watcherDoc);
const w = connect(watcherUrl, watcherToken, watcherDoc, watcher);
await w.ready;
step = "watcher synced";

const doc = new Y.Doc();
const awareness = new awarenessProtocol.Awareness(doc);
const me = doc.clientID;
awareness.setLocalState({ user: { color: "#00aa00" }, cursor: { anchor: 3 } });
const announce = (socket) =>
  socket.emitWithAck("awareness", { ...ref, message: awarenessProtocol.encodeAwarenessUpdate(awareness, [me]) });

let c = connect(clientUrl, clientToken, doc, awareness);
await c.ready;
step = "client synced";
const first = await announce(c.socket);
if (!first.ok) fail(`announce refused ${JSON.stringify(first)}`);
await until(watcher, () => watcher.getStates().get(me)?.cursor?.anchor === 3);

step = "client seen";
c.socket.disconnect();  // the connection drops: the server removes the client's entry for everyone
await until(watcher, () => !watcher.getStates().has(me));

step = "removal seen";
c = connect(clientUrl, clientToken, doc, awareness);
await c.ready;
step = "reconnected";
const clockBefore = awareness.meta.get(me).clock;
const started = Date.now();
const again = await announce(c.socket);
if (!again.ok) fail(`re-announce refused ${JSON.stringify(again)}`);
await until(watcher, () => watcher.getStates().get(me)?.cursor?.anchor === 3);
console.log(JSON.stringify({ clientID: me, clock: clockBefore, reannounced: again,
                             reappearedMs: Date.now() - started, removedSeen: true }));
c.socket.disconnect();
w.socket.disconnect();
awareness.destroy();
watcher.destroy();
process.exit(0);
