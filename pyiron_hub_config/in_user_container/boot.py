"""The first thing a user's server runs, inside the user's container, before Jupyter.

The hub mounts this file read-only into the container (boot_file.py) and makes it the
container's command (``python /opt/pyiron-hub/boot/boot.py jupyterhub-singleuser ...``), so
it works with any pyiron image unchanged: the image's own entrypoint (``tini -g --
start.sh``) runs its hooks, then this, which prepares the persistent home and then execs
the real server. Only the standard library is used, and nothing newer than Python 3.8,
because frozen images carry old Pythons. The hub never imports it (its copy: boot_shared.py).

Each step is independent: a step that fails is logged and skipped, so a full disk or an
odd file never keeps a user from their server. One check comes before them and is not
skipped: where the hub asks for it ($PYIRON_HUB_MUST_WRITE, a swarm's shared path), the
persistent folders must take a new file, or the boot step exits with NOT_WRITABLE and no
server starts: a node whose mount is read-only or dead, or a folder uid 1000 may not
write, would otherwise give a server that loses every save (the hub then tries another node).

Steps:
- examples: copy the image's example folders (``~/notebooks_*`` in the image, readable
  here under IMAGE_HOME because the hub mounts a read-only copy of the image's home there)
  into the persistent home. A file the user never edited follows image updates; an edited
  one is never overwritten: the new version is put next to it.
- packages: where the image lacks a module the hub supplies (paramiko and its
  dependencies, and rfc3987 that spares jsonschema the slow import of rfc3987_syntax;
  read-only under PACKAGES_DIR, for the Pythons its manifest names), put that
  directory on the image's Python path *after* the image's own site-packages (a .pth file
  in them), so that nothing of the image is shadowed.
- files: write the hub-managed files listed in $PYIRON_HUB_FILES (cluster configurations),
  leave out those needing a module the image still lacks (saying why), remove those no
  longer listed.
- ssh key: make ~/.ssh/id_ed25519 once if $PYIRON_HUB_SSH_KEY is set.
- pyiron: point pyiron at one job database per user and per pyiron_base series, in the
  persistent home, and at the site's resources, unless the user configures pyiron
  themselves (~/.pyiron, or PYIRON* variables of their own); its log then goes to
  ~/.pyiron_hub/pyiron.log instead of a pyiron.log beside each notebook.
- first-hour quiet: answer JupyterLab's "get news?" question with no (once: a user's own
  answer stays), and say in an otherwise empty ~/work what that folder is.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

IMAGE_HOME = "/opt/pyiron-hub/image/jovyan"
PACKAGES_DIR = "/opt/pyiron-hub/packages"  # the hub's read-only packages (storage.py)
# {"pythons": ["3.11", ...], "modules": ["paramiko", ...], "speedups": ["rfc3987"]}
PACKAGES_MANIFEST = "pyiron-hub-packages.json"
PACKAGES_PTH = "pyiron-hub-packages.pth"
PACKAGES_LOADED = "packages-loaded"  # in STATE_DIR: the image id and packages that loaded last
STATE_DIR = ".pyiron_hub"  # below $HOME: everything the hub keeps per user
MANIFEST = "examples.json"  # relative path -> sha256 of the version last copied in
EXAMPLES_IMAGE = "examples-image"  # the id of the image whose examples were last brought in, all of them
IMAGE_ID_VARIABLE = "PYIRON_HUB_IMAGE_ID"  # the hub names the server's image (its id)
FILES_STATUS = "files.json"  # the hub-managed files written, and those left out with why
SITE_RESOURCES_VARIABLE = "PYIRON_HUB_SITE_RESOURCES"
FILES_VARIABLE = "PYIRON_HUB_FILES"
SSH_KEY_VARIABLE = "PYIRON_HUB_SSH_KEY"
# The persistent folders that must be writable, joined by os.pathsep (set by the swarm spawner).
MUST_WRITE_VARIABLE = "PYIRON_HUB_MUST_WRITE"
NOT_WRITABLE = 73  # the exit status for it (sysexits' EX_CANTCREAT): the hub reads it off the task
NOT_WRITABLE_LINE = "not writable: "  # the log line's start, which the hub quotes from the task's log
WRITE_CHECK_WAIT = 10  # seconds a folder may take to take a new file before its mount counts as hung
LAB_NEWS_SETTINGS = ".jupyter/lab/user-settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
PYIRON_LOG_STARTUP = ".ipython/profile_default/startup/00-pyiron-hub-pyiron-log.py"
PYIRON_LOG = os.path.join(STATE_DIR, "pyiron.log")
WORK_README = os.path.join("work", "README.md")
WORK_README_TEXT = """# work/

