"""Who may read the intelligence and use the app's capabilities (metadata/default.meta, default/authorize.conf),
for each role a deployment has: user, power, the app's sekoia_ic_analyst, admin, Splunk Cloud's sc_admin, and
splunk-system-user (scheduled searches owned by nobody; role splunk-system-role), through the splunkd stand-in's
roles and object permissions (tests/standins/authz.py)."""
import pytest
from splunklib import binding

from sekoia_ic.splunk.settings import app_service

READ_INTEL = ("sekoia_ic_indicators", "sekoia_ic_context_cache", "sekoia_ic_checkpoints", "sekoia_ic_lease")
CASES = {  # role(s) -> (reads the intelligence, holds sekoia_ic_enrich, holds sekoia_ic_allowlist_edit)
    ("user",): (False, False, False),
    ("power",): (False, False, False),
    ("user", "sekoia_ic_analyst"): (True, True, False),
    ("user", "sekoia_ic_allowlist_editor"): (True, True, True),
    ("admin",): (True, True, True),
    ("sc_admin",): (True, True, True),
}


def service_as(splunkd, roles):
    key = "key-" + "-".join(roles)
    splunkd.add_session(key, "someone", list(roles))
    return app_service(splunkd.uri, key)


@pytest.mark.parametrize("roles", list(CASES), ids=["+".join(r) for r in CASES])
def test_each_role_reads_the_intelligence_only_if_it_uses_it(splunkd, roles):
    reads, enrich, allowlist_edit = CASES[roles]
    splunkd.kv["sekoia_ic_indicators"]["k"] = {"_key": "k", "value": "198.51.100.7", "tlp": "red"}
    service = service_as(splunkd, roles)
    for collection in READ_INTEL:
        if reads:
            service.kvstore[collection].data.query(limit=1)
        else:
            with pytest.raises(binding.HTTPError) as caught:
                service.kvstore[collection].data.query(limit=1)
            assert caught.value.status == 403
    # Nobody but admins writes the lookup (the input writes it with the system's session).
    if roles not in (("admin",), ("sc_admin",)):
        with pytest.raises(binding.HTTPError):
            service.kvstore["sekoia_ic_indicators"].data.batch_save({"_key": "x", "value": "x"})
    held = splunkd.authz.capabilities({"name": "someone", "roles": list(roles)})
    assert ("sekoia_ic_enrich" in held) == enrich and ("sekoia_ic_allowlist_edit" in held) == allowlist_edit


def test_sc_admin_gets_the_app_capabilities_only_from_the_app(splunkd):
    """Splunk gives role_admin every capability, an app's own included; sc_admin gets them only because the
    app's authorize.conf [role_sc_admin] grants them."""
    from tests.standins.authz import Authz
    bare = Authz({"capability::sekoia_ic_enrich": {}}, {})
    assert "sekoia_ic_enrich" in bare.capabilities({"name": "a", "roles": ["admin"]})
    assert "sekoia_ic_enrich" not in bare.capabilities({"name": "c", "roles": ["sc_admin"]})
    assert "sekoia_ic_enrich" in splunkd.authz.capabilities({"name": "c", "roles": ["sc_admin"]})


def test_scheduled_searches_as_splunk_system_user_read_the_lookup(splunkd):
    """splunk-system-user holds splunk-system-role, which imports admin: nobody-owned correlation searches read
    the indicators and the allowlist."""
    service = app_service(splunkd.uri, splunkd.system_token)
    assert splunkd.sessions[splunkd.system_token]["roles"] == ["splunk-system-role"]
    for collection in READ_INTEL + ("sekoia_ic_allowlist",):
        service.kvstore[collection].data.query(limit=1)
    assert "sekoia_ic_enrich" in splunkd.authz.capabilities(splunkd.sessions[splunkd.system_token])


def test_the_context_endpoint_needs_sekoia_ic_enrich(splunkd):
    for roles, allowed in ((("power",), False), (("sc_admin",), True), (("user", "sekoia_ic_analyst"), True)):
        service = service_as(splunkd, roles)
        try:
            service.post("sekoia_ic/context", body="{}")
            status = 200
        except binding.HTTPError as exc:
            status = exc.status
        assert (status != 403) == allowed, (roles, status)
