"""Tokens name their user as a string too (``ApiToken.userId``), which lookups by user match on:
the embedded document server cannot match a stored ObjectId outside ``_id``."""

SCOPE = "platform"


def upgrade(app, db) -> None:
    tokens = db["api_tokens"]
    for token in tokens.find({"userId": {"$exists": False}}, {"user": 1}):
        user = token.get("user")
        user_id = getattr(user, "id", user)  # an ObjectId, or a DBRef written by an older release
        tokens.update_one({"_id": token["_id"]}, {"$set": {"userId": str(user_id)}})
    tokens.create_index("userId")