This folder is kept across restarts, like the rest of your home. It is a volume of its own
because an earlier version of this hub kept only this folder; files saved here then are still
here. Nothing else uses it: keep your notebooks and data wherever you like in your home.
"""
# Run by IPython at each kernel start (written only while the hub configures pyiron).
PYIRON_LOG_STARTUP_TEXT = """# Written by the pyiron hub at each start of your server (boot.py); it is not written while
# you configure pyiron yourself (~/.pyiron or PYIRON* variables).
#
# pyiron's logger opens "pyiron.log" in the working directory when pyiron is imported; in a
# notebook that is the notebook's folder, so a pyiron.log appeared beside every notebook.
# Here it goes to ~/%s instead.
import logging
import os

_pyiron_log = os.path.join(os.path.expanduser("~"), %r)
_file_handler_init = logging.FileHandler.__init__


def _pyiron_log_in_one_place(self, filename, *args, **kwargs):
    if os.fspath(filename) == "pyiron.log":
        filename = _pyiron_log
        os.makedirs(os.path.dirname(filename), exist_ok=True)
    _file_handler_init(self, filename, *args, **kwargs)


logging.FileHandler.__init__ = _pyiron_log_in_one_place
""" % (PYIRON_LOG, PYIRON_LOG)
# A notebook kernel looks these up; if the user set any, pyiron ignores files, so do we.
PYIRON_VARIABLES = ("PYIRONSQLFILE", "PYIRONSQLTYPE", "PYIRONRESOURCEPATHS", "PYIRONPROJECTPATHS",
                    "PYIRONPROJECTCHECKENABLED", "PYIRONSQLCONNECTIONSTRING", "PYIRONDISABLE", "PYIRONCONFIG")


def log(message):
    sys.stderr.write("pyiron-hub boot: %s\n" % message)
    sys.stderr.flush()


def not_writable(folders, wait=WRITE_CHECK_WAIT):
    """'<folder>: <why>' for each folder where no new file can be made (and removed again).

    Each folder is tried in a thread of its own, all at once: on a mount that hangs (an NFS
    server gone under a `hard` mount, a stopped FUSE daemon) the try never returns, and after
    `wait` seconds that folder counts as not writable; the stuck thread is left behind.
    """
    outcomes = {}

    def check(folder):
        try:
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".pyiron-hub-write-check.")
            os.close(fd)
            os.unlink(probe)
            outcomes[folder] = None
        except OSError as err:
            outcomes[folder] = err.strerror or str(err)

    threads = [threading.Thread(target=check, args=(folder,), daemon=True) for folder in folders]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + wait
    for thread in threads:
        thread.join(max(0, deadline - time.monotonic()))
    problems = []
    for folder in folders:
        if folder not in outcomes:
            problems.append("%s: no answer within %g s (hung)" % (folder, wait))
        elif outcomes[folder]:
            problems.append("%s: %s" % (folder, outcomes[folder]))
    return problems


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def temp_file_beside(target, data, mode=0o600):
    """A new file beside target holding data (str or bytes), synced to disk, with this mode.

    The caller moves it into place (os.replace, or os.link to keep a file already there), so
    target is never half-written, whatever crashes when. Until then only its owner can read it.
    """
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target) or ".", prefix=".%s." % os.path.basename(target))
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_atomically(target, data, mode=0o644):
    """Put data (str or bytes) at target in one step: a crash leaves the old file or the new."""
    tmp = temp_file_beside(target, data, mode)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def update_file(target, data, mode=0o644):
    """write_atomically, unless target already holds exactly data with this mode: most starts
    change nothing, and each write is an fsync the user waits for."""
    try:
        st = os.lstat(target)
        if (st.st_mode & 0o7777) == mode and os.path.isfile(target) and not os.path.islink(target):
            with open(target, "rb") as f:
                if f.read() == (data.encode() if isinstance(data, str) else data):
                    return False
    except OSError:
        pass
    write_atomically(target, data, mode)
    return True


def _copy(source, target):
    """Copy one file into place atomically (a crash never leaves half a notebook)."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(source, "rb") as f:
        write_atomically(target, f.read())


