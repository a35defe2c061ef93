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
- quota messages: with a disk quota ($PYIRON_HUB_DISK_QUOTA), a Jupyter Server config file
  outside the home (QUOTA_CONFIG_DIR, put first on $JUPYTER_CONFIG_PATH) that turns a save
  refused for a full quota ("[Errno 122] Disk quota exceeded") into an error that names the
  quota and how to free space. Only Jupyter Server reads jupyter_server_config.py: a
  classic notebook server (frozen images) keeps the system's words.
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
QUOTA_VARIABLE = "PYIRON_HUB_DISK_QUOTA"  # the user's quota, like "20M" (set by the spawner)
GROUP_QUOTAS_VARIABLE = "PYIRON_HUB_GROUP_QUOTAS"  # {"<folder under ~/groups>": "8M"}
# In the container's own layer, not the home: a full home must not keep the message out.
QUOTA_CONFIG_DIR = "/tmp/pyiron-hub-jupyter-config"
QUOTA_CONFIG_TEXT = """# Written by the pyiron hub (boot.py) at each start of a server with a disk quota.
# Jupyter Server answers a save refused by a full quota with the system's "[Errno 122] Disk
# quota exceeded"; this says instead which quota is full and how to free space. It wraps
# the contents API's writes (save, upload, new, copy), whichever contents manager is used;
# where Jupyter Server's classes differ, it does nothing.
def _pyiron_hub_quota_messages():
    import errno
    import functools
    import inspect
    import json
    import os

    try:
        from jupyter_server.services.contents.handlers import ContentsHandler
        from tornado import web
    except Exception:
        return
    if getattr(ContentsHandler, "_pyiron_hub_quota_messages", False):
        return  # this file is read once per app (the server and its extensions)
    quota = os.environ.get(%r) or "unknown size"
    try:
        groups = json.loads(os.environ.get(%r) or "{}")
    except ValueError:
        groups = {}

    def full(err):
        for _ in range(10):  # the OSError is the cause of Jupyter's own HTTPError
            if err is None:
                return None
            if isinstance(err, OSError) and err.errno in (errno.EDQUOT, errno.ENOSPC):
                return err.errno
            err = err.__cause__ or err.__context__
        return None

    def message(code, path):
        parts = (path or "").strip("/").split("/")
        if code == errno.ENOSPC:
            return (
                "The disk that holds your files is full (for everyone, not only your quota): "
                "tell your admin; deleting files you no longer need helps too."
            )
        if len(parts) > 1 and parts[0] == "groups" and parts[1] in groups:
            return (
                "The disk quota of the group folder ~/groups/%%s (%%s) is full: delete files there "
                "or ask your admin to raise it." %% (parts[1], groups[parts[1]])
            )
        return (
            "Your disk quota of %%s is full: delete files (e.g. in ~/pyiron/projects or caches) "
            "or ask your admin to raise it." %% quota
        )

    def wrap(name, target):
        original = getattr(ContentsHandler, name, None)
        if original is None or not inspect.iscoroutinefunction(original):
            return

        @functools.wraps(original)
        async def wrapped(self, *args, **kwargs):
            try:
                return await original(self, *args, **kwargs)
            except Exception as err:
                code = full(err)
                if code is None:
                    raise
                text = message(code, target(args, kwargs))
                raise web.HTTPError(507, text.replace("%%", "%%%%")) from err

        setattr(ContentsHandler, name, wrapped)

    def at(i, key):
        return lambda args, kwargs: kwargs.get(key) or (args[i] if len(args) > i else "")

    wrap("_save", at(1, "path"))
    wrap("_upload", at(1, "path"))
    wrap("_new_untitled", at(0, "path"))
    wrap("_copy", lambda args, kwargs: at(1, "copy_to")(args, kwargs) or at(0, "copy_from")(args, kwargs))
    ContentsHandler._pyiron_hub_quota_messages = True


try:
    _pyiron_hub_quota_messages()
except Exception:  # never keep a user from their server
    pass
""" % (QUOTA_VARIABLE, GROUP_QUOTAS_VARIABLE)
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
PYIRON_VARIABLES = (
    "PYIRONSQLFILE",
    "PYIRONSQLTYPE",
    "PYIRONRESOURCEPATHS",
    "PYIRONPROJECTPATHS",
    "PYIRONPROJECTCHECKENABLED",
    "PYIRONSQLCONNECTIONSTRING",
    "PYIRONDISABLE",
    "PYIRONCONFIG",
)


