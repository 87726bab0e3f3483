// The studio in Chromium, as people use it (run by tests/browser/test_studio.py). The tests run
// in order and share one served Aladdin and three signed-in people: the owner, an editor and a
// viewer, each in a browser context of their own.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  DATA, Server, api, editorText, launch, person, sceneHash, screenshot, signIn, synced, textWhere,
} from "./support.mjs";

const server = new Server();
let browser;
const people = {}; // role -> {context, page}
const SCENE = "Scene 1";
const scene = () => `projects/${DATA.projectId}/content/scenes/${DATA.scenes[SCENE]}`;

before(async () => {
  await server.start();
  browser = await launch();
});

after(async () => {
  for (const { context } of Object.values(people)) await context.close().catch(() => {});
  await browser?.close();
  await server.stop();
});

test("people sign in with a password and open a scene at its script", { timeout: 120_000 }, async () => {
  for (const role of ["owner", "editor", "viewer"]) {
    const context = await person(browser, server);
    const page = await signIn(context, server, DATA.users[role], sceneHash(SCENE));
    people[role] = { context, page };
  }
  for (const [role, { page }] of Object.entries(people)) {
    await synced(page);
    assert.equal(await page.inputValue("#field"), "script");
    assert.match(await editorText(page), /INT\. HARBOUR - DAWN/);
    assert.match(await page.textContent("#role"), new RegExp(role));
    assert.equal(await page.textContent("#who"), DATA.users[role].name);
  }
  await screenshot(people.owner.page, "01-signed-in");
});

test("two people typing at once converge, and see each other by the server's names", { timeout: 120_000 }, async () => {
  const { owner, editor } = people;
  await owner.page.click(".cm-content");
  await owner.page.keyboard.press("Control+End");
  await editor.page.click(".cm-content");
  await editor.page.keyboard.press("Control+Home");
  // Both type at the same time, a key every 20 ms: their updates cross on the wire.
  await Promise.all([
    owner.page.keyboard.type(" The owner was here.", { delay: 20 }),
    editor.page.keyboard.type("EDITOR NOTE. ", { delay: 20 }),
  ]);
  const both = (text) => text.includes("The owner was here.") && text.startsWith("EDITOR NOTE. ");
  const seenByOwner = await textWhere(owner.page, both, "both people's typing");
  const seenByEditor = await textWhere(editor.page, (text) => text === seenByOwner, "the owner's text");
  assert.equal(seenByEditor, seenByOwner);
  await textWhere(people.viewer.page, (text) => text === seenByOwner, "the converged text");

  // Presence and remote cursors carry the names the server stamps, not what a client claims.
  await owner.page.waitForFunction(
    (name) => [...document.querySelectorAll("#presence li")].some((li) => li.textContent === name),
    DATA.users.editor.name);
  await editor.page.waitForFunction(
    (name) => [...document.querySelectorAll("#presence li")].some((li) => li.textContent === name),
    DATA.users.owner.name);
  await owner.page.waitForFunction(
    (name) => [...document.querySelectorAll(".cm-ySelectionInfo")].some((el) => el.textContent === name),
    DATA.users.editor.name);
  await screenshot(owner.page, "02-co-editing");
});

test("a viewer reads along but cannot write", { timeout: 60_000 }, async () => {
  const { page } = people.viewer;
  assert.match(await page.textContent("#role"), /viewer · read-only/);
  assert.equal(await page.getAttribute(".cm-content", "contenteditable"), "false");
  const before = await editorText(page);
  await page.click(".cm-content");
  await page.keyboard.type("viewer typing");
  await page.waitForTimeout(500);
  assert.equal(await editorText(page), before);
  assert.equal(await editorText(people.owner.page), before, "nothing the viewer typed reached anyone");
  await screenshot(page, "03-viewer");
});

test("a REST PATCH appears live in every open page", { timeout: 60_000 }, async () => {
  const text = "INT. HARBOUR - DAWN\nRewritten through the REST API.";
  await api(server, DATA.users.owner, "PATCH", scene(), { content: { script: text } });
  for (const { page } of Object.values(people)) await textWhere(page, (t) => t === text, "the REST write");
});

