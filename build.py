#!/usr/bin/env python3
"""Build, check and test the Sekoia.io Intelligence Center app for Splunk.

    python3 build.py            stage the app, write dist/sekoia_ic-<version>.spl, run slim validate
                                and splunk-appinspect (cloud tag); exit non-zero on any failure
    python3 build.py stage      only stage the app into build/sekoia_ic (what the tests run)
    python3 build.py test [...] stage the app and run the whole pytest suite (extra args go to pytest); it installs
                                the browser and, with npm ci, Splunk's dashboard packages the tests use

Standard library only: it bootstraps its own virtual environments (.venv-build, .venv-test) from
requirements/, so a fresh machine with python3 and network access to PyPI is enough to build; the tests also
need Node.js and npm (the npm registry) for Splunk's dashboard packages.
"""
import configparser
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
APP_ID = "sekoia_ic"
BUILD_DIR = ROOT / "build"
STAGE_DIR = BUILD_DIR / APP_ID
DIST_DIR = ROOT / "dist"
CACHE_DIR = ROOT / ".cache"
REQUIREMENTS = ROOT / "requirements"
# What goes into the package, as it is in the repo (lib/ is assembled from package/ and requirements/app.txt).
APP_CONTENT = ["bin", "default", "lookups", "metadata", "README", "appserver", "static", "app.manifest", "LICENSE"]
# The Python Splunk runs the app with (python.required = 3.13): vendored wheels are resolved for it.
TARGET_PYTHON = "3.13"
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
# splunk-appinspect --ci exit codes: 101 failures, 104 future failures, 103 warnings only.
APPINSPECT_BLOCKING = {101, 104}


class BuildError(Exception):
    """A build step failed; the message says which file or tool and why."""


def log(message):
    print(f"[build] {message}", flush=True)


