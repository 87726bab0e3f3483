# Permissions on one content document: the project's role decides, except for roles that
# may only change what they created (collaborators edit and delete only their own content).

ownership_required("collaborator", action: String) if action in ["content:edit", "content:delete"];

permitted(actor: User, action: String, doc: Content) if
    role = actor.role_in(doc.project) and
    role_permission(role, action) and
    not ownership_required(role, action);

permitted(actor: User, action: String, doc: Content) if
    role = actor.role_in(doc.project) and
    ownership_required(role, action) and
    doc.created_by = actor.id;