def work_status_name(server_name):
    """The watcher's file below STATE_DIR: one per server, as a user's named servers share the home."""
    return "work-%s.json" % server_name if server_name else "work.json"


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
        return "not used", (
            "the hub supplies %s for Python %s, and this image runs Python %s" % (named, ", ".join(pythons), version)
        )
    if site_packages is None:
        import sysconfig

        site_packages = sysconfig.get_paths()["purelib"]
    try:
        # site appends a .pth file's lines to sys.path after the directory holding it.
        write_atomically(os.path.join(site_packages, PACKAGES_PTH), packages_dir + "\n")
    except OSError as err:
        return "not used", (
            "the hub could not add its %s to this image's Python (%s: %s)" % (named, err.strerror, site_packages)
        )
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
            named,
            type(err).__name__,
            str(err)[:80],
        )
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
                ", ".join(missing),
                " (%s)" % why_missing if why_missing else "",
            )
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
        log(
            "files: left out %s: it %s (pysqa's remote mode needs paramiko; use an environment "
            "the hub can give it to, or `pip install --user paramiko` and restart)" % (path, reason)
        )
    os.makedirs(os.path.dirname(status_path), mode=0o700, exist_ok=True)
    update_file(
        status_path,
        json.dumps({"written": written, "skipped": skipped, "given": sorted(given)}, indent=1, sort_keys=True),
        0o600,
    )
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
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
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


def quota_messages(environ, config_dir=QUOTA_CONFIG_DIR):
    """With a quota, Jupyter Server's config that words a full quota's error (see QUOTA_CONFIG_TEXT);
    environ gets the config directory first on JUPYTER_CONFIG_PATH."""
    if not environ.get(QUOTA_VARIABLE):
        return "no quota"
    if not os.path.isdir(config_dir):
        os.makedirs(config_dir)
    update_file(os.path.join(config_dir, "jupyter_server_config.py"), QUOTA_CONFIG_TEXT.encode())
    paths = [p for p in (environ.get("JUPYTER_CONFIG_PATH") or "").split(os.pathsep) if p and p != config_dir]
    environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join([config_dir] + paths)
    return "a full quota of %s is named in Jupyter's errors" % environ[QUOTA_VARIABLE]


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


