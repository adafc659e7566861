/*
 * Setup page of the Sekoia.io Intelligence Center app (view sekoia_ic_setup).
 *
 * Talks to splunkd through Splunk Web's REST proxy (/<locale>/splunkd/__raw/...) with the CSRF header
 * X-Splunk-Form-Key taken from the splunkweb_csrf_token_<port> cookie of the port this page came from. It writes:
 *   - sekoia_ic.conf [settings]: region, base_url, proxy_url, proxy_username, verify_ssl, ca_bundle, timeout,
 *     log_level;
 *   - the feed input through data/inputs/sekoia_ic_feed/default (feed_id; enable / disable);
 *   - the API key and the proxy password through the app's endpoint sekoia_ic/secrets, which stores them in
 *     storage/passwords (realm sekoia_ic, readable by admin only) and answers only whether each exists;
 *   - is_configured through apps/local/sekoia_ic, then reloads the app.
 * A secret never travels back: splunkd answers a storage/passwords write with clear_password, so the page never
 * talks to storage/passwords itself.
 * The validation rules come from sekoia_ic_rules.js, generated from the app's Python definitions.
 *
 * A save is all or nothing as far as it can be: everything is validated first; the settings and the input are
 * written first and put back exactly (values as splunkd had them) if a later step fails before a secret is
 * written. A secret cannot be put back (its old value is never read), so once one is written, a failure is
 * reported exactly as it stands, and Save again finishes from there (creating or updating each secret as
 * splunkd has it). Plain JavaScript with no dependency, so it runs as a Simple XML dashboard script.
 */
