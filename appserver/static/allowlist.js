/*
 * Allowlist page of the Sekoia.io Intelligence Center app (view sekoia_ic_allowlist): a thin client of the app's
 * endpoint sekoia_ic/allowlist (list for everyone; add and remove for holders of sekoia_ic_allowlist_edit), through
 * window.SekoiaRest (sekoia_rest.js). Everything shown is set as text.
 */
(function () {
    "use strict";

    var ENDPOINT = "servicesNS/nobody/sekoia_ic/sekoia_ic/allowlist";
    var CAPABILITY = "sekoia_ic_allowlist_edit";
    var FIELDS = ["value", "type", "reason", "days"];
    var rest = null;
    var canEdit = false;
    var busy = false;

    function $(id) { return document.getElementById(id); }

    function setStatus(kind, text) {
        var status = $("sekoia-status");
        status.className = "sekoia-status" + (kind ? " sekoia-" + kind : "");
        status.textContent = text || "";
    }

    function showErrors(errors) {
        FIELDS.forEach(function (name) {
            $("sekoia-allow-" + name + "-error").textContent = (errors && errors[name]) || "";
        });
    }

    function when(epoch) {
        return epoch ? new Date(epoch * 1000).toISOString().replace("T", " ").substring(0, 16) + " UTC" : "never";
    }

    function cell(row, text) {
        var td = document.createElement("td");
        td.textContent = text === undefined || text === null ? "" : String(text);
        row.appendChild(td);
        return td;
    }

    function render(entries) {
        var body = $("sekoia-allow-entries");
        body.textContent = "";
        entries.forEach(function (entry) {
            var row = document.createElement("tr");
            row.setAttribute("data-key", entry._key);
            row.className = entry.live ? "" : "sekoia-expired";
            [entry.type, entry.value, entry.reason, entry.added_by, when(entry.added), when(entry.expires),
             entry.live ? "active" : "expired (no effect)"].forEach(function (text) { cell(row, text); });
            var actions = cell(row, "");
            if (canEdit) {
                var button = document.createElement("button");
                button.type = "button";
                button.className = "btn btn-link sekoia-remove";
                button.textContent = "Remove";
                button.addEventListener("click", function () { remove(entry._key); });
                actions.appendChild(button);
            }
            body.appendChild(row);
        });
        $("sekoia-allow-empty").hidden = entries.length > 0;
    }

    function load() {
        return rest.request("GET", ENDPOINT).then(function (answer) {
            var select = $("sekoia-allow-type");
            if (!select.options.length) {
                ["auto"].concat(answer.types).forEach(function (type) {
                    var option = document.createElement("option");
                    option.value = type;
                    option.textContent = type === "auto" ? "detect from the value" : type;
                    select.appendChild(option);
                });
            }
            render(answer.entries);
        });
    }

    function add(event) {
        if (event) { event.preventDefault(); }
        if (busy || !canEdit) { return; }
        busy = true;
        $("sekoia-allow-add").disabled = true;
        var days = Number($("sekoia-allow-days").value || "0");
        rest.request("POST", ENDPOINT, { action: "add", value: $("sekoia-allow-value").value,
                                         type: $("sekoia-allow-type").value, reason: $("sekoia-allow-reason").value,
                                         days: isNaN(days) ? -1 : days })
            .then(function (answer) {
                showErrors(answer.errors);
                if (answer.errors) {
                    setStatus("error", "Not added: correct the fields marked in red.");
                    return null;
                }
                $("sekoia-allow-value").value = "";
                $("sekoia-allow-reason").value = "";
                setStatus("ok", "Allowlisted " + answer.entry.type + " " + answer.entry.value + ".");
                return load();
            })
            .catch(function (error) { setStatus("error", "Not added: " + error.message); })
            .then(function () { busy = false; $("sekoia-allow-add").disabled = false; });
    }

    function remove(key) {
        if (busy) { return; }
        busy = true;
        rest.request("POST", ENDPOINT, { action: "remove", key: key })
            .then(function () { setStatus("ok", "Removed from the allowlist."); return load(); })
            .catch(function (error) { setStatus("error", "Not removed: " + error.message); })
            .then(function () { busy = false; });
    }

    function start() {
        var root = $("sekoia-allowlist");
        rest.currentContext().then(function (context) {
            canEdit = context.capabilities.indexOf(CAPABILITY) >= 0;
            $("sekoia-allow-form").hidden = !canEdit;
            $("sekoia-notice").textContent = canEdit ? "" : "Only admins and the role sekoia_ic_allowlist_editor " +
                "(capability " + CAPABILITY + ") can add or remove entries; the list is shown read-only.";
            $("sekoia-allow-form").addEventListener("submit", add);
            return load();
        }).then(function () {
            $("sekoia-allow-add").disabled = false;
            root.setAttribute("data-state", canEdit ? "ready" : "readonly");
        }, function (error) {
            root.setAttribute("data-state", "error");
            setStatus("error", "The allowlist could not be read: " + error.message);
        });
    }

    // Wait for the panel and for sekoia_rest.js (Simple XML promises no order between a dashboard's scripts).
    var tries = 0;
    (function whenReady() {
        if (window.SekoiaRest && document.getElementById("sekoia-allowlist")) {
            rest = window.SekoiaRest;
            start();
            return;
        }
        if (tries++ < 200) {
            setTimeout(whenReady, 50);
        } else if (document.getElementById("sekoia-allowlist")) {
            document.getElementById("sekoia-allowlist").setAttribute("data-state", "error");
            document.getElementById("sekoia-status").textContent = "The page's scripts did not load: reload the page.";
        }
    }());
}());