# --- work in progress: what keeps a server from being culled, and what a stop leaves behind ------
WATCH_FLAG = "--watch-work"  # boot.py's own argument: run as the watcher (watch_main)
ACTIVITY_EVERY_VARIABLE = "PYIRON_HUB_ACTIVITY_EVERY"  # seconds between the watcher's checks; unset: none
STOPS_AT_VARIABLE = "PYIRON_HUB_STOPS_AT"  # epoch seconds at which the culler stops it (MAX_SERVER_AGE)
STOP_WARNING_VARIABLE = "PYIRON_HUB_STOP_WARNING"  # seconds before that from which notebooks say so
LAST_STOP_VARIABLE = "PYIRON_HUB_LAST_STOP"  # why the server before this one stopped: {"at", "text", "kind", "jobs"}
# Host names of the user's other servers running at this start (named servers), comma-separated:
# their pyiron jobs are not those of a stopped server.
LIVE_HOSTS_VARIABLE = "PYIRON_HUB_LIVE_HOSTS"
# Above this many CPUs (10 % of one core), averaged between two checks, the server is at work:
# an idle Jupyter server with open kernels uses well under 1 %.
BUSY_CPU = 0.1
LAST_STOP_NOTICE = os.path.join(STATE_DIR, "last-stop.json")  # what the notebooks say about the last stop
NOTICES_STARTUP = ".ipython/profile_default/startup/00-pyiron-hub-notices.py"
# Every variable pyiron_base maps to a setting: if any is set, pyiron ignores its config file.
PYIRON_SETTINGS_VARIABLES = (
    "PYIRONUSER",
    "PYIRONRESOURCEPATHS",
    "PYIRONPROJECTPATHS",
    "PYIRONCONNECTIONTIMEOUT",
    "PYIRONSQLCONNECTIONSTRING",
    "PYIRONSQLTABLENAME",
    "PYIRONSQLFILE",
    "PYIRONSQHOST",
    "PYIRONSQLTYPE",
    "PYIRONSQLUSERKEY",
    "PYIRONSQLDATABASE",
    "PYIRONPROJECTCHECKENABLED",
    "PYIRONDISABLE",
    "PYIRONCREDENTIALSFILE",
    "PYIRONWRITEWORKDIRWARNINGS",
    "PYIRONCONFIGFILEPERMISSIONSWARNING",
)
# pyiron's job states between a start and an end (pyiron_base's JobStatus).
IN_PROGRESS = ("submitted", "running", "collect", "refresh", "busy")
NOTICES_STARTUP_TEXT = """# Written by the pyiron hub at each start of your server (boot.py). It only prints, once in each
# notebook: why your previous server stopped while it had work in it, and which pyiron jobs were
# marked aborted then (from ~/%s); and, when this hub stops servers at an age
# (MAX_SERVER_AGE), how long this one has left, from an hour before.
def _pyiron_hub_notices():
    import json
    import os
    import sys
    import time

    notice_file = os.path.join(os.path.expanduser("~"), %r)
    stops_at = float(os.environ.get(%r) or 0)
    warning = float(os.environ.get(%r) or 3600)
    said = set()

    def before_cell(*args):
        lines = []
        if "last stop" not in said:
            said.add("last stop")
            try:
                with open(notice_file) as f:
                    lines.append(json.load(f)["text"])
            except (OSError, ValueError, KeyError, TypeError):
                pass
        left = stops_at - time.time()
        if stops_at and left < warning:
            stage = "last minutes" if left < warning / 6 else "last hour"
            if stage not in said:
                said.update([stage, "last hour"])
                left = max(0, int(left))
                lines.append("pyiron hub: this server will be stopped in %%s (at %%s UTC), when it reaches the "
                             "longest time this hub lets a server run. Save your notebooks; pyiron jobs still "
                             "running then are marked aborted." %% (
                                 "%%d s" %% left if left < 120 else "%%d min" %% (left // 60),
                                 time.strftime("%%H:%%M", time.gmtime(stops_at))))
        if lines:
            sys.stderr.write("\\n\\n".join(lines) + "\\n")

    get_ipython().events.register("pre_run_cell", before_cell)  # noqa: F821 (IPython's own)


_pyiron_hub_notices()
del _pyiron_hub_notices
""" % (LAST_STOP_NOTICE, LAST_STOP_NOTICE, STOPS_AT_VARIABLE, STOP_WARNING_VARIABLE)


def job_database(home, environ):
    """(SQLite file, table) of the user's pyiron job table, read the way pyiron reads its settings
    (PYIRON* variables, else $PYIRONCONFIG or ~/.pyiron, else its defaults); None where the job
    table is not a SQLite file (a database server, or DISABLE_DATABASE)."""
    by_variable = {
        "PYIRONSQLTYPE": "type",
        "PYIRONSQLFILE": "file",
        "PYIRONSQLTABLENAME": "table",
        "PYIRONDISABLE": "disable",
    }
    if any(environ.get(name) for name in PYIRON_SETTINGS_VARIABLES):
        config = {key: environ[name] for name, key in by_variable.items() if environ.get(name)}
    else:
        import configparser

        by_key = {
            "TYPE": "type",
            "FILE": "file",
            "DATABASE_FILE": "file",
            "JOB_TABLE": "table",
            "DISABLE_DATABASE": "disable",
        }
        parser = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
        try:
            parser.read(environ.get("PYIRONCONFIG") or os.path.join(home, ".pyiron"))
        except configparser.Error:
            return None
        config = {}
        for section in parser.values():
            for key, value in section.items():
                if key.upper() in by_key:
                    config[by_key[key.upper()]] = value
    if config.get("disable", "False").strip().lower() == "true" or config.get("type", "SQLite") != "SQLite":
        return None
    path = config.get("file") or "~/pyiron.db"
    path = os.path.join(home, path[2:]) if path.startswith("~/") else path
    return os.path.abspath(path), config.get("table") or "jobs_pyiron"


def job_host(computer):
    """(host, on a queue) from pyiron's `computer` column: "user@host#cores" for a job run where
    it was started, "user@host#cores#queue" for one sent to a queue (SLURM through pysqa),
    "user@host#cores#n/m" for a master job counting its children; (None, False) if unknown."""
    if not computer or "@" not in computer:
        return None, False
    parts = computer.split("@", 1)[1].split("#")
    queue = len(parts) > 2 and not parts[2].replace("/", "").isdigit()
    return parts[0], queue


