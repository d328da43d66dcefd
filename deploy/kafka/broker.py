"""Run a real Apache Kafka broker (KRaft) from the jars Maven fetched: no Docker, no tarball.

    python -m deploy.kafka.broker fetch                  # mvn copies the broker's classpath to deploy/kafka/lib
    python -m deploy.kafka.broker start [--dir var/kafka] [--port 9092]
    python -m deploy.kafka.broker stop  [--dir var/kafka]
    python -m deploy.kafka.broker cluster-start [--dir var/kafka-cluster]   # three brokers, RF 3, min ISR 2
    python -m deploy.kafka.broker cluster-stop  [--dir var/kafka-cluster]

The test suite and the dev stack call the same functions.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from deploy import processes

HERE = Path(__file__).resolve().parent
LIB = Path(os.environ.get("ATTUNE_KAFKA_LIB", HERE / "lib"))
LOG4J = HERE / "log4j2.properties"
KAFKA_JAR = "kafka_2.13-"


class BrokerError(RuntimeError):
    pass


def jars_present() -> bool:
    return LIB.is_dir() and any(p.name.startswith(KAFKA_JAR) for p in LIB.iterdir())


def fetch_jars(quiet: bool = True) -> None:
    """Copy the broker's runtime classpath from Maven Central (cached in ~/.m2) into ``lib/``."""
    if jars_present():
        return
    if shutil.which("mvn") is None:
        raise BrokerError("Maven (mvn) is needed to fetch the Kafka broker jars")
    cmd = ["mvn", "-B", "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={LIB}"]
    if quiet:
        cmd.insert(1, "-q")
    subprocess.run(cmd, cwd=HERE, check=True)
    if not jars_present():
        raise BrokerError(f"Maven ran but {LIB} has no {KAFKA_JAR}*.jar")


def random_cluster_id() -> str:
    """The same format as ``kafka.tools.StorageTool random-uuid`` (base64url of 16 random bytes), and like
    Kafka's own never starting with "-", which the storage tool would read as an option (1 start in 64)."""
    while True:
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not found.startswith("-"):
            return found


@dataclass
class Node:
    node_id: int
    port: int
    controller_port: int
    directory: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.directory / "kafka.pid"


def plaintext_listeners(node: Node) -> list[str]:
    return [
        f"listeners=PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{node.port}",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    ]


def _properties(node: Node, voters: str, replication: int, min_isr: int, listeners: list[str] | None = None) -> str:
    """``listeners``: the listener and security lines (plaintext on loopback unless a profile gives its own)."""
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={voters}",
            "controller.listener.names=CONTROLLER",
            *(listeners or plaintext_listeners(node)),
            f"log.dirs={node.directory / 'data'}",
            "auto.create.topics.enable=false",
            f"offsets.topic.replication.factor={replication}",
            f"transaction.state.log.replication.factor={replication}",
            f"transaction.state.log.min.isr={min_isr}",
            f"share.coordinator.state.topic.replication.factor={replication}",
            f"share.coordinator.state.topic.min.isr={min_isr}",
            f"default.replication.factor={replication}",
            f"min.insync.replicas={min_isr}",
            "offsets.topic.num.partitions=3",
            "group.initial.rebalance.delay.ms=0",
            "num.partitions=3",
            "log.retention.hours=168",
            "",
        ]
    )


def _java(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["java", "-cp", f"{LIB}/*", *args], capture_output=True, text=True, **kw)


