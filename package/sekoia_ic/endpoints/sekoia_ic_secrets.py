"""The app's REST endpoint `sekoia_ic/secrets`: the setup page's only way to the API key and the proxy password.

splunkd answers a write to storage/passwords with the entity, clear_password included: a page that wrote the
key there directly would get it back in its network log. This handler writes on the page's behalf, with the
admin's own session (restmap.conf: `capability = admin_all_objects`; no system authority), and answers only
whether each secret exists (docs/design.md, "Security model").

GET -> {"api_key": bool, "proxy_password": bool, "unprotected": [names whose ACL is not admin-only]}
POST {"name": "api_key"|"proxy_password", "password": "..."} -> create or update, then ACL read/write admin only
POST {"name": ..., "protect": true} -> only the ACL (after a save whose ACL write failed)
POST {"name": ..., "delete": true} -> remove it
"""
import json
import logging

from splunklib.binding import HTTPError

from .. import redaction
from ..constants import API_KEY_USER, PASSWORD_REALM, PROXY_PASSWORD_USER
from ..splunk.rest_handler import PersistentHandler
from ..splunk.rest_handler import reply as _reply

LOG_NAME = "sekoia_ic_secrets"
NAMES = (API_KEY_USER, PROXY_PASSWORD_USER)
ADMINS = {"admin", "sc_admin"}
ACL = {"sharing": "app", "owner": "nobody", "perms.read": "admin,sc_admin", "perms.write": "admin,sc_admin"}
log = logging.getLogger(LOG_NAME)


def _entity_path(user):
    return f"storage/passwords/{PASSWORD_REALM}:{user}:"  # splunklib encodes the path


def exists(service, user):
    try:
        service.get(_entity_path(user), f="username", output_mode="json")
        return True
    except HTTPError as exc:
        if exc.status == 404:
            return False
        raise


class PartlyWritten(Exception):
    """The value is stored, its ACL is not: `cause` is splunkd's refusal."""

    def __init__(self, cause):
        super().__init__(str(cause))
        self.cause = cause


def protected(service, user):
    """Whether the stored secret is readable and writable by admins only."""
    body = json.loads(service.get(_entity_path(user), output_mode="json").body.read())
    perms = ((body.get("entry") or [{}])[0].get("acl") or {}).get("perms") or {}
    return set(perms.get("read") or []) <= ADMINS and set(perms.get("write") or []) <= ADMINS


def protect(service, user):
    service.post(f"{_entity_path(user)}/acl", **ACL)


def write(service, user, password):
    """Create or update (as splunkd has it now), then restrict reading and writing to admins."""
    redaction.register(password)
    if exists(service, user):
        service.post(_entity_path(user), password=password)
    else:
        service.post("storage/passwords", name=user, realm=PASSWORD_REALM, password=password)
    try:
        protect(service, user)
    except HTTPError as exc:
        raise PartlyWritten(exc) from None


def delete(service, user):
    if exists(service, user):
        service.delete(_entity_path(user))


class SecretsHandler(PersistentHandler):
    LOG_NAME = LOG_NAME

    def handle(self, in_string):
        from ..splunk.settings import app_service
        try:
            request = json.loads(in_string)
            service = app_service(request["server"]["rest_uri"], request["session"]["authtoken"])
            user = request["session"].get("user", "?")
        except (ValueError, KeyError, TypeError):
            return _reply(400, {"error": "malformed request"})
        try:
            if request.get("method") == "GET":
                found = {name: exists(service, name) for name in NAMES}
                found["unprotected"] = [name for name in NAMES if found[name] and not protected(service, name)]
                return _reply(200, found)
            if request.get("method") != "POST":
                return _reply(405, {"error": "GET or POST"})
            try:
                body = json.loads(request.get("payload") or "")
                name = body["name"]
            except (ValueError, KeyError, TypeError):
                return _reply(400, {"error": "POST a JSON object with a name"})
            if name not in NAMES:
                return _reply(400, {"error": f"name must be one of {', '.join(NAMES)}"})
            if body.get("delete") is True:
                delete(service, name)
                log.info("user=%s removed %s", user, name)
                return _reply(200, {name: False})
            if body.get("protect") is True:
                protect(service, name)
                return _reply(200, {name: True})
            password = body.get("password")
            if not isinstance(password, str) or not password.strip() or "\n" in password or "\r" in password:
                return _reply(400, {"error": "password must be a non-empty line"})
            write(service, name, password.strip() if name == API_KEY_USER else password)
            log.info("user=%s saved %s", user, name)
            return _reply(200, {name: True})
        except (HTTPError, PartlyWritten) as exc:
            # splunkd's own words (e.g. "Encryption failure"), never the secret; `written`: whether the value
            # changed before the failure (only the ACL failed), so that the page says exactly what happened.
            cause = exc.cause if isinstance(exc, PartlyWritten) else exc
            message = redaction.redact(str(cause))
            log.error("user=%s: splunkd refused: %s", user, message)
            return _reply(cause.status if 400 <= cause.status < 600 else 502,
                          {"error": message, "written": isinstance(exc, PartlyWritten)})

