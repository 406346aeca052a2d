"""The ``paykit`` console script: migrate, seed, demo, check, reconcile, analytics, ….

The CLI is a host application: unlike the services, it commits. Every error it
expects (a malformed or unreachable database URL, bad input) becomes one line
on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from paykit.db import DEFAULT_DATABASE_URL, create_engine
from paykit.errors import ConfigurationError, PaykitError, ValidationError
from paykit.migrator import migrate

__all__ = ["main"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INCONSISTENT = 3
"""``paykit check`` found broken invariants (1 stays "could not run at all")."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints a usage block; one line is easier to read in a log.
        self.exit(EXIT_USAGE, f"paykit: error: {message} (see 'paykit --help')\n")


def _database_url(args: argparse.Namespace) -> str:
    url: str = args.database_url or os.environ.get("PAYKIT_DATABASE_URL") or DEFAULT_DATABASE_URL
    return url


def _schema(args: argparse.Namespace) -> str | None:
    """``--schema`` or ``$PAYKIT_DB_SCHEMA``: where paykit's tables live (docs/hosting.md)."""
    schema: str | None = getattr(args, "schema", None) or os.environ.get("PAYKIT_DB_SCHEMA")
    return schema or None


def _engine(args: argparse.Namespace, *, migrated: bool = True) -> Engine:
    """The database's engine, reachable, and (``migrated``) at paykit's newest schema.

    A command that reads or writes paykit's tables on a database that was never
    migrated, or is behind this version, says so and how to fix it, rather than
    failing on the first missing table or column.
    """
    from paykit.migrator import current_revision, head_revision

    engine = create_engine(_database_url(args), schema=_schema(args))
    where = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            revision = current_revision(conn) if migrated else None
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise ConfigurationError(f"cannot connect to {where}: {reason}") from exc
    if migrated and revision != (head := head_revision()):
        engine.dispose()
        state = "was never migrated" if revision is None else f"is at revision {revision}"
        raise ConfigurationError(
            f"{where} {state}, this paykit needs {head}: run 'paykit migrate' first",
            code="schema_not_migrated",
            details={"revision": revision, "head": head},
        )
    return engine


@contextmanager
def _database(args: argparse.Namespace, *, migrated: bool = True) -> Iterator[Engine]:
    """:func:`_engine` for the length of a command, disposed of however the command ends."""
    engine = _engine(args, migrated=migrated)
    try:
        yield engine
    finally:
        engine.dispose()


def _cmd_migrate(args: argparse.Namespace, out: TextIO) -> int:
    with _database(args, migrated=False) as engine:
        migrate(engine)
        from paykit.migrator import current_revision

        schema = _schema(args)
        where = f" (in schema {schema})" if schema else ""
        print(f"paykit schema at revision {current_revision(engine)}{where}", file=out)
    return 0


def _admin_password() -> str | None:
    """``PAYKIT_ADMIN_PASSWORD``, checked against the password policy before any work."""
    from paykit.security.passwords import check_password_policy

    password = os.environ.get("PAYKIT_ADMIN_PASSWORD") or None
    if password is not None:
        try:
            check_password_policy(password)
        except ValidationError as exc:
            raise ValidationError(
                f"PAYKIT_ADMIN_PASSWORD is refused: {exc.message}", code=exc.code
            ) from None
    return password


def _seed(engine: Engine, out: TextIO, password: str | None) -> None:
    from paykit.services.seed import seed

    with Session(engine) as session, session.begin():
        result = seed(session, admin_password=password)
        if result.created:
            print("created: " + ", ".join(result.created), file=out)
        else:
            print("seed data already present; nothing created", file=out)
        if result.admin_password is not None:
            print(
                f"admin password for {result.admin.email} (shown once, store it now): "
                f"{result.admin_password}",
                file=out,
            )