# ---------------------------------------------------------------------------------------------- version
def read_version():
    """The app version, after checking that app.conf and app.manifest agree on a semver."""
    conf_path = ROOT / "default" / "app.conf"
    manifest_path = ROOT / "app.manifest"
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(conf_path.read_text(encoding="utf-8"))
    except (OSError, configparser.Error) as exc:
        raise BuildError(f"{conf_path}: cannot be read: {exc}") from None
    versions = {}
    for stanza in ("id", "launcher"):
        value = parser.get(stanza, "version", fallback="").strip()
        if not SEMVER.match(value):
            raise BuildError(f"{conf_path}: [{stanza}] version = {value!r} is missing or not a semver (e.g. 1.2.3)")
        versions[f"app.conf [{stanza}] version"] = value
    for stanza, key in (("id", "name"), ("package", "id")):
        if parser.get(stanza, key, fallback="").strip() != APP_ID:
            raise BuildError(f"{conf_path}: [{stanza}] {key} must be {APP_ID!r}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest_id = manifest["info"]["id"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BuildError(f"{manifest_path}: not a valid app manifest (info.id missing or bad JSON): {exc}") from None
    value = str(manifest_id.get("version") or "").strip() if isinstance(manifest_id, dict) else ""
    if not SEMVER.match(value):
        raise BuildError(f"{manifest_path}: info.id.version = {value!r} is missing or not a semver (e.g. 1.2.3)")
    if manifest_id.get("name") != APP_ID:
        raise BuildError(f"{manifest_path}: info.id.name must be {APP_ID!r}")
    versions["app.manifest info.id.version"] = value
    if len(set(versions.values())) != 1:
        detail = ", ".join(f"{where} = {v}" for where, v in versions.items())
        raise BuildError(f"versions differ between {conf_path} and {manifest_path}: {detail}")
    check_changelog(value)
    return value


def check_changelog(version):
    """CHANGELOG.md (the Splunkbase release notes) must describe the version being built: a `## <version>`
    section with some text in it."""
    path = ROOT / "CHANGELOG.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BuildError(f"{path}: cannot be read ({exc}): it must describe version {version}") from None
    for section in re.split(r"(?m)^## ", text)[1:]:
        heading, _, body = section.partition("\n")
        if re.fullmatch(rf"\[?{re.escape(version)}\]?(?:\s.*)?", heading.strip()):
            if not body.strip():
                raise BuildError(f"{path}: the section '## {version}' is empty: say what changed and how to upgrade")
            return
    raise BuildError(f"{path}: no '## {version}' section: describe version {version} (what changed for admins and "
                     "analysts, and the upgrade steps) before building it")


# ---------------------------------------------------------------------------------------------- venvs
def ensure_venv(name, requirements_file):
    """A virtual environment under ROOT/name with requirements_file installed, reused while it is unchanged."""
    path = ROOT / name
    python = path / "bin" / "python"
    digest = hashlib.sha256(requirements_file.read_bytes()).hexdigest()
    stamp = path / ".requirements.sha256"
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    log(f"setting up {name} from {requirements_file.relative_to(ROOT)}")
    if path.exists():
        shutil.rmtree(path)
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", str(requirements_file)], what=f"pip install into {name}", quiet=True)
    stamp.write_text(digest)
    return python


def run(cmd, what, quiet=False, **kwargs):
    """Run a command; with quiet=True its output is shown only if it fails (pip is chatty)."""
    if quiet:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = subprocess.run(cmd, **kwargs)
    if result.returncode != 0:
        if quiet:
            print(result.stdout[-5000:])
        raise BuildError(f"{what} failed (exit {result.returncode}): {' '.join(cmd)}")
    return result


# ---------------------------------------------------------------------------------------------- vendoring
def vendored_lib():
    """The pinned third-party packages of requirements/app.txt installed by pip into a cached folder (by the
    file's hash): pure-Python wheels for the Python Splunk runs the app with (--python-version; the check against
    the interpreter running the build is the wrong one, hence --ignore-requires-python), --no-deps because app.txt
    pins every package. stage() copies it into lib/ minus what the app never uses (VENDOR_EXCLUDED)."""
    requirements_file = REQUIREMENTS / "app.txt"
    digest = hashlib.sha256(requirements_file.read_bytes()).hexdigest()[:16]
    target = CACHE_DIR / f"lib-{digest}"
    done = target / ".complete"
    if not done.exists():
        if target.exists():
            shutil.rmtree(target)
        log("installing the app's pinned third-party packages (pip install --target)")
        run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--no-compile", "--ignore-requires-python", "--only-binary=:all:", "--platform", "any", "--implementation", "py", "--abi", "none",
             "--python-version", TARGET_PYTHON, "--target", str(target), "-r", str(requirements_file)],
            what="pip install --target of requirements/app.txt", quiet=True)
        done.write_text("ok")
    return target


# Of splunktaucclib, only the Common Action Model: the rest needs packages the app does not vendor (app.txt).
SPLUNKTAUCCLIB_KEPT = {"__init__.py", "cim_actions.py"}


def vendor_excluded(directory, names):
    """shutil.copytree ignore: splunklib.ai (an LLM stack, syntax newer than Python 3.9), splunktaucclib but its
    cim_actions, packages' own tests, console scripts (bin/) and pip's marker."""
    path = Path(directory)
    excluded = {n for n in names if n in ("tests", "test") and path.name != "lib"}
    if path.name == "splunklib":
        excluded |= {"ai"} & set(names)
    if path.name == "splunktaucclib":
        excluded |= set(names) - SPLUNKTAUCCLIB_KEPT
    if path == vendored_lib():
        excluded |= {"bin", ".complete"} & set(names)
    return excluded