def jobs_in_progress(database):
    """[(id, project, job, status, computer)] of the jobs pyiron lists between start and end."""
    import sqlite3

    path, table = database
    if not os.path.isfile(path) or not table.replace("_", "").isalnum():
        return []
    # Read-only and brief: pyiron's own processes write to it meanwhile.
    connection = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
    try:
        return connection.execute(
            "SELECT id, project, job, status, computer FROM %s WHERE status IN (%s)"
            % (table, ",".join("?" * len(IN_PROGRESS))),
            IN_PROGRESS,
        ).fetchall()
    except sqlite3.Error:  # no table yet: pyiron makes it with the first job
        return []
    finally:
        connection.close()


def job_label(row):
    """'demo/long (id 3)' for a row of jobs_in_progress."""
    return "%s%s (id %s)" % (row[1] or "", row[2], row[0])


def abort_jobs_of_stopped_servers(database, host, live=()):
    """Mark `aborted` the jobs pyiron lists as in progress on another host than this server's and
    the user's other running servers' (live), and not on a queue: each server is a new container
    with a host name of its own, so those ran in a server that has stopped, and their processes
    died with it. Jobs on a cluster go on without the server. Returns the labels of the jobs marked."""
    import sqlite3

    keep = (None, host) + tuple(live)
    rows = [r for r in jobs_in_progress(database) if job_host(r[4])[0] not in keep and not job_host(r[4])[1]]
    if not rows:
        return []
    path, table = database
    connection = sqlite3.connect(path, timeout=10)
    try:
        with connection:
            connection.executemany(
                "UPDATE %s SET status = 'aborted' WHERE id = ? AND status = ?" % table, [(r[0], r[3]) for r in rows]
            )
    finally:
        connection.close()
    return [job_label(r) for r in rows]


def job_status(database, label):
    """The status of the job a job_label names (by its id), or None."""
    import re
    import sqlite3

    found = re.search(r"\(id (\d+)\)$", label)
    path, table = database
    if not found or not os.path.isfile(path) or not table.replace("_", "").isalnum():
        return None
    connection = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
    try:
        row = connection.execute("SELECT status FROM %s WHERE id = ?" % table, (int(found.group(1)),)).fetchone()
    except sqlite3.Error:
        return None
    finally:
        connection.close()
    return row[0] if row else None


def last_stop_notice(last_stop, aborted):
    """The notebooks' words about the last stop, or None when there is nothing to say."""
    if not aborted and not (last_stop and last_stop.get("kind") in ("memory", "max_age", "exited")):
        return None
    when = ""
    if last_stop and last_stop.get("at") is not None:
        when = " at %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(last_stop["at"])))
    why = (last_stop or {}).get("text") or "it was stopped"
    text = "pyiron hub: your previous server was stopped%s: %s." % (when, why)
    if aborted:
        text += (
            " These pyiron jobs were running in it and are now marked aborted in your job table: %s."
            " Run them again with job.run(delete_existing_job=True)." % ", ".join(aborted)
        )
    return text


def after_last_stop(home, environ, host):
    """Mark the jobs of the stopped server aborted; leave the notebooks' words about it (or none)."""
    try:
        last_stop = json.loads(environ.get(LAST_STOP_VARIABLE) or "null")
    except ValueError:
        last_stop = None
    database = job_database(home, environ)
    live = [h for h in (environ.get(LIVE_HOSTS_VARIABLE) or "").split(",") if h]
    aborted = abort_jobs_of_stopped_servers(database, host, live) if database else []
    # Jobs the hub saw running at the stop that pyiron marked aborted itself (its signal
    # handler, when `docker stop` sent SIGTERM): lost all the same.
    seen = [j for j in (last_stop or {}).get("jobs") or [] if j not in aborted]
    aborted += [j for j in seen if database and job_status(database, j) == "aborted"]
    text = last_stop_notice(last_stop, aborted)
    path = os.path.join(home, LAST_STOP_NOTICE)
    if text:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        update_file(path, json.dumps({"text": text, "aborted": aborted}, indent=1), 0o600)
    elif os.path.isfile(path):
        os.unlink(path)
    startup = os.path.join(home, NOTICES_STARTUP)
    if text or environ.get(STOPS_AT_VARIABLE):
        _write_text(startup, NOTICES_STARTUP_TEXT)
    elif os.path.isfile(startup) and not os.path.islink(startup):
        os.unlink(startup)
    return "%d jobs marked aborted%s" % (len(aborted), ": " + ", ".join(aborted) if aborted else "")


