"""``/studio`` as HTTP: the page and its assets, what a browser may do with them, bad asset
paths, and the plugin switched off. (What a person does on the page: ``tests/browser``.)"""

from __future__ import annotations

import re

from core.app import create_app
from core.testing import make_settings


def test_the_page_names_versioned_assets_and_allows_only_its_own_origin(client):
    page = client.get("/studio")
    assert page.status_code == 200 and page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "default-src 'none'" in csp
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert "{{" not in html and 'data-root="/"' in html
    script = re.search(r'src="(/studio/assets/studio\.js\?v=[0-9a-f]{16})"', html).group(1)
    asset = client.get(script)
    assert asset.status_code == 200 and "max-age=31536000" in asset.headers["Cache-Control"]
    unversioned = client.get("/studio/assets/studio.js")
    assert unversioned.status_code == 200 and "max-age=31536000" not in unversioned.headers.get("Cache-Control", "")


def test_unknown_and_escaping_asset_paths_are_404(client):
    for path in ("/studio/assets/nope.js", "/studio/assets/../routes.py", "/studio/assets/%2e%2e/routes.py",
                 "/studio/assets/../../core/settings.py"):
        assert client.get(path).status_code == 404, path


def test_the_studio_plugin_can_be_switched_off(tmp_path, redis_server):
    app = create_app(make_settings(tmp_path, redis_server, disabled_plugins={"studio"}), load_entry_points=False)
    try:
        assert app.test_client().get("/studio").status_code == 404
    finally:
        app.extensions["aladdin"].close()