# ---------------------------------------------------------------------------------------------- staging
def stage():
    """Assemble build/sekoia_ic: the app as Splunk will see it."""
    version = read_version()
    if STAGE_DIR.exists():
        shutil.rmtree(STAGE_DIR)
    STAGE_DIR.mkdir(parents=True)
    for name in APP_CONTENT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, STAGE_DIR / name)
        elif source.exists():
            shutil.copy2(source, STAGE_DIR / name)
    shutil.copy2(ROOT / "README.md", STAGE_DIR / "README.txt")
    lib_dir = STAGE_DIR / "lib"
    shutil.copytree(vendored_lib(), lib_dir, ignore=vendor_excluded)
    shutil.copytree(ROOT / "package" / APP_ID, lib_dir / APP_ID)
    clean_tree(STAGE_DIR)
    log(f"staged {STAGE_DIR.relative_to(ROOT)} (version {version})")
    return version


def executed_scripts(app_dir):
    """The scripts Splunk executes: search commands (commands.conf filename), modular inputs
    (README/inputs.conf.spec [<scheme>://...] -> bin/<scheme>.py) and custom alert actions (alert_actions.conf
    [<name>] -> bin/<name>.py). Everything else is 644."""
    scripts = set()
    actions = app_dir / "default" / "alert_actions.conf"
    if actions.exists():
        scripts |= {f"bin/{m}.py" for m in re.findall(r"(?m)^\[([A-Za-z0-9_]+)\]", actions.read_text())}
    commands = app_dir / "default" / "commands.conf"
    if commands.exists():
        scripts |= {f"bin/{m}" for m in re.findall(r"(?m)^\s*filename\s*=\s*(\S+)", commands.read_text())}
    spec = app_dir / "README" / "inputs.conf.spec"
    if spec.exists():
        scripts |= {f"bin/{m}.py" for m in re.findall(r"(?m)^\[([A-Za-z0-9_]+)://", spec.read_text())}
    return scripts


def clean_tree(top):
    """No local config, no bytecode, files 644 and only the executed scripts 755."""
    executables = executed_scripts(top)
    for path in sorted(top.rglob("*"), reverse=True):
        rel = path.relative_to(top).as_posix()
        if path.name in ("__pycache__", "local") and path.is_dir():
            shutil.rmtree(path)
        elif path.suffix in (".pyc", ".pyo") or path.name in ("local.meta", ".DS_Store"):
            path.unlink()
        elif path.is_dir():
            path.chmod(0o755)
        else:
            path.chmod(0o755 if rel in executables else 0o644)
    top.chmod(0o755)
    missing = [name for name in executables if not (top / name).is_file()]
    if missing:
        raise BuildError(f"scripts named in commands.conf or inputs.conf.spec are missing: {', '.join(sorted(missing))}")


def package(version):
    DIST_DIR.mkdir(exist_ok=True)
    spl = DIST_DIR / f"{APP_ID}-{version}.spl"

    def normalise(info):
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(spl, "w:gz") as archive:
        archive.add(STAGE_DIR, arcname=APP_ID, filter=normalise)
    log(f"wrote {spl.relative_to(ROOT)} ({spl.stat().st_size // 1024} KiB)")
    return spl


# ---------------------------------------------------------------------------------------------- checks
def slim_validate(build_python):
    slim = build_python.parent / "slim"
    log("slim validate")
    run([str(slim), "validate", str(STAGE_DIR)], what="slim validate")


