// A stock Yjs peer: syncs one document through Aladdin's /collab namespace, types into the
// shared Y.Text "text" (and Y.Map "content"), then waits until the text has the expected length.
// Usage: node yjs_peer.mjs <url> <token> <projectId> <collection> <documentId> <label> <edits> <expectedLength> [drive]
// With "drive" it types nothing by itself: after the sync it answers one JSON line per JSON line
// on stdin: {"op":"content"}, {"op":"type","field","at","text"} (at -1: the end),
// {"op":"wait","field","value"}, {"op":"sync"} (the ack of a fresh sync step 1).
import { createInterface } from "node:readline";
import { io } from "socket.io-client";
import * as Y from "yjs";
import * as syncProtocol from "y-protocols/sync";
import { followSync, frame, REMOTE, syncStep1 } from "./collab.mjs";

const [url, token, projectId, collection, documentId, label, editsArg, expectedArg, mode] = process.argv.slice(2);
const edits = Number(editsArg);
const expected = Number(expectedArg);
const ref = { projectId, collection, documentId };
const doc = new Y.Doc();
const text = doc.getText("text");

const fail = (msg) => { console.error(`${label}: ${msg}`); process.exit(1); };
const deadline = setTimeout(() => fail(`timed out with text length ${text.length}/${expected}`), 60000);

const socket = io(`${url}/collab`, { auth: { token }, transports: ["websocket"], reconnection: false });
const send = (message) => socket.emit("yjs", { ...ref, message });

let synced;
const syncedPromise = new Promise((resolve) => { synced = resolve; });

socket.on("connect_error", (err) => fail(`connect_error ${err.message}`));
followSync(socket, ref, () => doc, () => synced());
doc.on("update", (update, origin) => {
  if (origin !== REMOTE) send(frame((e) => syncProtocol.writeUpdate(e, update)));
});

socket.on("connect", async () => {
  const ack = await socket.emitWithAck("join", { projectId });
  if (!ack.ok) fail(`join refused ${JSON.stringify(ack)}`);
  const syncAck = await socket.emitWithAck("yjs", { ...ref, message: syncStep1(doc) });
  if (!syncAck.ok) fail(`sync refused ${JSON.stringify(syncAck)}`);
  await syncedPromise;
  if (mode === "drive") return drive();
  for (let i = 0; i < edits; i++) {
    // Concurrent typing at random places, through the stock API only.
    const at = Math.floor(Math.random() * (text.length + 1));
    text.insert(at, label);
    if (i === 0) doc.getMap("content").set(`by_${label}`, new Y.Text(`written by ${label}`));
    await new Promise((r) => setTimeout(r, Math.random() * 15)); // interleaves the peers' typing; not a wait
  }
  const check = () => {
    if (text.length >= expected) {
      console.log(JSON.stringify({ text: text.toString(), content: doc.getMap("content").toJSON() }));
      socket.close();
      process.exit(0);
    }
  };
  doc.on("update", check);
  check();
});

function drive() {
  clearTimeout(deadline);
  const content = doc.getMap("content");
  const say = (obj) => console.log(JSON.stringify(obj));
  const waitFor = (fieldName, value) => new Promise((resolve) => {
    const check = () => {
      if (JSON.stringify(content.toJSON()[fieldName]) === JSON.stringify(value)) {
        doc.off("update", check);
        resolve();
      }
    };
    doc.on("update", check);
    check();
  });
  say({ ready: true });
  const lines = createInterface({ input: process.stdin });
  lines.on("line", async (line) => {
    const cmd = JSON.parse(line);
    if (cmd.op === "content") say({ content: content.toJSON() });
    else if (cmd.op === "type") {
      const ytext = content.get(cmd.field);
      ytext.insert(cmd.at < 0 ? ytext.length : cmd.at, cmd.text);
      say({ ok: true });
    } else if (cmd.op === "wait") {
      // A deadline that catches a hang only (the tests' own is 30 s), never a measure of speed.
      const timer = setTimeout(() => say({ timeout: true, content: content.toJSON() }), 30000);
      await waitFor(cmd.field, cmd.value);
      clearTimeout(timer);
      say({ content: content.toJSON() });
    } else if (cmd.op === "sync") {
      say(await socket.emitWithAck("yjs", { ...ref, message: syncStep1(doc) }));
    }
  });
  lines.on("close", () => { socket.close(); process.exit(0); });
}