def _side_name(target, stamp):
    """Where an updated example goes when the user edited the old one: next to it."""
    stem, ext = os.path.splitext(target)
    candidate = "%s (image update %s)%s" % (stem, stamp, ext)
    n = 2
    while os.path.exists(candidate):
        candidate = "%s (image update %s, %d)%s" % (stem, stamp, n, ext)
        n += 1
    return candidate


def example_files(image_home):
    """Relative paths of every file in the image's ~/notebooks* folders."""
    found = []
    if not os.path.isdir(image_home):
        return found
    for top in sorted(os.listdir(image_home)):
        root = os.path.join(image_home, top)
        if not top.startswith("notebooks") or not os.path.isdir(root):
            continue
        for directory, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in (".ipynb_checkpoints", "__pycache__"))
            for name in sorted(files):
                found.append(os.path.relpath(os.path.join(directory, name), image_home))
    return found


def sync_examples(image_home, home, stamp=None, image_id=None):
    """Bring the image's examples into home; return {relative path: what happened}, or None
    when image_id is the image whose examples the last start brought in (nothing to do).

    The manifest remembers the version of each file last copied in. A file is replaced only
    if it is still exactly that version (the user never touched it); a file the user
    deleted stays deleted; an edited file stays and the new version is put beside it.
    After one image's examples were all brought in, the manifest holds each file's hash, so
    another start of the same image would find every file "unchanged": it skips hashing them.
    """
    stamp = stamp or time.strftime("%Y-%m-%d")
    manifest_path = os.path.join(home, STATE_DIR, MANIFEST)
    done_path = os.path.join(home, STATE_DIR, EXAMPLES_IMAGE)
    if image_id:
        try:
            with open(done_path) as f:
                if f.read().strip() == image_id and os.path.isfile(manifest_path):
                    return None
        except OSError:
            pass
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        manifest = {}
    actions = {}
    for rel in example_files(image_home):
        source, target = os.path.join(image_home, rel), os.path.join(home, rel)
        shipped = _sha256(source)
        known = manifest.get(rel)
        if known == shipped:
            actions[rel] = "unchanged"
            continue
        if not os.path.lexists(target):
            if known is not None:
                actions[rel] = "deleted by user, kept deleted"
                manifest[rel] = shipped
                continue
            _copy(source, target)
            actions[rel] = "added"
        elif os.path.isfile(target) and not os.path.islink(target):
            current = _sha256(target)
            if current == shipped:
                actions[rel] = "already there"
            elif known is not None and current == known:
                _copy(source, target)
                actions[rel] = "updated"
            else:
                # The user's version wins; the image's new one is put beside it.
                _copy(source, _side_name(target, stamp))
                actions[rel] = "edited by user, new version beside it"
        else:
            actions[rel] = "a folder or link of the user's is there, left alone"
        manifest[rel] = shipped
    os.makedirs(os.path.dirname(manifest_path), mode=0o700, exist_ok=True)
    update_file(manifest_path, json.dumps(manifest, indent=1, sort_keys=True), 0o600)
    if image_id:
        update_file(done_path, image_id + "\n", 0o600)
    return actions


