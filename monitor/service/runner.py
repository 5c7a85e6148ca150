"""The long-running process (`monitor run`): leadership, the scheduled jobs, the status page.

One process per database runs the jobs (monitor/service/leader.py); the others wait as
standbys and serve the status page. The leader builds an APScheduler BlockingScheduler from
config.toml at every start (an in-memory job store, nothing pickled), adds follow-up polls as
publications are awaited (monitor/service/followup.py), and writes a heartbeat. SIGTERM or
Ctrl-C lets the current step finish, then the process exits 0; a second Ctrl-C, a second or
more later, exits at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_SCHEDULER_STARTED, SchedulerEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger

from monitor.config import ConfigError
from monitor.context import Context
from monitor.db import is_sqlite
from monitor.models import utcnow
from monitor.notify import render
from monitor.service import followup, jobs, leader, runstate, schedule
from monitor.service.setup import prepare
from monitor.service.status_page import StatusPageThread, start_status_page
from monitor.sources import timetable

log = logging.getLogger(__name__)

TICK_ENV = "MONITOR_TICK_SECONDS"
# How often the leader checks that it still holds the lock.
CHECK_EVERY = 5.0
# A second Ctrl-C this long after the first exits at once, without waiting for the job.
FORCE_AFTER = 1.0


class Service:
    """The runner. ``clock`` decides follow-ups and lateness, so tests can move time."""

    def __init__(
        self,
        ctx: Context,
        *,
        web: bool = True,
        clock: Callable[[], datetime] = utcnow,
        tick_seconds: float | None = None,
        standby_every: float = leader.STANDBY_EVERY,
        check_every: float = CHECK_EVERY,
    ) -> None:
        self.ctx = ctx
        self.web = web
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.standby_every = standby_every
        self.check_every = check_every
        # A bad calendar stops start-up here, before any lock is taken.
        self.specs = schedule.job_specs(ctx.settings, tick_seconds=tick_seconds)
        # Compiled now, not when the first alert of a publication is waiting to be sent.
        for problem in render.precompile(ctx.settings):
            log.error("email template %s: emails that use it will fail until it is fixed", problem)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._leading = threading.Event()
        self._sched: BlockingScheduler | None = None
        self._lease: leader.Lease | None = None
        self._called: set[str] = set()
        self._at_start = {s.id for s in self.specs if s.at_start}
        self._running: Counter[str] = Counter()
        self._idle = threading.Condition()
        self._source_locks = {s.source: threading.Lock() for s in self.specs if s.source}
        self.page: StatusPageThread | None = None

    def request_stop(self) -> None:
        """Stop after the current step: no new job starts; running ones finish."""
        self._stop.set()
        self._wake.set()

    # Leadership and the scheduler's life. ------------------------------------------------

    def run(self) -> int:
        """Run until stopped; returns the exit code (0, or 3 when SQLite refuses a runner).

        1. Try for leadership once. On SQLite a held lock refuses this runner (exit 3).
        2. Serve the status page, leader or standby, when ``web``.
        3. Lead: run the scheduler until stopped or, on PostgreSQL, until the lock is lost;
           then wait for the running jobs and, unless stopping, contend again as a standby
           (after one standby interval, so that a waiting standby takes over first).
        """
        try:
            lease = leader.try_acquire(self.ctx)
        except leader.AlreadyRunning as e:
            log.error("%s", e)
            return 3
        self.page = page = start_status_page(self.ctx) if self.web else None
        try:
            while not self._stop.is_set():
                if lease is None:
                    lease = leader.wait_for_leadership(
                        self.ctx, self._stop, every=self.standby_every
                    )
                    if lease is None:
                        break
                try:
                    self._lead(lease)
                except Exception as e:
                    log.error("the runner stopped leading after an error: %s", e)
                    log.debug("traceback", exc_info=True)
                finally:
                    lease.release()
                    lease = None
                # Leading ended without a stop (the lease was lost, or an error): let a
                # waiting standby take over first.
                self._stop.wait(self.standby_every)
        finally:
            if page is not None:
                page.stop()
        log.info("monitor stopped")
        return 0

    def _lead(self, lease: leader.Lease) -> None:
        log.info("leader: %s runs the jobs (%s)", leader.me(), lease.description)
        self._lease = lease
        self._called = set()
        self._leading.set()
        try:
            prepare(self.ctx)
            closed = runstate.announce_leader(self.ctx, leader.me())
            if closed:
                log.info("closed %d job runs left running by a process that died", closed)
            runstate.ensure_source_rows(self.ctx)
            sched = self.build_scheduler()
            self.plan_start()
            sched.add_listener(partial(self._started, lease), EVENT_SCHEDULER_STARTED)
            log.info(
                "monitor running on %s (%d jobs); Ctrl-C to stop",
                self.ctx.engine.url.render_as_string(hide_password=True),
                len(sched.get_jobs()),
            )
            if not self._stop.is_set():
                sched.start()  # blocks until the watchdog shuts the scheduler down
        finally:
            self._leading.clear()
            self._sched = None
            self._wait_idle()
            self._lease = None

    def _started(self, lease: leader.Lease, _event: SchedulerEvent) -> None:
        threading.Thread(
            target=self._watch, args=(lease,), name="leader-watch", daemon=True
        ).start()

    def _watch(self, lease: leader.Lease) -> None:
        """Shut the scheduler down when stopping, or when the lock is lost (never two leaders)."""
        sched = self._sched
        while not self._stop.is_set():
            if not self._leading.is_set() or not lease.alive():
                log.error("no longer the leader: stopping the jobs, then contending again")
                self._leading.clear()
                break
            self._wake.wait(self.check_every)
            self._wake.clear()
        if sched is not None:
            # Not wait=True: a running job may add a follow-up, which needs the lock shutdown
            # would hold; _lead waits for the running jobs instead.
            with contextlib.suppress(SchedulerNotRunningError):
                sched.shutdown(wait=False)

    def _wait_idle(self) -> None:
        with self._idle:
            said = None
            while self._running:
                names = ", ".join(sorted(self._running))
                if names != said:
                    log.info("waiting for %s to finish", names)
                    said = names
                self._idle.wait(timeout=60)

    def build_scheduler(self) -> BlockingScheduler:
        """A scheduler holding the timetable's jobs (not started)."""
        pollers = 1 if is_sqlite(self.ctx.engine) else 4  # SQLite has one writer at a time
        sched = BlockingScheduler(
            timezone=timetable.LONDON,
            jobstores={"default": MemoryJobStore()},
            executors={
                "default": ThreadPoolExecutor(8),
                "polls": ThreadPoolExecutor(pollers),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )
        now = datetime.now(UTC)
        for spec in self.specs:
            sched.add_job(
                self._call,
                trigger=spec.trigger,
                args=[spec.id, self._job_function(spec), spec.trigger],
                id=spec.id,
                name=spec.id,
                misfire_grace_time=spec.misfire_grace_time,
                coalesce=True,  # runs missed while busy or down collapse into one
                max_instances=1,
                executor=spec.executor,
                replace_existing=True,
                **({"next_run_time": now} if spec.at_start else {}),
            )
            first = now if spec.at_start else spec.trigger.get_next_fire_time(None, now)
            log.info("job %s: %s, first at %s", spec.id, spec.trigger, _local(first))
        for name in schedule.unscheduled(self.ctx.settings):
            log.info(
                "%s has neither schedule nor every_minutes: polled only by `monitor poll`", name
            )
        self._sched = sched
        return sched

    def plan_start(self) -> None:
        """Resume stored follow-ups, and catch up on scheduled polls missed while down."""
        now = self.clock()
        for spec in self.specs:
            if spec.kind != "poll" or not spec.calendar or spec.source is None:
                continue
            state = followup.stored(self.ctx.engine, spec.source)
            when, why = followup.on_start(
                now=now,
                expected_at=timetable.expected_publication(self.ctx.settings, spec.source, now),
                follow_up_at=state.follow_up_at if state else None,
                last_poll_at=state.last_poll_at if state else None,
            )
            if when is not None:
                log.info("%s: %s", spec.source, why)
                resuming = state is not None and state.follow_up_at is not None
                self.schedule_follow_up(spec.source, when, "follow-up" if resuming else "catch-up")

    def _job_function(self, spec: schedule.JobSpec) -> Callable[[], Any]:
        ctx = self.ctx
        if spec.kind == "poll":
            assert spec.source is not None
            return partial(self._poll, spec.source, "calendar" if spec.calendar else "interval")
        return {
            "send": lambda: jobs.record(ctx, "send", jobs.send, quiet=True),
            "digest": self._digest,
            "daily": self._daily,
            "board-pack": lambda: jobs.record(ctx, "board-pack", jobs.board_packs),
            "heartbeat": self._heartbeat,
            "tick": self._tick,
        }[spec.kind]

    def _call(self, job_id: str, fn: Callable[[], Any], trigger: BaseTrigger | None = None) -> None:
        """Every scheduled job runs through here: not once stopping or no longer leading.

        Before the job starts the lease is checked and the run's slot claimed (leader.Lease.claim):
        a lost lease stops the scheduler at once; a slot that already ran is not run again. The
        first run of an ``at_start`` job is the start's own and has no slot.
        """
        lease = self._lease
        if self._stop.is_set() or not self._leading.is_set() or lease is None:
            return
        at_start = job_id not in self._called and job_id in self._at_start
        self._called.add(job_id)
        slot = None if trigger is None or at_start else schedule.slot_of(trigger, datetime.now(UTC))
        claim = lease.claim(job_id, slot)
        if claim is leader.Claim.LOST:
            if self._leading.is_set():
                log.error("no longer the leader: %s not started; stopping the jobs", job_id)
            self._leading.clear()
            self._wake.set()
            return
        if claim is leader.Claim.TAKEN:
            log.warning(
                "%s: the run due at %s has already started elsewhere; not run", job_id, slot
            )
            return
        with self._idle:
            self._running[job_id] += 1
        try:
            fn()
        except Exception as e:  # the job functions record their own failures; this is glue
            log.error("%s: %s", job_id, e)
            log.debug("traceback", exc_info=True)
        finally:
            with self._idle:
                self._running[job_id] -= 1
                if not self._running[job_id]:
                    del self._running[job_id]
                self._idle.notify_all()

    # The jobs. ---------------------------------------------------------------------------

    def _poll(self, source: str, trigger: str) -> None:
        """Poll one source (poll -> evaluate -> send), then plan its follow-ups."""
        lock = self._source_locks.setdefault(source, threading.Lock())
        if not lock.acquire(blocking=False):
            log.info("%s: a poll is already running; skipping this %s poll", source, trigger)
            return
        try:
            chain = jobs.poll_and_notify(
                self.ctx, [source], trigger=trigger, keep_going=lambda: not self._stop.is_set()
            )
            if not chain.polls or chain.polls[0].outcome == "skipped":
                return
            if self.ctx.settings.source(source).schedule is not None:
                self._follow_up(source, chain.polls[0])
                timetable.refresh_lateness(self.ctx, self.clock(), [source])
        finally:
            lock.release()

    def _follow_up(self, source: str, result: jobs.JobResult) -> None:
        now = self.clock()
        state = followup.stored(self.ctx.engine, source)
        plan = followup.after_poll(
            self.ctx.settings.source(source),
            now=now,
            expected_at=timetable.expected_publication(self.ctx.settings, source, now),
            until=state.follow_up_until if state else None,
            found_new=int(result.counts.get("ingested") or 0) > 0,
            failed=result.outcome == "failed",
            failures=state.consecutive_failures if state else 0,
        )
        followup.save(self.ctx.engine, source, plan)
        self.schedule_follow_up(source, plan.next_poll_at)
        if plan.note:
            log.info("%s: %s", source, plan.note)

    def schedule_follow_up(
        self, source: str, when: datetime | None, trigger: str = "follow-up"
    ) -> None:
        """Set (or clear, with None) the source's one pending follow-up poll."""
        sched = self._sched
        if sched is None:
            return
        job_id = f"follow-up:{source}"
        if when is None:
            with contextlib.suppress(JobLookupError):
                sched.remove_job(job_id)
            return
        date = DateTrigger(run_date=when)
        sched.add_job(
            self._call,
            trigger=date,
            args=[job_id, partial(self._poll, source, trigger), date],
            id=job_id,
            name=job_id,
            misfire_grace_time=schedule.POLL_GRACE,
            coalesce=True,
            max_instances=1,
            executor="polls",
            replace_existing=True,
        )

    def _daily(self) -> None:
        """Late sources, evaluation (stale-data rules move with the date; publications a chain
        cut short never evaluated are caught up), the operators' emails about late or failing
        sources, then pruning."""
        jobs.record(self.ctx, "late-check", lambda c: jobs.late_check(c, self.clock()))
        jobs.record(self.ctx, "evaluate", jobs.evaluate_catching_up)
        jobs.record(self.ctx, "operators", lambda c: jobs.operators(c, self.clock()))
        jobs.record(self.ctx, "prune-runs", jobs.prune_runs, quiet=True)
        jobs.record(self.ctx, "mergers", jobs.mergers, quiet=True)

    def _digest(self) -> None:
        """Queue the weekly digest, then send it rather than wait for the next minute."""
        if jobs.record(self.ctx, "digest", jobs.digest).outcome == "ok":
            jobs.record(self.ctx, "send", jobs.send, quiet=True)

    def _heartbeat(self) -> None:
        try:
            runstate.heartbeat(self.ctx)
        except Exception as e:
            log.warning("could not write the heartbeat: %s", " ".join(str(e).split()))

    def _tick(self) -> None:
        assert self.tick_seconds
        slot = schedule.tick_slot(datetime.now(UTC), self.tick_seconds)
        # The slot goes in at the start, so a run cut short still says which tick it was.
        jobs.record(self.ctx, "tick", lambda _c: {}, extra={"slot": slot}, quiet=True)


def _local(t: datetime | None) -> str:
    return t.astimezone(timetable.LONDON).strftime("%a %d %b %Y %H:%M %Z") if t else "never"


def run(ctx: Context, *, web: bool = True) -> int:
    """`monitor run`: the service until SIGTERM or Ctrl-C; returns the exit code."""
    tick = os.environ.get(TICK_ENV)
    try:
        tick_seconds = float(tick) if tick else None
    except ValueError:
        raise ConfigError(f"{TICK_ENV}={tick!r}: not a number of seconds") from None
    service = Service(ctx, web=web, tick_seconds=tick_seconds)
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # "Running job ..." every minute drowns the lines that matter; warnings still show.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)

    first: list[float] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not first:
            first.append(time.monotonic())
            log.info("%s: finishing the current step, then stopping", name)
            service.request_stop()
        elif signum == signal.SIGINT and time.monotonic() - first[0] > FORCE_AFTER:
            log.warning("Ctrl-C again: exiting without waiting for the current step")
            os._exit(130)
        # Otherwise a repeat: `timeout` and process managers may signal a process and then its
        # group, so one request can arrive twice.

    # The handlers stay for the life of the process: a repeat arriving while it exits is
    # ignored rather than raised as KeyboardInterrupt.
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, on_signal)
    return service.run()
