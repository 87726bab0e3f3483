"""Field encryption: AES-256-GCM ciphertext at rest, tamper detection, key rotation, sensitive
content fields through a plugin's content type, and the production start-up refusal."""

from __future__ import annotations

import base64
import dataclasses
import os

import mongoengine as me
import pytest

from core.app import create_app
from core.content import ContentType
from core.crypto import MARKER, DecryptionError, EncryptedStringField, KeyRing
from core.hookspecs import hookimpl
from core.models import AppDocument
from tests.conftest import Actors, make_settings

SECRET = "whsec_Th1s-is-the-webhook-secret"


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


class Vault(AppDocument):
    """A document with an encrypted field, as a webhook record would hold its signing secret."""

    name = me.StringField()
    secret = EncryptedStringField()
    meta = {"collection": "test_vault"}


def raw_vault(app) -> dict:
    return app.extensions["aladdin"].db.platform()["test_vault"].find_one({})


def test_encrypted_field_is_ciphertext_in_the_database_and_round_trips(app):
    Vault(name="hook", secret=SECRET).save()
    raw = raw_vault(app)
    assert raw["secret"].startswith(MARKER) and SECRET not in str(raw)
    assert "webhook" not in raw["secret"] and raw["name"] == "hook"
    assert Vault.objects.get().secret == SECRET
    # Each write uses a fresh nonce: equal plaintexts give different ciphertexts.
    Vault(name="other", secret=SECRET).save()
    stored = {d["secret"] for d in app.extensions["aladdin"].db.platform()["test_vault"].find()}
    assert len(stored) == 2
    with pytest.raises(me.errors.OperationError):
        Vault.objects(secret=SECRET).first()


def test_tampered_ciphertext_is_refused(app):
    doc = Vault(name="hook", secret=SECRET).save()
    coll = app.extensions["aladdin"].db.platform()["test_vault"]
    token = coll.find_one({"_id": doc.id})["secret"]
    kid, payload = token[len(MARKER):].split(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(payload))
    raw[-1] ^= 0x01  # flip one bit of the tag
    tampered = f"{MARKER}{kid}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"
    coll.update_one({"_id": doc.id}, {"$set": {"secret": tampered}})
    with pytest.raises(DecryptionError):
        Vault.objects.get(id=doc.id)
    ring = app.extensions["aladdin"].keyring
    for bad in (tampered, token[:-4], f"{MARKER}{kid}:", f"{MARKER}{kid}:!!!", f"{MARKER}nokey:{payload}", "plain"):
        with pytest.raises(DecryptionError):
            ring.decrypt(bad)
    assert ring.decrypt(token) == SECRET


def test_key_rotation(tmp_path, redis_server):
    old, new = new_key(), new_key()
    first = make_settings(tmp_path, redis_server, encryption_key=f"old:{old}")
    app_old = create_app(first, load_entry_points=False)
    rotated = dataclasses.replace(first, extra=dict(first.extra), encryption_key=f"new:{new},old:{old}")
    app_new = create_app(rotated, load_entry_points=False)  # same database, rotated key ring
    try:
        with app_old.app_context():
            doc = Vault(name="before", secret=SECRET).save()
            assert raw_vault(app_old)["secret"].startswith(MARKER + "old:")
        with app_new.app_context():
            coll = app_new.extensions["aladdin"].db.platform()["test_vault"]
            loaded = Vault.objects.get(id=doc.id)
            assert loaded.secret == SECRET                       # the old kid still decrypts
            after = Vault(name="after", secret="fresh").save()
            assert coll.find_one({"_id": after.id})["secret"].startswith(MARKER + "new:")
            loaded.secret = SECRET + "2"
            loaded.save()                                        # re-saving moves it to the new key
            assert coll.find_one({"_id": doc.id})["secret"].startswith(MARKER + "new:")
        with app_old.app_context():
            with pytest.raises(DecryptionError):                 # the old ring lacks the new key
                Vault.objects.get(id=after.id)
    finally:
        app_old.extensions["aladdin"].db.close()
        app_new.extensions["aladdin"].db.close()


