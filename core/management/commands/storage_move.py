"""Move an app's store of one kind to another backend, online (core/storage/moves.py).

manage.py storage_move content vectors --to qdrant
manage.py storage_move content graph --to falkordb --dry-run
manage.py storage_move content vectors --to qdrant --verify-only
manage.py storage_move content vectors --rollback
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from core.storage import moves, routing

EXIT_PAUSED = 3


class Command(BaseCommand):
    help = (
        "Move APP's KIND store (documents, vectors, graph) to the backend ALIAS of STRATA_STORAGE, "
        "online: dual writes, a resumable backfill, verification, reads switched, then the old "
        "backend's writes stopped after a grace period. Run it again to resume."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("app")
        parser.add_argument("kind", choices=["documents", "vectors", "graph"])
        parser.add_argument("--to", dest="target", metavar="ALIAS", help="the backend to move to")
        parser.add_argument("--dry-run", action="store_true", help="show the plan and the counts; change nothing")
        parser.add_argument(
            "--verify-only", action="store_true", help="compare the backend serving reads with --to; change nothing"
        )
        parser.add_argument(
            "--rollback",
            action="store_true",
            help="route back to the old backend (during a move: at once; after one: move the data back)",
        )
        parser.add_argument("--grace", type=float, default=None, help="seconds of dual writes after reads switched")
        parser.add_argument("--batch", type=int, default=500, help="items copied per page of the backfill")
        parser.add_argument("--sample", type=int, default=50, help="items checksummed per unit when verifying")
        parser.add_argument(
            "--max-wait", type=float, default=600.0, help="seconds to wait for an unavailable backend before pausing"
        )

    def say(self, text: str) -> None:
        self.stderr.write(text)

    def handle(self, *args: Any, **options: Any) -> None:
        app, kind, target = options["app"], options["kind"], options["target"]
        try:
            if options["rollback"]:
                return self._rollback(app, kind, options)
            if not target:
                raise CommandError("name the backend to move to with --to ALIAS")
            if options["verify_only"]:
                return self._verify_only(app, kind, target, options)
            found = moves.plan(app, kind, target)
            self._show_plan(found)
            if options["dry_run"]:
                self.stdout.write("dry run: nothing was changed")
                return None
            self._run(app, kind, target, options)
        except moves.MovePaused as paused:
            self.stderr.write(str(paused))
            raise SystemExit(EXIT_PAUSED) from paused
        except moves.MoveError as error:
            raise CommandError(str(error)) from error
        return None

    def _show_plan(self, found: moves.Plan) -> None:
        route = found.route
        self.stdout.write(
            f"{found.app} {found.kind}: reads {route.read}, writes {', '.join(route.writes)}; "
            f"moving {found.source} -> {found.target}"
            + (
                f" (resuming move {found.active.pk} at step {found.active.get_step_display()!r})"
                if found.active
                else ""
            )
        )
        for unit, count in found.units:
            self.stdout.write(f"  {unit}: {count} items")
        self.stdout.write(
            "steps: 1. dual writes  2. backfill  3. verify  4. switch reads  5. stop writing "
            f"{found.source} after the grace period"
        )

    def _run(self, app: str, kind: str, target: str, options: dict[str, Any]) -> None:
        move = moves.start(app, kind, target)
        self.stdout.write(f"1. dual writes: {move.source} and {move.target} receive {app}'s {kind} writes")
        if move.step in (move.Step.DUAL_WRITES, move.Step.BACKFILL) or move.status == move.Status.FAILED:
            total = sum(count for _, count in moves.plan(app, kind, target).units)
            with tqdm(
                total=total, initial=min(move.copied, total), desc="2. backfill", unit="item", file=self.stderr
            ) as bar:
                reconciled = moves.backfill(
                    move, max_wait=options["max_wait"], page_size=options["batch"], say=tqdm.write, progress=bar.update
                )
            self.stdout.write(f"2. backfill: {move.copied} items copied; reconciled {json.dumps(reconciled)}")
        if move.step == move.Step.VERIFY:
            report = moves.verify(app, kind, move.source, move.target, sample=options["sample"], say=self.say)
            move.verification = report
            move.save(update_fields=["verification", "updated_at"])
            moves._audit(move, "verify", ok=report["ok"], units={u: r["ok"] for u, r in report["units"].items()})
            self._show_report(report)
            if not report["ok"]:
                move.status = move.Status.FAILED
                move.save(update_fields=["status", "updated_at"])
                raise moves.MoveError(
                    "3. verify: the backends differ (see above and the move in the admin); reads stay on "
                    f"{move.source}. Run the command again to backfill and verify again, or --rollback."
                )
            move.status = move.Status.RUNNING
            moves.switch_reads(move, grace=moves.grace_seconds(options["grace"]))
            self.stdout.write(f"4. reads switched to {move.target}")
        if move.step == move.Step.READS_SWITCHED:
            moves.finish(move, say=self.say)
            self.stdout.write(f"5. {move.source} no longer receives writes: {app} {kind} is served by {move.target}")

    def _show_report(self, report: dict[str, Any]) -> None:
        self.stdout.write(
            f"3. verify {report['source']} vs {report['target']}: {'OK' if report['ok'] else 'DIFFERENT'}"
        )
        for unit, result in report["units"].items():
            line = (
                f"  {unit}: counts {result['source_count']} / {result['target_count']} "
                f"({len(result['missing_in_target'])} missing, {len(result['extra_in_target'])} extra, "
                f"{result['in_flight']} in flight), "
                f"{result['sampled']} checksums, {len(result['checksum_mismatches'])} differ, "
                f"{result['probes']} probes, {len(result['probe_mismatches'])} differ"
            )
            if "mean_search_overlap" in result:
                line += f", mean top-10 overlap {result['mean_search_overlap']}"
            self.stdout.write(line + ("" if result["ok"] else "  <- DIFFERENT"))
            if not result["ok"]:
                for what in ("missing_in_target", "extra_in_target", "checksum_mismatches", "probe_mismatches"):
                    if result[what]:
                        self.stdout.write(f"    {what.replace('_', ' ')}: {', '.join(map(str, result[what][:10]))}")

    def _verify_only(self, app: str, kind: str, target: str, options: dict[str, Any]) -> None:
        source = routing.route(app, kind).read
        if source == target:
            active = moves.active_move(app, kind)
            source = active.source if active else source
        report = moves.verify(app, kind, source, target, sample=options["sample"], say=self.say)
        self._show_report(report)
        if not report["ok"]:
            raise CommandError("the backends differ")

    def _rollback(self, app: str, kind: str, options: dict[str, Any]) -> None:
        move = moves.rollback(app, kind)
        if move is not None:
            self.stdout.write(
                f"rolled back: {app} {kind} reads and writes {move.source} again ({move.target} keeps its copy)"
            )
            return
        done = moves.last_done(app, kind)
        if done is None or routing.route(app, kind).read != done.target:
            raise CommandError(f"no move of {app} {kind} to roll back")
        self.stdout.write(f"{app} {kind} was moved to {done.target}: moving it back to {done.source}")
        self._run(app, kind, done.source, options)
