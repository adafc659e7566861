/*
 * Setup page of the Sekoia.io Intelligence Center app (view sekoia_ic_setup): a thin client of the app's endpoint
 * sekoia_ic/setup (restmap.conf, exposed to Splunk Web by the app's web.conf), which holds every rule and does
 * every write on the server:
 *   GET  sekoia_ic/setup                          the page's state (settings, whether each secret exists, the feed
 *                                                 input, the regions to offer); never a secret
 *   POST sekoia_ic/setup {action: "save", ...}    validates the form and saves it, all or nothing where it can be
 *   POST sekoia_ic/setup {action: "remove_api_key"}
 * Besides it, only endpoints Splunk Web exposes by default: authentication/current-context (may this visitor edit?)
 * and search/jobs (Test connection runs | sekoiacheck). Requests go through window.SekoiaRest (sekoia_rest.js:
 * Splunk Web's REST proxy with this Splunk Web's CSRF token); this script waits for it, whatever order the
 * dashboard's scripts load in. Plain JavaScript with no dependency.
 */
(function () {
    "use strict";

    var APP = "sekoia_ic";
    var SETUP = "servicesNS/nobody/" + APP + "/sekoia_ic/setup";
    var EDIT_CAPABILITY = "admin_all_objects";
    var FIELDS = ["api_key", "region", "base_url", "proxy_url", "proxy_username", "proxy_password", "verify_ssl",
                  "ca_bundle", "timeout", "log_level", "feed_id", "enable_feed"];
    // --- IOC collections (alert action sekoia_ic_add_to_collection): the default collection, validated by the
    // endpoint (a UUID) and checked by Test connection when set. ---
    FIELDS.push("default_collection_id");
    function fillCollection(s) { $("sekoia-default-collection-id").value = s.default_collection_id || ""; }
    function readCollection(form) { form.default_collection_id = $("sekoia-default-collection-id").value; return form; }
    // --- end of IOC collections ---

    // ------------------------------------------------------------------ "Send indicators to Enterprise Security"
    // Its own block (sekoia_ic.conf [es]); the endpoint checks every value with splunk/es_settings.py's rules.
    var ES_FIELDS = ["es_enabled", "es_min_confidence", "es_types", "es_ipv6", "es_max_rows"];
    var TRUE_TEXT = /^(1|true|yes|on|t|y)$/i;

    function fillEs() {
        var es = state.es || {}, types = state.rules.es_types || [];
        var chosen = String(es.types || types.join(",")).toLowerCase().split(",").map(function (t) { return t.trim(); });
        $("sekoia-es-enabled").checked = TRUE_TEXT.test(String(es.enabled || "").trim());
        $("sekoia-es-min-confidence").value = es.min_confidence || "0";
        $("sekoia-es-ipv6").checked = TRUE_TEXT.test(String(es.ipv6 || "").trim());
        $("sekoia-es-max-rows").value = es.max_rows || "500000";
        var box = $("sekoia-es-types");
        box.textContent = "";
        types.forEach(function (type) {
            var label = document.createElement("label");
            var input = document.createElement("input");
            input.type = "checkbox";
            input.value = type;
            input.checked = chosen.indexOf(type) >= 0;
            label.appendChild(input);
            label.appendChild(document.createTextNode(" " + type + " "));
            box.appendChild(label);
        });
    }

    function readEs(form) {
        form.es_enabled = $("sekoia-es-enabled").checked;
        form.es_min_confidence = $("sekoia-es-min-confidence").value;
        form.es_types = Array.prototype.filter.call($("sekoia-es-types").querySelectorAll("input"), function (i) {
            return i.checked;
        }).map(function (i) { return i.value; }).join(",");
        form.es_ipv6 = $("sekoia-es-ipv6").checked;
        form.es_max_rows = $("sekoia-es-max-rows").value;
        return form;
    }
    FIELDS = FIELDS.concat(ES_FIELDS);
    // ------------------------------------------------------------------ end of the Enterprise Security block

    var state = null;       // the endpoint's last answer of the state
    var busy = false;
    var canEdit = false;
    var rest = null;        // window.SekoiaRest (sekoia_rest.js): the way to splunkd through Splunk Web
    var username = "";      // the visitor, from authentication/current-context (search jobs run in their namespace)

    function $(id) { return document.getElementById(id); }

    function fieldId(name) { return "sekoia-" + name.replace(/_/g, "-"); }

    function setStatus(kind, text) {
        var status = $("sekoia-status");
        status.className = "sekoia-status" + (kind ? " sekoia-" + kind : "");
        status.textContent = text || "";
    }

    function showErrors(errors) {
        FIELDS.forEach(function (name) {
            var error = $(fieldId(name) + "-error");
            var text = (errors && errors[name]) || "";
            if (error) { error.textContent = text; }
            var field = $(fieldId(name)) && $(fieldId(name)).closest(".sekoia-field");
            if (field) { field.classList.toggle("sekoia-invalid", !!text); }
        });
    }

    // ---------------------------------------------------------------------------------------------- the state
    function options(select, values, label) {
        select.textContent = "";
        values.forEach(function (value) {
            var option = document.createElement("option");
            option.value = value;
            option.textContent = label ? label(value) : value;
            select.appendChild(option);
        });
    }

    function fill() {
        var s = state.settings, rules = state.rules;
        options($("sekoia-region"), Object.keys(rules.regions), function (r) { return r + " — " + rules.regions[r]; });
        options($("sekoia-log-level"), rules.log_levels);
        var region = String(s.region || "").toUpperCase();
        $("sekoia-region").value = rules.regions[region] ? region : rules.default_region;
        $("sekoia-base-url").value = s.base_url || "";
        $("sekoia-proxy-url").value = s.proxy_url || "";
        $("sekoia-proxy-username").value = s.proxy_username || "";
        $("sekoia-proxy-password").value = "";
        $("sekoia-verify-ssl").checked = !/^(0|false|no|off|f|n)$/i.test(String(s.verify_ssl || "").trim());
        $("sekoia-ca-bundle").value = s.ca_bundle || "";
        $("sekoia-timeout").value = s.timeout === undefined || s.timeout === "" ? String(rules.timeout_default) : s.timeout;
        $("sekoia-log-level").value = rules.log_levels.indexOf(String(s.log_level || "").toUpperCase()) >= 0 ?
            String(s.log_level).toUpperCase() : "INFO";
        $("sekoia-feed-id").value = state.input.feed_id || rules.default_feed_id;
        // A first setup offers the sync on; afterwards the box says what the input is.
        $("sekoia-enable-feed").checked = !state.input.disabled || !state.secrets.api_key;
        $("sekoia-api-key").value = "";
        fillCollection(s);
        fillEs();
        showState();
    }

    /* The hints that say what splunkd has now, without touching what the admin typed. */
    function showState() {
        var keySaved = state.secrets.api_key;
        $("sekoia-api-key").placeholder = keySaved ? "•••••••• (saved: leave empty to keep it)" : "Paste the API key";
        $("sekoia-api-key-state").textContent = keySaved ?
            "A key is saved. Enter a new one only to replace it." : "No API key is saved yet.";
        $("sekoia-remove-key").hidden = !keySaved;
        $("sekoia-proxy-password-state").textContent = state.secrets.proxy_password ?
            "A proxy password is saved: leave empty to keep it." : state.legacy_proxy_password ?
            "The proxy password is still in sekoia_ic.conf (app 1.0.0): Save moves it to the credential store." : "";
        $("sekoia-feed-state").textContent = "The feed input is " + (state.input.disabled ? "disabled" : "enabled") +
            " now.";
    }

    function load() {
        return rest.currentContext().then(function (context) {
            canEdit = context.capabilities.indexOf(EDIT_CAPABILITY) >= 0;
            username = context.username;
            if (!canEdit) { return null; }
            return rest.request("GET", SETUP).then(function (answer) { state = answer; fill(); });
        });
    }

    // ---------------------------------------------------------------------------------------------- save
    function readForm() {
        return readEs(readCollection({
            api_key: $("sekoia-api-key").value,
            region: $("sekoia-region").value,
            base_url: $("sekoia-base-url").value,
            proxy_url: $("sekoia-proxy-url").value,
            proxy_username: $("sekoia-proxy-username").value,
            proxy_password: $("sekoia-proxy-password").value,
            verify_ssl: $("sekoia-verify-ssl").checked,
            ca_bundle: $("sekoia-ca-bundle").value,
            timeout: $("sekoia-timeout").value,
            log_level: $("sekoia-log-level").value,
            feed_id: $("sekoia-feed-id").value,
            enable_feed: $("sekoia-enable-feed").checked
        }));
    }

    function requestId() {
        var bytes = new Uint8Array(16);
        window.crypto.getRandomValues(bytes);
        return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    }

    function setBusy(value) {
        busy = value;
        $("sekoia-save").disabled = value || !canEdit;
        $("sekoia-test").disabled = value || !canEdit;
        $("sekoia-remove-key").disabled = value;
    }

    function save(event) {
        if (event) { event.preventDefault(); }
        if (busy || !canEdit) { return Promise.resolve(false); }
        setBusy(true);
        setStatus("busy", "Saving…");
        var form = readForm();
        return rest.request("POST", SETUP, { action: "save", request_id: requestId(), form: form }).then(function (answer) {
            showErrors(answer.errors);
            if (answer.state) {
                state = answer.state;
                if (answer.result === "saved") { fill(); } else { showState(); }
            }
            if (answer.result === "partly_saved" && form.api_key && state.secrets.api_key) {
                $("sekoia-api-key").value = "";  // saved: the field must not look as if it still had to be
            }
            setStatus(answer.result === "saved" ? "ok" : "error", answer.message);
            return answer.result === "saved";
        }, function (error) {
            setStatus("error", "Not saved: " + error.message);
            return false;
        }).then(function (ok) { setBusy(false); return ok; });
    }

    // ---------------------------------------------------------------------------------------------- remove key
    var removeArmed = false;

    function removeKey() {
        if (busy || !state || !state.secrets.api_key) { return Promise.resolve(false); }
        if (!removeArmed) {
            removeArmed = true;
            $("sekoia-remove-key").textContent = "Click again to remove the key (the feed and the API context stop)";
            return Promise.resolve(false);
        }
        removeArmed = false;
        $("sekoia-remove-key").textContent = "Remove the saved key";
        setBusy(true);
        return rest.request("POST", SETUP, { action: "remove_api_key" }).then(function (answer) {
            state = answer.state;
            showState();
            setStatus("ok", "The API key is removed. The feed sync and sekoialookup's API context stop until a new " +
                "key is saved.");
            return true;
        }, function (error) {
            setStatus("error", "The key could not be removed: " + error.message);
            return false;
        }).then(function (ok) { setBusy(false); return ok; });
    }

    // ---------------------------------------------------------------------------------------------- test
    function testConnection() {
        if (busy) { return Promise.resolve(null); }
        setBusy(true);
        setStatus("busy", "Testing the saved settings against the Sekoia.io API…");
        return rest.request("POST", "servicesNS/" + encodeURIComponent(username) + "/" + APP + "/search/jobs",
                       { search: "| sekoiacheck", exec_mode: "oneshot" }, true)
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

    // ---------------------------------------------------------------------------------------------- feeds
    // The list of feeds (sekoia_ic.conf [feed:<name>], which a search head cluster replicates): add or remove one
    // through the endpoint's add_feed and remove_feed actions. Separate from the form and its save.
    function renderFeeds() {
        var body = $("sekoia-feed-list").querySelector("tbody");
        body.textContent = "";
        (state.feeds || []).forEach(function (feed) {
            var row = document.createElement("tr");
            [feed.name, feed.feed_id, feed.enabled ? "yes" : "no", String(feed.interval), feed.max_tlp || "none"]
                .forEach(function (text) {
                    var cell = document.createElement("td");
                    cell.textContent = text;
                    row.appendChild(cell);
                });
            var cell = document.createElement("td"), button = document.createElement("button");
            button.type = "button";
            button.className = "btn btn-link";
            button.textContent = "Remove";
            button.addEventListener("click", function () { feedAction({ action: "remove_feed", name: feed.name }); });
            cell.appendChild(button);
            row.appendChild(cell);
            body.appendChild(row);
        });
        $("sekoia-feeds").hidden = false;
    }

    function feedAction(body) {
        if (busy) { return Promise.resolve(null); }
        setBusy(true);
        $("sekoia-feeds-error").textContent = "";
        return rest.request("POST", SETUP, body).then(function (answer) {
            if (answer && answer.state) { state = answer.state; showState(); renderFeeds(); }
            if (answer && answer.errors) {
                $("sekoia-feeds-error").textContent = Object.keys(answer.errors).map(function (k) {
                    return answer.errors[k];
                }).join(" ");
            } else if (answer) {
                setStatus("ok", answer.message || "");
            }
        }).catch(function (error) {
            $("sekoia-feeds-error").textContent = error.message;
        }).then(function () { setBusy(false); });
    }

    function addFeed() {
        return feedAction({ action: "add_feed", feed: {
            name: $("sekoia-new-feed-name").value, feed_id: $("sekoia-new-feed-id").value,
            interval: $("sekoia-new-feed-interval").value, max_tlp: $("sekoia-new-feed-tlp").value } });
    }

    // ---------------------------------------------------------------------------------------------- start
    function start() {
        var root = $("sekoia-setup");
        $("sekoia-setup-form").addEventListener("submit", save);
        $("sekoia-test").addEventListener("click", testConnection);
        $("sekoia-remove-key").addEventListener("click", removeKey);
        load().then(function () {
            if (!canEdit) {
                // Nothing is shown that this visitor cannot know: the settings are readable by admins only.
                $("sekoia-setup-form").hidden = true;
                $("sekoia-notice").textContent = "Only a Splunk admin can see and change the app's settings (a role " +
                    "with the " + EDIT_CAPABILITY + " capability, such as admin or sc_admin). Ask one to set up " +
                    "the app.";
                root.setAttribute("data-state", "readonly");
                return;
            }
            setBusy(false);
            renderFeeds();
            $("sekoia-add-feed").addEventListener("click", addFeed);
            root.setAttribute("data-state", "ready");
        }, function (error) {
            $("sekoia-setup-form").hidden = true;
            root.setAttribute("data-state", "error");
            setStatus("error", "Could not read the current settings, so nothing can be saved now: " + error.message +
                ". Reload the page to try again.");
        });
    }

    // Wait for the form and for sekoia_rest.js (at most 10 s): Simple XML renders the html panel around the time
    // this script runs, and promises no order between a dashboard's scripts.
    var tries = 0;
    (function whenReady() {
        if (window.SekoiaRest && document.getElementById("sekoia-setup-form")) {
            rest = window.SekoiaRest;
            start();
            return;
        }
        if (tries++ < 200) {
            setTimeout(whenReady, 50);
        } else if (document.getElementById("sekoia-setup")) {
            document.getElementById("sekoia-setup").setAttribute("data-state", "error");
            document.getElementById("sekoia-status").textContent = "The page's scripts did not load: reload the page.";
        }
    }());
}());
