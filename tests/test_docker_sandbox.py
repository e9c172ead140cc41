"""The docker adapter: the sandbox as data (no engine), then real containers on a real
Docker Engine (no mocks)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from conftest import BASE, OURS, REPO, remove_session_containers

from medperf_action.adapters.docker.client import engine as get_client
from medperf_action.adapters.docker.images import context_hash, ensure_image
from medperf_action.adapters.docker.sandbox import (
    LABEL,
    SANDBOX_UID,
    Mount,
    RunAs,
    SandboxSpec,
    container_kwargs,
    run_task,
)
from medperf_action.errors import DockerError, ImageBuildFailed, InvalidInput, TaskFailed

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def client(docker_client):
    return docker_client


@pytest.fixture(scope="module")
def base_id(client) -> str:
    return ensure_image(BASE, None, None).id


def run_container(
    image_id,
    args,
    mounts,
    *,
    cube,
    task,
    extra_labels=None,
    memory="1g",
    log_limit=64 << 20,
    **kwargs,
):
    spec = SandboxSpec(
        image_id,
        list(args),
        list(mounts),
        cube,
        task,
        labels=extra_labels or {},
        memory=memory,
        log_limit=log_limit,
    )
    return run_task(spec, **kwargs)


def _py(code: str) -> list[str]:
    return ["python3", "-c", textwrap.dedent(code)]


def _run(base_id: str, code: str, mounts: list[Mount] | None = None, **kwargs):
    kwargs.setdefault("cube", "testcube")
    kwargs.setdefault("task", "testtask")
    kwargs.setdefault("echo", None)
    return run_container(base_id, _py(code), mounts or [], **kwargs)


# ---------------------------------------------------------------- context_hash (no engine)


def test_context_hash_stable_and_sensitive(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "src").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY . /app\n")
    (ctx / "src" / "a.py").write_text("print('a')\n")
    h0 = context_hash(ctx, None)
    assert len(h0) == 64
    assert context_hash(ctx, None) == h0
    assert context_hash(ctx, ctx / "Dockerfile") == h0  # explicit default Dockerfile

    (ctx / "src" / "a.py").write_text("print('b')\n")
    h1 = context_hash(ctx, None)
    assert h1 != h0
    (ctx / "src" / "a.py").chmod(0o755)
    h2 = context_hash(ctx, None)
    assert h2 != h1
    (ctx / "src" / "new.txt").write_text("")
    h3 = context_hash(ctx, None)
    assert h3 != h2
    (ctx / "src" / "new.txt").rename(ctx / "src" / "renamed.txt")
    assert context_hash(ctx, None) != h3

    # .dockerignore'd files are not sent, so they do not count
    (ctx / ".dockerignore").write_text("*.log\n")
    h4 = context_hash(ctx, None)
    (ctx / "debug.log").write_text("noise")
    assert context_hash(ctx, None) == h4
    (ctx / "debug.log").write_text("more noise")
    assert context_hash(ctx, None) == h4

    # a Dockerfile outside the context counts too
    outside = tmp_path / "Dockerfile.other"
    outside.write_text("FROM python:3.11-slim\n")
    h5 = context_hash(ctx, outside)
    assert h5 != h4
    outside.write_text("FROM python:3.11-slim\nRUN true\n")
    assert context_hash(ctx, outside) != h5


def test_unreachable_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(DockerError, match=r"setup-docker\.sh"):
        get_client()


def test_the_sandbox_as_data(tmp_path: Path) -> None:
    """Every lock of the sandbox, as the keyword arguments the engine gets (no engine)."""
    spec = SandboxSpec(
        "sha256:abc",
        ["infer", "--data_path=/mlcube_io0"],
        [Mount(tmp_path, "/mlcube_io0", True), Mount(tmp_path / "o", "/mlcube_io1", False)],
        "cube",
        "infer",
        env={"HOME": "/home/x"},
        labels={"org.medperf-action.run": "r1"},
        shm_size="2g",
    )
    kwargs = container_kwargs(spec, RunAs(1000, 1000, ("27",)), "medperf-cube-infer-1", "s1")
    assert kwargs["network_mode"] == "none"
    assert kwargs["cap_drop"] == ["ALL"]
    assert kwargs["security_opt"] == ["no-new-privileges"]
    assert kwargs["user"] == "1000:1000" and kwargs["group_add"] == ["27"]
    assert kwargs["pids_limit"] == 512
    assert kwargs["read_only"] is True  # the root file system: /tmp is where it writes
    assert kwargs["mem_limit"] == kwargs["memswap_limit"] == "8g"  # no swap past the limit
    assert kwargs["tmpfs"]["/tmp"].startswith("rw,exec,nosuid,nodev,size=1g")
    assert kwargs["mounts"] == [
        ("/mlcube_io0", str(tmp_path), True),
        ("/mlcube_io1", str(tmp_path / "o"), False),
    ]
    assert kwargs["labels"][LABEL] == "1" and kwargs["labels"]["org.medperf-action.run"] == "r1"
    assert kwargs["labels"]["org.medperf-action.session"] == "s1"
    assert kwargs["environment"] == {"HOME": "/home/x", "PYTHONUNBUFFERED": "1"}
    assert kwargs["shm_size"] == "2g" and "device_requests" not in kwargs
    assert "entrypoint" not in kwargs and "privileged" not in kwargs
    # GPUs, as `docker run --gpus` asks the engine for them.
    for gpus, request in [
        ("all", {"driver": "", "count": -1, "capabilities": [["gpu"]]}),
        ("2", {"driver": "", "count": 2, "capabilities": [["gpu"]]}),
        ("device=0,3", {"driver": "", "device_ids": ["0", "3"], "capabilities": [["gpu"]]}),
    ]:
        with_gpus = dataclasses.replace(spec, gpus=gpus)
        assert container_kwargs(with_gpus, RunAs(1, 1), "n")["device_requests"] == [request]
    # A container_config entrypoint is one executable.
    python = dataclasses.replace(spec, entrypoint=["python3"])
    assert container_kwargs(python, RunAs(1, 1), "n")["entrypoint"] == ["python3"]
    # root never runs a container: it is handed to the sandbox uid
    root = RunAs.for_caller(0, 0)
    assert (root.uid, root.gid, root.hand_over) == (SANDBOX_UID, SANDBOX_UID, True)
    assert container_kwargs(spec, root, "n")["user"] == f"{SANDBOX_UID}:{SANDBOX_UID}"


# ---------------------------------------------------------------- real containers


def test_success_streams_log_and_runs_unprivileged(base_id: str, tmp_path: Path) -> None:
    seen: list[str] = []
    log_path = tmp_path / "logs" / "task.log"
    result = _run(
        base_id,
        """
        import os, sys
        print("uid", os.getuid(), "gid", os.getgid())
        print("to stderr", file=sys.stderr)
        with open("/proc/self/status") as f:
            caps = [l for l in f if l.startswith(("CapEff", "NoNewPrivs"))]
        print("".join(caps).replace("\\t", " ").strip())
        """,
        log_path=log_path,
        log_prefix="[c/t] ",
        echo=seen.append,
    )
    assert result.exit_code == 0
    assert result.duration_s > 0
    expected_uid = os.getuid() or 10001
    expected_gid = os.getgid() if os.getuid() else 10001
    assert f"[c/t] uid {expected_uid} gid {expected_gid}" in seen
    assert "[c/t] to stderr" in seen
    text = log_path.read_text()
    assert f"uid {expected_uid}" in text and "to stderr" in text and "[c/t]" not in text
    assert "CapEff: 0000000000000000" in text
    assert "NoNewPrivs: 1" in text


def test_nonzero_exit_raises_task_failed(base_id: str, client) -> None:
    with pytest.raises(TaskFailed) as info:
        _run(
            base_id,
            """
            import sys
            for i in range(50):
                print("line", i)
            print("something broke")  # stdout: its order against stderr is not kept
            sys.exit(3)
            """,
            cube="mycube",
            task="infer",
        )
    err = info.value
    assert (err.cube, err.task, err.task_exit_code, err.timed_out) == ("mycube", "infer", 3, False)
    assert err.exit_code == 3  # the process's: a cube failed
    assert err.log_tail[-1] == "something broke"
    assert "line 49" in err.log_tail and "line 0" not in err.log_tail
    msg = str(err)
    assert "mycube" in msg and "infer" in msg and "exit code 3" in msg
    assert "something broke" in msg
    assert not client.containers.list(all=True, filters=OURS)


def test_timeout_kills_and_removes(base_id: str, client) -> None:
    marker = uuid.uuid4().hex
    start = time.monotonic()
    with pytest.raises(TaskFailed) as info:
        _run(
            base_id,
            "import time\nprint('started')\ntime.sleep(60)\n",
            timeout_s=2,
            extra_labels={"test-marker": marker},
        )
    elapsed = time.monotonic() - start
    assert 2 <= elapsed < 15
    err = info.value
    assert err.timed_out and err.task_exit_code is None
    assert "time limit" in str(err) and "started" in str(err)
    assert not client.containers.list(all=True, filters={"label": f"test-marker={marker}"})


def test_no_network(base_id: str) -> None:
    # A listener on the host's loopback: a container with a network could not reach it either
    # (its loopback is its own), and with network none there is no other interface at all.
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        seen: list[str] = []
        _run(
            base_id,
            f"""
            import os, socket
            print("ifaces", sorted(os.listdir("/sys/class/net")))
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
                print("connect ok")
            except OSError as exc:
                print("connect failed", type(exc).__name__)
            """,
            echo=seen.append,
        )
    assert "ifaces ['lo']" in seen
    assert "connect failed ConnectionRefusedError" in seen


def test_read_only_inputs_and_output_ownership(base_id: str, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "data.csv").write_text("a,b\n1,2\n")
    params = tmp_path / "parameters.yaml"
    params.write_text("k: v\n")
    # writable by anyone on the host: only the read-only mount stands in the way
    for path in (inputs, inputs / "data.csv", params):
        path.chmod(0o777 if path.is_dir() else 0o666)
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("from an earlier run\n")
    seen: list[str] = []
    _run(
        base_id,
        """
        import os
        for target in ("/in/data.csv", "/in/new.txt", "/params.yaml"):
            try:
                with open(target, "a") as f:
                    f.write("tampered")
                print("wrote", target)
            except OSError as exc:
                print("refused", target, exc.errno)
        print("params", open("/params.yaml").read().strip())
        os.makedirs("/out/sub/deeper")
        with open("/out/sub/deeper/pred.txt", "w") as f:
            f.write("0.5\\n")
        with open("/out/stale.txt", "w") as f:
            f.write("overwritten\\n")
        os.symlink("/etc/passwd", "/out/link")
        """,
        [
            Mount(inputs, "/in", read_only=True),
            Mount(params, "/params.yaml", read_only=True),
            Mount(out, "/out", read_only=False),
        ],
        echo=seen.append,
    )
    for target in ("/in/data.csv", "/in/new.txt", "/params.yaml"):
        assert f"refused {target} 30" in seen  # EROFS
    assert "params k: v" in seen
    assert (inputs / "data.csv").read_text() == "a,b\n1,2\n"
    assert sorted(p.name for p in inputs.iterdir()) == ["data.csv"]
    assert params.read_text() == "k: v\n"
    assert (out / "sub" / "deeper" / "pred.txt").read_text() == "0.5\n"
    assert (out / "stale.txt").read_text() == "overwritten\n"
    me = (os.getuid(), os.getgid())
    for path in [out, *out.rglob("*")]:
        st = path.lstat()
        assert (st.st_uid, st.st_gid) == me, path
    # the symlink was chowned itself, never its target
    assert os.stat("/etc/passwd").st_uid == 0


def test_an_input_the_container_user_cannot_read_is_a_clear_error(
    base_id: str, tmp_path: Path
) -> None:
    """As root the container runs as the sandbox uid, which must be able to read the
    inputs (a clear error before the run); as any other user it runs as that user, who
    owns the files, so the same input is fine."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "x").write_text("x")
    (secret / "x").chmod(0o600)
    if os.getuid() == 0:
        with pytest.raises(InvalidInput, match=r"not readable by the sandbox user"):
            _run(base_id, "pass", [Mount(secret, "/in", read_only=True)])
    else:
        assert (
            _run(base_id, "open('/in/x').read()", [Mount(secret, "/in", read_only=True)]).exit_code
            == 0
        )