def cpu_seconds(cgroup="/sys/fs/cgroup", proc="/proc"):
    """CPU seconds this container has used: its cgroup's count (v2, then v1), else its processes'."""
    try:
        with open(os.path.join(cgroup, "cpu.stat")) as f:
            for line in f:
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
    except (OSError, ValueError):
        pass
    for name in ("cpuacct/cpuacct.usage", "cpu,cpuacct/cpuacct.usage", "cpuacct.usage"):
        try:
            with open(os.path.join(cgroup, name)) as f:
                return int(f.read()) / 1e9
        except (OSError, ValueError):
            pass
    ticks = 0
    for pid in os.listdir(proc):
        try:
            with open(os.path.join(proc, pid, "stat")) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def processes(proc="/proc"):
    """{pid: parent pid} of every process this container sees."""
    found = {}
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            with open(os.path.join(proc, pid, "stat")) as f:
                found[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            pass
    return found


def job_processes(tree, server, watcher):
    """Processes that can be a pyiron job's: neither the container's init, the Jupyter server, its
    own children (kernels, terminals), nor this watcher. A job run non-modal is a child of its
    kernel (multiprocessing), an external code (LAMMPS) that child's child; a process whose
    parent died is the container's init's."""
    return sorted(pid for pid, parent in tree.items() if pid not in (1, server, watcher) and parent != server)


def local_url(environ):
    """The server's own address from inside: $JUPYTERHUB_SERVICE_URL with a wildcard host made loopback."""
    try:
        from urllib.parse import urlsplit, urlunsplit
    except ImportError:  # pragma: no cover (Python 2)
        return None
    url = environ.get("JUPYTERHUB_SERVICE_URL")
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host in ("", "0.0.0.0", "::", "*"):
        netloc = "127.0.0.1" + (":%d" % parts.port if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts).rstrip("/") + "/"


def busy_kernels(url, token, timeout=10):
    """How many of the server's kernels run code; ?no_track_activity=1: asking is not activity itself."""
    import urllib.request

    request = urllib.request.Request(
        url + "api/kernels?no_track_activity=1", headers={"Authorization": "token %s" % token}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        kernels = json.loads(response.read().decode())
    return sum(1 for k in kernels if k.get("execution_state") == "busy")


def report_activity(url, token, server_name, when, timeout=10):
    """What jupyterhub-singleuser itself sends: POST $JUPYTERHUB_ACTIVITY_URL with the server's token."""
    import urllib.request

    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(when))
    body = json.dumps({"servers": {server_name: {"last_activity": stamp}}, "last_activity": stamp}).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Authorization": "token %s" % token, "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status


def work_reasons(busy, jobs, job_pids, cpu):
    """Why the server counts as active ([] when it does not): a kernel running code, a pyiron job
    of this server in progress while a process that can be it lives, or CPU above BUSY_CPU."""
    reasons = []
    if busy:
        reasons.append("%d kernels busy" % busy)
    if jobs and job_pids:
        reasons.append("pyiron jobs running: %s" % ", ".join(jobs))
    if cpu is not None and cpu > BUSY_CPU:
        reasons.append("%.2f CPUs in use" % cpu)
    return reasons


def look_at_work(home, environ, host, server, watcher, cpu, url):
    """One check: {"busy_kernels", "jobs" (of this server, in progress), "job_processes", "cpu"}."""
    busy = 0
    if url:
        try:
            busy = busy_kernels(url, environ.get("JUPYTERHUB_API_TOKEN", ""))
        except Exception:  # starting, or an image whose server refuses the token: CPU and jobs still count
            busy = 0
    database = job_database(home, environ)
    try:
        rows = jobs_in_progress(database) if database else []
    except Exception:
        rows = []
    jobs = [job_label(r) for r in rows if job_host(r[4]) == (host, False)]
    pids = job_processes(processes(), server, watcher) if jobs else []
    return {"busy_kernels": busy, "jobs": jobs, "job_processes": len(pids), "cpu": cpu, "host": host}


def watch_main(environ=None, home=None):
    """The watcher (started by main beside the server): every $PYIRON_HUB_ACTIVITY_EVERY seconds,
    report activity to the hub while the server works (work_reasons), and keep what it saw in
    ~/.pyiron_hub/work.json for the hub to read when the server stops. Ends with the server."""
    import socket

    environ = os.environ if environ is None else environ
    home = home or environ.get("HOME") or os.path.expanduser("~")
    every = max(1.0, float(environ.get(ACTIVITY_EVERY_VARIABLE) or 300))
    server, watcher, host = os.getppid(), os.getpid(), socket.gethostname()
    url = local_url(environ)
    activity_url, token = environ.get("JUPYTERHUB_ACTIVITY_URL"), environ.get("JUPYTERHUB_API_TOKEN", "")
    # The watcher's last look; the hub reads it at a stop.
    status_path = os.path.join(home, STATE_DIR, work_status_name(environ.get("JUPYTERHUB_SERVER_NAME", "")))
    try:
        os.makedirs(os.path.dirname(status_path), mode=0o700, exist_ok=True)
    except OSError:
        pass
    used, then = cpu_seconds(), time.monotonic()
    said = None
    while os.getppid() == server:
        time.sleep(every)
        now_used, now = cpu_seconds(), time.monotonic()
        cpu = (now_used - used) / max(now - then, 1e-3)
        used, then = now_used, now
        try:
            work = look_at_work(home, environ, host, server, watcher, round(cpu, 3), url)
            reasons = work_reasons(work["busy_kernels"], work["jobs"], work["job_processes"], work["cpu"])
            if reasons and activity_url:
                report_activity(activity_url, token, environ.get("JUPYTERHUB_SERVER_NAME", ""), time.time())
            if reasons != said:
                log("work: %s" % ("; ".join(reasons) if reasons else "none: the server may be culled when idle"))
                said = reasons
            # Only what the hub needs, and written only when it changes (each write syncs the disk).
            update_file(
                status_path, json.dumps({k: work[k] for k in ("busy_kernels", "jobs", "host")}, indent=1), 0o600
            )
        except Exception as err:  # the next check tries again; the server never depends on this
            log("work: check failed (%s: %s)" % (type(err).__name__, err))
    return 0


def start_watcher(environ):
    """Start the watcher as a child that the server (this process, once it execs) outlives no
    more than it must: a fresh interpreter on this file, so it holds none of the boot step's memory."""
    if not environ.get(ACTIVITY_EVERY_VARIABLE):
        return None
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), WATCH_FLAG])
        finally:
            os._exit(1)
    return pid


