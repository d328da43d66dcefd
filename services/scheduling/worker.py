"""Scheduling's worker: publishes its outbox and records delivery failures for the front desk."""

from services.scheduling.bootstrap import bootstrap
from services.scheduling.settings import SchedulingSettings
from shared import worker

if __name__ == "__main__":
    worker.main(SchedulingSettings, bootstrap)
