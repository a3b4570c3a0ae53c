"""Full disk and permissions (issue 6): a checkpoint write that fails, simulated with a file-size limit
(RLIMIT_FSIZE, as `ulimit -f`: write() fails with EFBIG once SIGXFSZ is ignored) or a folder that is or becomes
read-only, gives one clear error line and exit 1, keeps every previous checkpoint byte for byte, and leaves no
temporary file behind. As root (who ignores permissions) the read-only cases run bilmod as user nobody."""
import os
import pwd
import resource
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from reliability_common import skipping  # noqa: E402 (tests/skipping.py)
from reliability_common import (BILMOD, Failures, checkpoints, read_safetensors, snapshot, snapshot_diff,  # noqa: E402
                                temporaries, tempdir)

FLAGS = ["--model", "bilinear", "--batch-size", 32, "--seed", 2, "--threads", 1,
         "--no-track", "--no-progress", "--log-level", "ERROR", "--checkpoint-every", 1]
SMALL = ["--mod-basis", 23, "--hidden-dim", 16]


def bilmod(*args, fsize=None, user=None, binary=BILMOD, wait=True):
    def limits():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if user is not None:
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
    # restore_signals (the default) gives the child SIGXFSZ's default action, as a shell would: bilmod must
    # ignore it itself.
    p = subprocess.Popen([binary, *[str(a) for a in args]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=limits)
    if not wait:
        return p
    out, err = p.communicate(timeout=600)
    return p.returncode, [l for l in err.splitlines() if l.strip()]


def check_failed_write(failures, what, rc, lines, d, before, words, allowed_temporaries=()):
    """before: the folder's snapshot from before the failure. Every file in it but the allowed temporaries (which
    the failing write may still have been filling) must be there after, byte for byte, and nothing new."""
    failures.check(rc == 1, f"{what}: exit {rc} (expected 1)")
    failures.check(len(lines) == 1 and all(w in lines[0] for w in words),
                   f"{what}: one error line with {words}: {lines}")
    after = snapshot(d)
    changed = [c for c in snapshot_diff(before, after) if c.split(": ", 1)[1] not in allowed_temporaries]
    failures.check(not changed, f"{what}: every previous file unchanged and nothing new ({changed})")
    stray = set(temporaries(d)) - set(allowed_temporaries)
    failures.check(not stray, f"{what}: no temporary files ({stray})")
    for epoch, path in sorted(checkpoints(d).items()):
        try:
            read_safetensors(path)
            ok = True
        except Exception:  # noqa: BLE001
            ok = False
        failures.check(ok, f"{what}: {os.path.basename(path)} still reads")


def main():
    failures = Failures()
    faults = 0
    with tempdir() as root:
        # --- A file-size limit below one checkpoint: the write fails part-way with EFBIG. ThreadSanitizer's runtime
        # maps files of its own that the limit breaks (SIGBUS inside TSan): those cases are for the other builds.
        with open(BILMOD, "rb") as f:
            under_tsan = b"__tsan_init" in f.read()
        if under_tsan:
            skipping.skipped("the file-size limit cases under ThreadSanitizer (its runtime cannot run under one)",
                             setup_installs_it=False)
        d = os.path.join(root, "fsize")
        rc, lines = bilmod("train", *FLAGS, *SMALL, "--epochs", 2, "--checkpoint-dir", d)
        failures.check(rc == 0, f"a first run writes checkpoints 0..2 (exit {rc})")
        size = os.path.getsize(checkpoints(d)[2])
        for limit in () if under_tsan else (size // 2, size - 1, 4096):
            before = snapshot(d)
            rc, lines = bilmod("train", "--resume-from", d, "--epochs", 4, fsize=limit)
            faults += 1
            check_failed_write(failures, f"resume under a {limit}-byte file-size limit", rc, lines, d, before,
                               ["cannot write", "checkpoint_epoch_3.safetensors", "File too large", "untouched"])
        # A fresh run whose very first checkpoint cannot be written.
        d0 = os.path.join(root, "fsize-fresh")
        os.makedirs(d0)
        if not under_tsan:
            before = snapshot(d0)
            rc, lines = bilmod("train", *FLAGS, *SMALL, "--epochs", 2, "--checkpoint-dir", d0, fsize=1000)
            faults += 1
            check_failed_write(failures, "a fresh run under a 1000-byte limit", rc, lines, d0, before,
                               ["cannot write", "checkpoint_epoch_0.safetensors", "File too large"])

        # --- A read-only folder (as root: run as nobody, who owns the folder until it is made read-only).
        user = None
        binary = BILMOD
        if os.geteuid() == 0:
            user = pwd.getpwnam("nobody")
            binary = os.path.join(root, "bilmod")
            shutil.copy(BILMOD, binary)
            os.chmod(binary, 0o755)
            os.chmod(root, 0o755)
        d = os.path.join(root, "readonly")
        os.makedirs(d)
        if user:
            os.chown(d, user.pw_uid, user.pw_gid)
        rc, lines = bilmod("train", *FLAGS, *SMALL, "--epochs", 2, "--checkpoint-dir", d, user=user, binary=binary)
        failures.check(rc == 0, f"a first run in a writable folder (exit {rc}) {lines}")
        os.chmod(d, 0o555)
        before = snapshot(d)
        rc, lines = bilmod("train", "--resume-from", d, "--epochs", 4, user=user, binary=binary)
        faults += 1
        check_failed_write(failures, "resume into a read-only folder", rc, lines, d, before,
                           ["--checkpoint-dir", "is not writable", "Permission denied"])

        # The folder turns read-only in the middle of a run: the next checkpoint fails, the earlier ones stay.
        d = os.path.join(root, "turns-readonly")
        os.makedirs(d)
        if user:
            os.chown(d, user.pw_uid, user.pw_gid)
        p = bilmod("train", *FLAGS, "--mod-basis", 41, "--hidden-dim", 32, "--epochs", 400, "--checkpoint-dir", d,
                   user=user, binary=binary, wait=False)
        while len(checkpoints(d)) < 2 and p.poll() is None:
            time.sleep(0.0005)
        os.chmod(d, 0o555)
        faults += 1
        before = snapshot(d)
        _, err = p.communicate(timeout=600)
        lines = [l for l in err.splitlines() if l.strip()]
        # Once the folder is read-only its user can neither add, rename nor remove a name in it: `before` holds every
        # checkpoint there will be, complete, and each must stay byte for byte. Where the chmod lands decides the
        # failing call: usually the next temporary file's creation ("cannot create"); when it lands while a
        # checkpoint is being written, the rename ("cannot rename TMP to PATH"), and that temporary file cannot be
        # removed from the now read-only folder by anyone: the error line names it, and it is the one file allowed
        # to remain (and to have grown since the snapshot).
        renamed = len(lines) == 1 and "cannot rename" in lines[0]
        left = set(temporaries(d))
        allowed = {t for t in left if renamed and t in lines[0]}
        failures.check(len(checkpoints(d)) >= 2, f"a folder made read-only mid-run: {len(checkpoints(d))} checkpoints kept")
        check_failed_write(failures, "a folder made read-only mid-run", p.returncode, lines, d,
                           before, ["cannot rename" if renamed else "cannot create", "Permission denied"],
                           allowed_temporaries=allowed)
    print(f"faults injected: {faults} failing checkpoint writes")
    failures.finish()


if __name__ == "__main__":
    main()
