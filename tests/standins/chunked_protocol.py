"""The search command chunked protocol v2, as splunkd speaks it to a custom command (Splunk docs "About writing
custom search commands" / "Custom search command protocol v2", and splunklib's search_command.py): a header
`chunked 1.0,<metadata length>,<body length>\\n`, JSON metadata, then a CSV body with multivalue fields in
`__mv_<name>` columns ($-quoted, ;-separated)."""
import csv
import io
import json
import re
import subprocess
import uuid

MV_ITEM = re.compile(r"\$((?:\$\$|[^$])*)\$(?:;|$)")  # one $-quoted value of an __mv_ cell


def encode_chunk(metadata, body=""):
    meta = json.dumps(metadata).encode("utf-8")
    data = body.encode("utf-8")
    return b"chunked 1.0,%d,%d\n" % (len(meta), len(data)) + meta + data


def to_csv(records):
    """A CSV body as splunkd writes it (protocol v2 recordings of Splunk 8.2, e.g. the execute chunks in
    github.com/NDietrich/Splunk-CustomSearchProtocol-v2 example_messages/events.txt): first every field's value
    column, then an `__mv_<name>` column for every field, in the same order. A list value fills its value column
    with the values joined by newlines and its `__mv_` column with `$value$;$value$` ($ doubled inside); every
    other `__mv_` cell is empty."""
    fields = []
    for record in records:
        fields.extend(key for key in record if key not in fields)
    rows = []
    for record in records:
        row = {}
        for key, value in record.items():
            if isinstance(value, list):
                row[key] = "\n".join(value)
                row[f"__mv_{key}"] = ";".join("$" + v.replace("$", "$$") + "$" for v in value)
            else:
                row[key] = value
        rows.append(row)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields + [f"__mv_{name}" for name in fields], lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue() if records else ""


def iter_chunks(stream):
    """(metadata, CSV body text) for each chunk of a byte stream."""
    while True:
        header = stream.readline()
        if not header:
            return
        text = header.decode("utf-8").strip()
        if not text.startswith("chunked 1.0,"):
            raise ValueError(f"not a chunk header: {text[:200]!r}")
        meta_len, body_len = (int(x) for x in text[len("chunked 1.0,"):].split(","))
        metadata = json.loads(stream.read(meta_len).decode("utf-8"))
        yield metadata, stream.read(body_len).decode("utf-8")


def read_chunks(stream):
    return [(metadata, parse_csv(body)) for metadata, body in iter_chunks(stream)]


def parse_csv(body):
    """Records with multivalue fields (__mv_<name>) turned back into lists."""
    if not body.strip():
        return []
    records = []
    for row in csv.DictReader(io.StringIO(body)):
        record = {}
        for key, value in row.items():
            if key.startswith("__mv_"):
                continue
            mv = row.get(f"__mv_{key}")
            record[key] = [v.replace("$$", "$") for v in MV_ITEM.findall(mv)] if mv else value
        records.append(record)
    return records


def searchinfo(splunkd_uri, command, args, dispatch_dir, session_key, app="search"):
    return {
        "args": args, "raw_args": args, "dispatch_dir": str(dispatch_dir), "sid": f"test_{uuid.uuid4().hex[:8]}",
        "app": app, "owner": "admin", "username": "admin", "session_key": session_key,
        "splunkd_uri": splunkd_uri, "splunk_version": "9.3.0", "search": f"| {command} " + " ".join(args),
        "command": command, "maxresultrows": 50000, "earliest_time": "0", "latest_time": "0",
    }


def run_script(python, script, splunkd_uri, command, args, chunks, dispatch_dir, session_key, env, timeout=300):
    """getinfo, then one execute chunk per list of records (the last finished=true); returns
    (process, getinfo answer, [(metadata, records)])."""
    stdin = encode_chunk({"action": "getinfo", "preview": False, "streaming_command_will_restart": False,
                          "searchinfo": searchinfo(splunkd_uri, command, args, dispatch_dir, session_key)})
    for index, records in enumerate(chunks):
        stdin += encode_chunk({"action": "execute", "finished": index == len(chunks) - 1}, to_csv(records))
    process = subprocess.run([python, "-s", "-E", str(script)], input=stdin, capture_output=True, env=env,
                             timeout=timeout)
    answers = read_chunks(io.BytesIO(process.stdout))
    if not answers:
        raise RuntimeError(f"{script} answered nothing: {process.stderr.decode()[-2000:]}")
    return process, answers[0], answers[1:]


def inspector_messages(answers):
    found = []
    for metadata, _ in answers:
        for level, text in (metadata.get("inspector") or {}).get("messages", []):
            found.append((level, text))
    return found
