# The product's rule book: roles and the permissions they grant (see DESIGN.md).
# Admin files in ALADDIN_POLICY_DIR load after this one: add `permitted` rules to widen,
# `denied` rules to tighten.

allow(actor: User, action: String, resource) if
    permitted(actor, action, resource) and
    not denied(actor, action, resource);

# Nothing is denied by default; admins add `denied(...)` rules.
denied(_actor: User, _action: String, _resource) if false;

permission(action) if action in [
    "project:view", "project:edit", "project:delete", "project:export", "project:share",
    "content:view", "content:create", "content:edit", "content:delete",
    "media:upload", "media:delete",
    "generate:image", "generate:video", "generate:voice",
    "team:invite", "team:remove", "team:edit_roles"
];

# owner: all.
role_permission("owner", action: String) if permission(action);

# editor: all but project:delete, project:share and the three team:* permissions.
role_permission("editor", action: String) if
    permission(action) and
    not action in ["project:delete", "project:share", "team:invite", "team:remove", "team:edit_roles"];

# collaborator: view, create and edit content (its own, see ownership.polar), upload, generate.
role_permission("collaborator", action: String) if action in [
    "project:view", "content:view", "content:create", "content:edit", "media:upload",
    "generate:image", "generate:video", "generate:voice"
];

# viewer: look, never touch.
role_permission("viewer", action: String) if action in ["project:view", "content:view"];

permitted(actor: User, action: String, project: Project) if
    role = actor.role_in(project) and
    role_permission(role, action);
