"""The attack suite: programs a hostile learner could type, run as job sources for `Evaluator.run`
(past the grader's AST policy, which is for teaching) and a few through `Grader.grade`.

Every case checks the outcome (a timeout, memory, crashed or refused verdict, or an error with a
sentence a learner can read), that nothing happened (no file created, changed or deleted; no
process left; the loopback listeners got nothing; no secret in the output) and that the next
evaluation works. The attacks reach the OS the way a real attacker would when Python-level guards
fail: the real `sys` from a class's globals (`object.__subclasses__()`), then `ctypes` (libc: syscall,
system, fork), `os` and the real builtins (open, __import__); `__subclasses__` walks and frames.

Nothing is ever sent to an address other than 127.0.0.1, and only to listeners this file opens.
When run as an unprivileged user (see `test_attack_suite_as_nobody`), the OS-layer cases run again.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sandbox_checks import settled_idle

from tutor.sandbox import Evaluator, JobOutcome, layers, worker

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the OS layers are Linux ones")

NAMES = ["np", "torch", "nn", "optim", "F"]
SECRET = "tutor-secret-" + uuid.uuid4().hex
TAG = uuid.uuid4().hex[:12]
REPO = Path(__file__).resolve().parent.parent

# The real `sys`, past the module views a program sees numpy and torch through (runtime.py): from the
# globals of a class `object.__subclasses__()` lists, as an attacker past the AST policy would.
SYS = "sysm = [k for k in ().__class__.__base__.__subclasses__() if k.__name__ == '_wrap_close'][0].__init__.__globals__['sys']\n"
PRE = SYS + (
    "ct = sysm.modules['ctypes']\n"
    "c = ct.CDLL(None, use_errno=True)\n"
    "bi = sysm.modules['builtins']\n"
    "os = sysm.modules['os']\n"
)


class _Evil:
    """A pickle that would create a file when loaded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@dataclass