def test_ensure_image_builds_once(client, tmp_path: Path) -> None:
    ctx = tmp_path / "project"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nCOPY hello.txt /hello.txt\n")
    (ctx / "hello.txt").write_text("one\n")
    tag = f"medperf-action-test/build:{uuid.uuid4().hex[:12]}"
    try:
        first: list[str] = []
        id1 = ensure_image(tag, ctx, None, log=first.append).id
        assert id1.startswith("sha256:")
        assert any(line.startswith("building image") for line in first)

        second: list[str] = []
        id2 = ensure_image(tag, ctx, ctx / "Dockerfile", log=second.append).id
        assert id2 == id1
        assert not any(line.startswith("building image") for line in second)
        assert any("up to date" in line for line in second)

        (ctx / "hello.txt").write_text("two\n")
        assert ensure_image(tag, ctx, None, no_build=True).id == id1
        third: list[str] = []
        build_output: list[str] = []  # the build's own lines: what --quiet hides
        id3 = ensure_image(tag, ctx, None, log=third.append, echo=build_output.append).id
        assert id3 != id1
        assert any(line.startswith("building image") for line in third)
        assert any("COPY hello.txt" in line for line in build_output)
        assert not any("COPY hello.txt" in line for line in third)
        seen: list[str] = []
        run_container(id3, ["cat", "/hello.txt"], [], cube="built", task="check", echo=seen.append)
        assert seen == ["two"]
    finally:
        client.images.remove(tag, force=True)
        for image_id in {locals().get("id1"), locals().get("id3")} - {None}:
            with contextlib.suppress(Exception):
                client.images.remove(image_id, force=True)


