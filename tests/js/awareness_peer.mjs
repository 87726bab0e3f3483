// A stock y-protocols Awareness peer on Aladdin's /collab namespace: syncs one document, announces
// its own state (claiming a name that is not its own), tries to forge and remove another client's
// entry, then reports what it sees and, once revoked, when and why it was disconnected.
// Usage: node awareness_peer.mjs <url> <token> <projectId> <collection> <documentId> <victimClientId>
// Prints one JSON object per line: {t: "ready", ...}, then {t: "access_revoked"} / {t: "disconnect"}.
// It waits on events, never on the clock: a loaded machine only makes it slower, not wrong.
import { io } from "socket.io-client";
import * as Y from "yjs";
import * as awarenessProtocol from "y-protocols/awareness";
import { followSync, REMOTE, syncStep1 } from "./collab.mjs";

const [url, token, projectId, collection, documentId, victimArg] = process.argv.slice(2);
const victim = Number(victimArg);
const ref = { projectId, collection, documentId };
const doc = new Y.Doc();
const awareness = new awarenessProtocol.Awareness(doc);
const say = (obj) => console.log(JSON.stringify(obj));
const fail = (msg) => { console.error(msg); process.exit(1); };
setTimeout(() => fail("timed out"), 60000);

const socket = io(`${url}/collab`, { auth: { token }, transports: ["websocket"], reconnection: false });
let synced;
const syncedPromise = new Promise((resolve) => { synced = resolve; });

socket.on("connect_error", (err) => fail(`connect_error ${err.message}`));
followSync(socket, ref, () => doc, () => synced());
socket.on("awareness", (data) => {
  awarenessProtocol.applyAwarenessUpdate(awareness, new Uint8Array(data.message), REMOTE);
});
socket.on("access_revoked", (data) => say({ t: "access_revoked", data, at: Date.now() }));
socket.on("disconnect", (reason) => {
  say({ t: "disconnect", reason, at: Date.now() });
  process.exit(0);
});

// Resolves once the victim's state has arrived (the server's snapshot, or a process's answer).
const victimSeen = new Promise((resolve) => {
  const check = () => { if (awareness.getStates().has(victim)) resolve(); };
  awareness.on("change", check);
  check();
});

const send = (clients, from = awareness) =>
  socket.emitWithAck("awareness", { ...ref, message: awarenessProtocol.encodeAwarenessUpdate(from, clients) });

socket.on("connect", async () => {
  const join = await socket.emitWithAck("join", { projectId });
  if (!join.ok) fail(`join refused ${JSON.stringify(join)}`);
  const ack = await socket.emitWithAck("yjs", { ...ref, message: syncStep1(doc) });
  if (!ack.ok) fail(`sync refused ${JSON.stringify(ack)}`);
  await syncedPromise;
  await victimSeen;

  // Its own state, under a name that is not its user's.
  awareness.setLocalState({ user: { name: "Somebody Else", color: "#123456" }, cursor: { anchor: 5 } });
  const own = await send([doc.clientID]);
  // A second Awareness with the victim's client id: set a forged state, then remove the entry.
  const forgerDoc = new Y.Doc();
  forgerDoc.clientID = victim;
  const forger = new awarenessProtocol.Awareness(forgerDoc);
  forger.setLocalState({ user: { name: "Forged" }, cursor: { anchor: 999 } });
  for (let i = 0; i < 40; i++) forger.setLocalStateField("cursor", { anchor: 999 + i }); // a higher clock
  const forged = await send([victim], forger);
  awarenessProtocol.removeAwarenessStates(forger, [victim], "forger");
  const removed = await send([victim], forger);
  // Its own last word (cursor 6), after the forgeries: a watcher that has it has anything of
  // theirs the server relayed. Anything sent back to this socket came before these acks.
  awareness.setLocalStateField("cursor", { anchor: 6 });
  const last = await send([doc.clientID]);
  if (!last.ok) fail(`own update refused ${JSON.stringify(last)}`);
  const states = Object.fromEntries([...awareness.getStates()].map(([id, st]) => [id, st]));
  say({ t: "ready", clientID: doc.clientID, acks: { own, forged, removed }, states });
});
