// A stock Yjs client pastes over the message limit, keeps typing, then follows the refusal's
// recovery protocol (README, "Refused updates"): a fresh Y.Doc, synced again, and typing goes on.
// Usage: node paste_recovery.mjs <url> <token> <projectId> <collection> <documentId> <pasteBytes...>
// (TRANSPORT=polling in the environment: over HTTP long-polling only, as behind a proxy that
// refuses WebSocket; the client then sends an oversized attachment in a POST of its own.)
// Prints one JSON line: {acks: {typed, pastes: [...], kept, recovered}, title, disconnects}.
// It waits on events, never on the clock: the timer below only reports a hang.
import { io } from "socket.io-client";
import * as Y from "yjs";
import * as syncProtocol from "y-protocols/sync";
import { followSync, frame, syncStep1 } from "./collab.mjs";

const [url, token, projectId, collection, documentId, ...pasteArgs] = process.argv.slice(2);
const ref = { projectId, collection, documentId };
const fail = (msg) => { console.error(msg); process.exit(1); };
setTimeout(() => fail("timed out"), 90000);

let doc;
let synced;
let disconnects = 0;
const socket = io(`${url}/collab`, { auth: { token }, transports: [process.env.TRANSPORT || "websocket"],
                                          reconnection: false });
socket.on("connect_error", (err) => fail(`connect_error ${err.message}`));
socket.on("disconnect", () => { disconnects += 1; });
followSync(socket, ref, () => doc, () => synced());

// A fresh document synced from the server: the start, and the recovery a `resync` asks for.
async function sync() {
  doc = new Y.Doc();
  const done = new Promise((resolve) => { synced = resolve; });
  const ack = await socket.emitWithAck("yjs", { ...ref, message: syncStep1(doc) });
  if (!ack.ok) fail(`sync refused ${JSON.stringify(ack)}`);
  await done;
}

// A local change, sent as one update frame (as a provider does on doc "update"); the server's ack.
async function change(edit) {
  const before = Y.encodeStateVector(doc);
  edit(doc.getMap("content").get("title"));
  const update = Y.encodeStateAsUpdate(doc, before);
  return socket.emitWithAck("yjs", { ...ref, message: frame((e) => syncProtocol.writeUpdate(e, update)) });
}
const typeAtEnd = (text) => change((title) => title.insert(title.length, text));

await new Promise((resolve) => socket.on("connect", resolve));
const join = await socket.emitWithAck("join", { projectId });
if (!join.ok) fail(`join refused ${JSON.stringify(join)}`);
await sync();
const typed = await typeAtEnd(" abc");
const pastes = [];
for (const bytes of pasteArgs) pastes.push(await typeAtEnd("p".repeat(Number(bytes))));
const kept = await typeAtEnd(" kept");          // typing on after the refused paste, as an editor does
let recovered = null;
if (pastes.concat([kept]).some((ack) => ack.resync)) {
  await sync();                                  // the recovery: drop the local document, sync again
  recovered = await typeAtEnd(" def");
}
console.log(JSON.stringify({ acks: { typed, pastes, kept, recovered }, title: doc.getMap("content").get("title").toString(),
                             disconnects }));
socket.disconnect();
process.exit(0);
