// A stock y-websocket client (WebsocketProvider) on Aladdin's plain WebSocket endpoint,
// /collab/yjs/<projectId>/<collection>/<documentId>, with nothing of Aladdin's.
// Usage: node ywebsocket_peer.mjs <url> <token> <projectId> <collection> <documentId> <label> <edits> <expected>
//   types `edits` times "<label><n> " at the end of the Y.Text content.title, then waits until the
//   title holds `expected` such pieces from everyone; prints {"title"}.
// Usage: node ywebsocket_peer.mjs <url> <token> <projectId> <collection> <documentId> closed <seconds>
//   expects the server to close the connection: prints {"code", "reason", "reconnects", "synced"}
//   after `seconds` (stock y-websocket does not reconnect on a 44xx close).
import WebSocket from "ws";
import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";

const [url, token, projectId, collection, documentId, label, ...rest] = process.argv.slice(2);
const fail = (msg) => { console.error(`${label}: ${msg}`); process.exit(1); };
const doc = new Y.Doc();
let reconnects = 0; // the constructor's own connect announces itself before a listener can count it
const provider = new WebsocketProvider(`${url.replace(/^http/, "ws")}/collab/yjs`,
                                       `${projectId}/${collection}/${documentId}`, doc,
                                       { WebSocketPolyfill: WebSocket, params: { token }, disableBc: true });
provider.on("status", ({ status }) => { if (status === "connecting") reconnects += 1; });

if (label === "closed") {
  let closed = null;
  provider.on("connection-close", (event) => { if (event && !closed) closed = { code: event.code, reason: event.reason }; });
  setTimeout(() => {
    process.stdout.write(JSON.stringify({ ...closed, reconnects, synced: provider.synced }) + "\n");
    provider.destroy();
    process.exit(0);
  }, Number(rest[0]) * 1000);
} else {
  const [edits, expected] = rest.map(Number);
  const deadline = setTimeout(() => fail(`timed out: ${doc.getMap("content").get("title")}`), 60000);
  provider.on("sync", async (synced) => {
    if (!synced) return;
    const title = doc.getMap("content").get("title");
    if (!(title instanceof Y.Text)) fail("no Y.Text content.title after the sync");
    for (let n = 0; n < edits; n++) {
      title.insert(title.length, `${label}${n} `);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const done = () => (title.toString().match(/[ab]\d+ /g) || []).length >= expected;
    await new Promise((resolve) => {
      const check = () => { if (done()) { title.unobserve(check); resolve(); } };
      title.observe(check);
      check();
    });
    clearTimeout(deadline);
    process.stdout.write(JSON.stringify({ title: title.toString() }) + "\n");
    setTimeout(() => { provider.destroy(); process.exit(0); }, 300);  // let the last frames leave
  });
}
