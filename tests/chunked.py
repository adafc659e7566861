"""Runs the real bin/sekoialookup.py (or another command script) over the chunked protocol v2."""
from tests.conftest import SESSION_KEY, STAGE_DIR
from tests.modinput import PYTHON, env_for
from tests.standins.chunked_protocol import inspector_messages, run_script

SCRIPT = STAGE_DIR / "bin" / "sekoialookup.py"


def run_command(splunkd_uri, args, chunks, tmp_path, session_key=SESSION_KEY, timeout=300, script=SCRIPT,
                command="sekoialookup"):
    return run_script(PYTHON, script, splunkd_uri, command, args, chunks, tmp_path, session_key, env_for(tmp_path),
                      timeout=timeout)


messages = inspector_messages