def _cmd_seed(args: argparse.Namespace, out: TextIO) -> int:
    password = _admin_password()
    with _database(args, migrated=False) as engine:
        migrate(engine)
        _seed(engine, out, password)
    return 0


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from paykit.demo import checkout_story, print_database

    password = _admin_password()
    with _database(args, migrated=False) as engine:
        migrate(engine)
        _seed(engine, out, password)
        with Session(engine) as session:
            print_database(session, out)
        print("\nThe checkout story (FakeGateway, no real money):", file=out)
        with Session(engine) as session:
            session.begin()
            try:
                checkout_story(session, out)
            finally:
                # Shown, not kept: the demo database stays as seeded, however often it runs.
                session.rollback()
        print("\n(The story ran in a transaction that was rolled back.)", file=out)
    return 0


def _gateway() -> Any:
    """The production gateway for commands that talk to it: Stripe, from the environment."""
    key = os.environ.get("PAYKIT_STRIPE_API_KEY") or os.environ.get("STRIPE_API_KEY")
    if not key:
        raise ConfigurationError(
            "set PAYKIT_STRIPE_API_KEY (or STRIPE_API_KEY) to the Stripe secret key this "
            "command talks to"
        )
    from paykit.gateways.stripe import StripeGateway

    return StripeGateway(api_key=key, api_base=os.environ.get("PAYKIT_STRIPE_API_BASE"))


def _cmd_reconcile(args: argparse.Namespace, out: TextIO) -> int:
    from datetime import timedelta

    from paykit.services.reconcile import reconcile

    gateway = _gateway()
    with _database(args) as engine, Session(engine) as session, session.begin():
        report = reconcile(
            session,
            gateway=gateway,
            older_than=timedelta(minutes=args.older_than_minutes),
            since=timedelta(days=args.since_days),
            dry_run=args.dry_run,
        )
    print(report, file=out)
    return EXIT_ERROR if report.errors else 0


def _cmd_release_expired(args: argparse.Namespace, out: TextIO) -> int:
    from datetime import timedelta

    from paykit.services.reconcile import release_expired_orders

    gateway = _gateway()
    with _database(args) as engine, Session(engine) as session, session.begin():
        released = release_expired_orders(
            session, gateway=gateway, hold=timedelta(minutes=args.hold_minutes)
        )
        lines = [f"{order.order_number}: {order.status.value}" for order in released]
    print("\n".join(lines) if lines else "no expired orders", file=out)
    return 0


def _cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    import json

    from paykit.checks import check

    with _database(args) as engine, engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # One snapshot for every query, so concurrent writers cannot make
            # a false finding; read only, so the check can never write.
            conn = conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        with Session(bind=conn) as session:
            report = check(session, invariants=args.only)
        conn.rollback()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2), file=out)
    else:
        print(report.format(), file=out)
    return 0 if report.ok else EXIT_INCONSISTENT


def _open_archive(path: str, engine: Engine) -> TextIO:
    """The archive file, opened for appending, or a ConfigurationError naming the path."""
    try:
        return open(path, "a", encoding="utf-8")  # closed by the caller
    except OSError as exc:
        engine.dispose()
        raise ConfigurationError(
            f"cannot open the archive file {path}: {exc.strerror or exc}",
            code="archive_unwritable",
            details={"path": path},
        ) from None


def _cmd_purge(args: argparse.Namespace, out: TextIO) -> int:
    import json
    from datetime import timedelta

    from paykit.services.retention import RetentionPolicy, purge_old_records

    def days(value: int | None) -> timedelta | None:
        return None if value is None else timedelta(days=value)

    policy = RetentionPolicy(
        audit_logs=None if args.keep_audit_forever else days(args.audit_days),
        webhook_events=days(args.webhook_days),
        idempotency_keys=days(args.idempotency_days),
    )
    engine = _engine(args)
    archive_file = _open_archive(args.archive, engine) if args.archive else None

    def archive(kind: str, row: dict[str, object]) -> None:
        assert archive_file is not None
        archive_file.write(json.dumps({"kind": kind, "row": row}, default=str) + "\n")

    try:
        with Session(engine) as session, session.begin():
            report = purge_old_records(
                session,
                policy=policy,
                dry_run=args.dry_run,
                archive=archive if archive_file is not None else None,
            )
            if archive_file is not None:
                # The archived rows reach the disk before their deletion commits: a
                # crash or a full disk may leave a row archived twice, never lost.
                archive_file.flush()
                os.fsync(archive_file.fileno())
    finally:
        engine.dispose()
        if archive_file is not None:
            archive_file.close()
    print(report.format(), file=out)
    return 0