def test_key_ring_spec():
    key = new_key()
    assert KeyRing(key).current == KeyRing(key).current  # a bare key gets a stable derived kid
    with pytest.raises(ValueError, match="exactly 32 bytes"):
        KeyRing("k1:" + base64.b64encode(b"short").decode())
    with pytest.raises(ValueError):
        KeyRing(" , ")


class SecretsPlugin:
    """A third-party content type with a sensitive field."""

    @hookimpl
    def aladdin_content_types(self):
        return [ContentType("credentials", "Credential", sensitive_fields=("content.secret",))]


@pytest.fixture
def secrets_app(tmp_path, redis_server):
    app = create_app(make_settings(tmp_path, redis_server), plugins=(SecretsPlugin(),), load_entry_points=False)
    app.testing = True
    with app.app_context():
        yield app
    app.extensions["aladdin"].db.close()


def test_sensitive_content_fields_are_encrypted_at_rest(secrets_app):
    from core.projects import create_project

    app = secrets_app
    owner = Actors(app).user("owner@example.com")
    create_project(app, owner, "Vault Film", "vault-film")
    client = app.test_client()
    base = "/api/v1/projects/vault-film/content/credentials"
    r = client.post(base, json={"content": {"label": "render farm", "secret": {"user": "u", "pass": SECRET}}},
                    headers=owner.headers)
    assert r.status_code == 201 and r.json["content"]["secret"] == {"user": "u", "pass": SECRET}
    raw = app.extensions["aladdin"].db.project("vault-film")["credentials"].find_one({})
    assert raw["content"]["secret"].startswith(MARKER) and SECRET not in str(raw)
    assert raw["content"]["label"] == "render farm"
    assert client.get(f"{base}/{r.json['id']}", headers=owner.headers).json["content"]["secret"]["pass"] == SECRET
    r2 = client.patch(f"{base}/{r.json['id']}", json={"content": {"secret": "rotated"}}, headers=owner.headers)
    assert r2.status_code == 200 and r2.json["content"]["secret"] == "rotated"
    raw = app.extensions["aladdin"].db.project("vault-film")["credentials"].find_one({})
    assert raw["content"]["secret"].startswith(MARKER) and "rotated" not in str(raw)
    listed = client.get(base, headers=owner.headers).json["items"]
    assert [d["content"]["secret"] for d in listed] == ["rotated"]


def test_a_value_posing_as_ciphertext_is_still_encrypted(secrets_app):
    """A client cannot smuggle a fake ``enc:v1:`` value past encryption and break later reads."""
    from core.projects import create_project

    app = secrets_app
    owner = Actors(app).user("owner@example.com")
    create_project(app, owner, "Vault Film", "vault-film")
    client = app.test_client()
    base = "/api/v1/projects/vault-film/content/credentials"
    fake = MARKER + "dev:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    r = client.post(base, json={"content": {"secret": fake}}, headers=owner.headers)
    assert r.status_code == 201 and r.json["content"]["secret"] == fake
    assert client.get(f"{base}/{r.json['id']}", headers=owner.headers).json["content"]["secret"] == fake
    raw = app.extensions["aladdin"].db.project("vault-film")["credentials"].find_one({})
    assert raw["content"]["secret"] != fake and app.extensions["aladdin"].keyring.decrypt(raw["content"]["secret"])
    vault = Vault(name="fake")
    vault.secret = fake
    vault.save()
    assert Vault.objects.get(name="fake").secret == fake


def test_production_refuses_to_start_without_a_key(tmp_path, redis_server):
    with pytest.raises(RuntimeError, match="ALADDIN_ENCRYPTION_KEY is required in production"):
        create_app(make_settings(tmp_path, redis_server, env="production"), load_entry_points=False)
    app = create_app(make_settings(tmp_path, redis_server, env="production", encryption_key=f"prod:{new_key()}"),
                     load_entry_points=False)
    assert app.extensions["aladdin"].keyring.current == "prod"
    app.extensions["aladdin"].db.close()
