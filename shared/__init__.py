"""Attune's common package: the event contract, messaging (outbox, inbox, Kafka), DB and web helpers."""
