"""Platform indexes the models do not declare: token lookup by hash and membership by user."""

SCOPE = "platform"


def upgrade(app, db) -> None:
    db["api_tokens"].create_index("tokenHash", unique=True)
    db["members"].create_index([("userId", 1), ("projectId", 1)])
