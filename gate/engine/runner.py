"""The level runner: levels in order, the checks of a level polled together in rounds.

Each round builds one ClusterView per cluster it reads (the default one, and each destination of a
`cluster:`, gate/cluster/destinations.py), so checks that need the same list share one request, and observes
every check that is due, concurrently on a bounded pool. When a check is due again is decided by its
own tenacity policy: capped exponential backoff with jitter from its `interval`, and a stop at its
`timeout` (or the run's overall deadline, whichever is first). Transient errors (5xx, 429, connection
errors) keep the check polling; permission and other permanent errors end it at once as ERROR.
The first level that does not pass ends the run; later levels are SKIPPED.

Deadlines hold (gate/engine/deadlines.py): each attempt runs with its check's deadline as the thread's current
deadline, so the shared clients clamp their timeouts and retries to it and a `command` is killed at it.
The main thread waits for an attempt at most until that deadline plus `OVERRUN`; an attempt still busy
then is abandoned (its check is ERROR, never PASS). Attempts run on daemon threads, so neither an
abandoned attempt nor a signal makes the process wait for one.

Watches (gate/cluster/watches.py): while a level waits, the lists its checks read are watched; the
runner waits on them instead of sleeping, and a change makes the checks that read that list due at
once. Polling goes on for everything else (and for a list whose watch is unavailable), so without
changes the schedule, and the deadlines, are as without watches.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from tenacity import RetryCallState, Retrying, stop_after_delay, wait_exponential_jitter

from gate.capture import tap
from gate.checks.base import Check, Clients
from gate.cluster import watches as watching
from gate.cluster.kube import ClusterView, KubeClient
from gate.engine import deadlines
from gate.engine.plan import Plan, PlannedCheck
from gate.errors import EvaluationError, TransientError
from gate.model import CheckResult, LevelResult, Observation, Status

ProgressFn = Callable[["CheckState", float], None]

# Jitter spreads load across runs; the grace pulls a check due a moment later into the current round, so
# checks on the same interval keep sharing one ClusterView (one list request) round after round.
JITTER = 0.1
ROUND_GRACE = 0.15
# How long past its deadline the main thread waits for an attempt (a killed command's SIGTERM grace).
OVERRUN = 1.5
# A passing answer later than this past the deadline is not a pass: the wall held nothing back.
LATE = 0.25


class DaemonPool:
    """A bounded pool of daemon threads: unlike ThreadPoolExecutor, nothing ever joins them, so an
    attempt stuck past its deadline (or in flight when a signal arrives) never holds up the process."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._tasks: queue.SimpleQueue[tuple[Future, Callable[..., Any], tuple] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads waiting for a task
        self._queued = 0  # tasks no thread has taken yet
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        self._tasks.put((future, fn, args))
        with self._lock:
            self._queued += 1
            if self._queued > self._idle and len(self._threads) < self.size:
                thread = threading.Thread(target=self._work, name="gate-check", daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            task = self._tasks.get()
            with self._lock:
                self._idle -= 1
                self._queued -= task is not None
            if task is None:
                return
            future, fn, args = task
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                    future.set_exception(exc)

    def shutdown(self) -> None:
        """Let idle threads end; busy ones end when their attempt returns. Never waits."""
        for _ in self._threads:
            self._tasks.put(None)


def _action(check: Check, obs: Observation | None, status: Status) -> str:
    """The row's hint: for a check that did not pass, what to do about it (Check.action)."""
    if obs is None:
        return ""
    if status == Status.PASS:
        return obs.hint
    try:
        return check.action(obs) or obs.hint
    except Exception:  # noqa: BLE001 - a wording helper must never cost the verdict
        return obs.hint


@dataclass(eq=False)
class CheckState:
    """One check's polling state within a level. Compared by identity: the runner's sets of states must
    cost O(1) a lookup, not a field-by-field __eq__ (which made a round quadratic in the checks)."""

    planned: PlannedCheck
    started: float
    deadline: float
    policy: Retrying
    call: RetryCallState
    next_at: float = 0.0
    attempts: int = 0
    last: Observation | None = None
    last_error: EvaluationError | None = None
    result: CheckResult | None = None
    passed_after: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def check(self) -> Check:
        return self.planned.check

    def make_result(self, status: Status, now: float, reason: str = "") -> CheckResult:
        obs = self.last
        result = CheckResult(
            id=self.planned.id, name=row_name(self.planned), kind=self.check.kind, level=self.planned.level,
            status=status, attempts=self.attempts, duration=round(now - self.started, 3),
            time_to_pass=self.passed_after,
            observed=obs.observed if obs else "", expected=obs.expected if obs else "",
            evidence=list(obs.evidence) if obs else [], output=obs.output if obs else "",
            hint=_in_cluster_hint(_action(self.check, obs, status), self.planned), reason=reason,
        )
        if self.last_error is not None and status == Status.ERROR:
            result.reason = reason or f"could not evaluate: {self.last_error}"
        return result


def row_name(planned: PlannedCheck) -> str:
    """The check's line in the report, with its cluster when the run reads more than one."""
    return f"[{planned.label}] {planned.check.name}" if planned.label else planned.check.name


_KUBECTL = re.compile(r"(?<![\w./-])kubectl (?!--context )")


def _in_cluster_hint(hint: str, planned: PlannedCheck) -> str:
    """A destination's hint says which cluster it is for: its kubectl commands aimed with `--context`
    where the check reads through a kubeconfig context (as the DIAGNOSIS' lines,
    destinations.Destination.kubectl), else the hint prefixed `in cluster NAME:`."""
    from gate.cluster.destinations import CONTROL_PLANE_LABEL

    label, ref = planned.label, planned.cluster
    if not hint or not label or label == CONTROL_PLANE_LABEL:
        return hint
    if getattr(ref, "way", None) == "context" and _KUBECTL.search(hint):
        return _KUBECTL.sub(lambda _: f"kubectl --context {ref.value} ", hint)
    return f"in cluster {label}: {hint}"


def _in_cluster(exc: EvaluationError, label: str) -> EvaluationError:
    """An error that does not say which cluster refused, saying it (a forbidden destination)."""
    if not label or f"cluster {label}" in str(exc):
        return exc
    out = type(exc).__new__(type(exc))
    out.__dict__.update(exc.__dict__)
    out.args = (f"{exc} (in cluster {label})",)
    return out


def _level(number: int, results: list[CheckResult], duration: float) -> LevelResult:
    statuses = [r.status for r in results]
    status = Status.FAIL if Status.FAIL in statuses else (
        Status.ERROR if Status.ERROR in statuses else Status.PASS)
    return LevelResult(number, status, results, round(duration, 3))


class Runner:
    def __init__(self, clients: Clients, kube: KubeClient | None, *, timeout: float | None = None,
                 deadline: float | None = None, max_workers: int = 32, progress: ProgressFn | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, watch: bool = False,
                 clusters: dict[str, Any] | None = None) -> None:
        """`timeout`: seconds from now for the whole run; `deadline`: the same as a `clock()` time (the
        run's wall, started before the runner); the earlier of the two holds. `watch`: answer lists
        from watches while a level waits, and wake on their changes (real time only). `clusters`: cluster
        key -> gate.cluster.destinations.Destination, for the checks with a `cluster:` (no watches there)."""
        self.clients = clients
        self.kube = kube
        self.clusters = clusters or {}
        self.max_workers = max_workers
        self.progress = progress
        self.clock = clock
        self.sleep = sleep
        walls = [d for d in (clock() + timeout if timeout else None, deadline) if d is not None]
        self.deadline = min(walls) if walls else None
        # Deadlines reach the shared clients only in real time (tests may drive a fake clock).
        self.real_time = clock is time.monotonic
        self.watches = watching.Watches(kube) if watch and kube is not None and self.real_time else None
        self.cluster_watches: dict[str, watching.Watches] = {}  # a destination's, sharing self.watches' wake-up
        self.rounds = 0
        self.done: list[LevelResult] = []  # levels finished so far, for an interrupted run's report
        self._live: tuple[int, list[CheckState]] | None = None

    def run(self, plan: Plan) -> list[LevelResult]:
        results = self.done = []
        stopped_at: int | None = None
        for number in sorted(plan.levels):
            checks = plan.levels[number]
            if stopped_at is not None:
                skipped = [CheckResult(id=p.id, name=row_name(p), kind=p.check.kind, level=number,
                                       status=Status.SKIPPED, reason=f"Level {stopped_at} did not pass")
                           for p in checks]
                results.append(LevelResult(number, Status.SKIPPED, skipped))
                continue
            level = self.run_level(number, checks)
            results.append(level)
            if level.status != Status.PASS:
                stopped_at = number
        return results

    def run_level(self, number: int, checks: list[PlannedCheck]) -> LevelResult:
        start = self.clock()
        states = [self._state(p, start) for p in checks]
        self._live = (number, states)
        pool = DaemonPool(min(self.max_workers, len(states)))
        try:
            while True:
                pending = [s for s in states if s.result is None]
                if not pending:
                    break
                now = self.clock()
                due = [s for s in pending if s.next_at - s.planned.interval * ROUND_GRACE <= now]
                if due:
                    self._round(due, pool)
                    continue
                self._wait(pending)
        finally:
            pool.shutdown()
            for watches in [self.watches, *self.cluster_watches.values()]:
                if watches is not None:
                    watches.reopen()  # this level's watches end with it (or with a signal)
        self._live = None
        return _level(number, [s.result for s in states if s.result is not None], self.clock() - start)

    def _wait(self, pending: list[CheckState]) -> None:
        """Until the next check is due; with watches, less when a list a check reads changes."""
        left = max(0.0, min(s.next_at for s in pending) - self.clock())
        if self.watches is None:
            self.sleep(left)
            return
        until = max(s.deadline for s in pending)
        for watches in [self.watches, *self.cluster_watches.values()]:
            watches.arm(until)
        changed = watching.Watches.wait_any([self.watches, *self.cluster_watches.values()], left)
        if changed:
            now = self.clock()
            for state in pending:
                if state.extra.get("lists", set()) & changed:
                    state.next_at = min(state.next_at, now)

    def snapshot(self, reason: str = "interrupted") -> list[LevelResult]:
        """The levels so far, the one in flight with its unfinished checks as ERROR (`reason`)."""
        levels = list(self.done)
        if self._live is not None:
            number, states = self._live
            now = self.clock()
            rows = [s.result or s.make_result(Status.ERROR, now, f"{reason} before the check finished")
                    for s in states]
            levels.append(_level(number, rows, now - states[0].started if states else 0.0))
        return levels

    def _state(self, planned: PlannedCheck, start: float) -> CheckState:
        deadline = start + planned.timeout
        if self.deadline is not None:
            deadline = min(deadline, self.deadline)
        policy = Retrying(
            stop=stop_after_delay(max(0.0, deadline - start)),
            wait=wait_exponential_jitter(multiplier=planned.interval, max=planned.max_interval, exp_base=1.5,
                                         jitter=planned.interval * JITTER),
        )
        call = RetryCallState(policy, fn=None, args=(), kwargs={})
        call.start_time = start
        return CheckState(planned, start, deadline, policy, call, next_at=start)

    def _round(self, due: list[CheckState], pool: DaemonPool) -> None:
        if self.real_time:  # no attempt starts without time left for it: the deadline decides now
            now = self.clock()
            late = [s for s in due if s.deadline - now < deadlines.MIN_REQUEST]
            for state in late:
                self._after_attempt(state)
            gone = set(late)
            due = [s for s in due if s not in gone]
            if not due:
                return
        self.rounds += 1
        round_clients: dict[str | None, Clients] = {}  # one ClusterView (and Clients) per cluster this round
        futures = [(s, pool.submit(self._attempt, s, self._clients(s, round_clients))) for s in due]
        for state, future in futures:
            try:
                future.result(timeout=self._patience(state))
            except FutureTimeout:
                now = self.clock()
                state.result = state.make_result(
                    Status.ERROR, now, f"still running {now - state.deadline:.1f}s after its deadline "
                    f"({now - state.started:.0f}s); abandoned")
                continue
            self._after_attempt(state)

    def _clients(self, state: CheckState, made: dict[str | None, Clients]) -> Clients:
        """The clients of the check's cluster: one ClusterView per cluster per round, shared by the round's
        checks there (`made`: this round's, by cluster key)."""
        ref = state.planned.cluster
        dest = self.clusters.get(ref.key) if ref is not None else None
        key = ref.key if dest is not None else None
        if key not in made:
            from gate.cluster.destinations import clients_for

            kube = dest.kube if dest is not None else self.kube
            view = ClusterView(kube, self._watches_for(key, dest)) if kube is not None else None
            made[key] = clients = clients_for(self.clients, dest, view)
            if dest is not None and dest.error is not None:
                clients.extra = {**clients.extra, "cluster_error": dest.error}
        return made[key]

    def _watches_for(self, key: str | None, dest: Any) -> watching.Watches | None:
        """The watches of the check's cluster: the control plane's, or a destination's own (lists from its
        cache; a change there wakes the runner as one in the control plane does)."""
        if self.watches is None or dest is None or dest.kube is self.kube:
            return self.watches
        if key not in self.cluster_watches:
            self.cluster_watches[key] = watching.Watches(dest.kube, self.watches.condition)
        return self.cluster_watches[key]

    def _patience(self, state: CheckState) -> float | None:
        """How long the main thread waits for this attempt (None: as long as it takes, fake clocks)."""
        if not self.real_time:
            return None
        return max(0.0, state.deadline + OVERRUN - self.clock())

    def _attempt(self, state: CheckState, clients: Clients) -> None:
        state.attempts += 1
        try:
            with deadlines.scope(state.deadline if self.real_time else None), \
                    watching.reading(state.extra.setdefault("lists", set())):
                if "cluster_error" in clients.extra:
                    raise clients.extra["cluster_error"]
                observe = state.check.observe if tap.current is None else tap.current.observer(state.planned)
                state.last = observe(clients)  # gate capture records it; a replay serves it
            state.last_error = None
        except TransientError as exc:  # includes a read cut short by the deadline
            if not self._cut_by_deadline(state):
                state.last_error = exc
        except deadlines.DeadlineExceeded as exc:
            if not self._cut_by_deadline(state):
                state.last_error = exc
        except EvaluationError as exc:
            state.last_error = _in_cluster(exc, state.planned.label)
            state.extra["permanent"] = True
        except Exception as exc:  # a bug in a check must not look like a pass or crash the run
            state.last_error = EvaluationError(f"internal error in {state.check.kind} check: "
                                               f"{type(exc).__name__}: {exc}")
            state.extra["permanent"] = True

    def _cut_by_deadline(self, state: CheckState) -> bool:
        """An attempt the deadline cut short leaves the last observation standing (the deadline then
        turns it into FAIL): a check that was failing does not become "could not evaluate" only
        because its last try ran out of time. Without an earlier observation it is an error."""
        if not self.real_time or state.last is None or state.last_error is not None:
            return False
        return state.deadline - self.clock() < deadlines.MIN_REQUEST

    def _after_attempt(self, state: CheckState) -> None:
        now = self.clock()
        elapsed = now - state.started
        if state.extra.pop("permanent", False):
            state.result = state.make_result(Status.ERROR, now)
            return
        if state.last_error is None and state.last is not None:
            if state.last.ok and self.real_time and now > state.deadline + LATE:
                state.result = state.make_result(
                    Status.ERROR, now, f"answered {now - state.deadline:.1f}s after its deadline; not counted")
                return
            if state.last.ok:
                state.passed_after = round(elapsed, 3)
                state.result = state.make_result(Status.PASS, now)
                return
            if state.last.final:
                state.result = state.make_result(Status.FAIL, now, state.last.observed)
                return
        state.call.attempt_number = state.attempts
        state.call.outcome_timestamp = now
        grace = state.planned.interval * ROUND_GRACE  # a round may take a check this much early
        if now + grace >= state.deadline or state.policy.stop(state.call):
            if state.last_error is not None:
                state.result = state.make_result(
                    Status.ERROR, now, f"could not evaluate before the deadline: {state.last_error}")
            else:
                state.result = state.make_result(
                    Status.FAIL, now, f"still {state.last.observed} after {elapsed:.0f}s"
                    if state.last else "no observation")
            return
        state.next_at = min(now + state.policy.wait(state.call), state.deadline)
        if self.progress is not None:
            self.progress(state, elapsed)
