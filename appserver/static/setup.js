/*
 * Setup page of the Sekoia.io Intelligence Center app (view sekoia_ic_setup).
 *
 * Talks to splunkd through Splunk Web's REST proxy (/<locale>/splunkd/__raw/...) with the CSRF header
 * X-Splunk-Form-Key taken from the splunkweb_csrf_token_<port> cookie. It writes:
 *   - the API key to storage/passwords (realm sekoia_ic, user api_key), never reading it back;
 *   - region, base_url, proxy_url, verify_ssl, ca_bundle, log_level to sekoia_ic.conf [settings];
 *   - feed_id and disabled to inputs.conf [sekoia_ic_feed://default];
 *   - is_configured through apps/local/sekoia_ic, then reloads the app.
 * Everything is validated before anything is written; if a write fails, the ones already done are put back.
 * Plain JavaScript with no dependency, so it runs as a Simple XML dashboard script.
 */
(function () {
    "use strict";

    var APP = "sekoia_ic";
    var REGIONS = ["FRA1", "FRA2", "MCO1", "UAE1", "USA1"];
    var INPUT = "sekoia_ic_feed://default";
    var DEFAULT_FEED = "d6092c37-d8d7-45c3-8aff-c4dc26030608";
    var FEED_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
    var SETTINGS_KEYS = ["region", "base_url", "proxy_url", "verify_ssl", "ca_bundle", "log_level"];

    var state = { keySaved: false, settings: {}, input: null };

    function $(id) { return document.getElementById(id); }

    function rootPath() {
        // /en-US/app/sekoia_ic/sekoia_ic_setup -> /en-US (also behind a root_endpoint prefix)
        var path = window.location.pathname;
        var at = path.indexOf("/app/");
        return at >= 0 ? path.substring(0, at) : "";
    }

    function csrfToken() {
        var match = document.cookie.match(/(?:^|;\s*)splunkweb_csrf_token_\d+=([^;]+)/);
        return match ? decodeURIComponent(match[1]) : "";
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

    function request(method, path, data) {
        var options = {
            method: method,
            credentials: "same-origin",
            headers: { "X-Requested-With": "XMLHttpRequest", "X-Splunk-Form-Key": csrfToken() }
        };
        if (data) {
            options.headers["Content-Type"] = "application/x-www-form-urlencoded";
            options.body = encodeForm(data);
        }
        return fetch(endpoint(path), options).then(function (response) {
            return response.text().then(function (text) {
                var body = null;
                try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
                if (!response.ok) {
                    var message = body && body.messages && body.messages.length ? body.messages[0].text : text;
                    var error = new Error("HTTP " + response.status + (message ? ": " + message : ""));
                    error.status = response.status;
                    throw error;
                }
                return body;
            });
        });
    }

    function content(body) {
        return body && body.entry && body.entry.length ? body.entry[0].content : {};
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

    function isTrue(value) {
        return ["1", "true", "yes", "on", "t", "y"].indexOf(String(value).toLowerCase()) >= 0;
    }

    function checkUrl(value, what) {
        if (!value) { return ""; }
        if (/\s/.test(value)) { return what + " must not contain spaces."; }
        var url;
        try { url = new URL(value); } catch (e) { return what + " is not a URL: use http://host[:port][/path]."; }
        if (url.protocol !== "http:" && url.protocol !== "https:") { return what + " must start with http:// or https://."; }
        if (!url.hostname) { return what + " needs a host name."; }
        return "";
    }

    // ---------------------------------------------------------------------------------------------- load
    function load() {
        var settings = request("GET", "configs/conf-sekoia_ic/settings").then(content);
        var key = request("GET", "storage/passwords/" + encodeURIComponent(APP + ":api_key:"))
            .then(function () { return true; }, function (error) {
                if (error.status === 404) { return false; }
                throw error;
            });
        var input = request("GET", "configs/conf-inputs/" + encodeURIComponent(INPUT)).then(content, function () {
            return null;
        });
        return Promise.all([settings, key, input]).then(function (results) {
            state.settings = results[0];
            state.keySaved = results[1];
            state.input = results[2];
            fill();
        });
    }

    function fill() {
        var s = state.settings;
        $("sekoia-region").value = REGIONS.indexOf(String(s.region || "").toUpperCase()) >= 0 ?
            String(s.region).toUpperCase() : "FRA1";
        $("sekoia-base-url").value = s.base_url || "";
        $("sekoia-proxy-url").value = s.proxy_url || "";
        $("sekoia-verify-ssl").checked = s.verify_ssl === undefined || s.verify_ssl === "" || isTrue(s.verify_ssl);
        $("sekoia-ca-bundle").value = s.ca_bundle || "";
        $("sekoia-log-level").value = (s.log_level || "INFO").toUpperCase();
        $("sekoia-feed-id").value = (state.input && state.input.feed_id) || DEFAULT_FEED;
        $("sekoia-enable-feed").checked = !state.input || !isTrue(state.input.disabled) || !state.keySaved;
        $("sekoia-api-key").value = "";
        $("sekoia-api-key").placeholder = state.keySaved ? "•••••••• (saved: leave empty to keep it)" : "Paste the API key";
        $("sekoia-api-key-state").textContent = state.keySaved ?
            "A key is saved. Enter a new one only to replace it." : "No API key is saved yet.";
    }

    // ---------------------------------------------------------------------------------------------- save
    function readForm() {
        return {
            api_key: $("sekoia-api-key").value,
            region: $("sekoia-region").value,
            base_url: $("sekoia-base-url").value.trim(),
            proxy_url: $("sekoia-proxy-url").value.trim(),
            verify_ssl: $("sekoia-verify-ssl").checked ? "true" : "false",
            ca_bundle: $("sekoia-ca-bundle").value.trim(),
            log_level: $("sekoia-log-level").value,
            feed_id: $("sekoia-feed-id").value.trim(),
            enable_feed: $("sekoia-enable-feed").checked
        };
    }

    function validate(form) {
        var errors = {};
        var key = form.api_key;
        if (!key.trim()) {
            if (!state.keySaved) { errors.api_key = "Enter the Sekoia.io API key."; }
        } else if (/\s/.test(key)) {
            errors.api_key = "The API key must not contain spaces or line breaks: paste it again.";
        }
        if (REGIONS.indexOf(form.region) < 0) { errors.region = "Choose one of " + REGIONS.join(", ") + "."; }
        var baseError = checkUrl(form.base_url, "The custom base URL");
        if (baseError) { errors.base_url = baseError; }
        var proxyError = checkUrl(form.proxy_url, "The proxy URL");
        if (proxyError) { errors.proxy_url = proxyError; }
        if (/[\r\n]/.test(form.ca_bundle)) { errors.ca_bundle = "The CA bundle path must be on one line."; }
        if (!FEED_ID.test(form.feed_id)) {
            errors.feed_id = "The feed ID is the feed's UUID, e.g. " + DEFAULT_FEED + ".";
        }
        ["api_key", "region", "base_url", "proxy_url", "ca_bundle", "feed_id"].forEach(function (name) {
            fieldError(name, errors[name]);
        });
        return Object.keys(errors).length === 0;
    }

    function saveKey(key) {
        var name = encodeURIComponent(APP + ":api_key:");
        if (state.keySaved) {
            return request("POST", "storage/passwords/" + name, { password: key });
        }
        return request("POST", "storage/passwords", { name: "api_key", realm: APP, password: key });
    }

    function save(event) {
        event.preventDefault();
        var form = readForm();
        if (!validate(form)) {
            setStatus("error", "Nothing was saved: correct the fields marked in red.");
            return Promise.resolve(false);
        }
        setStatus("busy", "Saving…");
        var settings = {};
        SETTINGS_KEYS.forEach(function (k) { settings[k] = form[k]; });
        var previousSettings = {};
        SETTINGS_KEYS.forEach(function (k) { previousSettings[k] = state.settings[k] === undefined ? "" : state.settings[k]; });
        var inputChange = { feed_id: form.feed_id, disabled: form.enable_feed ? "0" : "1" };
        var previousInput = state.input ? { feed_id: state.input.feed_id || DEFAULT_FEED,
                                             disabled: state.input.disabled || "1" } : null;
        var undo = [];
        return request("POST", "configs/conf-sekoia_ic/settings", settings)
            .then(function () {
                undo.push(function () { return request("POST", "configs/conf-sekoia_ic/settings", previousSettings); });
                if (!state.input) { return null; }
                return request("POST", "configs/conf-inputs/" + encodeURIComponent(INPUT), inputChange).then(function () {
                    undo.push(function () {
                        return request("POST", "configs/conf-inputs/" + encodeURIComponent(INPUT), previousInput);
                    });
                });
            })
            .then(function () { return form.api_key.trim() ? saveKey(form.api_key.trim()) : null; })
            .then(function () { return request("POST", "apps/local/" + APP, { configured: "1" }); })
            .then(function () { return request("POST", "apps/local/" + APP + "/_reload", {}); })
            .then(function () {
                state.settings = settings;
                if (form.api_key.trim()) { state.keySaved = true; }
                if (state.input) { state.input.feed_id = form.feed_id; state.input.disabled = inputChange.disabled; }
                fill();
                setStatus("ok", "Saved. " + (form.enable_feed ? "The feed sync is enabled. " : "") +
                    "Use Test connection to check the key and region.");
                return true;
            })
            .catch(function (error) {
                // Put back what was already written, newest first, so the old settings stay whole.
                return undo.reverse().reduce(function (chain, step) {
                    return chain.then(step).catch(function () { return null; });
                }, Promise.resolve()).then(function () {
                    setStatus("error", "Not saved, the previous settings are kept: " + error.message);
                    return false;
                });
            });
    }

    // ---------------------------------------------------------------------------------------------- test
    function testConnection() {
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
            });
    }

    // ---------------------------------------------------------------------------------------------- start
    function start() {
        var root = $("sekoia-setup");
        $("sekoia-setup-form").addEventListener("submit", save);
        $("sekoia-test").addEventListener("click", testConnection);
        load().then(function () {
            root.setAttribute("data-state", "ready");
        }, function (error) {
            root.setAttribute("data-state", "error");
            setStatus("error", "Could not read the current settings (you need the admin role): " + error.message);
        });
    }

    // Simple XML renders the html panel around the time this script runs: wait for the form (at most 10 s).
    var tries = 0;
    (function whenReady() {
        if (document.getElementById("sekoia-setup-form")) { start(); return; }
        if (tries++ < 200) { setTimeout(whenReady, 50); }
    }());
}());
