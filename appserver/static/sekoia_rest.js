/*
 * The app's pages' way to splunkd through Splunk Web's REST proxy (/<locale>/splunkd/__raw/...), as
 * window.SekoiaRest. Only what Splunk Web exposes can be reached: Splunk's own endpoints its default web.conf
 * lists, and the app's endpoints its web.conf lists. A POST carries the CSRF header X-Splunk-Form-Key, taken from
 * the splunkweb_csrf_token_<port> cookie of the port this page came from. A page script that uses it waits for it:
 * Simple XML does not promise the order in which a dashboard's scripts run.
 */
(function () {
    "use strict";

    function rootPath() {
        // /en-US/app/sekoia_ic/<view> -> /en-US (also behind a root_endpoint prefix)
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

    /* method, path under /splunkd/__raw/ (services/... or servicesNS/...), data (JSON unless form is true). A
       JSON answer with a `result` is returned whatever its status; other failures throw with the status. */
    function request(method, path, data, form) {
        var options = {
            method: method,
            credentials: "same-origin",
            headers: { "X-Requested-With": "XMLHttpRequest", "X-Splunk-Form-Key": csrfToken() }
        };
        if (data) {
            options.headers["Content-Type"] = form ? "application/x-www-form-urlencoded" : "application/json";
            options.body = form ? Object.keys(data).map(function (k) {
                return encodeURIComponent(k) + "=" + encodeURIComponent(data[k]);
            }).join("&") : JSON.stringify(data);
        }
        var url = rootPath() + "/splunkd/__raw/" + path + (path.indexOf("?") >= 0 ? "&" : "?") + "output_mode=json";
        return fetch(url, options).then(function (response) {
            return response.text().then(function (text) {
                var body = null;
                try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
                if (!response.ok && !(body && (body.result || body.errors))) {
                    var message = body && body.messages && body.messages.length ? body.messages[0].text :
                        (body && body.error) || (body ? "" : response.status === 404 ?
                            "Splunk Web does not forward this to splunkd: restart Splunk after installing the app " +
                            "(its web.conf loads at start-up)" :
                            "no answer from the app (a proxy in between, or splunkd took too long)");
                    var error = new Error("HTTP " + response.status + (message ? ": " + message : ""));
                    error.status = response.status;
                    throw error;
                }
                return body;
            });
        });
    }

    /* The visitor's name and capabilities (authentication/current-context, exposed by Splunk's default web.conf). */
    function currentContext() {
        return request("GET", "services/authentication/current-context").then(function (body) {
            var content = body && body.entry && body.entry.length ? body.entry[0].content : {};
            return { username: content.username || "", capabilities: content.capabilities || [] };
        });
    }

    window.SekoiaRest = { request: request, currentContext: currentContext };
}());
