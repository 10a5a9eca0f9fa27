"""Exercise 10 (docs/labs/10-udp-loss-in-the-kernel.md): kernel loss on udp-chat, --reliable."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from tests.support.paths import REPO as REPO_ROOT
from tests.support.running_lab import PROJECT, RunningLab, run

pytestmark = pytest.mark.labs

MESSAGES = 40
CHAT = """
printf "/wait-for alice bob\\n/sleep 8\\n" > /tmp/bob
printf "/wait-for alice bob\\n" > /tmp/alice; seq 1 {n} | sed "s/^/message /" >> /tmp/alice
python3 -m socketlab.udp_chat.client --server udp-chat:9999 --nick bob --script /tmp/bob \\
    --linger 3 --join-timeout 20 --wait-timeout 60 {flags} > /tmp/bob.out 2>&1 &
sleep 1
python3 -m socketlab.udp_chat.client --server udp-chat:9999 --nick alice --script /tmp/alice \\
    --interval 0.05 --join-timeout 20 --wait-timeout 60 {flags} > /tmp/alice.out 2>&1
wait
echo "=== bob"; cat /tmp/bob.out; echo "=== alice"; cat /tmp/alice.out
"""


def impair(*args: str) -> str:
    env_args = ["env", f"COMPOSE_PROJECT_NAME={PROJECT}"]
    result = run([*env_args, str(REPO_ROOT / "scripts" / "impair.sh"), *args], timeout=120)
    assert result.exit_code == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def lossy(lab: RunningLab) -> Iterator[str]:
    """20 % loss on udp-chat's eth0 for the module, cleared afterwards whatever happens."""
    os.chdir(REPO_ROOT)
    said = impair("service", "udp-chat", "20%")
    try:
        yield said
    finally:
        impair("clear", "udp-chat")


def chat(lab: RunningLab, flags: str = "") -> tuple[dict[str, str], str]:
    out = lab.exec("browser", "sh", "-c", CHAT.format(n=MESSAGES, flags=flags), timeout=180).stdout
    bob = out.split("=== alice")[0]
    line = re.search(r"^summary sender=alice (.*)$", bob, re.M)
    assert line, out
    return dict(re.findall(r"(\w+)=(\S+)", line.group(1))), out


def test_kernel_loss_shows_in_the_chat_clients_loss_counters(lab: RunningLab, lossy: str) -> None:
    assert "loss 20% in and out (iptables statistic)" in lossy
    tally, out = chat(lab)
    assert int(tally["lost"]) > 0, out
    assert int(tally["received"]) < MESSAGES, out


def test_reliable_mode_recovers_every_message_through_kernel_loss(
    lab: RunningLab, lossy: str
) -> None:
    tally, out = chat(lab, "--reliable")
    assert (tally["received"], tally["lost"]) == (str(MESSAGES), "0"), out
