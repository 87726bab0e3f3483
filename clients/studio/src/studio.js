// The studio page (/studio): sign in, pick a project and a scene, co-edit one of its text fields
// with everyone else who has it open, and export the project. Everything goes through the public
// API and the JavaScript provider (clients/js), the way any browser client of Aladdin would.
// Where the page is (project, scene, field) lives in the URL's hash, so a reload comes back to it.

import { AladdinProvider } from "@aladdin/provider";
import { Session } from "./session.js";
import { FieldEditor, colorFor, textFields } from "./editor.js";
import { ExportPanel } from "./exports.js";

const $ = (id) => document.getElementById(id);
const root = new URL(document.body.dataset.root || "/", location.href); // the app's root URL
const session = new Session(new URL("api/v1/", root));
const editor = new FieldEditor($("editor"));
const exportsPanel = new ExportPanel(session, {
  preset: $("preset"), start: $("export-start"), state: $("export-state"), progress: $("export-progress"),
  poster: $("poster"), sheet: $("contact-sheet"), download: $("download"),
});
let provider = null;

const place = () => Object.fromEntries(new URLSearchParams(location.hash.slice(1)));
const setPlace = (values) => {
  const next = new URLSearchParams({ ...place(), ...values });
  for (const [key, value] of [...next]) if (!value) next.delete(key);
  history.replaceState(null, "", `#${next}`);
};
const say = (text) => { $("message").textContent = text; };

function show(section) {
  $("signin").hidden = section !== "signin";
  $("workspace").hidden = section !== "workspace";
}

// --- signing in ---------------------------------------------------------------------------

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  say("");
  try {
    if (form.token.value) await session.useApiToken(form.token.value.trim());
    else await session.signIn(form.email.value, form.password.value);
    form.reset();
    await openWorkspace();
  } catch (err) {
    say(err.status === 401 ? "Wrong email or password." : err.message);
  }
});

$("signout").addEventListener("click", async () => {
  closeScene();
  await session.signOut();
  history.replaceState(null, "", location.pathname);
  $("who").textContent = "";
  show("signin");
});

// --- projects and scenes --------------------------------------------------------------------

async function openWorkspace() {
  const me = session.user || await session.request("auth/me");
  $("who").textContent = me.name || me.email;
  show("workspace");
  const projects = await session.request("projects");
  const select = $("project");
  select.replaceChildren(new Option("Choose a project", ""),
    ...projects.items.map((p) => new Option(`${p.name} (${p.role})`, p.id)));
  const wanted = place().project;
  if (wanted && projects.items.some((p) => p.id === wanted || p.slug === wanted)) {
    select.value = projects.items.find((p) => p.id === wanted || p.slug === wanted).id;
    await openProject(select.value);
  }
}

$("project").addEventListener("change", (event) => {
  setPlace({ project: event.target.value, scene: "", field: "" });
  openProject(event.target.value).catch((err) => say(err.message));
});

async function openProject(projectId) {
  closeScene();
  $("scenes").replaceChildren();
  if (!projectId) return;
  const scenes = await session.request(`projects/${projectId}/content/scenes?limit=200`);
  $("scenes").replaceChildren(...scenes.items.map((scene) => {
    const id = scene.id ?? scene._id;
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.id = id;
    button.textContent = scene.content?.title || id;
    button.addEventListener("click", () => { setPlace({ scene: id, field: "" }); openScene(projectId, id); });
    const item = document.createElement("li");
    item.append(button);
    return item;
  }));
  await exportsPanel.show(projectId, true);
  const wanted = place().scene;
  if (wanted && scenes.items.some((s) => (s.id ?? s._id) === wanted)) openScene(projectId, wanted);
}

// --- co-editing -----------------------------------------------------------------------------

function closeScene() {
  editor.destroy();
  if (provider) provider.destroy();
  provider = null;
  $("scene").hidden = true;
  $("presence").replaceChildren();
}

function openScene(projectId, sceneId) {
  closeScene();
  for (const button of $("scenes").querySelectorAll("button")) {
    button.setAttribute("aria-current", String(button.dataset.id === sceneId));
  }
  $("scene").hidden = false;
  const p = new AladdinProvider({
    url: root.href, token: () => session.token(), projectId, collection: "scenes", documentId: sceneId,
  });
  provider = p;
  const announce = () => p.awareness.setLocalStateField("user", { color: colorFor(p.doc.clientID) });
  announce();
  p.on("status", renderStatus).on("role", renderStatus);
  p.on("synced", (synced) => { renderStatus(); if (synced) { say(""); bindField(); } });
  p.on("doc", () => { announce(); watchPresence(p); }); // refused update: a fresh document, bound once synced
  p.on("error", (err) => {
    if (err.code === "access_revoked") say("Your access to this project was revoked.");
    else if (err.code === "connect_error") say("Connection lost: reconnecting…");
    else if (err.resync) say(`The server refused an edit (${err.code}): the document was reloaded from the server.`);
    else say(err.message || err.code);
  });
  watchPresence(p);
  renderStatus();
}

function bindField() {
  const fields = textFields(provider.doc);
  const select = $("field");
  select.replaceChildren(...fields.map((name) => new Option(name, name)));
  const wanted = place().field;
  const field = [wanted, "script", "title", fields[0]].find((name) => fields.includes(name));
  $("no-fields").hidden = Boolean(field);
  if (!field) return editor.destroy();
  select.value = field;
  if (editor.ytext !== provider.doc.getMap("content").get(field)) editor.bind(provider, field);
  editor.setReadOnly(provider.readOnly);
}

$("field").addEventListener("change", (event) => {
  setPlace({ field: event.target.value });
  editor.bind(provider, event.target.value);
});

function renderStatus() {
  if (!provider) return;
  const state = provider.synced ? "synced" : provider.status;
  $("status").dataset.state = state;
  $("status").textContent = state;
  $("role").textContent = provider.role ? `${provider.role}${provider.readOnly ? " · read-only" : ""}` : "";
  $("scene").dataset.readonly = String(provider.readOnly);
  if (provider.synced) editor.setReadOnly(provider.readOnly);
  else editor.setReadOnly(true); // nothing typed while out of sync: it could not be sent
}

function watchPresence(p) {
  const render = () => {
    if (p !== provider) return;
    // Our own entry has no name until the server has seen it: we know it from the join answer.
    const names = [...p.awareness.getStates()].map(([clientId, state]) => clientId === p.doc.clientID
      ? [clientId, p.user ? `${p.user.userName || p.user.userId} (you)` : null, state.user?.color]
      : [clientId, state.user?.name, state.user?.color]);
    const items = names.filter(([, name]) => name).map(([clientId, name, color]) => {
      const li = document.createElement("li");
      li.textContent = name;
      li.style.borderColor = color || colorFor(clientId);
      return li;
    });
    $("presence").replaceChildren(...items);
  };
  p.awareness.on("change", render);
  render();
}

// --- start --------------------------------------------------------------------------------

if (session.signedIn) {
  openWorkspace().catch((err) => {
    say(err.status === 401 ? "Your session has ended: sign in again." : err.message);
    if (err.status === 401) show("signin");
  });
} else {
  show("signin");
}