(function () {
    "use strict";

    var RULES = window.SEKOIA_IC_RULES;
    var APP = "sekoia_ic";
    var SECRETS = "sekoia_ic/secrets";
    var INPUT = "data/inputs/" + RULES.feed_input.replace("://", "/");
    var FEED_ID = new RegExp(RULES.feed_id_pattern);
    var SETTINGS_KEYS = ["region", "base_url", "proxy_url", "proxy_username", "verify_ssl", "ca_bundle", "timeout",
                         "log_level"];
    var EDIT_CAPABILITY = "admin_all_objects";

    var state = { settings: {}, keySaved: false, proxySaved: false, unprotected: [], input: null, canEdit: false,
                  busy: false };

    function $(id) { return document.getElementById(id); }

    function rootPath() {
        // /en-US/app/sekoia_ic/sekoia_ic_setup -> /en-US (also behind a root_endpoint prefix)
        var path = window.location.pathname;
        var at = path.indexOf("/app/");
        return at >= 0 ? path.substring(0, at) : "";
    }

    function csrfToken() {
        // Splunk Web names its cookie after its own port: on a host with several Splunk Web instances, each one's
        // token is in its own cookie. Behind a proxy on the default port, the one token there is.
        var port = window.location.port || (window.location.protocol === "https:" ? "443" : "80");
        var tokens = {};
        document.cookie.split(";").forEach(function (part) {
            var match = part.trim().match(/^splunkweb_csrf_token_(\d+)=(.*)$/);
            if (match) { tokens[match[1]] = decodeURIComponent(match[2]); }
        });
        if (tokens[port] !== undefined) { return tokens[port]; }
        var all = Object.keys(tokens);
        return all.length === 1 ? tokens[all[0]] : "";
    }

    function endpoint(path) {
        // App-level objects live in nobody/sekoia_ic; apps/local is reached through nobody/system as usual.
        var namespace = path.indexOf("apps/local/") === 0 ? "system" : APP;
        return rootPath() + "/splunkd/__raw/servicesNS/nobody/" + namespace + "/" + path +
            (path.indexOf("?") >= 0 ? "&" : "?") + "output_mode=json";
    }

    function encodeForm(data) {
        return Object.keys(data).map(function (k) {
            return encodeURIComponent(k) + "=" + encodeURIComponent(data[k]);
        }).join("&");
    }

    function request(method, path, data, json) {
        var options = {
            method: method,
            credentials: "same-origin",
            headers: { "X-Requested-With": "XMLHttpRequest", "X-Splunk-Form-Key": csrfToken() }
        };
        if (data) {
            options.headers["Content-Type"] = json ? "application/json" : "application/x-www-form-urlencoded";
            options.body = json ? JSON.stringify(data) : encodeForm(data);
        }
        return fetch(endpoint(path), options).then(function (response) {
            return response.text().then(function (text) {
                var body = null;
                try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
                if (!response.ok) {
                    var message = body && body.messages && body.messages.length ? body.messages[0].text :
                        (body && body.error) || text;
                    var error = new Error("HTTP " + response.status + (message ? ": " + message : ""));
                    error.status = response.status;
                    error.body = body;
                    throw error;
                }
                return body;
            });
        });
    }

    function content(body) {
        return body && body.entry && body.entry.length ? body.entry[0].content : {};
    }

    function isTrue(value) {
        // splunkd's JSON gives booleans (disabled: false) where the conf file has strings ("0", "true").
        return value === true || RULES["true"].indexOf(String(value).trim().toLowerCase()) >= 0;
    }

    function setStatus(kind, text) {
        var status = $("sekoia-status");
        status.className = "sekoia-status" + (kind ? " sekoia-" + kind : "");
        status.textContent = text || "";
    }

    function fieldError(name, text) {
        var id = "sekoia-" + name.replace(/_/g, "-");
        var error = $(id + "-error");
        if (error) { error.textContent = text || ""; }
        var field = $(id) && $(id).closest(".sekoia-field");
        if (field) { field.classList.toggle("sekoia-invalid", !!text); }
    }

    // ---------------------------------------------------------------------------------------------- validation
    function checkUrl(value, what) {
        if (!value) { return ""; }
        if (/\s/.test(value)) { return what + " must not contain spaces."; }
        var url;
        try { url = new URL(value); } catch (e) { return what + " is not a URL: use http://host[:port][/path]."; }
        if (url.protocol !== "http:" && url.protocol !== "https:") { return what + " must start with http:// or https://."; }
        if (!url.hostname) { return what + " needs a host name."; }
        return "";
    }

    /* The errors of a form ({field: message}), by the rules settings.Settings.from_conf applies in Python. */
    function validate(form, keySaved) {
        var errors = {};
        var key = form.api_key || "";
        if (!key.trim()) {
            if (!keySaved) { errors.api_key = "Enter the Sekoia.io API key."; }
        } else if (/\s/.test(key)) {
            errors.api_key = "The API key must not contain spaces or line breaks: paste it again.";
        }
        if (!Object.prototype.hasOwnProperty.call(RULES.regions, String(form.region || "").toUpperCase())) {
            errors.region = "Choose one of " + Object.keys(RULES.regions).join(", ") + ".";
        }
        var baseError = checkUrl(form.base_url, "The custom base URL");
        if (baseError) { errors.base_url = baseError; }
        var proxyError = checkUrl(form.proxy_url, "The proxy URL");
        if (!proxyError && form.proxy_url && /^[a-z]+:\/\/[^\/]*@/i.test(form.proxy_url)) {
            proxyError = "Put the proxy's user and password in their own fields, not in the URL.";
        }
        if (proxyError) { errors.proxy_url = proxyError; }
        if (/[@:\/\s]/.test(form.proxy_username || "")) {
            errors.proxy_username = "The proxy user must not contain @ : / or spaces.";
        }
        if (form.proxy_password && !form.proxy_username) {
            errors.proxy_password = "A proxy password needs a proxy user.";
        } else if (/[\r\n]/.test(form.proxy_password || "")) {
            errors.proxy_password = "The proxy password must be on one line.";
        }
        if (/[\r\n]/.test(form.ca_bundle || "")) { errors.ca_bundle = "The CA bundle path must be on one line."; }
        var timeout = String(form.timeout || "").trim();
        var seconds = timeout === "" ? RULES.timeout_default : Number(timeout);
        if (!/^(\d+\.?\d*|\.\d+)$/.test(timeout || "0") || !(seconds > 0 && seconds <= RULES.timeout_max)) {
            errors.timeout = "The timeout is a number of seconds, more than 0 and at most " + RULES.timeout_max + ".";
        }
        if (RULES.log_levels.indexOf(form.log_level) < 0) {
            errors.log_level = "Choose one of " + RULES.log_levels.join(", ") + ".";
        }
        if (!FEED_ID.test(form.feed_id || "")) {
            errors.feed_id = "The feed ID is the feed's UUID, e.g. " + RULES.default_feed_id + ".";
        }
        return errors;
    }

    function showErrors(errors) {
        ["api_key", "region", "base_url", "proxy_url", "proxy_username", "proxy_password", "ca_bundle", "timeout",
         "feed_id"].forEach(function (name) { fieldError(name, errors[name]); });
        return Object.keys(errors).length === 0;
    }

    // ---------------------------------------------------------------------------------------------- load

    function load() {
        return request("GET", "authentication/current-context").then(function (body) {
            state.canEdit = (content(body).capabilities || []).indexOf(EDIT_CAPABILITY) >= 0;
            var settings = request("GET", "configs/conf-sekoia_ic/settings").then(content);
            if (!state.canEdit) { return settings.then(function (s) { state.settings = s; fill(); }); }
            var input = request("GET", INPUT).then(content, function (error) {
                if (error.status === 404) { return null; }  // no such input: anything else is a real failure
                throw error;
            });
            return Promise.all([settings, request("GET", SECRETS), input]).then(function (r) {
                state.settings = r[0];
                state.keySaved = r[1][RULES.api_key_user] === true;
                state.proxySaved = r[1][RULES.proxy_password_user] === true;
                state.unprotected = r[1].unprotected || [];
                state.input = r[2];
                fill();
            });
        });
    }

    function fill() {
        var s = state.settings;
        var region = String(s.region || "").toUpperCase();
        $("sekoia-region").value = RULES.regions[region] ? region : RULES.default_region;
        $("sekoia-base-url").value = s.base_url || "";
        // 1.0.0 kept the proxy's credentials in proxy_url: show them in their own fields; Save moves them.
        var proxy = splitProxy(s.proxy_url || "");
        $("sekoia-proxy-url").value = proxy.url;
        $("sekoia-proxy-username").value = s.proxy_username || proxy.user;
        $("sekoia-proxy-password").value = proxy.password;
        $("sekoia-verify-ssl").checked = s.verify_ssl === undefined || s.verify_ssl === "" || isTrue(s.verify_ssl);
        $("sekoia-ca-bundle").value = s.ca_bundle || "";
        $("sekoia-timeout").value = s.timeout === undefined || s.timeout === "" ? String(RULES.timeout_default) : s.timeout;
        $("sekoia-log-level").value = RULES.log_levels.indexOf(String(s.log_level || "").toUpperCase()) >= 0 ?
            String(s.log_level).toUpperCase() : "INFO";
        $("sekoia-feed-id").value = (state.input && state.input.feed_id) || RULES.default_feed_id;
        $("sekoia-enable-feed").checked = !state.input || !isTrue(state.input.disabled) || !state.keySaved;
        $("sekoia-api-key").value = "";
        showState();
    }

    /* The hints that say what splunkd has now, without touching what the admin typed. */
    function showState() {
        $("sekoia-api-key").placeholder = state.keySaved ? "•••••••• (saved: leave empty to keep it)" : "Paste the API key";
        $("sekoia-api-key-state").textContent = state.keySaved ?
            "A key is saved. Enter a new one only to replace it." : "No API key is saved yet.";
        $("sekoia-remove-key").hidden = !state.keySaved || !state.canEdit;
        $("sekoia-proxy-password-state").textContent = state.proxySaved ?
            "A proxy password is saved: leave empty to keep it." : "";
    }

    function splitProxy(value) {
        var match = value.match(/^([a-z][a-z0-9+.-]*:\/\/)([^\/@]*)@(.*)$/i);
        if (!match) { return { url: value, user: "", password: "" }; }
        var userinfo = match[2].split(":");
        return { url: match[1] + match[3], user: decodeURIComponent(userinfo[0] || ""),
                 password: decodeURIComponent(userinfo.slice(1).join(":")) };
    }

    // ---------------------------------------------------------------------------------------------- save
    function readForm() {
        return {
            api_key: $("sekoia-api-key").value,
            region: $("sekoia-region").value,
            base_url: $("sekoia-base-url").value.trim(),
            proxy_url: $("sekoia-proxy-url").value.trim(),
            proxy_username: $("sekoia-proxy-username").value.trim(),
            proxy_password: $("sekoia-proxy-password").value,
            verify_ssl: $("sekoia-verify-ssl").checked ? "true" : "false",
            ca_bundle: $("sekoia-ca-bundle").value.trim(),
            timeout: $("sekoia-timeout").value.trim(),
            log_level: $("sekoia-log-level").value,
            feed_id: $("sekoia-feed-id").value.trim(),
            enable_feed: $("sekoia-enable-feed").checked
        };
    }

    function saveSecret(name, value, written) {
        // The endpoint creates or updates it as splunkd has it now, and makes it readable by admins only. On a
        // failure it says whether the value had changed already (only the ACL failed).
        return request("POST", SECRETS, { name: name, password: value }, true).then(function () {
            written();
            state.unprotected = state.unprotected.filter(function (n) { return n !== name; });
        }, function (error) {
            if (error.body && error.body.written === true) {
                written();
                if (state.unprotected.indexOf(name) < 0) { state.unprotected.push(name); }
            }
            throw error;
        });
    }

    function setBusy(busy) {
        state.busy = busy;
        $("sekoia-save").disabled = busy || !state.canEdit;
        $("sekoia-test").disabled = busy;
        $("sekoia-remove-key").disabled = busy;
    }

    function save(event) {
        if (event) { event.preventDefault(); }
        if (state.busy || !state.canEdit) { return Promise.resolve(false); }
        var form = readForm();
        if (!showErrors(validate(form, state.keySaved))) {
            setStatus("error", "Nothing was saved: correct the fields marked in red.");
            return Promise.resolve(false);
        }
        setBusy(true);
        setStatus("busy", "Saving…");
        return runSave(form).then(function (ok) { setBusy(false); return ok; });
    }

    function runSave(form) {
        var settings = {};
        SETTINGS_KEYS.forEach(function (k) { settings[k] = form[k]; });
        var previous = {};
        SETTINGS_KEYS.forEach(function (k) { previous[k] = state.settings[k] === undefined ? "" : String(state.settings[k]); });
        var undo = [];      // [what, function] of the reversible writes done, to put back on failure
        var secrets = [];   // what was written that cannot be put back
        var steps = [];

        steps.push(["the settings", function () {
            return request("POST", "configs/conf-sekoia_ic/settings", settings).then(function () {
                var before = state.settings;
                state.settings = settings;
                undo.push(["the settings", function () {
                    return request("POST", "configs/conf-sekoia_ic/settings", previous).then(function () {
                        state.settings = before;
                    });
                }]);
            });
        }]);
        if (state.input) {
            var input = state.input;
            if (form.feed_id !== (input.feed_id || RULES.default_feed_id)) {
                steps.push(["the feed ID", function () {
                    var before = input.feed_id;
                    return request("POST", INPUT, { feed_id: form.feed_id }).then(function () {
                        input.feed_id = form.feed_id;
                        undo.push(["the feed ID", function () {
                            return request("POST", INPUT, { feed_id: before }).then(function () { input.feed_id = before; });
                        }]);
                    });
                }]);
            }
            var wasEnabled = !isTrue(input.disabled);
            if (form.enable_feed !== wasEnabled) {
                steps.push([form.enable_feed ? "enabling the feed input" : "disabling the feed input", function () {
                    return request("POST", INPUT + (form.enable_feed ? "/enable" : "/disable"), {}).then(function () {
                        input.disabled = !form.enable_feed;
                        undo.push(["the feed input's state", function () {
                            return request("POST", INPUT + (wasEnabled ? "/enable" : "/disable"), {}).then(function () {
                                input.disabled = !wasEnabled;
                            });
                        }]);
                    });
                }]);
            }
        }
        if (form.api_key.trim()) {
            steps.push(["the API key", function () {
                return saveSecret(RULES.api_key_user, form.api_key.trim(), function () {
                    state.keySaved = true;
                    secrets.push("the new API key");
                });
            }]);
        }
        if (form.proxy_password && form.proxy_username) {
            steps.push(["the proxy password", function () {
                return saveSecret(RULES.proxy_password_user, form.proxy_password,
                                  function () { state.proxySaved = true; secrets.push("the proxy password"); });
            }]);
        } else if (!form.proxy_username && state.proxySaved) {
            steps.push(["removing the proxy password", function () {
                return request("POST", SECRETS, { name: RULES.proxy_password_user, "delete": true }, true).then(function () {
                    state.proxySaved = false;
                    secrets.push("the proxy password's removal");
                });
            }]);
        }
        state.unprotected.forEach(function (name) {
            // A secret saved by a save whose permission write failed: make it admin-only now.
            steps.push(["restricting the saved " + name + " to admins", function () {
                return request("POST", SECRETS, { name: name, protect: true }, true).then(function () {
                    state.unprotected = state.unprotected.filter(function (n) { return n !== name; });
                });
            }]);
        });
        steps.push(["marking the app configured", function () {
            return request("POST", "apps/local/" + APP, { configured: "1" });
        }]);
        steps.push(["reloading the app", function () {
            return request("POST", "apps/local/" + APP + "/_reload", {});
        }]);

        var current = "";
        return steps.reduce(function (chain, step) {
            return chain.then(function () { current = step[0]; return step[1](); });
        }, Promise.resolve()).then(function () {
            fill();
            setStatus("ok", "Saved. " + (form.enable_feed ? "The feed sync is enabled. " : "") +
                "Use Test connection to check the key and region.");
            return true;
        }, function (error) {
            if (secrets.length) {
                // Nothing can put a secret back: say exactly what is saved, and let Save finish the rest.
                if (state.keySaved && secrets.indexOf("the new API key") >= 0) { $("sekoia-api-key").value = ""; }
                showState();
                setStatus("error", "Partly saved: the settings and " + secrets.join(" and ") + " are saved; " +
                    current + " failed (" + error.message + "). Save again to finish.");
                return false;
            }
            return putBack(undo).then(function (failed) {
                showState();  // the form keeps what the admin typed: Save again retries it
                if (failed.length) {
                    setStatus("error", "Not saved: " + current + " failed (" + error.message + "), and " +
                        failed.join(", ") + " could not be put back: check them and save again.");
                } else {
                    setStatus("error", "Not saved, the previous settings are kept: " + current + " failed (" +
                        error.message + ").");
                }
                return false;
            });
        });
    }

    function putBack(undo) {
        // Newest first; the names of what could not be put back.
        var failed = [];
        return undo.reverse().reduce(function (chain, item) {
            return chain.then(function () {
                return item[1]().catch(function () { failed.push(item[0]); });
            });
        }, Promise.resolve()).then(function () { return failed; });
    }

    // ---------------------------------------------------------------------------------------------- remove key
    var removeArmed = false;

    function removeKey() {
        if (state.busy || !state.keySaved) { return Promise.resolve(false); }
        if (!removeArmed) {
            removeArmed = true;
            $("sekoia-remove-key").textContent = "Click again to remove the key (the feed and the API context stop)";
            return Promise.resolve(false);
        }
        removeArmed = false;
        $("sekoia-remove-key").textContent = "Remove the saved key";
        setBusy(true);
        return request("POST", SECRETS, { name: RULES.api_key_user, "delete": true }, true).then(function () {
            state.keySaved = false;
            fill();
            setStatus("ok", "The API key is removed. The feed sync and sekoialookup's API context stop until a new " +
                "key is saved.");
            return true;
        }, function (error) {
            if (error.status === 404) { state.keySaved = false; fill(); }
            setStatus("error", "The key could not be removed: " + error.message);
            return false;
        }).then(function (ok) { setBusy(false); return ok; });
    }

    // ---------------------------------------------------------------------------------------------- test
    function testConnection() {
        if (state.busy) { return Promise.resolve(null); }
        setBusy(true);
        setStatus("busy", "Testing the saved settings against the Sekoia.io API…");
        return request("POST", "search/jobs", { search: "| sekoiacheck", exec_mode: "oneshot" })
            .then(function (body) {
                var row = body && body.results && body.results[0];
                if (!row) { throw new Error("the check returned no result"); }
                setStatus(row.status === "ok" ? "ok" : "error", row.message);
                return row;
            })
            .catch(function (error) {
                setStatus("error", "The test could not run: " + error.message);
                return null;
            })
            .then(function (row) { setBusy(false); return row; });
    }

    // ---------------------------------------------------------------------------------------------- start
    function options(select, values, labels) {
        values.forEach(function (value) {
            var option = document.createElement("option");
            option.value = value;
            option.textContent = labels ? labels(value) : value;
            select.appendChild(option);
        });
    }

    function readOnly(message) {
        Array.prototype.forEach.call($("sekoia-setup-form").querySelectorAll("input, select, button"), function (e) {
            e.disabled = true;
        });
        $("sekoia-test").disabled = true;
        $("sekoia-notice").textContent = message;
        $("sekoia-setup").setAttribute("data-state", "readonly");
    }

    function start() {
        var root = $("sekoia-setup");
        options($("sekoia-region"), Object.keys(RULES.regions), function (r) { return r + " — " + RULES.regions[r]; });
        options($("sekoia-log-level"), RULES.log_levels);
        $("sekoia-setup-form").addEventListener("submit", save);
        $("sekoia-test").addEventListener("click", testConnection);
        $("sekoia-remove-key").addEventListener("click", removeKey);
        load().then(function () {
            if (!state.canEdit) {
                readOnly("Only an admin can change these settings (role admin, or a role with the " + EDIT_CAPABILITY +
                    " capability). They are shown read-only.");
                return;
            }
            setBusy(false);
            root.setAttribute("data-state", "ready");
        }, function (error) {
            readOnly("The current settings could not be read, so nothing can be saved now.");
            root.setAttribute("data-state", "error");
            setStatus("error", "Could not read the current settings: " + error.message + ". Reload the page to try again.");
        });
    }

    window.SekoiaSetup = { validate: validate, rules: RULES };

    // Simple XML renders the html panel around the time this script runs: wait for the form (at most 10 s).
    var tries = 0;
    (function whenReady() {
        if (document.getElementById("sekoia-setup-form")) { start(); return; }
        if (tries++ < 200) { setTimeout(whenReady, 50); }
    }());
}());