class World:
    """What must stay untouched: sentinel files, places where nothing may appear, listeners, processes."""

    dirs: dict[str, Path]
    sentinels: dict[str, Path]
    news: dict[str, Path]
    tcp: socket.socket
    udp: socket.socket
    unix: socket.socket
    unix_path: str
    abstract: socket.socket
    abstract_name: str
    home_listing: set[str]
    tmp_listing: set[str]

    def snapshot(self) -> dict[str, tuple]:
        out: dict[str, tuple] = {}
        for key, p in self.sentinels.items():
            st = os.lstat(p)
            out[key] = (st.st_size, st.st_mtime_ns, st.st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
        for key, d in self.dirs.items():
            out["dir:" + key] = tuple(sorted(os.listdir(d)))
        return out

    def listeners_got_nothing(self) -> list[str]:
        got = []
        for name, s in (("tcp", self.tcp), ("unix", self.unix), ("abstract", self.abstract)):
            s.settimeout(0.0)
            try:
                conn, _ = s.accept()
                conn.close()
                got.append(name)
            except (BlockingIOError, socket.timeout, TimeoutError):
                pass
        self.udp.settimeout(0.0)
        try:
            self.udp.recvfrom(65536)
            got.append("udp")
        except (BlockingIOError, socket.timeout, TimeoutError):
            pass
        return got


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    os.environ["TUTOR_ATTACK_SECRET"] = SECRET  # planted in the tutor's environment before the worker starts
    base = tmp_path_factory.mktemp("attacks")
    home = Path(os.path.expanduser("~"))
    dirs = {"sentinel": base / "work", "tmp": Path("/tmp") / f"tutor-attack-{TAG}", "otherhome": base / "home" / "alice"}
    writable_home = os.access(home, os.W_OK)
    if writable_home:
        dirs["home"] = home / f".tutor-attack-{TAG}"
    for d in dirs.values():
        d.mkdir(parents=True)
    sentinels = {}
    for key, d in dirs.items():
        p = d / "keep.txt"
        p.write_text(f"sentinel {key} {SECRET}\n")
        sentinels[key] = p
    (dirs["otherhome"] / ".ssh").mkdir()
    (dirs["otherhome"] / ".ssh" / "id_rsa").write_text(SECRET)
    sentinels["ssh"] = dirs["otherhome"] / ".ssh" / "id_rsa"
    evil = dirs["sentinel"] / "evil.pkl"
    evil.write_bytes(pickle.dumps(_Evil(str(dirs["sentinel"] / "unpickled"))))
    sentinels["evil"] = evil
    news = {key: d / f"new-{TAG}" for key, d in dirs.items()}
    news["home-top"] = home / f"tutor-pwned-{TAG}"
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    unix_path = str(base / "u.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(unix_path)
    unix.listen(8)
    os.chmod(unix_path, 0o777)
    abstract_name = f"tutor-attack-{TAG}"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + abstract_name)
    abstract.listen(8)
    w = World(dirs, sentinels, news, tcp, udp, unix, unix_path, abstract, abstract_name,
              set(os.listdir(home)) if os.access(home, os.R_OK) else set(), set(os.listdir("/tmp")))
    yield w
    for s in (tcp, udp, unix, abstract):
        s.close()
    for d in dirs.values():
        subprocess.run(["rm", "-rf", str(d)], check=False)
    for p in news.values():
        if p.exists() or p.is_symlink():
            p.unlink()
    os.environ.pop("TUTOR_ATTACK_SECRET", None)


@pytest.fixture(scope="module")
def ev(world: World):
    with Evaluator(preload=("numpy", "torch")) as e:
        e.start(wait=True)
        missing = layers.missing_layers(e.layers())
        if missing:
            pytest.skip(f"this host lacks the layers {', '.join(missing)}: the attack suite needs them all "
                        "(tests/test_layers.py covers the degraded modes)")
        yield e


def _left_behind(worker_pid: int) -> set[int]:
    """Live processes forked from a run: children of our worker, or orphans running the worker's command
    line outside any session they lead (a run's grandchild; other workers lead their own sessions)."""
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == worker_pid:
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, ppid, session = fields[0], int(fields[1]), int(fields[3])
        if state in "ZX" or b"tutor.sandbox.worker import main" not in cmd:
            continue
        if ppid == worker_pid or (ppid == 1 and session != int(entry)):  # not another worker's fresh child
            out.add(int(entry))
    return out


def verdict(out: JobOutcome) -> str:
    if out.status in ("timeout", "memory", "crashed", "oversize"):
        return out.status
    if out.header and out.header.get("status") == "error":
        return "refused" if out.header["error"].get("sandbox") else "error"
    return "ok"


def sentence(out: JobOutcome) -> str:
    if out.header and out.header.get("status") == "error":
        e = out.header["error"]
        return f"{e.get('type')}: {e.get('message')}"
    return out.error or ""


@dataclass
class Case:
    name: str
    source: str
    allowed: tuple[str, ...]  # verdicts that count as the attack being stopped
    stdout_ok: tuple[str, ...] = ()  # for "ok" verdicts: a substring of stdout that proves the call failed
    timeout: float = 2.0
    memory_mb: int = 512


FAIL = ("refused", "error")  # an exception the learner sees; "refused" carries the sandbox sentence


def cases(w: World | None = None) -> list[Case]:
    """The attacks; paths are filled in from the world (placeholders when it is not built yet)."""
    sent = {k: str(p) for k, p in (w.sentinels.items() if w else {})}
    new = {k: str(p) for k, p in (w.news.items() if w else {})}
    port = w.tcp.getsockname()[1] if w else 1
    uport = w.udp.getsockname()[1] if w else 1
    S = lambda k: repr(sent.get(k, "/nonexistent"))  # noqa: E731
    N = lambda k: repr(new.get(k, "/nonexistent"))  # noqa: E731
    out = [
        # ---- time ----
        Case("infinite loop", "x = 0\nwhile True:\n    x += 1\n", ("timeout",), timeout=0.5),
        Case("sleep", SYS + "sysm.modules['time'].sleep(60)\n", ("timeout",), timeout=0.5),
        Case("deadlock", SYS + "th = sysm.modules['threading']\nl = th.Lock()\nl.acquire()\nl.acquire()\n", ("timeout",), timeout=0.5),
        Case("SIGTERM ignored", PRE + "sig = sysm.modules['signal']\nsig.signal(15, sig.SIG_IGN)\nwhile True:\n    pass\n", ("timeout",), timeout=0.5),
        Case("long C-level op", "a = torch.ones(3000, 3000)\nfor _ in range(1000):\n    a = a @ a\n", ("timeout",), timeout=0.5),
        # ---- memory ----
        Case("python list bomb", "a = [0] * 10**10\n", ("memory",)),
        Case("python bytes growth", "a = []\nwhile True:\n    a.append(b'x' * 10**8)\n", ("memory", "timeout"), timeout=5.0),
        Case("numpy bomb", "a = np.ones((50000, 50000))\n", ("memory",)),
        Case("numpy growth", "a = []\nwhile True:\n    a.append(np.ones(10**7))\n", ("memory", "timeout"), timeout=5.0),
        Case("torch bomb", "t = torch.ones(50000, 50000)\n", ("memory",)),
        Case("torch growth", "a = []\nwhile True:\n    a.append(torch.ones(10**7))\n", ("memory", "timeout"), timeout=5.0),
        Case("thread bomb", SYS + "th = sysm.modules['threading']\nts = []\nfor i in range(100000):\n"
             "    t = th.Thread(target=sysm.modules['time'].sleep, args=(60,))\n    t.start()\n    ts.append(t)\n",
             ("error", "memory", "timeout")),
        Case("deep recursion", "def f(n):\n    return f(n + 1)\nf(0)\n", ("error",)),
        Case("deep recursion, limit raised", SYS + "sysm.setrecursionlimit(10**8)\ndef f(n):\n    return f(n + 1) + 1\nf(0)\n",
             ("crashed", "memory", "timeout"), timeout=1.0),
        Case("segfault", PRE + "ct.string_at(0)\n", ("crashed",)),
        # ---- output and disk ----
        Case("stdout flood", "while True:\n    print('x' * 10000)\n", ("timeout",), timeout=0.5),
        Case("stderr flood, C level", PRE + "b = b'e' * 65536\nwhile True:\n    c.write(2, b, len(b))\n", ("timeout",), timeout=0.5),
        Case("disk fill /tmp", PRE + f"f = bi.open({N('tmp')}, 'wb')\nwhile True:\n    f.write(b'x' * 10**6)\n", FAIL),
        Case("disk fill ctypes", PRE + f"fd = c.open({N('tmp')}.encode(), 0o101, 0o644)\nprint('fd', fd)\nwhile fd >= 0:\n    c.write(fd, b'x' * 4096, 4096)\n",
             ("ok",), stdout_ok=("fd -1",)),
        # ---- processes ----
        Case("os.fork", PRE + "pid = os.fork()\nif pid == 0:\n    while True:\n        pass\n", FAIL),
        Case("ctypes fork", PRE + "pid = c.fork()\nprint('pid', pid)\nif pid == 0:\n    while True:\n        pass\n", ("ok",), stdout_ok=("pid -1",)),
        Case("raw clone syscall", PRE + "pid = c.syscall(56, 17, 0, 0, 0, 0)\nprint('pid', pid)\nif pid == 0:\n    while True:\n        pass\n",
             ("ok",), stdout_ok=("pid -1",)),
        Case("subprocess", PRE + f"sp = bi.__import__('subprocess')\nsp.run(['touch', {N('tmp')}])\n", FAIL),
        Case("os.system", PRE + f"print('rc', os.system('touch ' + {N('tmp')}))\n", ("ok",), stdout_ok=("rc -1", "rc 32512", "rc 256")),
        Case("multiprocessing", PRE + "p = torch.multiprocessing.Process(target=print)\np.start()\np.join()\n", FAIL),
        Case("ctypes system", PRE + f"print('rc', c.system(('touch ' + {N('tmp')}).encode()))\n", ("ok",), stdout_ok=("rc -1", "rc 32512")),
        Case("execv", PRE + f"os.execv('/bin/sh', ['sh', '-c', 'touch ' + {N('tmp')}])\n", FAIL),
        Case("posix_spawn", PRE + f"os.posix_spawn('/bin/touch', ['touch', {N('tmp')}], {{}})\n", FAIL),
        Case("torch.compile", "f = torch.compile(lambda x: x * 2)\nprint(f(torch.ones(3)))\n", FAIL + ("timeout",), timeout=10.0),
        # ---- reads ----
        Case("read /etc/shadow", PRE + "print(bi.open('/etc/shadow').read())\n", FAIL),
        Case("read /etc/shadow numpy", "print(np.fromfile('/etc/shadow', dtype=np.uint8).tobytes())\n", FAIL),
        Case("list /home", PRE + "print(os.listdir('/home'))\n", FAIL),
        Case("read other user's ssh key", PRE + f"print(bi.open({S('ssh')}).read())\n", FAIL),
        Case("read a sentinel in /tmp", PRE + f"print(bi.open({S('tmp')}).read())\n", FAIL),
        Case("list ~/.ssh", PRE + "print(os.listdir(os.path.expanduser('~/.ssh')))\n", FAIL),
        Case("read /proc/self/environ", PRE + "print(bi.open('/proc/self/environ', 'rb').read())\n", FAIL),
        Case("read /proc/ppid/environ", PRE + "print(bi.open(f'/proc/{os.getppid()}/environ', 'rb').read())\n", FAIL),
        Case("read the tutor's environ", PRE + "st = bi.open(f'/proc/{os.getppid()}/stat').read()\n"
             "pp = st.rsplit(')', 1)[1].split()[1]\nprint(bi.open(f'/proc/{pp}/environ', 'rb').read())\n", FAIL),
        Case("read /proc/ppid/mem", PRE + "f = bi.open(f'/proc/{os.getppid()}/mem', 'rb')\nprint(f.read(16))\n", FAIL),
        Case("os.environ", SYS + "print(dict(sysm.modules['os'].environ))\n", ("ok",), stdout_ok=("LANG",)),
        Case("/dev/shm write", PRE + f"bi.open('/dev/shm/tutor-{TAG}', 'w').write('x')\n", FAIL),
        Case("/dev/shm list", PRE + "print(os.listdir('/dev/shm'))\n", FAIL),
        Case("/dev/tty", PRE + "bi.open('/dev/tty', 'w').write('hello')\n", FAIL),
        Case("TIOCSTI", PRE + "print('rc', c.ioctl(0, 0x5412, ct.byref(ct.c_char(b'x'))))\n", ("ok",), stdout_ok=("rc -1",)),
        # ---- numpy and torch files ----
        Case("np.save", f"np.save({N('sentinel')}, np.ones(3))\n", FAIL),
        Case("np.savetxt", f"np.savetxt({N('tmp')}, np.ones(3))\n", FAIL),
        Case("np.load allow_pickle", f"print(np.load({S('evil')}, allow_pickle=True))\n", FAIL),
        Case("torch.save", f"torch.save(torch.ones(3), {N('tmp')})\n", FAIL),
        Case("torch.load", f"print(torch.load({S('evil')}, weights_only=False))\n", FAIL),
        # ---- network, loopback only ----
        Case("TCP", PRE + f"s = bi.__import__('socket')\ns.create_connection(('127.0.0.1', {port}), timeout=1).send(b'hi')\n", FAIL),
        Case("TCP ctypes", PRE + "fd = c.socket(2, 1, 0)\n"
             f"a = (ct.c_char * 16)(*bytes([2, 0, {port >> 8}, {port & 255}, 127, 0, 0, 1] + [0] * 8))\n"
             "print('fd', fd, 'connect', c.connect(fd, a, 16))\n", ("ok",), stdout_ok=("fd -1",)),
        Case("UDP", PRE + f"s = bi.__import__('socket')\nu = s.socket(s.AF_INET, s.SOCK_DGRAM)\nu.sendto(b'hi', ('127.0.0.1', {uport}))\n", FAIL),
        Case("HTTP", PRE + f"u = bi.__import__('urllib.request', fromlist=['x'])\nu.urlopen('http://127.0.0.1:{port}/', timeout=1)\n", FAIL),
        Case("abstract unix socket", PRE + f"s = bi.__import__('socket')\nu = s.socket(s.AF_UNIX)\nu.connect('\\0{w.abstract_name if w else 'x'}')\n", FAIL),
        Case("pathname unix socket", PRE + f"s = bi.__import__('socket')\nu = s.socket(s.AF_UNIX)\nu.connect({w.unix_path if w else '/x'!r})\n", FAIL),
        Case("raw socket syscall", PRE + "print('fd', c.syscall(41, 2, 3, 6))\n", ("ok",), stdout_ok=("fd -1",)),
        Case("socketpair", PRE + "s = bi.__import__('socket')\ns.socketpair()\n", FAIL),
        # ---- other processes ----
        Case("kill the parent", PRE + "os.kill(os.getppid(), 9)\n", FAIL),
        Case("kill the parent's group", PRE + "os.killpg(os.getpgid(os.getppid()), 9)\n", FAIL),
        Case("ptrace", PRE + "print('rc', c.ptrace(16, os.getppid(), 0, 0))\n", ("ok",), stdout_ok=("rc -1",)),
        Case("process_vm_readv", PRE + "buf = ct.create_string_buffer(8)\n"
             "iov = (ct.c_void_p * 2)(ct.addressof(buf), 8)\nprint('rc', c.process_vm_readv(os.getppid(), iov, 1, iov, 1, 0))\n",
             ("ok",), stdout_ok=("rc -1",)),
        Case("unshare", PRE + "print('rc', c.unshare(0x10000000))\n", ("ok",), stdout_ok=("rc -1",)),
        Case("mount", PRE + "print('rc', c.mount(b'none', b'/tmp', b'tmpfs', 0, None))\n", ("ok",), stdout_ok=("rc -1",)),
        Case("bpf", PRE + "print('rc', c.syscall(321, 0, 0, 0))\n", ("ok",), stdout_ok=("rc -1",)),
        Case("io_uring", PRE + "p = ct.create_string_buffer(120)\nprint('rc', c.syscall(425, 4, p))\n", ("ok",), stdout_ok=("rc -1",)),
        Case("keyctl", PRE + "print('rc', c.syscall(250, 0, 0, 0, 0, 0))\n", ("ok",), stdout_ok=("rc -1",)),
        # ---- Python escapes ----
        Case("__subclasses__ walk to os.system", f"w = [k for k in ().__class__.__base__.__subclasses__() if k.__name__ == '_wrap_close'][0]\n"
             f"g = w.__init__.__globals__\nprint('rc', g['system']('touch ' + {N('tmp')}))\n", ("ok",), stdout_ok=("rc -1", "rc 32512")),
        Case("__subclasses__ walk to Popen", f"p = [k for k in ().__class__.__base__.__subclasses__() if k.__name__ == 'Popen']\n"
             f"p = p[0] if p else sysm.modules['builtins'].__import__('subprocess').Popen\np(['touch', {N('tmp')}])\n", FAIL),
        Case("match class pattern", f"match ():\n    case object(__class__=k):\n        pass\n"
             f"w = [s for s in k.__base__.__subclasses__() if s.__name__ == '_wrap_close'][0]\n"
             f"w.__init__.__globals__['remove']({S('sentinel')})\n", FAIL),
        Case("format-string walk", "print('{0.__class__.__base__.__subclasses__}'.format(()))\n", ("ok",), stdout_ok=("built-in method",)),
        Case("generator frame", "g = (x for x in [1])\nf = g.gi_frame\nwhile f.f_back is not None:\n    f = f.f_back\n"
             f"b = f.f_globals['__builtins__']\nb = b if isinstance(b, dict) else b.__dict__\nb['open']({N('sentinel')}, 'w')\n", FAIL),
        Case("traceback frame", "try:\n    1 / 0\nexcept Exception as e:\n    f = e.__traceback__.tb_frame\n"
             "while f.f_back is not None:\n    f = f.f_back\nb = f.f_globals['__builtins__']\nb = b if isinstance(b, dict) else b.__dict__\n"
             "print(b['open']('/etc/shadow').read())\n", FAIL),
        Case("real builtins open for write", PRE + f"bi.open({N('sentinel')}, 'w').write('x')\n", FAIL),
        Case("breakpoint", PRE + "bi.breakpoint()\nprint('after')\n", ("ok", "error"), stdout_ok=("after",)),
        Case("help", PRE + "bi.help(np.ones)\n", ("ok",), stdout_ok=("ones",)),
        Case("input", PRE + "print(bi.input('name? '))\n", ("error",)),
        Case("exec and eval", PRE + f"bi.exec(\"open({N('sentinel')}, 'w')\")\n", FAIL),
    ]
    # ---- the file tree: the sandbox's working directory, /tmp, home, another user's home ----
    for place in ("sentinel", "tmp", "home", "otherhome"):
        if w is not None and place not in w.dirs:
            continue
        s, n = S(place), N(place)
        out += [
            Case(f"{place}: create", PRE + f"bi.open({n}, 'w').write('x')\n", FAIL),
            Case(f"{place}: create via ctypes", PRE + f"print('fd', c.creat({n}.encode(), 0o644))\n", ("ok",), stdout_ok=("fd -1",)),
            Case(f"{place}: append", PRE + f"bi.open({s}, 'a').write('x')\n", FAIL),
            Case(f"{place}: truncate", PRE + f"os.truncate({s}, 0)\n", FAIL),
            Case(f"{place}: truncate on open", PRE + f"bi.open({s}, 'w')\n", FAIL),
            Case(f"{place}: delete", PRE + f"os.remove({s})\n", FAIL),
            Case(f"{place}: delete via ctypes", PRE + f"print('rc', c.unlink({s}.encode()))\n", ("ok",), stdout_ok=("rc -1",)),
            Case(f"{place}: rename", PRE + f"os.rename({s}, {n})\n", FAIL),
            Case(f"{place}: symlink", PRE + f"os.symlink('/etc/passwd', {n})\n", FAIL),
            Case(f"{place}: hard link", PRE + f"os.link({s}, {n})\n", FAIL),
            Case(f"{place}: mkdir", PRE + f"os.mkdir({n})\n", FAIL),
            Case(f"{place}: chmod", PRE + f"os.chmod({s}, 0o777)\n", FAIL),
            Case(f"{place}: utime", PRE + f"os.utime({s}, (0, 0))\n", FAIL),
        ]
    out += [
        Case("working directory: create", PRE + f"bi.open('pwned-{TAG}', 'w').write('x')\n", FAIL),
        Case("home: create at the top", PRE + f"bi.open({N('home-top')}, 'w').write('x')\n", FAIL),
    ]
    return out


CASE_NAMES = [c.name for c in cases()]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_attack(ev: Evaluator, world: World, name: str) -> None:
    case = next(c for c in cases(world) if c.name == name)
    before = world.snapshot()
    worker_pid = ev.pid
    scratch = Path(ev._box[0].scratch)  # the runs' working directory
    (out,) = ev.run([{"id": name, "source": case.source, "names": NAMES, "timeout": case.timeout, "memory_mb": case.memory_mb}])
    got = verdict(out)
    said = sentence(out)
    # The outcome: the attack was stopped, with a sentence a learner can read.
    assert got in case.allowed, (got, said, out.stdout[:500])
    if got != "ok":
        assert said and "Traceback" not in said and len(said) < 1000, said
    if got == "ok" and case.stdout_ok:
        assert any(s in out.stdout for s in case.stdout_ok), out.stdout[:500]
    assert out.exit is None or out.exit == 0 or out.status == "crashed"
    assert len(out.stdout.encode()) <= worker.OUTPUT_CAP
    assert "\x1b" not in out.stdout
    # Nothing happened.
    assert SECRET not in out.stdout and SECRET not in said
    assert world.snapshot() == before
    for key, p in world.news.items():
        assert not p.exists() and not p.is_symlink(), (key, p)
    assert not (world.dirs["sentinel"] / "unpickled").exists()
    assert os.listdir(scratch) == []
    assert not Path(f"/dev/shm/tutor-{TAG}").exists()
    assert world.listeners_got_nothing() == []
    assert ev.pid == worker_pid, "the worker died"
    idle = settled_idle(ev)  # pre-forked children waiting for the next job, not left-overs of this one
    left = _left_behind(worker_pid) - idle
    assert not left, f"processes left behind: {left}"
    # And the next evaluation works.
    (nxt,) = ev.run([{"id": "next", "source": "print(np.ones(2).sum() + torch.ones(1).item())", "names": NAMES, "timeout": 5.0}])
    assert nxt.status == "ok" and nxt.stdout == "3.0\n", nxt


def test_a_secret_in_the_tutors_environment_stays_there() -> None:
    """A tutor process started with a secret in its environment: the runs cannot read it from /proc."""
    code = (
        "import json, os, sys\nfrom tutor.sandbox import Evaluator\n"
        "src = ('ct = [k for k in ().__class__.__base__.__subclasses__() if k.__name__ == \"_wrap_close\"][0].__init__.__globals__[\"sys\"].modules[\"ctypes\"]\\nc = ct.CDLL(None, use_errno=True)\\nbuf = ct.create_string_buffer(65536)\\n'\n"
        "       'for p in [b\"/proc/self/environ\", b\"/proc/%d/environ\" % c.getppid(), b\"/proc/TUTOR/environ\"]:\\n'\n"
        "       '    fd = c.open(p, 0)\\n    n = c.read(fd, buf, 65536) if fd >= 0 else -1\\n'\n"
        "       '    print(p, fd, buf.raw[:max(n, 0)])\\n').replace('TUTOR', str(os.getpid()))\n"
        "with Evaluator(preload=('numpy',)) as ev:\n"
        "    (o,) = ev.run([{'id': 1, 'source': src, 'names': ['np'], 'timeout': 5.0}])\n"
        "    print(json.dumps({'status': o.status, 'stdout': o.stdout, 'header': o.header, 'layers': ev.layers()}))\n"
        "    sys.stdout.flush()\n"
        "    print(SECRET_CHECK := open(f'/proc/{os.getpid()}/environ', 'rb').read().count(os.environ['TUTOR_ATTACK_SECRET'].encode()))\n"
    )
    env = dict(os.environ, TUTOR_ATTACK_SECRET=SECRET)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    first, second = res.stdout.strip().splitlines()[-2:]
    assert second == "1"  # the secret is there to be found: the check below can fail
    import json

    got = json.loads(first)
    assert got["status"] == "ok" and got["layers"] == list(layers.ALL_LAYERS)
    assert SECRET not in got["stdout"] and "TUTOR_ATTACK_SECRET" not in got["stdout"]
    assert got["stdout"].count(" -1 b''") == 3, got["stdout"]


def test_all_layers_were_on(ev: Evaluator) -> None:
    assert ev.layers() == list(layers.ALL_LAYERS), "the attack suite is meant to run with every layer on"
    print(f"attack suite: uid {os.geteuid()}, layers {', '.join(ev.layers())}")


# ---- recovery ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [9, 11])
def test_a_dead_evaluator_is_restarted_and_the_next_answer_is_graded_once(sig: int, world: World) -> None:
    with Evaluator(preload=("numpy",)) as e:
        e.start(wait=True)
        old = e.pid
        os.kill(old, sig)  # killed, or a segfault of the worker itself
        (out,) = e.run([{"id": "a", "source": "print('graded')", "names": ["np"], "timeout": 5.0}])
        assert out.status == "ok" and out.stdout == "graded\n"
        assert e.pid != old


# ---- through the grader: the verdict and sentence the learner sees ------------------------------


@pytest.fixture(scope="module")
def grader(ev: Evaluator):
    from tutor.grading.grader import Grader

    return Grader(ev)


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory):
    """The fixture lesson with a 1 s time limit, so the timeout case is quick."""
    from tutor.lesson import parse_lesson

    text = (REPO / "tests" / "fixtures" / "lessons" / "001-mini-numpy.md").read_text()
    assert "timeout = 5" in text
    path = tmp_path_factory.mktemp("lesson") / "001-mini-numpy.md"
    path.write_text(text.replace("timeout = 5", "timeout = 1"))
    return parse_lesson(path)


