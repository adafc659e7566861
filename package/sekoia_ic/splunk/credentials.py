"""The app's credentials in storage/passwords (realm sekoia_ic: the API key and the proxy password), written
with an admin's own session by the setup endpoint (endpoints/sekoia_ic_setup.py).

A credential belongs to the namespace it is created in: the service given is the app's (nobody/sekoia_ic, see
splunk/settings.py app_service), so the entity is
`/servicesNS/nobody/sekoia_ic/storage/passwords/sekoia_ic:<user>:`. Its
ACL is then made admin-only, with `sharing` and `owner` in the request body: splunklib's post(owner=, sharing=)
would put them into the URL's namespace instead, which splunkd answers 404 (docs/design.md, "Secrets"). A
read-back proves the ACL took.
"""
import json

from splunklib.binding import HTTPError

from .. import redaction
from ..constants import PASSWORD_REALM

ADMINS = ("admin", "sc_admin")
ACL = {"sharing": "app", "owner": "nobody", "perms.read": ",".join(ADMINS), "perms.write": ",".join(ADMINS)}


class NotProtected(Exception):
    """The value is stored but its ACL is not admin-only: the message says who else may read or write it."""


def entity_path(user):
    return f"storage/passwords/{PASSWORD_REALM}:{user}:"  # splunklib encodes the path


def _entity(service, user):
    body = json.loads(service.get(entity_path(user), output_mode="json").body.read())
    return (body.get("entry") or [{}])[0]


def exists(service, user):
    try:
        service.get(entity_path(user), f="username", output_mode="json")
        return True
    except HTTPError as exc:
        if exc.status == 404:
            return False
        raise


def readers_beyond_admins(service, user):
    """The roles other than admins that may read or write the stored credential (empty: admin-only)."""
    perms = (_entity(service, user).get("acl") or {}).get("perms") or {}
    return sorted((set(perms.get("read") or []) | set(perms.get("write") or [])) - set(ADMINS))


def protect(service, user):
    """Make the credential admin-only, then read it back: NotProtected when splunkd did not apply it."""
    try:
        service.post(f"{entity_path(user)}/acl", body=dict(ACL))
        others = readers_beyond_admins(service, user)
    except HTTPError as exc:
        raise NotProtected(f"restricting the saved {user} to admins failed: {redaction.redact(str(exc))}") from None
    if others:
        raise NotProtected(f"the saved {user} is still readable by {', '.join(others)} after its ACL was written")


def write(service, user, password):
    """Create or update (as splunkd has it now). The ACL is protect()'s job, once the value is stored."""
    redaction.register(password)
    if exists(service, user):
        service.post(entity_path(user), password=password)
    else:
        service.post("storage/passwords", name=user, realm=PASSWORD_REALM, password=password)


def delete(service, user):
    if exists(service, user):
        service.delete(entity_path(user))