def _cmd_webhooks(args: argparse.Namespace, out: TextIO) -> int:
    import threading
    import time

    from paykit.stripe.worker import list_inbox, revive_dead, work_inbox

    with _database(args) as engine:
        if args.action == "list":
            with Session(engine) as session:
                rows = list_inbox(session, status=args.status, limit=args.limit)
                for row in rows:
                    error = f"  {row.last_error.splitlines()[0]}" if row.last_error else ""
                    print(
                        f"{row.event_id}  {row.type}  {row.status}  attempts={row.attempts}{error}",
                        file=out,
                    )
                if not rows:
                    print("no events", file=out)
            return 0
        if args.action == "replay":
            with Session(engine) as session, session.begin():
                revived = revive_dead(session, event_ids=args.event_id or None)
            print(f"revived {revived} dead event(s); a worker applies them next", file=out)
            return 0
        gateway = _gateway()
        totals = {"processed": 0, "ignored": 0, "failed": 0, "dead": 0}
        lock = threading.Lock()
        deadline = None if args.seconds is None else time.monotonic() + args.seconds

        def worker() -> None:
            while deadline is None or time.monotonic() < deadline:
                with Session(engine) as session, session.begin():
                    result = work_inbox(session, gateway=gateway, batch_size=args.batch_size)
                with lock:
                    for name in totals:
                        totals[name] += getattr(result, name)
                if result.idle:
                    if args.once:
                        return
                    time.sleep(args.poll_seconds)

        threads = [threading.Thread(target=worker) for _ in range(args.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(", ".join(f"{name} {count}" for name, count in totals.items()), file=out)
        return 0


def _cmd_subscriptions(args: argparse.Namespace, out: TextIO) -> int:
    import json

    from paykit._jobs import print_notices, run_subscription_jobs, upcoming_trial_notices

    with _database(args) as engine:
        if args.action == "notices":
            print_notices(upcoming_trial_notices(engine, days=args.days), out, as_json=args.json)
            return 0
        report = run_subscription_jobs(engine, gateway=_gateway(), limit=args.batch_size)
    for subscription_id in report.changes_applied:
        line = {"change_applied": subscription_id}
        print(json.dumps(line) if args.json else f"change_applied  {subscription_id}", file=out)
    print_notices(report.notices, out, as_json=args.json)
    counts = report.counts()
    summary = ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in counts.items())
    print(json.dumps({"summary": counts}) if args.json else summary, file=out)
    return 0


def _cmd_analytics(args: argparse.Namespace, out: TextIO) -> int:
    from datetime import timedelta

    from paykit.analytics import backfill, backfill_mrr_history, write_report
    from paykit.analytics._checks import check_range, today
    from paykit.analytics.rollup import CHUNK_DAYS

    if args.action == "backfill-history":
        engine = _engine(args)
        try:
            with Session(engine) as session, session.begin():
                written = backfill_mrr_history(session)
            print(f"recorded the current state of {written} subscription(s)", file=out)
            return 0
        finally:
            engine.dispose()
    if args.action == "report":
        if args.start is None or args.end is None or args.out is None:
            raise ValidationError("report needs --from, --to and --out", code="invalid_argument")
    elif args.day is not None:
        if args.start is not None or args.end is not None:
            raise ValidationError("give --day, or --from and --to", code="invalid_argument")
        args.start = args.end = args.day
    elif args.start is None or args.end is None:
        raise ValidationError("rollup needs --day, or --from and --to", code="invalid_argument")
    check_range(args.start, args.end, latest=today(None))  # before a connection or a chunk
    with _database(args) as engine:
        if args.action == "report":
            with Session(engine) as session:
                path = write_report(session, start=args.start, end=args.end, out=args.out)
            print(f"wrote {path}", file=out)
            return 0
        total, days, chunk = 0, (args.end - args.start).days + 1, args.start
        while chunk <= args.end:  # one transaction per chunk: a long backfill resumes
            last = min(chunk + timedelta(days=CHUNK_DAYS - 1), args.end)
            with Session(engine) as session, session.begin():
                total += backfill(session, start=chunk, end=last).rows
            done = (last - args.start).days + 1
            bar = "#" * (30 * done // days)
            print(f"\rrollup [{bar:<30}] {done}/{days} days", end="", file=sys.stderr)
            chunk = last + timedelta(days=1)
        print(file=sys.stderr)
        print(f"rolled up {days} day(s), {total} row(s), {args.start} to {args.end}", file=out)
        return 0


def _analytics_options(sub: argparse.ArgumentParser) -> None:
    from datetime import date

    def day(text: str) -> date:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}") from None

    sub.add_argument("action", choices=["rollup", "report", "backfill-history"])
    sub.add_argument("--day", type=day, default=None, help="rollup: this UTC day")
    sub.add_argument("--from", dest="start", type=day, default=None, metavar="DAY")
    sub.add_argument("--to", dest="end", type=day, default=None, metavar="DAY")
    sub.add_argument("--out", default=None, metavar="FILE", help="report: the HTML file")


def _webhooks_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("action", choices=["work", "list", "replay"])
    sub.add_argument("--workers", type=int, default=1, metavar="N", help="work: threads")
    sub.add_argument("--batch-size", type=int, default=50, metavar="N")
    sub.add_argument("--once", action="store_true", help="work: stop when nothing is due")
    sub.add_argument("--seconds", type=float, default=None, help="work: stop after this long")
    sub.add_argument("--poll-seconds", type=float, default=1.0)
    sub.add_argument("--status", default=None, help="list: only this status")
    sub.add_argument("--limit", type=int, default=50)
    sub.add_argument("--event-id", action="append", help="replay: only this dead event")


def _purge_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    sub.add_argument(
        "--archive", metavar="FILE", help="append each deleted row to FILE (JSON lines)"
    )
    sub.add_argument("--audit-days", type=int, default=730, metavar="N")
    sub.add_argument("--keep-audit-forever", action="store_true")
    sub.add_argument("--webhook-days", type=int, default=90, metavar="N")
    sub.add_argument("--idempotency-days", type=int, default=30, metavar="N")


#: Each command's one-line help.
_HELPS = {
    "migrate": "upgrade the database to paykit's latest schema",
    "seed": "create the admin user, a category and a product (idempotent)",
    "demo": "migrate, seed, show the database and walk through a checkout",
    "reconcile": "bring open orders up to date from Stripe; refund or cancel payments "
    "that have no order (PAYKIT_STRIPE_API_KEY)",
    "release-expired": "cancel PENDING orders unpaid past the hold time and give back "
    "their stock and discount use (PAYKIT_STRIPE_API_KEY)",
    "check": "check the money and stock invariants; exit 3 if any is broken",
    "purge": "delete audit rows, processed webhook events, idempotency keys, sessions "
    "and tokens past their retention age (--dry-run counts only)",
    "webhooks": "the webhook inbox: `work` applies due events (any number of workers, "
    "PAYKIT_STRIPE_API_KEY), `list` shows them, `replay` revives dead ones",
    "analytics": "`rollup` writes days' metrics into `analytics` (--day, or --from/--to; "
    "idempotent), `report` writes an HTML report (--from --to --out; the analytics extra), "
    "`backfill-history` records subscriptions without MRR history (idempotent)",
    "subscriptions": "`run` applies due plan changes, ends trials and grace periods "
    "(PAYKIT_STRIPE_API_KEY; every few minutes) and prints the notices to send; "
    "`notices` prints the trials about to end (read only; daily)",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = _Parser(prog="paykit", description="paykit: a SaaS payment back end.")
    parser.add_argument(
        "--database-url",
        help=f"database URL (default: $PAYKIT_DATABASE_URL or {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument(
        "--schema",
        help="keep paykit's tables in this schema, beside the host's own tables "
        "(PostgreSQL schema, or on SQLite the file <schema>.db attached as it; "
        "default: $PAYKIT_DB_SCHEMA, or none)",
    )
    from paykit import __version__

    parser.add_argument("--version", action="version", version=f"paykit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    handlers: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
        "migrate": _cmd_migrate,
        "seed": _cmd_seed,
        "demo": _cmd_demo,
        "reconcile": _cmd_reconcile,
        "release-expired": _cmd_release_expired,
        "check": _cmd_check,
        "purge": _cmd_purge,
        "webhooks": _cmd_webhooks,
        "analytics": _cmd_analytics,
        "subscriptions": _cmd_subscriptions,
    }
    helps = _HELPS
    admin = (
        "The admin user is admin@example.com. Its password is $PAYKIT_ADMIN_PASSWORD "
        "(checked against the password policy), or, if that is unset, a random one "
        "printed once when the admin is created."
    )
    descriptions = {"seed": f"{helps['seed']}. {admin}", "demo": f"{helps['demo']}. {admin}"}
    for name, handler in handlers.items():
        description = descriptions.get(name, helps[name])
        sub = commands.add_parser(name, help=helps[name], description=description)
        sub.add_argument("--database-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sub.add_argument("--schema", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sub.set_defaults(handler=handler)
        if name == "reconcile":
            sub.add_argument("--older-than-minutes", type=int, default=15, metavar="N")
            sub.add_argument("--since-days", type=int, default=7, metavar="N")
            sub.add_argument(
                "--dry-run", action="store_true", help="say what would be done, do nothing"
            )
        if name == "release-expired":
            sub.add_argument("--hold-minutes", type=int, default=30, metavar="N")
        if name == "check":
            _check_options(sub)
        if name == "purge":
            _purge_options(sub)
        if name == "webhooks":
            _webhooks_options(sub)
        if name == "analytics":
            _analytics_options(sub)
        if name == "subscriptions":
            _subscriptions_options(sub)
    return parser


def _subscriptions_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("action", choices=["run", "notices"])
    sub.add_argument("--json", action="store_true", help="one JSON object a line")
    sub.add_argument("--batch-size", type=int, default=100, metavar="N")
    sub.add_argument("--days", type=int, default=None, help="notices: this many days ahead")


def _check_options(sub: argparse.ArgumentParser) -> None:
    from paykit.checks import INVARIANTS

    sub.add_argument("--json", action="store_true", help="print the report as JSON")
    sub.add_argument(
        "--only",
        action="append",
        metavar="INVARIANT",
        choices=[invariant.name for invariant in INVARIANTS],
        help="check only this invariant (repeatable)",
    )


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    stream = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args, stream)
    except PaykitError as exc:
        hint = exc.details.get("hint")
        print(f"paykit: error: {_first_line(exc.message)}", end="", file=sys.stderr)
        print(f" (hint: {hint})" if hint else "", file=sys.stderr)
        return EXIT_ERROR
    except sa.exc.SQLAlchemyError as exc:
        reason = _first_line(str(getattr(exc, "orig", exc)))
        print(f"paykit: error: database error: {reason}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("paykit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # A host's log wants one line; a developer asks for the rest.
        if os.environ.get("PAYKIT_DEBUG"):
            traceback.print_exc()
            return EXIT_ERROR
        print(
            f"paykit: error: unexpected {type(exc).__name__}: {_first_line(str(exc))} "
            "(PAYKIT_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return status


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
