"""The lab's own servers get full marks from the grader, as targets and as submissions.

threaded-web, multiprocess-web in prefork and in fork mode, and udp-chat: each is graded once
already running on a network (``--target``, as ``make grade TARGET=threaded-web:8080`` does in
a ``make up`` lab) and once as an image-based submission the grader builds and cages itself
(tests/grader_submissions/lab-*). A grader that fails a right program fails here.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from docker import DockerClient
from tests.support.containers import IMAGE_PREFIX, RUN_ID, RUN_LABEL, Images, Lab, unique_name
from tests.support.grading import Graded, grade_all, lab_submission, only_failing

pytestmark = pytest.mark.integration

MPW_IMAGE = f"{IMAGE_PREFIX}/grader-test-mpw:latest"


@pytest.fixture(scope="module")
def graded(
    images: Images,
    lab: Lab,
    lab_network: Network,
    docker_client: DockerClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Graded]]:
    """Every grading of this module, done at once: name -> what the grader said."""
    checker = images.tag("grader")
    where = tmp_path_factory.mktemp("submissions")
    web = lab_submission("lab-threaded-web", where, images.tag("threaded-web"))
    prefork = lab_submission("lab-multiprocess-web", where, images.tag("multiprocess-web"))
    chat = lab_submission("lab-udp-chat", where, images.tag("udp-chat"))
    fork = where / "lab-multiprocess-web-fork"
    shutil.copytree(prefork, fork)
    dockerfile = fork / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("ARG MODE=prefork", "ARG MODE=fork"))
    docker_client.images.build(path=str(prefork), tag=MPW_IMAGE, network_mode="none", rm=True)
    net = ["--network", lab_network.name, "--checker-image", checker]
    mpw = []
    for mode in ("prefork", "fork"):
        mpw.append(
            DockerContainer(
                MPW_IMAGE, env={"PORT": "8888", "ROOT": "/app/services/www", "SOCKETLAB_MODE": mode}
            )
            .with_network(lab_network)
            .with_network_aliases(f"mpw-{mode}")
            .with_name(unique_name(f"grader-mpw-{mode}"))
            .with_kwargs(labels={RUN_LABEL: RUN_ID})
        )
    # As compose would label it: the grader finds the network by the project and service labels,
    # the way `make grade TARGET=threaded-web:8080` finds a `make up` lab's.
    project = f"slgrade-test-{RUN_ID.rsplit(':', 1)[-1][:8]}"
    composed = (
        DockerContainer(images.tag("threaded-web"))
        .with_network(lab_network)
        .with_network_aliases("composed-web")
        .with_name(unique_name("grader-composed-web"))
        .with_kwargs(
            labels={
                RUN_LABEL: RUN_ID,
                "com.docker.compose.project": project,
                "com.docker.compose.service": "composed-web",
            }
        )
    )
    mpw.append(composed)
    udp_command = ["python3", "-m", "socketlab.udp_chat", "--host", "0.0.0.0", "--port", "9999",
                   "--idle-timeout", "3"]  # fmt: skip
    with (
        lab.service("threaded-web", lab_network, publish=()),
        lab.service("udp-chat", lab_network, publish=(), command=udp_command),
    ):
        for container in mpw:
            container.start()
        try:
            yield grade_all(
                [
                    ("threaded-web target", ["--kind", "http-static", "--target",
                                             "threaded-web:8080", *net]),
                    ("prefork target", ["--kind", "http-static", "--target", "mpw-prefork:8888",
                                        *net]),
                    ("fork target", ["--kind", "http-static", "--target", "mpw-fork:8888", *net]),
                    ("udp-chat target", ["--kind", "udp-chat", "--target", "udp-chat:9999",
                                         *net]),
                    ("compose lookup", ["--kind", "http-static", "--target", "composed-web:8080",
                                        "--project", project, "--checker-image", checker]),
                    ("threaded-web image", ["--kind", "http-static", "--submission",
                                            str(web),
                                            "--checker-image", checker]),
                    ("prefork image", ["--kind", "http-static", "--submission",
                                       str(prefork),
                                       "--checker-image", checker]),
                    ("fork image", ["--kind", "http-static", "--submission", str(fork),
                                    "--checker-image", checker]),
                    ("udp-chat image", ["--kind", "udp-chat", "--submission",
                                        str(chat),
                                        "--checker-image", checker]),
                ]
            )  # fmt: skip
        finally:
            for container in mpw:
                container.stop()


@pytest.mark.parametrize(
    "name",
    [
        "threaded-web target",
        "compose lookup",
        "prefork target",
        "fork target",
        "udp-chat target",
        "threaded-web image",
        "prefork image",
        "fork image",
        "udp-chat image",
    ],
)
def test_the_labs_own_server_gets_full_marks(graded: dict[str, Graded], name: str) -> None:
    result = graded[name]
    only_failing(result)
    assert result.report is not None
    assert result.report["score"] == result.report["max_score"], result.explain()


def test_a_target_report_names_the_target_and_network(
    graded: dict[str, Graded], lab_network: Network
) -> None:
    report = graded["threaded-web target"].report
    assert report is not None
    assert report["target"] == "threaded-web:8080"
    assert report["network"] == lab_network.name
    looked_up = graded["compose lookup"].report
    assert looked_up is not None
    assert looked_up["network"] == lab_network.name  # found from the compose labels alone


def test_a_submission_leaves_nothing_behind(
    graded: dict[str, Graded], docker_client: DockerClient
) -> None:
    runs = {m for g in graded.values() for m in re.findall(r"slgrade-([0-9a-f]{8})-", g.output)}
    assert len(runs) >= 4  # one per image-based submission, named in its progress lines
    for run in runs:
        prefix = f"slgrade-{run}-"
        assert docker_client.containers.list(all=True, filters={"name": prefix}) == []
        assert docker_client.networks.list(names=[f"{prefix}net"]) == []
        assert docker_client.images.list(name=f"socketlab/grader-submission:{run}") == []
