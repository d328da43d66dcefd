"""The broker's production profile: a closed bus. TLS on every client connection, SCRAM-SHA-512 accounts (an
administrator and one per service), and ACLs so that each service writes only its own topics and reads only
the topics it consumes; everything else is refused (``allow.everyone.if.no.acl.found=false``).

    python -m deploy.kafka.secure start [--dir var/kafka-secure] [--port 9094]   # prints each service's settings

The KRaft controller listener stays plaintext on loopback (KRaft controllers do not take SCRAM); only brokers
reach it. Certificates are made here with ``cryptography`` (a CA and a broker certificate for 127.0.0.1);
a real deployment brings its own and the same properties.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from deploy import processes
from deploy.kafka import broker

SERVICES = ("scheduling", "feedback", "notifications")
MECHANISM = "SCRAM-SHA-512"


@dataclass
class SecureBroker:
    node: broker.Node
    ca_file: Path
    passwords: dict[str, str]  # "admin" and one per service

    def client_config(self, user: str) -> dict:
        """kafka-python settings for ``user`` (what a service's KAFKA_* settings turn into)."""
        return {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": user,
            "sasl_plain_password": self.passwords[user],
            "ssl_cafile": str(self.ca_file),
        }

    def environment(self, service: str) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.node.bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_USERNAME": service,
            "KAFKA_SASL_PASSWORD": self.passwords[service],
            "KAFKA_SSL_CAFILE": str(self.ca_file),
        }


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_tls(directory: Path) -> tuple[Path, Path]:
    """A CA and a broker certificate for 127.0.0.1/localhost: (ca.pem, broker.pem with key and chain)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_file, keystore = directory / "ca.pem", directory / "broker.pem"
    if ca_file.exists() and keystore.exists():
        return ca_file, keystore
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Attune bus CA"))
        .issuer_name(_name("Attune bus CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file.write_bytes(ca.public_bytes(pem))
    keystore.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(pem)
        + ca.public_bytes(pem)
    )
    keystore.chmod(0o600)
    return ca_file, keystore


def secure_listeners(node: broker.Node, ca_file: Path, keystore: Path, admin_password: str) -> list[str]:
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="admin" password="{admin_password}";'
    )
    return [
        f"listeners=SASL_SSL://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        f"advertised.listeners=SASL_SSL://127.0.0.1:{node.port}",
        "inter.broker.listener.name=SASL_SSL",
        "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        f"sasl.enabled.mechanisms={MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
        f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={ca_file}",
        "ssl.client.auth=none",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users=User:admin;User:ANONYMOUS",  # ANONYMOUS: the loopback controller listener only
        "allow.everyone.if.no.acl.found=false",
    ]


def _passwords(directory: Path) -> dict[str, str]:
    stored = directory / "credentials.json"
    if stored.exists():
        return json.loads(stored.read_text())
    passwords = {user: secrets.token_hex(16) for user in ("admin", *SERVICES)}
    stored.write_text(json.dumps(passwords))
    stored.chmod(0o600)
    return passwords


def start(directory: Path, port: int = 9094, controller_port: int | None = None) -> SecureBroker:
    """One broker with the closed-bus profile (its accounts made when its storage is formatted)."""
    broker.fetch_jars()
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    node = broker.Node(1, port, controller_port or port + 1, directory)
    passwords = _passwords(directory)
    ca_file, keystore = make_tls(directory / "tls")
    secure = SecureBroker(node, ca_file, passwords)
    if processes.alive(node.pid_file):
        broker.wait_until_ready(node.bootstrap, client_config=secure.client_config("admin"))
        return secure
    voters = f"1@127.0.0.1:{node.controller_port}"
    listeners = secure_listeners(node, ca_file, keystore, passwords["admin"])
    (directory / "server.properties").write_text(broker._properties(node, voters, 1, 1, listeners))
    scram = []
    for user, password in passwords.items():
        scram += ["--add-scram", f"{MECHANISM}=[name={user},password={password}]"]
    broker._format(node, broker.random_cluster_id(), scram)
    proc = broker._launch(node)
    try:
        broker.wait_until_ready(node.bootstrap, proc=proc, client_config=secure.client_config("admin"))
    except broker.BrokerError:
        broker.stop(directory)
        raise
    return secure


def service_acls(service: str, namespace: str) -> list[tuple[str, str, str, str]]:
    """(resource type, name, pattern, operation) a service may use: write its own topics, read what it
    consumes, its consumer group, and its dead-letter topic (written on a poison event, read to replay)."""
    from services.feedback.bootstrap import HANDLERS as FEEDBACK
    from services.notifications.bootstrap import HANDLERS as NOTIFICATIONS
    from services.scheduling.bootstrap import HANDLERS as SCHEDULING
    from shared.events import catalog

    handlers = {"scheduling": SCHEDULING, "feedback": FEEDBACK, "notifications": NOTIFICATIONS}[service]
    own = {f"{namespace}.{service}", f"{namespace}.dlq.{service}"}
    if any(spec.directory and spec.source == service for spec in catalog.ALL_SPECS):
        own.add(f"{namespace}.{service}.directory")
    consumed = {f"{namespace}.{spec.source}" for spec in handlers}
    consumed |= {f"{namespace}.{spec.source}.directory" for spec in handlers if spec.directory}
    consumed.add(f"{namespace}.dlq.{service}")
    acls = [("TOPIC", topic, "LITERAL", op) for topic in sorted(own) for op in ("WRITE", "DESCRIBE")]
    acls += [("TOPIC", topic, "LITERAL", op) for topic in sorted(consumed) for op in ("READ", "DESCRIBE")]
    acls.append(("GROUP", f"{namespace}.{service}", "PREFIXED", "READ"))
    return acls


def grant(secure: SecureBroker, namespace: str) -> int:
    """Create the topics (as the administrator) and every service's ACLs; returns how many ACLs exist."""
    from kafka import KafkaAdminClient
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourceType

    from shared.messaging import kafka_clients

    previous = dict(kafka_clients._security)
    kafka_clients.use_security(secure.client_config("admin"))
    try:
        from shared.events.catalog import ensure_all_topics

        ensure_all_topics(secure.node.bootstrap, partitions=3)
    finally:
        kafka_clients.use_security(previous)
    acls = [
        ACL(
            principal=f"User:{service}",
            host="*",
            operation=ACLOperation[op],
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(ResourceType[kind], name, ACLResourcePatternType[pattern]),
        )
        for service in SERVICES
        for kind, name, pattern, op in service_acls(service, namespace)
    ]
    admin = KafkaAdminClient(bootstrap_servers=secure.node.bootstrap, **secure.client_config("admin"))
    try:
        result = admin.create_acls(acls)
        if result.get("failed"):
            raise broker.BrokerError(f"ACLs refused: {result['failed'][:3]}")
    finally:
        admin.close()
    return len(acls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.kafka.secure", description=__doc__)
    parser.add_argument("command", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, default=Path("var/kafka-secure"))
    parser.add_argument("--port", type=int, default=9094)
    parser.add_argument("--namespace", default="attune")
    args = parser.parse_args(argv)
    if args.command == "stop":
        broker.stop(args.dir)
        return 0
    secure = start(args.dir, args.port)
    count = grant(secure, args.namespace)
    print(f"closed bus at {secure.node.bootstrap}: TLS + {MECHANISM}, {count} ACLs")
    for service in SERVICES:
        print(f"\n# {service}")
        for key, value in secure.environment(service).items():
            print(f"export {key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
