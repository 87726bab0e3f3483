// One stock Yjs client of bench.yjs, driven by JSON lines on stdin, answering JSON lines on stdout.
// Usage: node peer.mjs hocuspocus <ws-url> <documentName>
//        node peer.mjs ywebsocket <http-url> <token> <projectId> <collection> <documentId>
//        node peer.mjs aladdin <http-url> <token> <projectId> <collection> <documentId>
// Hocuspocus is reached through the stock @hocuspocus/provider; Aladdin's plain WebSocket
// (/collab/yjs/...) through the stock y-websocket WebsocketProvider; Aladdin's /collab through
// the stock socket.io-client + yjs + y-protocols, exactly as tests/js/yjs_peer.mjs does.
// Commands: {"op":"connect"}  a fresh Y.Doc and connection; answers {"synced": ms} (created -> synced;
//                             Aladdin adds "phases": ms to the namespace connect, the join, the sync)
//           {"op":"init","text"} the Y.Text content.title holds `text` (Hocuspocus starts empty)
//           {"op":"wait","length"} answers {"length"} once content.title is that long
//           {"op":"type","char"}  appends one character; answers {"t": ns} taken just before
//           {"op":"close"}
// Every remote change of content.title prints {"seen": ns, "length"}. Times are
// process.hrtime.bigint(): CLOCK_MONOTONIC, one clock for every process on the machine.
import { createInterface } from "node:readline";
import * as Y from "yjs";

const [kind, ...args] = process.argv.slice(2);
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const now = () => process.hrtime.bigint();
const fail = (msg) => { console.error(`peer ${kind}: ${msg}`); process.exit(1); };

let current = null; // {doc, close()}

const title = (doc) => doc.getMap("content").get("title");

function watch(doc, isRemote) {
  doc.on("update", (_update, origin) => {
    if (!isRemote(origin)) return;
    const text = title(doc);
    if (text) say({ seen: String(now()), length: text.length });
  });
}

// A fresh Y.Doc and stock provider (`open(doc, resolve)` creates it and calls `resolve` once
// synced), timed from creation to synced.
async function timedConnect(open) {
  const WebSocket = (await import("ws")).default;
  const doc = new Y.Doc();
  const started = now();
  let provider;
  await new Promise((resolve) => { provider = open(doc, WebSocket, resolve); });
  const synced = now();
  watch(doc, (origin) => origin === provider);
  return { doc, synced: Number(synced - started) / 1e6, close: () => provider.destroy() };
}

async function connectHocuspocus(url, name) {
  const { HocuspocusProvider } = await import("@hocuspocus/provider");
  return timedConnect((document, WebSocketPolyfill, resolve) =>
    new HocuspocusProvider({ url, name, document, WebSocketPolyfill, onSynced: ({ state }) => state && resolve() }));
}

async function connectYWebsocket(url, token, projectId, collection, documentId) {
  const { WebsocketProvider } = await import("y-websocket");
  return timedConnect((doc, WebSocketPolyfill, resolve) => {
    const provider = new WebsocketProvider(`${url.replace(/^http/, "ws")}/collab/yjs`,
                                           `${projectId}/${collection}/${documentId}`, doc,
                                           { WebSocketPolyfill, params: { token }, disableBc: true });
    provider.on("sync", (isSynced) => isSynced && resolve());
    return provider;
  });
}

async function connectAladdin(url, token, projectId, collection, documentId) {
  const { io } = await import("socket.io-client");
  const syncProtocol = await import("y-protocols/sync");
  const encoding = await import("lib0/encoding");
  const decoding = await import("lib0/decoding");
  const ref = { projectId, collection, documentId };
  const REMOTE = "server";
  const doc = new Y.Doc();
  const frame = (write) => {
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, 0); // y-protocols messageSync
    write(encoder);
    return encoding.toUint8Array(encoder);
  };
  const started = now();
  const socket = io(`${url}/collab`, { auth: { token }, transports: ["websocket"], reconnection: false,
                                       forceNew: true });
  const send = (message) => socket.emit("yjs", { ...ref, message });
  let markSynced;
  const syncedPromise = new Promise((resolve) => { markSynced = resolve; });
  socket.on("connect_error", (err) => fail(`connect_error ${err.message}`));
  socket.on("yjs", (data) => {
    if (data.documentId !== documentId) return;
    const decoder = decoding.createDecoder(new Uint8Array(data.message));
    if (decoding.readVarUint(decoder) !== 0) return;
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, 0);
    const type = syncProtocol.readSyncMessage(decoder, encoder, doc, REMOTE);
    if (encoding.length(encoder) > 1) send(encoding.toUint8Array(encoder));
    if (type === syncProtocol.messageYjsSyncStep2) markSynced();
  });
  doc.on("update", (update, origin) => {
    if (origin !== REMOTE) send(frame((e) => syncProtocol.writeUpdate(e, update)));
  });
  await new Promise((resolve) => socket.on("connect", resolve));
  const connected = now();
  // As @aladdin/provider does: the join and the sync step 1 go out together (handled in order).
  const joining = socket.emitWithAck("join", { projectId });
  const syncing = socket.emitWithAck("yjs", { ...ref, message: frame((e) => syncProtocol.writeSyncStep1(e, doc)) });
  const ack = await joining;
  if (!ack.ok) fail(`join refused ${JSON.stringify(ack)}`);
  const joined = now();
  const syncAck = await syncing;
  if (!syncAck.ok) fail(`sync refused ${JSON.stringify(syncAck)}`);
  await syncedPromise;
  const synced = now();
  watch(doc, (origin) => origin === REMOTE);
  const ms = (a, b) => Number(b - a) / 1e6;
  return { doc, synced: ms(started, synced), close: () => socket.close(),
           phases: { connect: ms(started, connected), joined: ms(connected, joined), synced: ms(connected, synced) } };
}

const connect = kind === "hocuspocus" ? () => connectHocuspocus(...args)
  : kind === "ywebsocket" ? () => connectYWebsocket(...args)
  : kind === "aladdin" ? () => connectAladdin(...args) : fail("kind must be hocuspocus, ywebsocket or aladdin");

function waitLength(doc, length) {
  return new Promise((resolve) => {
    const check = () => {
      const text = title(doc);
      if (text && text.length >= length) {
        doc.off("update", check);
        resolve(text.length);
      }
    };
    doc.on("update", check);
    check();
  });
}

async function run(cmd) {
  if (cmd.op === "connect") {
    if (current) current.close();
    current = await connect();
    say({ synced: current.synced, phases: current.phases });
  } else if (cmd.op === "init") {
    const content = current.doc.getMap("content");
    if (!content.get("title")) content.set("title", new Y.Text(cmd.text));
    say({ length: title(current.doc).length });
  } else if (cmd.op === "wait") {
    say({ length: await waitLength(current.doc, cmd.length) });
  } else if (cmd.op === "type") {
    const text = title(current.doc);
    const t = now();
    text.insert(text.length, cmd.char);
    say({ t: String(t) });
  } else if (cmd.op === "close") {
    if (current) current.close();
    process.exit(0);
  }
}

// One command at a time, in order: a "type" waits for the "connect" before it.
let queue = Promise.resolve();
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => { queue = queue.then(() => run(JSON.parse(line))); });
lines.on("close", () => queue.then(() => process.exit(0)));