def _inside(home, path):
    """The real path of home/path, or ValueError if it would lie outside the home."""
    home_real = os.path.realpath(home)
    target = os.path.realpath(os.path.join(home, path))
    if not target.startswith(home_real + os.sep):
        raise ValueError("refusing to write outside the home: %r" % path)
    return target


def _missing_modules(names):
    import importlib.util

    missing = []
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def use_hub_packages(packages_dir, site_packages=None, version=None, proof=None, image_id=None):
    """Make the hub's packages importable after the image's own; return (what happened, why
    not or None). Does nothing where the image has every module itself.

    proof: a file remembering the image (image_id) and the packages (their manifest) that
    loaded at an earlier start; the same again is not imported again (the import of
    paramiko and cryptography is most of this step's time).
    """
    try:
        with open(os.path.join(packages_dir, PACKAGES_MANIFEST), "rb") as f:
            raw = f.read()
        manifest = json.loads(raw.decode())
    except (OSError, ValueError):
        return "none mounted", None
    key = "%s %s\n" % (image_id, hashlib.sha256(raw).hexdigest()) if proof and image_id else None
    modules = manifest.get("modules", [])
    # Lent for speed only (rfc3987): used like the others, but never named as something the
    # image needs in what the user is told.
    speedups = manifest.get("speedups", [])
    missing = _missing_modules(modules + speedups)
    if not missing:
        return "not needed: the image has %s" % ", ".join(modules + speedups), None
    named = ", ".join([name for name in missing if name in modules] or missing)
    version = version or "%d.%d" % sys.version_info[:2]
    pythons = manifest.get("pythons", [])
    if version not in pythons:
        return "not used", ("the hub supplies %s for Python %s, and this image runs Python %s"
                            % (named, ", ".join(pythons), version))
    if site_packages is None:
        import sysconfig

        site_packages = sysconfig.get_paths()["purelib"]
    try:
        # site appends a .pth file's lines to sys.path after the directory holding it.
        write_atomically(os.path.join(site_packages, PACKAGES_PTH), packages_dir + "\n")
    except OSError as err:
        return "not used", ("the hub could not add its %s to this image's Python (%s: %s)"
                            % (named, err.strerror, site_packages))
    if packages_dir not in sys.path:
        sys.path.append(packages_dir)  # for this process too: the files step checks the modules
    import importlib

    importlib.invalidate_caches()
    used = "%s from the hub for Python %s, after %s" % (", ".join(missing), version, site_packages)
    if key:
        try:
            with open(proof) as f:
                if f.read() == key:
                    return used + " (they loaded at an earlier start of this image)", None
        except OSError:
            pass
    try:  # they must load here too (a C library older than the wheels', say), not only be found
        for name in missing:
            importlib.import_module(name)
    except Exception as err:
        os.unlink(os.path.join(site_packages, PACKAGES_PTH))
        sys.path.remove(packages_dir)
        return "not used", "the hub's %s does not load in this image (%s: %s)" % (
            named, type(err).__name__, str(err)[:80])
    if key:
        try:
            os.makedirs(os.path.dirname(proof), mode=0o700, exist_ok=True)
            update_file(proof, key, 0o600)
        except OSError:  # only the next start is slower
            pass
    return used, None