def _format(node: Node, cluster_id: str, extra: list[str] | None = None) -> Path:
    node.directory.mkdir(parents=True, exist_ok=True)
    props = node.directory / "server.properties"
    if (node.directory / "data" / "meta.properties").exists():
        return props
    result = _java(["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), *(extra or [])])
    if result.returncode != 0:
        raise BrokerError(f"StorageTool format failed: {result.stdout}{result.stderr}")
    return props


def _launch(node: Node) -> subprocess.Popen:
    log = open(node.directory / "kafka.log", "ab")  # noqa: SIM115 - handed to the child process
    heap = os.environ.get("ATTUNE_KAFKA_HEAP", "-Xms256m -Xmx512m").split()
    proc = subprocess.Popen(
        [
            "java",
            *heap,
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={LOG4J}",
            f"-Dkafka.logs.dir={node.directory}",
            "-cp",
            f"{LIB}/*",
            "kafka.Kafka",
            str(node.directory / "server.properties"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    node.pid_file.write_text(str(proc.pid))
    return proc


def wait_until_ready(
    bootstrap: str, expected_brokers: int = 1, timeout: float = 90.0, proc=None, client_config: dict | None = None
) -> None:
    """Wait until the admin client sees all brokers (a listening port is not yet a working broker)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BrokerError(f"the broker exited with code {proc.returncode}")
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap, request_timeout_ms=5000, client_id="attune-probe", **(client_config or {})
            )
            try:
                cluster = admin.describe_cluster()
                if len(cluster.get("brokers", [])) >= expected_brokers and cluster.get("controller_id", -1) != -1:
                    return
            finally:
                admin.close()
        except (KafkaError, OSError, ValueError) as exc:
            last = exc
        time.sleep(0.5)
    raise BrokerError(f"Kafka at {bootstrap} not ready after {timeout:.0f}s: {last!r}")


def start_single(directory: Path, port: int = 9092, controller_port: int | None = None) -> Node:
    fetch_jars()
    node = Node(1, port, controller_port or port + 1, Path(directory).resolve())
    if _alive(node):
        wait_until_ready(node.bootstrap)
        return node
    node.directory.mkdir(parents=True, exist_ok=True)
    voters = f"1@127.0.0.1:{node.controller_port}"
    (node.directory / "server.properties").write_text(_properties(node, voters, 1, 1))
    _format(node, random_cluster_id())
    proc = _launch(node)
    try:
        wait_until_ready(node.bootstrap, 1, proc=proc)
    except BrokerError:
        stop(node.directory)
        raise
    return node


def start_cluster(directory: Path, base_port: int = 19092) -> list[Node]:
    """Three combined broker+controller nodes on loopback, replication factor 3, min.insync.replicas 2."""
    fetch_jars()
    directory = Path(directory).resolve()
    nodes = [Node(i, base_port + 2 * (i - 1), base_port + 2 * (i - 1) + 1, directory / f"node{i}") for i in (1, 2, 3)]
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
    cluster_id_file = directory / "cluster.id"
    directory.mkdir(parents=True, exist_ok=True)
    if not cluster_id_file.exists():
        cluster_id_file.write_text(random_cluster_id())
    cluster_id = cluster_id_file.read_text().strip()
    procs = []
    for node in nodes:
        if _alive(node):
            continue
        node.directory.mkdir(parents=True, exist_ok=True)
        (node.directory / "server.properties").write_text(_properties(node, voters, 3, 2))
        _format(node, cluster_id)
        procs.append(_launch(node))
    try:
        wait_until_ready(",".join(n.bootstrap for n in nodes), expected_brokers=3, timeout=120)
    except BrokerError:
        stop(directory)  # never leave half a cluster running
        raise
    return nodes


def _alive(node: Node) -> bool:
    return processes.alive(node.pid_file)


def stop(directory: Path, timeout: float = 30.0) -> None:
    """Stop every broker whose pid file lies under ``directory`` (SIGTERM, then SIGKILL)."""
    for pid_file in Path(directory).resolve().rglob("kafka.pid"):
        processes.stop(pid_file, timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.kafka.broker", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["fetch", "start", "stop", "cluster-start", "cluster-stop"])
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    if args.command == "fetch":
        fetch_jars(quiet=False)
        print(f"Kafka jars in {LIB}")
    elif args.command == "start":
        node = start_single(args.dir or Path("var/kafka"), args.port or 9092)
        print(f"Kafka ready at {node.bootstrap} (pid {node.pid_file.read_text()})")
    elif args.command == "cluster-start":
        nodes = start_cluster(args.dir or Path("var/kafka-cluster"), args.port or 19092)
        print("Kafka cluster ready at " + ",".join(n.bootstrap for n in nodes))
    elif args.command == "stop":
        stop(args.dir or Path("var/kafka"))
    else:
        stop(args.dir or Path("var/kafka-cluster"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
