"""What a service process holds: its config, database engine, session factory and outbox waker."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.config import ServiceConfig
from shared.db import make_engine, make_session_factory
from shared.messaging.outbox import Waker, install_wake_hook


@dataclass
class Runtime:
    config: ServiceConfig
    engine: Engine
    sessions: sessionmaker[Session]
    waker: Waker

    @classmethod
    def build(cls, config: ServiceConfig) -> Runtime:
        engine = make_engine(config.database_url)
        sessions = make_session_factory(engine)
        waker = Waker(config.wake_port)
        install_wake_hook(sessions, waker)
        return cls(config, engine, sessions, waker)
