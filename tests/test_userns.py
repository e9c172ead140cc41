"""Who a container runs as under an engine's user namespace (rootless Podman, rootless
Docker, userns-remap): the maps, the engines' own reports, the decision; no engine."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from medperf_action.adapters.docker import userns
from medperf_action.adapters.docker.hostfs import check_reachable
from medperf_action.adapters.docker.sandbox import Mount
from medperf_action.adapters.docker.userns import (
    SANDBOX_GID,
    SANDBOX_UID,
    EngineFacts,
    RunAs,
    facts_from_docker,
    facts_from_libpod,
    parse_probe,
    parse_proc_map,
    run_as_for,
    to_container,
    to_host,
)
from medperf_action.errors import DockerError, InvalidInput

#: The engine user 1001 with the subordinate ids 100000-165535: what useradd gives.
ROOTLESS_MAP = ((0, 1001, 1), (1, 100000, 65536))
ROOTLESS = EngineFacts("Podman 4.3.1", True, True, ROOTLESS_MAP, ROOTLESS_MAP, False, "v1")
ROOTFUL = EngineFacts("Docker 20.10", False, False)


def test_ids_map_both_ways_and_unmapped_ids_are_none() -> None:
    assert to_host(ROOTLESS_MAP, 0) == 1001
    assert to_host(ROOTLESS_MAP, 1) == 100000
    assert to_host(ROOTLESS_MAP, SANDBOX_UID) == 100000 + SANDBOX_UID - 1
    assert to_host(ROOTLESS_MAP, 65536) == 165535
    assert to_host(ROOTLESS_MAP, 65537) is None
    assert to_container(ROOTLESS_MAP, 1001) == 0
    assert to_container(ROOTLESS_MAP, 110000) == SANDBOX_UID
    assert to_container(ROOTLESS_MAP, 1000) is None  # another user: not in the namespace
    assert to_container(ROOTLESS_MAP, 0) is None  # the host's root never is


def test_proc_maps_and_the_probe_output_are_read() -> None:
    text = "         0       1001          1\n         1     100000      65536\n"
    assert parse_proc_map(text) == ROOTLESS_MAP
    probe = (
        "==> /proc/self/uid_map <==\n         0       1001          1\n"
        "         1     100000      65536\n\n==> /proc/self/gid_map <==\n"
        "         0       1002          1\n"
    )
    assert parse_probe(probe) == (ROOTLESS_MAP, ((0, 1002, 1),))
    with pytest.raises(ValueError, match="not a line"):
        parse_proc_map("0 1001\n")
    with pytest.raises(ValueError, match="no uid_map and gid_map"):
        parse_probe("exec: head: not found\n")


def _libpod(rootless: bool, cgroup: str, controllers: list[str]) -> dict:
    entries = [
        {"container_id": 0, "host_id": 1001, "size": 1},
        {"container_id": 1, "host_id": 100000, "size": 65536},
    ]
    maps = {"uidmap": entries, "gidmap": entries} if rootless else {}
    return {
        "host": {
            "security": {"rootless": rootless},
            "idMappings": maps,
            "cgroupVersion": cgroup,
            "cgroupControllers": controllers,
        },
        "version": {"Version": "4.3.1"},
    }


def test_podman_reports_its_maps_and_whether_it_can_enforce_limits() -> None:
    v1 = facts_from_libpod(_libpod(True, "v1", []))
    assert (v1.rootless, v1.remapped, v1.uid_map, v1.limits_enforced) == (
        True,
        True,
        ROOTLESS_MAP,
        False,
    )
    assert "cgroup v1" in v1.why_not and v1.name == "Podman 4.3.1"
    delegated = facts_from_libpod(_libpod(True, "v2", ["cpu", "memory", "pids"]))
    assert delegated.limits_enforced
    partial = facts_from_libpod(_libpod(True, "v2", ["cpu", "pids"]))
    assert not partial.limits_enforced and "delegated" in partial.why_not
    rootful = facts_from_libpod(_libpod(False, "v1", []))
    assert not rootful.remapped and rootful.limits_enforced


def test_docker_shows_rootless_and_userns_remap_in_its_security_options() -> None:
    plain = facts_from_docker({"SecurityOptions": ["name=seccomp,profile=builtin"]})
    assert not plain.remapped and plain.limits_enforced
    rootless = facts_from_docker(
        {
            "SecurityOptions": ["name=seccomp,profile=builtin", "name=rootless"],
            "CgroupDriver": "none",
            "MemoryLimit": False,
            "ServerVersion": "24.0.5",
        }
    )
    assert rootless.rootless and rootless.remapped and not rootless.uid_map
    assert not rootless.limits_enforced and rootless.name == "Docker 24.0.5"
    assert rootless.why_not == "rootless, without cgroups"
    remap = facts_from_docker({"SecurityOptions": ["name=userns"], "CgroupDriver": "systemd"})
    assert remap.remapped and not remap.rootless and remap.limits_enforced


def test_on_a_rootful_engine_nothing_changes() -> None:
    assert run_as_for(ROOTFUL, 0, 0, [0]) == RunAs.for_caller(0, 0, [0])
    caller = run_as_for(ROOTFUL, 1000, 1000, [1000, 27])
    assert caller == RunAs(1000, 1000, ("27",))
    assert caller.owner == (1000, 1000) and caller.engine_uid is None


def test_root_hands_outputs_to_the_host_user_the_sandbox_uid_is() -> None:
    run_as = run_as_for(ROOTLESS, 0, 0, [0])
    assert (run_as.uid, run_as.gid, run_as.hand_over) == (SANDBOX_UID, SANDBOX_GID, True)
    assert run_as.owner == (100000 + SANDBOX_UID - 1, 100000 + SANDBOX_GID - 1)
    assert run_as.engine_uid == 1001


def test_the_engines_own_user_runs_as_uid_0_of_its_namespace_which_is_itself() -> None:
    run_as = run_as_for(ROOTLESS, 1001, 1001, [1001, 27, 100005])
    assert (run_as.uid, run_as.gid, run_as.hand_over) == (0, 0, False)
    assert run_as.owner == (1001, 1001) and run_as.engine_uid == 1001
    assert run_as.group_add == ("6",)  # 27 is not in the namespace: dropped


def test_someone_elses_rootless_engine_is_refused() -> None:
    with pytest.raises(DockerError, match="maps no container user to your uid 1000"):
        run_as_for(ROOTLESS, 1000, 1000, [])


def test_an_engine_without_subordinate_ids_is_refused_for_root() -> None:
    bare = EngineFacts("Podman", True, True, ((0, 1001, 1),), ((0, 1001, 1),))
    with pytest.raises(DockerError, match="subordinate ids"):
        run_as_for(bare, 0, 0, [])


def test_the_limits_note_is_one_line_once_per_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/test-userns-note.sock")
    monkeypatch.setattr(userns, "_noted", set())
    note = userns.limits_note(ROOTLESS)
    assert note is not None and "\n" not in note and "does not enforce" in note
    assert "Podman 4.3.1" in note
    assert userns.limits_note(ROOTLESS) is None
    assert userns.limits_note(ROOTFUL) is None


def test_a_remapped_engine_without_maps_is_probed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/test-userns-probe.sock")
    monkeypatch.setattr(userns, "_facts", {})
    answers = {
        "/v4.0.0/libpod/info": (404, None),
        "/info": (200, {"SecurityOptions": ["name=rootless"], "CgroupDriver": "none"}),
    }
    monkeypatch.setattr(userns, "_get", lambda path: answers[path])
    probes = []
    output = "==> /proc/self/uid_map <==\n0 1001 1\n1 100000 65536\n==> /proc/self/gid_map <==\n"

    def probe() -> str:
        probes.append(1)
        return output + "0 1001 1\n1 100000 65536\n"

    facts = userns.engine_facts(probe)
    assert facts.uid_map == facts.gid_map == ROOTLESS_MAP and facts.rootless
    assert userns.engine_facts(probe) is facts and len(probes) == 1
    monkeypatch.setattr(userns, "_facts", {})
    with pytest.raises(DockerError, match="cannot learn how the container engine"):
        userns.engine_facts(lambda: "")


def test_a_rootless_engine_must_reach_the_mounts() -> None:
    # Not under pytest's tmp_path: /tmp/pytest-of-USER is itself 0700.
    with tempfile.TemporaryDirectory(dir="/var/tmp") as base:
        Path(base).chmod(0o755)
        hidden = Path(base) / "private"
        data = hidden / "data"
        data.mkdir(parents=True)
        hidden.chmod(0o700)
        mounts = [Mount(data, "/mlcube_io0", True)]
        with pytest.raises(InvalidInput, match=r"private is not searchable by it \(mode 0700\)"):
            check_reachable(mounts, 1001)
        hidden.chmod(0o711)
        check_reachable(mounts, 1001)
        # Its own folders need only their owner's x bit.
        hidden.chmod(0o700)
        check_reachable(mounts, hidden.stat().st_uid)