def test_build_error_and_missing_image(client, tmp_path: Path) -> None:
    ctx = tmp_path / "broken"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo about to fail && exit 7\n")
    tag = f"medperf-action-test/broken:{uuid.uuid4().hex[:12]}"
    with pytest.raises(ImageBuildFailed, match=r"building image .* failed") as info:
        ensure_image(tag, ctx, None)
    assert "about to fail" in str(info.value)
    with pytest.raises(DockerError, match="not available locally"):
        ensure_image(tag, None, None, pull=False)


def test_sigint_removes_container(base_id: str, client, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import signal, sys
            signal.signal(signal.SIGINT, signal.default_int_handler)
            from medperf_action.adapters.docker.sandbox import SandboxSpec, run_task
            try:
                code = "import time; print('ready'); time.sleep(60)"
                spec = SandboxSpec(
                    {base_id!r}, ["python3", "-c", code], [], cube="sig", task="t",
                    labels={{"test-marker": {marker!r}}},
                )
                run_task(spec, echo=lambda line: print(line, flush=True))
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(130)
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert client.containers.list(filters={"label": f"test-marker={marker}"})
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted" in out
    assert not client.containers.list(all=True, filters={"label": f"test-marker={marker}"})


def test_the_suite_cleans_up_its_own_containers_only(client, base_id: str) -> None:
    """A user's own run on the same engine (a medperf-action container of no test session)
    survives the suite's clean-up; this session's are removed."""
    from medperf_action.adapters.docker.sandbox import CUBE_LABEL

    theirs = client.containers.create(
        base_id, ["true"], labels={LABEL: "1", CUBE_LABEL: "a-user-s-own-run"}
    )
    ours = client.containers.create(
        base_id,
        ["true"],
        labels={LABEL: "1", "org.medperf-action.session": OURS["label"][1].split("=", 1)[1]},
    )
    try:
        assert remove_session_containers(client) == [ours.name]
        assert client.containers.get(theirs.id).id == theirs.id
    finally:
        theirs.remove(force=True)


def test_a_task_killed_from_outside_or_out_of_memory_is_explained() -> None:
    killed = TaskFailed("cube", "infer", 137, False, ["working"], memory="2g")
    assert "exit code 137, SIGKILL" in str(killed)
    assert "Docker does not report it out of memory (OOMKilled is false" in str(killed)
    assert "its limit of 2g was not hit" in str(killed)
    assert "something outside the run killed its container" in str(killed)
    oom = TaskFailed("cube", "infer", 137, False, [], oom_killed=True, memory="96m")
    assert "ran out of memory (exit code 137): Docker reports it" in str(oom)
    assert "memory limit of 96m (OOMKilled); --memory raises the limit" in str(oom)
    assert "terminated (exit code 143, SIGTERM)" in str(TaskFailed("c", "t", 143, False, []))
    # On an engine that enforces no limit (rootless, cgroup v1) no limit is claimed.
    free = TaskFailed("cube", "infer", 137, False, [], memory="2g", limits_enforced=False)
    assert "enforces no memory limit here" in str(free)
    assert "2g" not in str(free) and "OOMKilled" not in str(free)


def test_a_task_killed_from_outside_says_docker_did_not_see_it_run_out_of_memory(
    client, base_id: str
) -> None:
    """`docker kill` of a running task: exit 137, and the message says it was not memory."""
    name = f"killed-{uuid.uuid4().hex[:8]}"

    def kill_when_started() -> None:
        for _ in range(200):
            found = client.containers.list(filters={"label": f"org.medperf-action.cube={name}"})
            if found:
                found[0].kill()
                return
            time.sleep(0.05)

    import threading

    killer = threading.Thread(target=kill_when_started)
    killer.start()
    with pytest.raises(TaskFailed) as info:
        _run(base_id, "import time\nprint('up', flush=True)\ntime.sleep(60)", cube=name)
    killer.join()
    assert info.value.task_exit_code == 137 and not info.value.oom_killed
    assert "Docker does not report it out of memory" in str(info.value)


# ---------------------------------------------------------------- what a task may cost


def test_a_task_past_its_memory_limit_is_killed_and_said_so(base_id: str) -> None:
    """A hostile (or careless) cube allocates far more than its limit: it is killed by the
    kernel's OOM killer inside its own container, and the message says so."""
    hog = "x = bytearray(400 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096]); print('alive')"
    with pytest.raises(TaskFailed) as info:
        _run(base_id, hog, memory="96m")
    assert info.value.oom_killed and info.value.task_exit_code == 137
    assert "Docker reports it killed at its memory limit of 96m (OOMKilled)" in str(info.value)


def test_the_root_file_system_is_read_only_and_tmp_is_not(base_id: str) -> None:
    seen: list[str] = []
    _run(
        base_id,
        """
        import os
        for target in ("/evil.txt", "/usr/lib/evil.txt", "/tmp/scratch.txt"):
            try:
                with open(target, "w") as f:
                    f.write("x")
                print("wrote", target)
            except OSError as exc:
                print("refused", target, exc.errno)
        print("home", os.environ["HOME"])
        """,
        echo=seen.append,
    )
    assert "refused /evil.txt 30" in seen and "refused /usr/lib/evil.txt 30" in seen  # EROFS
    assert "wrote /tmp/scratch.txt" in seen and "home /tmp" in seen


def test_a_flood_of_log_is_cut_and_said_so(base_id: str, tmp_path: Path) -> None:
    log = tmp_path / "task.log"
    seen: list[str] = []
    _run(
        base_id,
        "for i in range(100000):\n    print('line', i, 'x' * 80)\nprint('the end')\n",
        log_path=log,
        echo=seen.append,
        log_limit=1 << 20,
    )
    kept = log.read_text()
    assert len(kept) < (1 << 20) + 200
    assert kept.rstrip().endswith("the rest of this log is cut, past 1,048,576 bytes]")
    assert seen[-1].endswith("past 1,048,576 bytes]") and len(seen) < 20000