def appinspect(build_python, spl):
    tool = build_python.parent / "splunk-appinspect"
    report = BUILD_DIR / "appinspect.json"
    log("splunk-appinspect inspect --mode precert --included-tags cloud --ci")
    result = subprocess.run(
        [str(tool), "inspect", str(spl), "--mode", "precert", "--included-tags", "cloud", "--ci",
         "--skip-trusted-libraries-update", "--data-format", "json", "--output-file", str(report),
         "--max-messages", "all"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        print(result.stdout)
        raise BuildError(f"splunk-appinspect wrote no report (exit {result.returncode})") from None
    summary = data.get("summary", {})
    print_appinspect(data, summary)
    bad = {k: summary.get(k, 0) for k in ("failure", "error", "future_failure")}
    if any(bad.values()) or result.returncode in APPINSPECT_BLOCKING:
        raise BuildError(f"splunk-appinspect: {bad} (exit {result.returncode}); report in {report}")
    if result.returncode not in (0, 103):
        print(result.stdout)
        raise BuildError(f"splunk-appinspect exited {result.returncode}")
    return summary


def print_appinspect(data, summary):
    for report in data.get("reports", []):
        for group in report.get("groups", []):
            for check in group.get("checks", []):
                if check.get("result") in ("failure", "error", "future_failure", "warning", "manual_check"):
                    messages = [m.get("message", "") for m in check.get("messages", [])]
                    log(f"  {check['result']:15} {check['name']}")
                    for message in messages[:5]:
                        log(f"      {message[:300]}")
    log("appinspect summary: " + ", ".join(f"{k}={v}" for k, v in sorted(summary.items())))


# ---------------------------------------------------------------------------------------------- commands
def build():
    version = stage()
    spl = package(version)
    build_python = ensure_venv(".venv-build", REQUIREMENTS / "build.txt")
    slim_validate(build_python)
    appinspect(build_python, spl)
    log(f"OK: {spl.relative_to(ROOT)}")
    return spl


def ensure_debian_packages(commands, packages, why):
    """Install Debian packages with apt-get when one of the commands they bring is missing (as root)."""
    if all(shutil.which(c) for c in commands):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BuildError(f"{why} need Debian's {' and '.join(packages)}: apt-get install {' '.join(packages)}")
    log(f"installing {' and '.join(packages)} (Debian packages) for {why}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], what="apt-get update", quiet=True, env=env)
    run(["apt-get", "install", "-y", "-qq", *packages], what=f"apt-get install {' '.join(packages)}", quiet=True,
        env=env)


def ensure_browser():
    """The setup page and the dashboards are tested in Debian's Chromium and ChromeDriver."""
    ensure_debian_packages(("chromium", "chromedriver"), ("chromium", "chromium-driver"), "the browser tests")


DASHBOARD_TESTS = ROOT / "tests" / "dashboards"


def ensure_dashboard_packages():
    """Splunk's dashboard framework from npm (tests/dashboards/package-lock.json), for the Dashboard Studio tests
    only: installed into tests/dashboards/node_modules, which is never staged nor packaged. Reinstalled when the
    lock file changes."""
    node_modules = DASHBOARD_TESTS / "node_modules"
    digest = hashlib.sha256((DASHBOARD_TESTS / "package-lock.json").read_bytes()).hexdigest()
    stamp = node_modules / ".package-lock.sha256"
    if stamp.exists() and stamp.read_text() == digest:
        return
    ensure_debian_packages(("node", "npm"), ("nodejs", "npm"), "the dashboard tests")
    npm = shutil.which("npm")
    log("installing the dashboard test packages (npm ci in tests/dashboards)")
    run([npm, "ci", "--no-audit", "--no-fund"], what="npm ci in tests/dashboards", quiet=True, cwd=DASHBOARD_TESTS)
    stamp.write_text(digest)


def test(pytest_args):
    stage()
    ensure_browser()
    ensure_dashboard_packages()
    test_python = ensure_venv(".venv-test", REQUIREMENTS / "test.txt")
    env = dict(os.environ, SEKOIA_IC_STAGE_DIR=str(STAGE_DIR))
    result = subprocess.run([str(test_python), "-m", "pytest", *pytest_args], cwd=ROOT, env=env)
    return result.returncode


def main(argv):
    command = argv[0] if argv else "build"
    try:
        if command == "build":
            build()
            return 0
        if command == "stage":
            stage()
            return 0
        if command == "test":
            return test(argv[1:])
        print(__doc__)
        return 2
    except BuildError as exc:
        print(f"[build] ERROR: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
