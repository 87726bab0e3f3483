// The export panel: start an export of the project's completed scenes with a preset, watch its
// progress, then show its poster, contact sheet and download link (signed, expiring URLs the
// job's status answer carries).

const POLL_MS = 500;

export class ExportPanel {
  constructor(session, elements) {
    this.session = session;
    this.el = elements; // {preset, start, state, progress, poster, sheet, download}
    this.projectId = null;
    this._timer = null;
    this.el.start.addEventListener("click", () => this.start());
  }

  async show(projectId, canExport) {
    this.stop();
    this.projectId = projectId;
    this.el.start.disabled = !canExport;
    this.el.start.title = canExport ? "" : "your role cannot start exports";
    const presets = await this.session.request("export/presets");
    this.el.preset.replaceChildren(...presets.items.map((p) => new Option(`${p.id} (${p.width}×${p.height})`, p.id)));
    this._render({ status: "idle", progress: 0 });
  }

  async start() {
    this.stop();
    this.el.start.disabled = true;
    try {
      const job = await this.session.request(`projects/${this.projectId}/exports`,
        { method: "POST", body: { preset: this.el.preset.value } });
      this._render({ status: job.status, progress: 0 });
      this._watch(job.jobId);
    } catch (err) {
      this._render({ status: "failed", progress: 0, error: err.message });
      this.el.start.disabled = false;
    }
  }

  _watch(jobId) {
    const projectId = this.projectId;
    const poll = async () => {
      if (projectId !== this.projectId) return;
      try {
        const job = await this.session.request(`projects/${projectId}/exports/${jobId}`);
        this._render(job);
        if (job.status === "completed" || job.status === "failed" || job.status === "expired") {
          this.el.start.disabled = false;
          return;
        }
      } catch (err) {
        this.el.state.textContent = `checking the export failed: ${err.message}; retrying`;
      }
      this._timer = setTimeout(poll, POLL_MS);
    };
    poll();
  }

  _render(job) {
    const percent = Math.round(job.progress || 0);
    this.el.state.dataset.status = job.status;
    this.el.state.textContent = job.status === "failed" ? `failed: ${job.error || "unknown error"}`
      : job.status === "idle" ? "" : `${job.status} ${percent}%`;
    this.el.progress.value = percent;
    const done = job.status === "completed";
    for (const [img, url] of [[this.el.poster, job.posterUrl], [this.el.sheet, job.contactSheetUrl]]) {
      img.hidden = !(done && url);
      if (done && url) img.src = url;
      else img.removeAttribute("src");
    }
    this.el.download.hidden = !(done && job.downloadUrl);
    if (done && job.downloadUrl) this.el.download.href = job.downloadUrl;
  }

  stop() {
    clearTimeout(this._timer);
    this._timer = null;
  }
}
