"""Demo data: two users, a project with characters, scenes, locations and three generated scene videos."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from bson import ObjectId

from .crypto import DecryptionError
from .media import media_key
from .models import ApiToken, Membership, Project, User, hash_token
from .projects import add_member, create_project

DEMO_SLUG = "demo-film"


def make_scene_video(path: Path, seconds: float = 2.0, color: str = "navy", tone: int = 440) -> Path:
    """A tiny real MP4 (320x180, test pattern tinted ``color``, a sine tone) made with FFmpeg."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=24:duration={seconds}",
           "-f", "lavfi", "-i", f"color=c={color}:size=320x180:rate=24:duration={seconds}",
           "-f", "lavfi", "-i", f"sine=frequency={tone}:duration={seconds}",
           "-filter_complex", "[0:v][1:v]blend=all_mode=overlay:all_opacity=0.5[v]",
           "-map", "[v]", "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-shortest", "-f", "mp4", str(path)]
    subprocess.run(cmd, check=True, capture_output=True)
    return path


# Something for the studio's editor to open on (any text field of a scene can be co-edited).
SCRIPTS = ("INT. HARBOUR - DAWN\nMara checks the moorings. Fog rolls in.",
           "EXT. PIER - DAY\nIlya waits by a crate that should not be there.",
           "INT. CABIN - NIGHT\nMara and Ilya, face to face. Neither blinks.")


def seed_demo(app, base_url: str) -> dict:
    """Create the demo once; later runs show the same users' same tokens.

    Tokens are stored hashed, so showing one again needs its plain text: the demo tokens (and
    only they) are also kept encrypted with the installation's keyring (``ApiToken.sealed``).
    A token that was revoked, or sealed under a key since removed, is replaced by a new one."""
    users = []
    for email, name in (("director@demo.aladdin", "Dana Director"), ("writer@demo.aladdin", "Wes Writer")):
        user = User.objects(email=email).first() or User(email=email, name=name).save()
        users.append(user)
    director, writer = users
    project = Project.objects(slug=DEMO_SLUG).first()
    if project is None:
        project = create_project(app, director, "Demo Film", DEMO_SLUG, "A tiny production to try Aladdin on.")
        add_member(app, project, writer, "collaborator", director)
        _seed_content(app, project, director)
    keyring = app.extensions["aladdin"].keyring
    tokens = [_sealed_token(u, keyring) or ApiToken.issue(u, name="demo", keyring=keyring) for u in users]
    roles = {m.userId: m.role for m in Membership.objects(projectId=str(project.id))}
    return {"baseUrl": base_url, "project": {"id": str(project.id), "slug": project.slug},
            "users": [{"email": u.email, "role": roles.get(str(u.id), "-"), "token": t}
                      for u, t in zip(users, tokens)]}


def _sealed_token(user, keyring) -> str | None:
    """The plain text of ``user``'s live demo token, if one was sealed with a key ``keyring`` has."""
    for row in ApiToken.objects(userId=str(user.id), name="demo", revoked=False, sealed__ne=None).order_by("-createdAt"):
        try:
            token = keyring.decrypt(row.sealed, associated=row.tokenHash.encode())
        except DecryptionError:
            continue  # sealed under a key this installation no longer has
        if hash_token(token) == row.tokenHash:
            return token
    return None


def _seed_content(app, project, user) -> None:
    ext = app.extensions["aladdin"]
    content = ext.content
    loc = content.create(project, "locations", {"content": {"name": "Harbour at dawn", "mood": "misty"}}, user)
    ep = content.create(project, "episodes", {"content": {"title": "Pilot", "number": 1}}, user)
    hero = content.create(project, "characters", {"content": {"name": "Mara", "role": "captain"}}, user)
    rival = content.create(project, "characters", {"content": {"name": "Ilya", "role": "smuggler",
                                                               "rivalId": str(hero["_id"])}}, user)
    content.update(project, "characters", str(hero["_id"]), {"content.rivalId": str(rival["_id"])}, user)
    colors = [("navy", 330), ("darkgreen", 440), ("maroon", 550)]
    with tempfile.TemporaryDirectory() as tmp:
        for number, (color, tone) in enumerate(colors, start=1):
            scene = content.create(project, "scenes", {
                "content": {"title": f"Scene {number}", "script": SCRIPTS[number - 1],
                            "locationId": str(loc["_id"]), "episodeId": str(ep["_id"]),
                            "characterIds": [str(hero["_id"]), str(rival["_id"])]},
                "relatedDocuments": [{"collection": "locations", "documentId": str(loc["_id"])}]}, user)
            path = make_scene_video(Path(tmp) / f"scene{number}.mp4", color=color, tone=tone)
            media_id = ObjectId()
            key = media_key(project.slug, media_id, path.name)
            size = ext.storage.put_file(path, key, content_type="video/mp4")
            media = content.create(project, "media", {
                "_id": media_id, "filename": path.name, "contentType": "video/mp4", "size": size,
                "storageKey": key, "content": {"title": path.name, "kind": "video"}}, user)
            content.create(project, "videos", {
                "sceneNumber": number, "status": "completed",
                "content": {"mediaId": str(media["_id"]), "sceneId": str(scene["_id"])}}, user)


def demo_lines(info: dict) -> list[str]:
    """What ``demo`` and ``serve --demo`` print: the project, each user's token, a first request."""
    lines = [f"demo project {info['project']['slug']} ({info['project']['id']})"]
    lines += [f"  {user['role']:<7} {user['email']:<24} token {user['token']}" for user in info["users"]]
    lines.append(f"  try: curl -H 'Authorization: Bearer {info['users'][0]['token']}' "
                 f"{info['baseUrl']}/api/v1/projects/{info['project']['slug']}/content/scenes")
    lines.append(f"  API docs: {info['baseUrl']}/api/v1/docs")
    lines.append(f"  studio: {info['baseUrl']}/studio (sign in with one of the tokens above)")
    return lines
