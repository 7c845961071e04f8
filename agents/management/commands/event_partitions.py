"""``manage.py event_partitions``: create the coming days' interaction-event partitions and drop
those past the retention period (what Celery beat runs hourly)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from agents.flywheel import partitions


class Command(BaseCommand):
    help = "Create interaction-event partitions ahead and drop those older than the retention period."

    def add_arguments(self, parser):
        parser.add_argument("--ahead", type=int, default=None, help="days ahead (STRATA_AGENTS_EVENT_PARTITIONS_AHEAD)")
        parser.add_argument(
            "--retention-days", type=int, default=None, help="days kept (STRATA_AGENTS_EVENT_RETENTION_DAYS)"
        )

    def handle(self, *args, ahead=None, retention_days=None, **options):
        try:
            report = partitions.maintain(ahead=ahead, retention=retention_days)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for name in report.created:
            self.stdout.write(f"created {name}")
        for name in report.dropped:
            self.stdout.write(f"dropped {name}")
        self.stdout.write(
            f"event partitions: {len(report.created)} created, {len(report.dropped)} dropped, "
            f"{report.kept} kept (retention {retention_days or partitions.retention_days()} days)"
        )
