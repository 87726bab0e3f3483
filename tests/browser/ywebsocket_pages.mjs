// Two Chromium pages edit one document through Aladdin's plain WebSocket with the stock y-websocket
// WebsocketProvider and stock yjs, loaded as ES modules from tests/js/node_modules (the locked
// packages the Node interop tests use) through an import map, from a page on another origin.
// Run by tests/browser/test_plain_websocket.py; prints one JSON line with what the pages saw.
// Input (env PLAIN_DATA): {"servers": [http urls], "tokens": [...], "names": [...], "room", "chromium"}.
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const DATA = JSON.parse(process.env.PLAIN_DATA);
const MODULES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "js", "node_modules");
const IMPORTS = {
  yjs: "/nm/yjs/dist/yjs.mjs", "y-websocket": "/nm/y-websocket/src/y-websocket.js",
  "lib0/": "/nm/lib0/", "y-protocols/": "/nm/y-protocols/",
};
const PAGE = `<!doctype html><meta charset="utf-8"><title>plain</title>
<script type="importmap">${JSON.stringify({ imports: IMPORTS })}</script>
<script type="module">
  import * as Y from "yjs";
  import { WebsocketProvider } from "y-websocket";
  const params = new URLSearchParams(location.search);
  const doc = new Y.Doc();
  const started = performance.now();
  const provider = new WebsocketProvider(params.get("server").replace(/^http/, "ws") + "/collab/yjs",
                                         params.get("room"), doc, { params: { token: params.get("token") } });
  provider.awareness.setLocalStateField("user", { name: "whatever the page claims", color: "#c33" });
  window.page = {
    synced: null,
    title: () => doc.getMap("content").get("title")?.toString(),
    type: (text) => { const t = doc.getMap("content").get("title"); t.insert(t.length, text); },
    others: () => [...provider.awareness.getStates()].filter(([id]) => id !== doc.clientID)
      .map(([, state]) => state.user?.name),
  };
  provider.on("sync", (synced) => { if (synced && window.page.synced === null) window.page.synced = performance.now() - started; });
</script>`;

// lib0 and y-protocols name their modules without ".js" (package exports); the files have it.
async function file(urlPath) {
  const relative = decodeURIComponent(urlPath.slice("/nm/".length));
  for (const candidate of [relative, `${relative}.js`]) {
    const full = path.join(MODULES, candidate);
    if (!full.startsWith(MODULES)) return null;
    try {
      if ((await stat(full)).isFile()) return readFile(full);
    } catch { /* try the next */ }
  }
  return null;
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://page");
  if (url.pathname === "/") {
    res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
    return;
  }
  const body = url.pathname.startsWith("/nm/") ? await file(url.pathname) : null;
  if (body === null) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "content-type": "text/javascript" }).end(body);
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({ executablePath: DATA.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"] });
const errors = [];
const until = async (page, fn, arg, what) => {
  try {
    await page.waitForFunction(fn, arg, { timeout: 30_000 });
  } catch (err) {
    throw new Error(`${what}: ${err.message} (page errors: ${errors.join("; ")})`);
  }
};
try {
  const pages = [];
  for (const [i, server] of DATA.servers.entries()) {
    const page = await (await browser.newContext()).newPage();
    page.on("pageerror", (err) => errors.push(err.message));
    const query = new URLSearchParams({ server, token: DATA.tokens[i], room: DATA.room });
    await page.goto(`${origin}/?${query}`);
    await until(page, () => window.page && window.page.synced !== null, null, `page ${i} to sync`);
    pages.push(page);
  }
  const [a, b] = pages;
  const before = await a.evaluate(() => window.page.title());
  await a.evaluate(() => window.page.type(" night"));
  await until(b, (want) => window.page.title() === want, `${before} night`, "page B to see page A's typing");
  await b.evaluate(() => window.page.type(", exterior"));
  await until(a, (want) => window.page.title() === want, `${before} night, exterior`, "page A to see page B's typing");
  await until(a, (name) => window.page.others().includes(name), DATA.names[1], "page A to see B's presence");
  await until(b, (name) => window.page.others().includes(name), DATA.names[0], "page B to see A's presence");
  console.log(JSON.stringify({
    before, after: await b.evaluate(() => window.page.title()),
    synced: await Promise.all(pages.map((p) => p.evaluate(() => window.page.synced))),
    othersOfA: await a.evaluate(() => window.page.others()), errors,
  }));
} finally {
  await browser.close();
  server.close();
}
