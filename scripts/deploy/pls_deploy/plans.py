"""Plans and their executor: what a step does, as data, and the one place where a real run and a
dry run differ. A plan yields actions and gets each one's result back, so that a later action can
use an earlier one's (the version `bentoml build` printed, the deployment `update-service` started)."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

# The repository this package lives in (scripts/deploy/pls_deploy/, installed in editable mode, as
# scripts/bootstrap.sh does): commands run from its root, where bentofile.yaml and terraform/ are.
REPO = Path(__file__).resolve().parents[3]

EXIT_STEP_FAILED = 1
EXIT_PREREQUISITE = 2
EXIT_ROLLOUT_FAILED = 3


class DeployError(Exception):
    """A failure with a message meant for the user, and the exit code to leave with."""

    def __init__(self, message: str, exit_code: int = EXIT_STEP_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def say(message: str) -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class Secret:
    """Input a command reads at run time and no printout shows: the plan prints where it
    comes from (`source`) instead."""

    source: str
    fetch: Callable[[], str] = field(repr=False, compare=False)

    def __str__(self) -> str:
        return self.source


@dataclass(frozen=True)
class Command:
    """A local command. `env` adds variables for this command only (printed in front of it);
    `stdin` is a secret piped in; `capture` returns its standard output."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    stdin: Secret | None = None
    capture: bool = False
    # Output that means "nothing there" although the command failed (a state list with no state).
    empty_if_failed_with: str | None = None
    dry_result: str = ""

    def __str__(self) -> str:
        piped = f"{self.stdin} | " if self.stdin else ""
        prefix = "".join(f"{key}={shlex.quote(value)} " for key, value in self.env)
        return f"$ {piped}{prefix}{shlex.join(self.argv)}"

    def run(self) -> str:
        capture = self.capture or self.empty_if_failed_with is not None
        try:
            result = subprocess.run(self.argv, cwd=REPO, env={**os.environ, **dict(self.env)}, text=True,
                                    input=self.stdin.fetch() if self.stdin else None,
                                    stdout=subprocess.PIPE if capture else None,
                                    stderr=subprocess.PIPE if self.empty_if_failed_with else None)
        except FileNotFoundError:
            raise DeployError(f"{self.argv[0]} is not installed or not on PATH", EXIT_PREREQUISITE) from None
        if result.returncode != 0:
            if self.empty_if_failed_with and self.empty_if_failed_with in (result.stdout or "") + result.stderr:
                return ""
            details = f":\n{result.stderr.strip()}" if result.stderr else ""
            raise DeployError(f"command failed with exit code {result.returncode}: {str(self)[2:]}{details}")
        return result.stdout or ""


@dataclass(frozen=True)
class ApiCall:
    """An AWS API call, printed as its AWS CLI equivalent."""

    shown: str
    call: Callable[[], Any] = field(repr=False, compare=False)
    dry_result: Any = None

    def __str__(self) -> str:
        return f"$ {self.shown}"

    def run(self) -> Any:
        return self.call()


@dataclass(frozen=True)
class Lookup:
    """A silent, read-only look at what a plan decides on (the latest bento, whether a tag is
    in ECR, the Terraform outputs); a dry run looks at nothing and takes `dry_result`."""

    what: str
    call: Callable[[], Any] = field(repr=False, compare=False)
    dry_result: Any = None

    def __str__(self) -> str:
        return ""

    def run(self) -> Any:
        return self.call()


@dataclass(frozen=True)
class Note:
    """A line for the reader. `dry_run_text`, when set, replaces it in a dry run, which
    cannot know which case holds ("" prints nothing)."""

    text: str
    dry_run_text: str | None = None
    dry_result: None = None

    def __str__(self) -> str:
        return self.text

    def run(self) -> None:
        return None


Action = Command | ApiCall | Lookup | Note
T = TypeVar("T")
Plan = Generator[Action, Any, T]


class Executor:
    """Runs plans, or prints them in a dry run: the one place where the two differ."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run

    def begin(self, command: str, preflight: Callable[[], None]) -> None:
        """Check the prerequisites of a real run; a dry run needs none."""
        if self.dry_run:
            say(f"# dry run of '{command}': commands are printed, not run")
        else:
            preflight()

    def execute(self, plan: Plan[T]) -> T:
        result = None
        while True:
            try:
                action = plan.send(result)
            except StopIteration as done:
                return done.value
            result = self.perform(action)

    def perform(self, action: Action) -> Any:
        shown = str(action)
        if self.dry_run and isinstance(action, Note) and action.dry_run_text is not None:
            shown = action.dry_run_text
        if shown:
            say(shown)
        return action.dry_result if self.dry_run else action.run()

