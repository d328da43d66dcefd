"""Feedback's commands: ``flask --app services.feedback fit-curves``."""

from __future__ import annotations

import click

from services.feedback import curves, measures, trajectories
from shared.db import transaction
from shared.web import runtime_of

EXAMPLE_INTAKES = (10, 15, 20)


def _show(measure, fitted: trajectories.FittedCourse) -> None:
    click.echo(
        f"{measure.name}: {fitted.episodes} finished episodes; failure boundary at the "
        f"{fitted.percentile:g}th percentile of residuals"
    )
    header = "  n  episodes  intercept   slope  margin   rmse  " + "  ".join(
        f"intake {x}: fitted / published" for x in EXAMPLE_INTAKES
    )
    click.echo(header)
    for n, fit in sorted(fitted.sessions.items()):
        cells = []
        for x in EXAMPLE_INTAKES:
            mine = trajectories.fitted_expected(measure, fitted, x, n)
            published = trajectories.published_expected(measure, x, n)
            cells.append(f"{mine.expected:>10.1f} / {published.expected if published else '-':>9}")
        click.echo(
            f"{n:>3} {fit.episodes:>9} {fit.intercept:>10.2f} {fit.slope:>7.3f} {fit.margin:>7.2f} "
            f"{fit.rmse:>6.2f}  " + "  ".join(cells)
        )


def register(app) -> None:
    @app.cli.command("add-tablet")
    @click.option("--name", required=True, help='what staff call it, e.g. "Waiting room tablet" (never a client)')
    def add_tablet_cmd(name):
        """Register a practice tablet for questionnaires in the room; prints its link once."""
        from services.feedback import kiosk
        from shared.db import utcnow

        runtime = runtime_of(app)
        with transaction(runtime.sessions) as session:
            device, token = kiosk.register(session, name, "cli", utcnow())
        click.echo(f"{device.name}: open {runtime.settings.questionnaire_base_url}/kiosk/{token} on the tablet")

    @app.cli.command("fit-curves")
    @click.option(
        "--measure", "measure_ids", multiple=True, help="measure id (repeat; default: every measure but alliance ones)"
    )
    @click.option("--min-episodes", type=int, default=None, help="default: FEEDBACK_CURVE_MIN_EPISODES (30)")
    @click.option(
        "--percentile", type=click.FloatRange(50, 99.9), default=trajectories.DEFAULT_PERCENTILE, show_default=True
    )
    @click.option("--dry-run", is_flag=True, help="show the fit without storing it")
    def fit_curves_cmd(measure_ids, min_episodes, percentile, dry_run):
        """Fit each measure's expected course to the practice's finished episodes and store it as a new
        version (alerts from then on name it). Below the minimum the published default stays."""
        runtime = runtime_of(app)
        minimum = min_episodes or runtime.settings.curve_min_episodes
        ids = measure_ids or [m.id for m in measures.catalog().values() if m.alliance is None]
        for measure_id in ids:
            try:
                measure = measures.get(measure_id)
            except KeyError as exc:
                raise click.UsageError(f"no measure {measure_id}") from exc
            with transaction(runtime.sessions) as session:
                fitted, count = curves.fit(session, measure, min_episodes=minimum, percentile=percentile)
                if count < minimum or not fitted.sessions:
                    click.echo(
                        f"{measure.name}: {count} finished episodes, fewer than {minimum}: "
                        f"kept {trajectories.published_label(measure)}"
                    )
                    continue
                _show(measure, fitted)
                if dry_run:
                    click.echo("  (dry run: not stored)")
                    continue
                curves.store(session, fitted)
                click.echo(f"  stored as {measure.id} {fitted.label}")

    @app.cli.command("seed-history")
    @click.option("--questionnaires", type=int, required=True, help="completed, scored PHQ-9s to write")
    @click.option("--clinician", required=True, help="the clinician id whose caseload the benchmark opens")
    @click.option("--caseload", type=int, default=40, show_default=True, help="that clinician's clients")
    @click.option("--per-client", type=int, default=25, show_default=True)
    def seed_history_cmd(questionnaires, clinician, caseload, per_client):
        """Benchmarks only: a made-up history in bulk (clients nobody registered). Never on a practice's data."""
        from tqdm import tqdm

        from services.feedback.history_seed import seed_history

        runtime = runtime_of(app)
        with tqdm(total=questionnaires, unit="questionnaire", desc="seeding history") as bar:
            seed_history(runtime.sessions, questionnaires, clinician, caseload, per_client, progress=bar.update)