test("a reload keeps the text and the place", { timeout: 60_000 }, async () => {
  const { page } = people.editor;
  await page.click(".cm-content");
  await page.keyboard.press("Control+End");
  await page.keyboard.type(" Before the reload.");
  const expected = await textWhere(people.owner.page, (t) => t.endsWith("Before the reload."), "the editor's line");
  await page.reload();
  await synced(page);
  assert.equal(await editorText(page), expected);
  assert.equal(await page.textContent("#who"), DATA.users.editor.name, "still signed in after a reload");
});

test("a server restart is survived: pages reconnect, resync and go on co-editing", { timeout: 180_000 }, async () => {
  const { owner, editor } = people;
  const before = await editorText(owner.page);
  await server.restart();
  for (const { page } of [owner, editor]) {
    await synced(page, 90_000);
    assert.equal(await editorText(page), before);
  }
  await editor.page.click(".cm-content");
  await editor.page.keyboard.press("Control+End");
  await editor.page.keyboard.type(" After the restart.");
  await textWhere(owner.page, (t) => t === `${before} After the restart.`, "the edit made after the restart");
  await screenshot(owner.page, "04-after-restart");
});

test("an export is watched to its poster and contact sheet", { timeout: 240_000 }, async () => {
  const { page } = people.owner;
  await page.waitForSelector("#preset option", { state: "attached" });
  const seen = new Set();
  await page.exposeFunction("exportState", (status) => seen.add(status));
  await page.evaluate(() => new MutationObserver(() => window.exportState(
    document.getElementById("export-state").dataset.status)).observe(
    document.getElementById("export-state"), { attributes: true, childList: true, subtree: true }));
  await page.click("#export-start");
  await page.waitForSelector("#export-state[data-status=completed]", { timeout: 200_000 });
  assert.ok(seen.has("queued") || seen.has("processing"), `progress was shown: ${[...seen]}`);
  assert.equal(await page.$eval("#export-progress", (bar) => bar.value), 100);
  for (const selector of ["#poster", "#contact-sheet"]) {
    await page.waitForFunction((s) => {
      const img = document.querySelector(s);
      return img && !img.hidden && img.complete && img.naturalWidth > 0;
    }, selector, { timeout: 30_000 });
  }
  assert.match(await page.getAttribute("#download", "href"), /^http/);
  await screenshot(page, "05-export");
});

test("an invited person signs up from the link and co-edits, with no operator step", { timeout: 120_000 }, async () => {
  const email = "newcomer@example.com";
  const invitation = await api(server, DATA.users.owner, "POST", `projects/${DATA.projectId}/team/invitations`,
    { email, role: "editor" });
  const context = await person(browser, server);
  people.newcomer = { context };
  const page = await context.newPage();
  await page.goto(invitation.acceptUrl);
  await page.waitForSelector("#signup:not([hidden])");
  await page.fill("#name", "Nia Newcomer");
  await page.fill("#new-password", "newcomer-pass-123");
  await page.click("#signup button[type=submit]");
  await page.waitForSelector("#open-studio:not([hidden])");
  await screenshot(page, "06-joined");
  await page.click("#open-studio");
  await page.waitForSelector("#workspace:not([hidden])");
  assert.equal(await page.textContent("#who"), "Nia Newcomer");
  await page.click(`#scenes button[data-id="${DATA.scenes[SCENE]}"]`);
  await synced(page);
  await page.click(".cm-content");
  await page.keyboard.press("Control+End");
  await page.keyboard.type(" Newcomer's line.");
  await textWhere(people.owner.page, (t) => t.endsWith("Newcomer's line."), "the newcomer's line");
  await people.owner.page.waitForFunction(
    () => [...document.querySelectorAll("#presence li")].some((li) => li.textContent === "Nia Newcomer"));
  await screenshot(page, "07-newcomer-co-editing");
});

test("the studio needed nothing from another origin, and no page failed", async () => {
  for (const [role, { context }] of Object.entries(people)) {
    assert.deepEqual(context.foreign, [], `${role}'s pages asked another origin`);
    assert.deepEqual(context.errors, [], `${role}'s pages threw`);
  }
});
