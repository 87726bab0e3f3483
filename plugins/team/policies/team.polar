# The team plugin's permissions beyond the core rule book: only the owner hands over the
# project and reads its audit log. Admin policies may widen these with `permitted` rules
# or tighten them with `denied` rules like any other permission.

permitted(actor: User, "team:transfer", project: Project) if
    actor.role_in(project) = "owner";

permitted(actor: User, "audit:view", project: Project) if
    actor.role_in(project) = "owner";

# Who sees the personal details in activity entries (members' IP addresses and user agents,
# invitees' e-mail addresses); everyone with project:view sees the entries without them.
permitted(actor: User, "team:view_details", project: Project) if
    actor.role_in(project) = "owner";
