# Loaded after Aladdin's roles.polar and ownership.polar through the aladdin_policy_files hook.

# The summary counts confidential boards, so it is for members who may edit content
# (owner, editor, collaborator); viewers get 403. Nothing in the core grants this action.
permitted(actor: User, "storyboards:summary", project: Project) if
    role = actor.role_in(project) and
    role_permission(role, "content:edit");

# Storyboards are signed-off art: only the project owner deletes one, whatever else a role may.
denied(actor: User, "content:delete", doc: Content) if
    doc.collection = "storyboards" and
    not actor.role_in(doc.project) = "owner";
