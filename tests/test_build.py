"""build.py: version checks, and the real package through slim validate and splunk-appinspect (cloud tag)."""
import json
import shutil
import stat
import subprocess
import sys
import tarfile

import pytest

from tests.conftest import ROOT
from tests.standins.conffile import read_conf


def run_build(tmp_path, *args):
    return subprocess.run([sys.executable, str(tmp_path / "build.py"), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def build_copy(tmp_path):
    """build.py beside copies of the files it checks first."""
    shutil.copy2(ROOT / "build.py", tmp_path / "build.py")
    (tmp_path / "default").mkdir()
    shutil.copy2(ROOT / "default" / "app.conf", tmp_path / "default" / "app.conf")
    shutil.copy2(ROOT / "app.manifest", tmp_path / "app.manifest")
    shutil.copy2(ROOT / "CHANGELOG.md", tmp_path / "CHANGELOG.md")
    return tmp_path


VERSION = read_conf(ROOT / "default" / "app.conf")["id"]["version"]


def test_missing_app_conf_version_names_the_file(build_copy):
    conf = build_copy / "default" / "app.conf"
    conf.write_text(conf.read_text().replace(f"[id]\nname = sekoia_ic\nversion = {VERSION}", "[id]\nname = sekoia_ic"))
    result = run_build(build_copy, "stage")
    assert result.returncode == 1
    assert f"{conf}: [id] version = '' is missing or not a semver" in result.stderr


def test_malformed_launcher_version_names_the_file(build_copy):
    conf = build_copy / "default" / "app.conf"
    text = conf.read_text()
    head, _, tail = text.partition("\n[launcher]")
    conf.write_text(head + "\n[launcher]" + tail.replace(f"version = {VERSION}", "version = 1.0"))
    result = run_build(build_copy, "stage")
    assert result.returncode == 1
    assert f"{conf}: [launcher] version = '1.0'" in result.stderr


def test_malformed_manifest_names_the_file(build_copy):
    manifest = build_copy / "app.manifest"
    manifest.write_text("{ not json")
    result = run_build(build_copy, "stage")
    assert result.returncode == 1
    assert f"{manifest}: not a valid app manifest" in result.stderr


def test_versions_must_agree(build_copy):
    manifest = build_copy / "app.manifest"
    data = json.loads(manifest.read_text())
    data["info"]["id"]["version"] = "9.9.9"
    manifest.write_text(json.dumps(data))
    result = run_build(build_copy, "stage")
    assert result.returncode == 1
    assert "versions differ" in result.stderr and "app.manifest info.id.version = 9.9.9" in result.stderr


def test_changelog_must_describe_the_version(build_copy):
    changelog = build_copy / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace(f"\n## {VERSION}\n", "\n## 0.0.1\n"))
    result = run_build(build_copy, "stage")
    assert result.returncode == 1
    assert f"{changelog}: no '## {VERSION}' section" in result.stderr
    changelog.unlink()
    result = run_build(build_copy, "stage")
    assert result.returncode == 1 and f"{changelog}: cannot be read" in result.stderr


def test_changelog_section_must_not_be_empty(build_copy):
    changelog = build_copy / "CHANGELOG.md"
    changelog.write_text(f"# Release notes\n\n## {VERSION}\n\n## 1.0.0\n\nFirst release.\n")
    result = run_build(build_copy, "stage")
    assert result.returncode == 1
    assert f"{changelog}: the section '## {VERSION}' is empty" in result.stderr


def test_the_repository_changelog_describes_this_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    section = text.split(f"\n## {VERSION}\n", 1)[1].split("\n## ", 1)[0]
    assert "Upgrade" in section and "admins" in section and "analysts" in section


def test_python_stanzas_declare_the_tested_pythons(stage_dir):
    """AppInspect fails a Python stanza without python.version / python.required from 4.4.0 on. Inputs of a
    scheme that is not the app's (Enterprise Security's threatlist) run that app's script, not the app's."""
    found = 0
    for conf_name in ("commands", "inputs", "restmap", "alert_actions"):
        path = stage_dir / "default" / f"{conf_name}.conf"
        if not path.exists():
            continue
        for stanza, values in read_conf(path).items():
            if stanza == "default" or conf_name == "restmap" and not stanza.startswith("script:"):
                continue
            if conf_name == "inputs" and stanza.startswith("threatlist://"):
                continue
            if conf_name == "commands" or conf_name == "inputs" or values.get("python.version"):
                found += 1
                assert values.get("python.version") == "python3", (conf_name, stanza)
                # The versions the code is tested on (tests/test_python_versions.py); 3.13 must be listed.
                assert values.get("python.required") == "3.9, 3.13", (conf_name, stanza)
    assert found >= 1


@pytest.fixture(scope="module")
def built_package():
    result = subprocess.run([sys.executable, str(ROOT / "build.py")], cwd=ROOT, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def test_package_passes_appinspect_cloud_and_slim(built_package):
    out = built_package.stdout
    assert "slim validate" in out and "App validation complete" in out + built_package.stderr
    summary = json.loads((ROOT / "build" / "appinspect.json").read_text())["summary"]
    assert summary["failure"] == 0 and summary["error"] == 0 and summary.get("future_failure", 0) == 0
    assert "appinspect summary:" in out


def test_package_layout(built_package):
    version = read_conf(ROOT / "default" / "app.conf")["launcher"]["version"]
    spl = ROOT / "dist" / f"sekoia_ic-{version}.spl"
    with tarfile.open(spl, "r:gz") as archive:
        members = archive.getmembers()
    names = [m.name for m in members]
    assert {n.split("/")[0] for n in names} == {"sekoia_ic"}
    assert not [n for n in names if "/local/" in n + "/" or n.endswith(("local.meta", ".pyc")) or "__pycache__" in n]
    for module in ("splunklib/client.py", "requests/__init__.py", "cachetools/__init__.py",
                   "stix2patterns/v21/pattern.py", "antlr4/__init__.py", "sekoia_ic/ic/client.py"):
        assert f"sekoia_ic/lib/{module}" in names
    assert not [n for n in names if n.startswith("sekoia_ic/lib/splunklib/ai")]
    executables = set()
    for member in members:
        mode = stat.S_IMODE(member.mode)
        if member.isdir():
            assert mode == 0o755, member.name
        elif mode == 0o755:
            executables.add(member.name)
        else:
            assert mode == 0o644, member.name
    assert executables and all(n.startswith("sekoia_ic/bin/") for n in executables)


def test_lib_holds_exactly_the_pinned_packages():
    """build.py vendors requirements/app.txt with pip install --target (--no-deps, pure-Python wheels for 3.13)."""
    import re
    from tests.conftest import STAGE_DIR
    lib = STAGE_DIR / "lib"
    pins = re.findall(r"(?m)^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements" / "app.txt").read_text())
    installed = {p.name[:-len(".dist-info")] for p in lib.glob("*.dist-info")}
    assert installed == {f"{name.replace('-', '_')}-{version}" for name, version in pins}
    assert not (lib / "bin").exists() and not (lib / "splunklib" / "ai").exists()
    assert not list(lib.rglob("tests")) and not list(lib.rglob("*.pyc"))