def write_files(home, spec, why_missing=None):
    """Write the hub-managed files: [{"path": relative to home, "content": ..., "mode": "0644",
    "requires": ["module", ...], "once": true for an example}]; return the paths written.

    why_missing, if given, says why the hub could not supply a missing module.

    A file whose "requires" modules this image lacks is not written: pysqa reads a REMOTE
    queue.yaml when pyiron_base is imported, and without paramiko that import fails, so a
    cluster configuration would break pyiron altogether. What was left out, and why, goes
    to ~/.pyiron_hub/files.json (the hub's SSH key page shows it). Files the hub wrote
    before and no longer lists (a cluster removed) are deleted; nothing else is touched.
    """
    entries = json.loads(spec)
    status_path = os.path.join(home, STATE_DIR, FILES_STATUS)
    try:
        with open(status_path) as f:
            before = set(json.load(f).get("written", []))
    except (OSError, ValueError, AttributeError):
        before = set()
    try:
        with open(status_path) as f:
            given = set(json.load(f).get("given", []))
    except (OSError, ValueError, AttributeError):
        given = set()
    written, skipped = [], {}
    for entry in entries:
        target = _inside(home, entry["path"])
        if entry.get("once"):
            # An example: written the first time only, then the user's (never overwritten,
            # never removed, and not brought back once deleted).
            if entry["path"] not in given and not os.path.lexists(target):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                write_atomically(target, entry["content"], int(entry.get("mode", "0644"), 8))
            given.add(entry["path"])
            continue
        missing = _missing_modules(entry.get("requires", []))
        if missing:
            skipped[entry["path"]] = "needs the Python module %s, which this environment lacks%s" % (
                ", ".join(missing), " (%s)" % why_missing if why_missing else "")
            continue
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        update_file(target, entry["content"], int(entry.get("mode", "0644"), 8))
        written.append(entry["path"])
    for path in sorted(before - set(written)):
        try:
            target = _inside(home, path)
            if os.path.isfile(target) and not os.path.islink(target):
                os.unlink(target)
        except (OSError, ValueError) as err:
            log("files: could not remove %s (%s)" % (path, err))
    for path, reason in skipped.items():
        log("files: left out %s: it %s (pysqa's remote mode needs paramiko; use an environment "
            "the hub can give it to, or `pip install --user paramiko` and restart)" % (path, reason))
    os.makedirs(os.path.dirname(status_path), mode=0o700, exist_ok=True)
    update_file(status_path, json.dumps({"written": written, "skipped": skipped, "given": sorted(given)},
                                             indent=1, sort_keys=True), 0o600)
    return written


def ensure_ssh_key(home):
    """Make ~/.ssh/id_ed25519 once; a key already there (the user's own) is kept."""
    ssh = os.path.join(home, ".ssh")
    private = os.path.join(ssh, "id_ed25519")
    if os.path.exists(private):
        return False
    os.makedirs(ssh, mode=0o700, exist_ok=True)
    os.chmod(ssh, 0o700)
    comment = "%s@pyiron-hub" % os.environ.get("JUPYTERHUB_USER", "jovyan")
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError:  # images without the cryptography package: OpenSSH's own tool
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", private], check=True)
        return True
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    # The public key first: the private key's presence means the pair is complete.
    write_atomically(private + ".pub", "%s %s\n" % (public.decode(), comment))
    write_atomically(private, pem, 0o600)
    return True


def _write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    update_file(path, text)


def answer_lab_news(home):
    """Answer JupyterLab's "get news?" question (asked at every fresh start) with no, once."""
    path = os.path.join(home, LAB_NEWS_SETTINGS)
    if os.path.lexists(path):  # the user's own settings, or our answer they may have changed
        return "left as it is"
    _write_text(path, json.dumps({"fetchNews": "false"}, indent=2) + "\n")
    return "answered no"


def explain_work(home):
    """Say what ~/work is, in it, when it is empty; never touch a folder with anything in it."""
    work = os.path.join(home, os.path.dirname(WORK_README))
    if not os.path.isdir(work) or os.path.islink(work) or os.listdir(work):
        return "nothing to do"
    _write_text(os.path.join(home, WORK_README), WORK_README_TEXT)
    return "explained"


def pyiron_log_in_one_place(home, hub_configures_pyiron):
    """While the hub configures pyiron, its log goes to ~/.pyiron_hub/pyiron.log (see the text)."""
    path = os.path.join(home, PYIRON_LOG_STARTUP)
    if not hub_configures_pyiron:
        if os.path.isfile(path) and not os.path.islink(path):
            os.unlink(path)
        return "left to the user"
    _write_text(path, PYIRON_LOG_STARTUP_TEXT)
    return "to ~/" + PYIRON_LOG


