"""Notifications' worker: consumes events, dispatches due deliveries over SMTP, publishes its outbox."""

from services.notifications.bootstrap import bootstrap
from services.notifications.settings import NotificationsSettings
from shared import worker

if __name__ == "__main__":
    worker.main(NotificationsSettings, bootstrap)
