"""Drives a search command script over the chunked protocol v2, as splunkd does (Splunk docs "Custom search
commands: the chunked protocol", and splunklib's search_command.py): a getinfo chunk with searchinfo, then
execute chunks of CSV records, the last one with finished=true; the command answers one chunk per chunk."""
import csv
import io
import json
import subprocess
import uuid

from tests.conftest import SESSION_KEY, STAGE_DIR
from tests.modinput import PYTHON, env_for

SCRIPT = STAGE_DIR / "bin" / "sekoialookup.py"


def encode_chunk(metadata, body=""):
    meta = json.dumps(metadata).encode("utf-8")
    data = body.encode("utf-8")
    return b"chunked 1.0,%d,%d\n" % (len(meta), len(data)) + meta + data


def to_csv(records):
    fields = []
    for record in records:
        for key in record:
            if key not in fields:
                fields.append(key)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue() if records else ""


def read_chunks(stream):
    chunks = []
    while True:
        header = stream.readline()
        if not header:
            return chunks
        text = header.decode("utf-8").strip()
        assert text.startswith("chunked 1.0,"), text
        meta_len, body_len = (int(x) for x in text[len("chunked 1.0,"):].split(","))
        metadata = json.loads(stream.read(meta_len).decode("utf-8"))
        body = stream.read(body_len).decode("utf-8")
        chunks.append((metadata, parse_csv(body)))


def parse_csv(body):
    """Records with multivalue fields (__mv_<name>) turned back into lists."""
    if not body.strip():
        return []
    rows = list(csv.DictReader(io.StringIO(body)))
    records = []
    for row in rows:
        record = {}
        for key, value in row.items():
            if key.startswith("__mv_"):
                continue
            mv = row.get(f"__mv_{key}")
            record[key] = [v.strip("$").replace("$$", "$") for v in mv.split(";")] if mv else value
        records.append(record)
    return records


def searchinfo(splunkd_uri, args, dispatch_dir, session_key=SESSION_KEY):
    return {
        "args": args, "raw_args": args, "dispatch_dir": str(dispatch_dir), "sid": f"test_{uuid.uuid4().hex[:8]}",
        "app": "search", "owner": "admin", "username": "admin", "session_key": session_key,
        "splunkd_uri": splunkd_uri, "splunk_version": "9.3.0", "search": "| sekoialookup " + " ".join(args),
        "command": "sekoialookup", "maxresultrows": 50000, "earliest_time": "0", "latest_time": "0",
    }


def run_command(splunkd_uri, args, chunks, tmp_path, session_key=SESSION_KEY, timeout=300, script=SCRIPT):
    """Send getinfo and one execute chunk per list of records; return (getinfo answer, [(metadata, records)])."""
    stdin = encode_chunk({"action": "getinfo", "preview": False, "streaming_command_will_restart": False,
                          "searchinfo": searchinfo(splunkd_uri, args, tmp_path, session_key)})
    for index, records in enumerate(chunks):
        stdin += encode_chunk({"action": "execute", "finished": index == len(chunks) - 1}, to_csv(records))
    process = subprocess.run([PYTHON, "-s", "-E", str(script)], input=stdin, capture_output=True,
                             env=env_for(tmp_path), timeout=timeout)
    answers = read_chunks(io.BytesIO(process.stdout))
    assert answers, process.stderr.decode()
    return process, answers[0], answers[1:]


def messages(answers):
    found = []
    for metadata, _ in answers:
        for level, text in (metadata.get("inspector") or {}).get("messages", []):
            found.append((level, text))
    return found