def pyiron_base_series():
    """'0.15' for pyiron_base 0.15.20, '1' for 1.2.3; None without pyiron_base."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # Python < 3.8
        return None
    try:
        parts = version("pyiron_base").split(".")
    except PackageNotFoundError:
        return None
    # Before 1.0 a minor release may change the database; after it, a major one.
    return ".".join(parts[:2]) if parts[0] == "0" else parts[0]


def pyiron_settings(home, environ, series):
    """The PYIRON* variables the hub sets, or {} when the user configures pyiron."""
    if series is None or os.path.exists(os.path.join(home, ".pyiron")):
        return {}
    if any(environ.get(name) for name in PYIRON_VARIABLES):
        return {}
    resources = [environ[SITE_RESOURCES_VARIABLE]] if environ.get(SITE_RESOURCES_VARIABLE) else []
    resources.append(os.path.join(home, STATE_DIR, "resources"))
    return {
        "PYIRONSQLTYPE": "SQLite",
        # One database per pyiron_base series: an older pyiron never opens a newer one's file.
        "PYIRONSQLFILE": os.path.join(home, STATE_DIR, "db", "pyiron_base-%s.db" % series),
        "PYIRONRESOURCEPATHS": ",".join(resources),
        "PYIRONPROJECTCHECKENABLED": "False",
    }


def main(argv):
    home = os.environ.get("HOME") or os.path.expanduser("~")
    problems = not_writable([f for f in os.environ.get(MUST_WRITE_VARIABLE, "").split(os.pathsep) if f])
    if problems:
        log(NOT_WRITABLE_LINE + "; ".join(problems))
        return NOT_WRITABLE
    why_missing = []
    steps = [("examples", lambda: sync_examples(IMAGE_HOME, home, image_id=os.environ.get(IMAGE_ID_VARIABLE)))]

    def packages():
        done, why_not = use_hub_packages(PACKAGES_DIR, proof=os.path.join(home, STATE_DIR, PACKAGES_LOADED),
                                         image_id=os.environ.get(IMAGE_ID_VARIABLE))
        if why_not:
            why_missing.append(why_not)
            return "%s: %s" % (done, why_not)
        return done

    steps.append(("packages", packages))
    # Always: with nothing listed, files the hub wrote before are removed.
    steps.append(("files", lambda: write_files(home, os.environ.get(FILES_VARIABLE) or "[]",
                                               why_missing[0] if why_missing else None)))
    if os.environ.get(SSH_KEY_VARIABLE):
        steps.append(("ssh key", lambda: ensure_ssh_key(home)))
    steps.append(("jupyterlab news", lambda: answer_lab_news(home)))
    steps.append(("work folder", lambda: explain_work(home)))
    for name, step in steps:
        began = time.monotonic()
        # Each step's time goes into its line: the spawn timeline (benchmarks/) reads it.
        took = lambda: "(%d ms)" % round(1000 * (time.monotonic() - began))  # noqa: E731
        try:
            result = step()
            if name == "examples" and result is None:
                log("examples: the image's, all brought in at an earlier start, nothing to do %s" % took())
            elif name == "examples":
                changed = {k: v for k, v in result.items() if v not in ("unchanged", "already there")}
                log("examples: %d files, %s %s" % (len(result), json.dumps(changed) if changed else "nothing to do",
                                                   took()))
            else:
                log("%s: %s %s" % (name, result, took()))
        except Exception as err:  # never keep a user from their server
            log("%s: skipped (%s: %s) %s" % (name, type(err).__name__, err, took()))
    settings = pyiron_settings(home, os.environ, pyiron_base_series())
    try:
        log("pyiron log: %s" % pyiron_log_in_one_place(home, bool(settings)))
    except Exception as err:  # never keep a user from their server
        log("pyiron log: skipped (%s: %s)" % (type(err).__name__, err))
    if settings:
        os.environ.update(settings)
        log("pyiron: job database %s" % settings["PYIRONSQLFILE"])
    else:
        log("pyiron: left as the user configured it (or no pyiron_base here)")
    if len(argv) < 2:
        log("no server command given")
        return 2
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
