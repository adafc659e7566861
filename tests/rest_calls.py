"""A call to one of the app's REST endpoints through splunklib, as the app's pages make it through Splunk Web:
GET, or POST with a JSON body. Returns (HTTP status, the JSON answer, or the text of an answer that is not JSON)."""
import json

from splunklib import binding, client


def call_endpoint(splunkd, path, session_key, body=None):
    service = client.Service(scheme="http", host="127.0.0.1", port=splunkd.port, token=session_key, owner="nobody",
                             app="sekoia_ic")
    try:
        if body is None:
            response = service.get(path, output_mode="json")
        else:
            response = service.post(path, output_mode="json", body=json.dumps(body),
                                    headers=[("Content-Type", "application/json")])
        return response.status, json.loads(response.body.read())
    except binding.HTTPError as exc:
        text = exc.body.decode()
        return exc.status, json.loads(text) if text.startswith("{") else text
