"""Feedback's worker: consumes scheduling's events, publishes its outbox, expires unanswered questionnaires."""

from services.feedback.bootstrap import bootstrap
from services.feedback.settings import FeedbackSettings
from shared import worker

if __name__ == "__main__":
    worker.main(FeedbackSettings, bootstrap)
