// Harness for the studio's browser tests: the served Aladdin (started, restarted on the same
// port, stopped), Chromium through playwright-core, and pages that sign in the way people do.

import { spawn } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

export const DATA = JSON.parse(process.env.STUDIO_DATA);
const ARTIFACTS = process.env.STUDIO_ARTIFACTS;
const LOGS = process.env.STUDIO_LOGS;
const SERVING = /serving (http:\/\/\S+)/;

/** ``cli.py serve`` and ``cli.py worker`` (exports; the installation's Redis is a ``redis://``
 * server, so serve starts no worker beside itself) as children of this process. */
export class Server {
  constructor() {
    this.url = null;
    this.port = 0;
    this.proc = null;
    this.worker = null;
    this.starts = 0;
  }

  async start() {
    this.starts += 1;
    const workerLog = createWriteStream(path.join(LOGS, `worker-${this.starts}.log`));
    this.worker = spawn(process.env.STUDIO_PYTHON, ["cli.py", "worker"],
      { cwd: process.env.STUDIO_ROOT, env: process.env, stdio: ["ignore", "pipe", "pipe"] });
    this.worker.stdout.pipe(workerLog);
    this.worker.stderr.pipe(workerLog);
    const log = path.join(LOGS, `serve-${this.starts}.log`);
    const out = createWriteStream(log);
    const proc = spawn(process.env.STUDIO_PYTHON, ["cli.py", "serve", "--port", String(this.port)],
      { cwd: process.env.STUDIO_ROOT, env: process.env, stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    let printed = "";
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start in 90 s:\n${printed}`)), 90_000);
      const read = (chunk) => {
        printed += chunk;
        out.write(chunk);
        const found = SERVING.exec(printed);
        if (found) { clearTimeout(timer); resolve(found[1]); }
      };
      proc.stdout.on("data", read);
      proc.stderr.on("data", read);
      proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`serve exited (${code}):\n${printed}`)); });
    });
    proc.stdout.on("data", (chunk) => out.write(chunk));
    this.url = url;
    this.port = Number(new URL(url).port); // a restart comes back where the pages expect it
    return this;
  }

  /** SIGTERM, as a process manager stops services: both exit promptly. */
  async stop() {
    await Promise.all([this.proc, this.worker].map(terminate));
    this.proc = this.worker = null;
  }

  async restart() {
    await this.stop();
    await this.start();
  }
}

async function terminate(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.STUDIO_CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
}

/**
 * A browser context for one person, offline but for the server: any request to another origin
 * is refused and remembered (the studio must need none: no CDN, no fonts, no analytics).
 */
export async function person(browser, server) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  context.foreign = [];
  context.errors = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("data:") || new URL(url).origin === new URL(server.url).origin) return route.continue();
    context.foreign.push(url);
    return route.abort();
  });
  context.on("page", (page) => page.on("pageerror", (err) => context.errors.push(err.message)));
  return context;
}

/** Open the studio at a scene and sign in with a password; resolves once the scene is synced. */
export async function signIn(context, server, who, hash = "") {
  const page = await context.newPage();
  await page.goto(`${server.url}/studio${hash}`);
  await page.fill("#email", who.email);
  await page.fill("#password", who.password);
  await page.click("#signin-form button[type=submit]");
  await page.waitForSelector("#workspace:not([hidden])");
  return page;
}

export const sceneHash = (title) => `#project=${DATA.projectId}&scene=${DATA.scenes[title]}`;

export async function synced(page, timeout = 30_000) {
  await page.waitForSelector("#status[data-state=synced]", { timeout });
  await page.waitForSelector(".cm-content", { timeout });
}

/** The editor's text: CodeMirror's lines joined, without the remote carets drawn inside them
 * (a caret is a widget carrying its person's name between word joiners). */
export const editorText = (page) => page.evaluate(() => {
  const lines = [...document.querySelectorAll(".cm-content .cm-line")].map((line) => {
    const copy = line.cloneNode(true);
    for (const widget of copy.querySelectorAll(".cm-ySelectionCaret, .cm-widgetBuffer")) widget.remove();
    return copy.textContent;
  });
  return lines.join("\n");
});

/** Wait until ``predicate(text)`` holds for the page's editor. */
export async function textWhere(page, predicate, what, timeout = 30_000) {
  const started = Date.now();
  let text;
  while (Date.now() - started < timeout) {
    text = await editorText(page);
    if (predicate(text)) return text;
    await page.waitForTimeout(100);
  }
  throw new Error(`the editor never showed ${what}; it shows ${JSON.stringify(text)}`);
}

export async function screenshot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** A JSON API call with a password sign-in of ``who`` (the way a script or another page would). */
const sessions = new Map();

export async function api(server, who, method, route, body) {
  if (!sessions.has(who.email)) {
    sessions.set(who.email, await fetch(`${server.url}/api/v1/auth/login`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: who.email, password: who.password }),
    }).then((r) => r.json()));
  }
  const login = sessions.get(who.email);
  const response = await fetch(`${server.url}/api/v1/${route}`, {
    method, headers: { Authorization: `Bearer ${login.accessToken}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => null);
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

export const readLog = (name) => readFileSync(path.join(LOGS, name), "utf8");