@pytest.mark.parametrize(
    "answer, diagnosis, words",
    [
        ("np.ctypeslib.ctypes.CDLL(None).system(b'id')", "forbidden", "not available"),
        ("np.savetxt('/tmp/tutor-pwned-" + TAG + "', X) or np.mean((y - (w * X + b)) ** 2)", "runtime_error", "sandbox does not allow"),
        ("np.fromfile('/etc/shadow', dtype=np.uint8).sum()", "runtime_error", ""),
        ("np.mean(np.ones((50000, 50000)))", "memory", "memory"),
        ("sum(range(10**12))", "timeout", "did not finish in time"),
    ],
    ids=["ctypes-system", "savetxt-to-tmp", "fromfile-shadow", "huge-array", "endless-sum"],  # stable under -n: no TAG
)
def test_attacks_through_the_grader(grader, mini, world: World, answer: str, diagnosis: str, words: str) -> None:
    before = world.snapshot()
    report = grader.grade(mini, {"loss": answer})
    b = report.blanks["loss"]
    assert b.verdict in ("error", "incorrect") and b.diagnosis == diagnosis, (b.verdict, b.diagnosis, b.message)
    assert words in b.message and "Traceback" not in b.message and SECRET not in b.message
    assert report.to_json()["sandbox"]["layers"] == list(layers.ALL_LAYERS)
    assert world.snapshot() == before
    assert not Path(f"/tmp/tutor-pwned-{TAG}").exists()


