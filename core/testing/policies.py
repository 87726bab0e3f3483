"""Admin policy folders for tests: ``ALADDIN_POLICY_DIR`` with the rules a test needs."""

from __future__ import annotations

from pathlib import Path


def policy_folder(folder: Path, **files: str) -> Path:
    """``folder`` (made if missing) holding ``name.polar`` with each text of ``files``; pass it as
    ``make_settings(..., policy_dir=policy_folder(tmp_path / "rules", writes=RULES))``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.polar").write_text(text)
    return folder
