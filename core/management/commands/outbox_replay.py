"""Requeue outbox events (dead letters by default) for delivery.

manage.py outbox_replay --all-dead
manage.py outbox_replay --event 3f0c... --event 9a41...
manage.py outbox_replay --type content.document_ingested --include-delivered --dry-run
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core import outbox
from core.models import OutboxEvent

#: At default verbosity list at most this many events (``-v 2`` lists all).
LIST_LIMIT = 50


class Command(BaseCommand):
    help = (
        "Put outbox events back to pending so the relay delivers them again. Only dead letters "
        "unless --include-delivered; handlers that already delivered an event do not run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--event", dest="events", action="extend", nargs="+", default=[], metavar="UUID", help="event id(s)"
        )
        parser.add_argument("--type", dest="event_type", metavar="TYPE", help="only events of this type")
        parser.add_argument("--all-dead", action="store_true", help="every dead letter")
        parser.add_argument(
            "--include-delivered",
            action="store_true",
            help="also requeue pending and delivered events (not only dead ones)",
        )
        parser.add_argument("--dry-run", action="store_true", help="show what would be requeued, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        event_ids = self._parse_ids(options["events"])
        event_type: str | None = options["event_type"] or None
        all_dead: bool = options["all_dead"]
        dead_only = not options["include_delivered"]
        if not (event_ids or event_type or all_dead):
            raise CommandError("select events with --event UUID, --type TYPE or --all-dead")
        if all_dead and not dead_only:
            raise CommandError("--all-dead and --include-delivered contradict each other")

        selection = outbox.replay_selection(event_ids=event_ids or None, event_type=event_type, dead_only=dead_only)
        events = list(selection.values("id", "event_type", "status", "attempts", "last_error"))
        self._explain_unselected(event_ids, event_type, dead_only, {e["id"] for e in events})
        if not events:
            raise CommandError(f"no event matches {self._describe(event_ids, event_type, dead_only)}")

        verb = "would requeue" if options["dry_run"] else "requeue"
        limit = None if options["verbosity"] >= 2 else LIST_LIMIT
        if options["verbosity"] >= 1:
            for event in events[:limit]:
                error = (event["last_error"] or "").strip().splitlines()
                self.stdout.write(
                    f"{verb} {event['id']} {event['event_type']} "
                    f"(was {event['status']}, {event['attempts']} attempts"
                    + (f"; last error: {error[-1][:200]}" if error else "")
                    + ")"
                )
            if limit is not None and len(events) > limit:
                self.stdout.write(f"... and {len(events) - limit} more (use -v 2 to list all)")

        if options["dry_run"]:
            self.stdout.write(f"Dry run: {len(events)} event(s) would be requeued; nothing changed.")
            return
        # The same selection again (not the listed ids, which may be many): one UPDATE.
        count = outbox.replay(event_ids=event_ids or None, event_type=event_type, dead_only=dead_only)
        self.stdout.write(self.style.SUCCESS(f"Requeued {count} event(s); the relay has been kicked."))
        if count != len(events):
            self.stderr.write(f"note: {len(events)} event(s) listed, {count} requeued (statuses changed meanwhile)")

    @staticmethod
    def _parse_ids(values: list[str]) -> list[uuid.UUID]:
        ids, bad = [], []
        for value in values:
            try:
                ids.append(uuid.UUID(value))
            except ValueError:
                bad.append(value)
        if bad:
            raise CommandError(f"not a valid event id (UUID): {', '.join(repr(v) for v in bad)}")
        return list(dict.fromkeys(ids))

    def _explain_unselected(
        self, event_ids: list[uuid.UUID], event_type: str | None, dead_only: bool, selected: set[uuid.UUID]
    ) -> None:
        """Say why an explicitly named event is not in the selection."""
        missing = [event_id for event_id in event_ids if event_id not in selected]
        if not missing:
            return
        rows = OutboxEvent.objects.filter(id__in=missing).values("id", "event_type", "status")
        found = {row["id"]: row for row in rows}
        for event_id in missing:
            row = found.get(event_id)
            if row is None:
                reason = "no such event"
            elif event_type and row["event_type"] != event_type:
                reason = f"its type is {row['event_type']}, not {event_type}"
            else:
                reason = f"it is {row['status']}, not dead (use --include-delivered)"
            self.stderr.write(f"skipped {event_id}: {reason}")

    @staticmethod
    def _describe(event_ids: list[uuid.UUID], event_type: str | None, dead_only: bool) -> str:
        parts = []
        if event_ids:
            parts.append(f"{len(event_ids)} given id(s)")
        if event_type:
            parts.append(f"type {event_type!r}")
        parts.append("status dead" if dead_only else "any status")
        return ", ".join(parts)
