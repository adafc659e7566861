"""Who may do what in the splunkd stand-in, as Splunk documents it:

- Roles and capabilities: authorize.conf.spec ([role_<name>] with `<capability> = enabled` and `importRoles`,
  [capability::<name>] declaring an app's own capability) and the default roles of
  $SPLUNK_HOME/etc/system/default/authorize.conf. Only the capabilities the app's endpoints check are listed;
  what matters is what `user` and `power` lack: `list_storage_passwords` ("Controls access to the
  storage/passwords endpoint", authorize.conf.spec) and `admin_all_objects`.
- REST endpoint capabilities: REST API Reference, storage/passwords (GET needs `list_storage_passwords`, writes
  `admin_all_objects`); apps/local writes need `admin_all_objects`; restmap.conf.spec `capability` /
  `capability.<method>` gate an app's [script:...] endpoint.
- Splunk Cloud: customer administrators hold `sc_admin` ("Securing Splunk Cloud Platform > Define roles on the
  Splunk platform with capabilities", the Cloud version of the topic; the ACS manual: "The sc_admin role has all
  required capabilities by default"). Unlike `admin` (authorize.conf.spec: role_admin gets every capability,
  an app's own included), sc_admin gets an app's capability only when the app's authorize.conf grants it.
- Scheduled searches owned by `nobody` run as `splunk-system-user`, whose role `splunk-system-role` imports
  `admin` ($SPLUNK_HOME/etc/system/default/authorize.conf, [role_splunk-system-role] importRoles = admin); the
  system token a handler gets with passSystemAuth acts as that user too.
- Object permissions: default.meta.spec: `access = read : [ roles ], write : [ roles ]` per object stanza
  (`[collections/<name>]`, `[<conf file>]`, ...), falling back to the `[]` stanza; `*` is every role. A role
  holds the permissions of the roles it imports.
"""
BUILTIN_ROLES = {
    "user": {"import": [], "capabilities": {"search", "get_metadata", "get_typeahead", "rest_properties_get",
                                             "rest_apps_view", "list_inputs", "change_own_password",
                                             "schedule_rtsearch"}},
    "power": {"import": ["user"], "capabilities": {"schedule_search", "rtsearch", "edit_sourcetypes",
                                                    "embed_report"}},
    "admin": {"import": ["power", "user"], "capabilities": {
        "admin_all_objects", "list_storage_passwords", "edit_storage_passwords", "edit_user", "list_settings",
        "edit_roles", "restart_splunkd", "accelerate_datamodel", "edit_modinput_sekoia_ic_feed"}},
    "sc_admin": {"import": ["power", "user"], "capabilities": {
        "admin_all_objects", "list_storage_passwords", "edit_storage_passwords", "edit_user", "list_settings",
        "edit_roles", "accelerate_datamodel", "edit_modinput_sekoia_ic_feed"}},
    "splunk-system-role": {"import": ["admin"], "capabilities": set()},
}
SYSTEM_ROLE = "splunk-system-role"
SYSTEM_USER = "splunk-system-user"


class Authz:
    def __init__(self, authorize_conf=None, meta=None):
        self.roles = {name: {"import": list(r["import"]), "capabilities": set(r["capabilities"])}
                      for name, r in BUILTIN_ROLES.items()}
        self.app_capabilities = set()
        for stanza, values in (authorize_conf or {}).items():
            if stanza.startswith("capability::"):
                self.app_capabilities.add(stanza[len("capability::"):])
            elif stanza.startswith("role_"):
                role = self.roles.setdefault(stanza[len("role_"):], {"import": [], "capabilities": set()})
                for key, value in values.items():
                    if key == "importRoles":
                        role["import"] = [r.strip() for r in value.split(";") if r.strip()]
                    elif value.strip() == "enabled":
                        role["capabilities"].add(key)
                    elif value.strip() == "disabled":
                        role["capabilities"].discard(key)
        # admin holds every capability, the app's own ones included (authorize.conf.spec: role_admin).
        self.roles["admin"]["capabilities"] |= self.app_capabilities
        self.meta = meta or {}

    def expand(self, roles):
        """The roles and every role they import, transitively."""
        seen, todo = set(), list(roles)
        while todo:
            role = todo.pop()
            if role in seen or role not in self.roles:
                continue
            seen.add(role)
            todo.extend(self.roles[role]["import"])
        return seen

    def capabilities(self, user):
        return set().union(*(self.roles[r]["capabilities"] for r in self.expand(user["roles"])))

    def has(self, user, expression):
        """A capability, or a restmap.conf expression of capabilities with `and`, `or` and parentheses."""
        held = self.capabilities(user)
        if "*" in held:
            return True
        tokens = expression.replace("(", " ( ").replace(")", " ) ").split()
        python = " ".join(t if t in ("and", "or", "(", ")") else str(t in held) for t in tokens)
        return bool(eval(python, {"__builtins__": {}}))  # noqa: S307 - only True/False/and/or/() here

    def may(self, user, obj, action):
        """default.meta object permission: action is "read" or "write", obj a stanza name like collections/x."""
        stanza = self.meta.get(obj)
        if stanza is None or "access" not in stanza:
            stanza = self.meta.get(obj.split("/")[0], {}) if "/" in obj else {}
        if "access" not in stanza:
            stanza = self.meta.get("", self.meta.get("default", {}))
        allowed = _parse_access(stanza.get("access", "read : [ * ], write : [ admin ]")).get(action, set())
        return "*" in allowed or bool(allowed & self.expand(user["roles"]))


def _parse_access(text):
    """'read : [ * ], write : [ admin, sc_admin ]' -> {"read": {"*"}, "write": {"admin", "sc_admin"}}."""
    out = {}
    for part in text.split("]"):
        if ":" not in part:
            continue
        action, _, roles = part.partition(":")
        out[action.strip(" ,")] = {r.strip() for r in roles.replace("[", "").split(",") if r.strip()}
    return out
