"""Reliable messaging: transactional outbox, idempotent inbox, Kafka clients, consumer loop, dead letters."""