def main(argv):
    home = os.environ.get("HOME") or os.path.expanduser("~")
    problems = not_writable([f for f in os.environ.get(MUST_WRITE_VARIABLE, "").split(os.pathsep) if f])
    if problems:
        log(NOT_WRITABLE_LINE + "; ".join(problems))
        return NOT_WRITABLE
    why_missing = []
    steps = [("examples", lambda: sync_examples(IMAGE_HOME, home, image_id=os.environ.get(IMAGE_ID_VARIABLE)))]

    def packages():
        done, why_not = use_hub_packages(
            PACKAGES_DIR,
            proof=os.path.join(home, STATE_DIR, PACKAGES_LOADED),
            image_id=os.environ.get(IMAGE_ID_VARIABLE),
        )
        if why_not:
            why_missing.append(why_not)
            return "%s: %s" % (done, why_not)
        return done

    steps.append(("packages", packages))
    # Always: with nothing listed, files the hub wrote before are removed.
    steps.append(
        (
            "files",
            lambda: write_files(home, os.environ.get(FILES_VARIABLE) or "[]", why_missing[0] if why_missing else None),
        )
    )
    if os.environ.get(SSH_KEY_VARIABLE):
        steps.append(("ssh key", lambda: ensure_ssh_key(home)))
    steps.append(("jupyterlab news", lambda: answer_lab_news(home)))
    steps.append(("work folder", lambda: explain_work(home)))
    steps.append(("quota messages", lambda: quota_messages(os.environ)))
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
                log(
                    "examples: %d files, %s %s"
                    % (len(result), json.dumps(changed) if changed else "nothing to do", took())
                )
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
    began = time.monotonic()
    try:
        import socket

        log(
            "last stop: %s (%d ms)"
            % (after_last_stop(home, os.environ, socket.gethostname()), round(1000 * (time.monotonic() - began)))
        )
    except Exception as err:  # never keep a user from their server
        log("last stop: skipped (%s: %s)" % (type(err).__name__, err))
    try:
        start_watcher(os.environ)
    except Exception as err:  # a server that may be culled while it works beats no server
        log("work watcher: not started (%s: %s)" % (type(err).__name__, err))
    if len(argv) < 2:
        log("no server command given")
        return 2
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    if sys.argv[1:2] == [WATCH_FLAG]:
        sys.exit(watch_main())
    sys.exit(main(sys.argv))