# ---- the same suite as an unprivileged user -----------------------------------------------------


@pytest.mark.slow
def test_attack_suite_as_nobody() -> None:
    """Root runs re-run this file as `nobody` (setpriv), so the layers are proven without privileges too."""
    if os.environ.get("TUTOR_ATTACKS_AS_NOBODY"):
        pytest.skip("already running as the unprivileged user")
    if os.geteuid() != 0:
        pytest.skip("not root: this run already is the unprivileged one")
    setpriv = "/usr/bin/setpriv"
    if not os.path.exists(setpriv):
        pytest.skip("setpriv is not installed, so the suite cannot be re-run as nobody here")
    # Twice: setpriv's own exec may still pass root's directories; the worker's exec, as nobody, must too.
    nested = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import numpy, torch, tutor'], check=True)"
    probe = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", sys.executable, "-c", nested],
                           capture_output=True, text=True, cwd=REPO)
    if probe.returncode != 0:
        pytest.skip("nobody cannot read the interpreter or the venv here (run .ci/run, which makes them readable): "
                    + probe.stderr.strip().splitlines()[-1][:200] if probe.stderr.strip() else "")
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="tutor-nobody-"))  # /tmp/pytest-of-root is closed to nobody
    os.chown(home, 65534, 65534)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TMPDIR": str(home), "LANG": "C.UTF-8",
           "TUTOR_ATTACKS_AS_NOBODY": "1"}
    res = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", sys.executable, "-m", "pytest", "-q", "-x", "-n", "0",
         "-p", "no:cacheprovider", "--basetemp", str(home / "pt"), "tests/test_attacks.py", "-k", "not nobody"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=600,
    )
    shutil.rmtree(home, ignore_errors=True)
    tail = (res.stdout + res.stderr)[-3000:]
    print(tail)
    assert res.returncode == 0, tail
    assert " passed" in tail and "failed" not in tail


# ---- beyond the OS layers: one module per class, collected here ----
# Threads (every one inside the layers) run as root and as nobody: what holds them is the OS layers,
# which differ without privileges. Grading integrity (frames, modules, computed names, dunder methods:
# no answer reaches the reference), a hostile result (the parent pays nothing), hostile files (one
# never stops a batch) and escape sequences (none reaches a terminal) are held by Python code in the
# runtime and in the parent, the same for any user: they run once, as whoever runs the suite.
from attacks_threads import *  # noqa: E402,F401,F403

if not os.environ.get("TUTOR_ATTACKS_AS_NOBODY"):
    from attacks_integrity import *  # noqa: E402,F401,F403
    from attacks_wire import *  # noqa: E402,F401,F403
    from attacks_files import *  # noqa: E402,F401,F403
    from attacks_terminal import *  # noqa: E402,F401,F403
