"""The command line around every task: whatever goes wrong, one ``error:`` line and the
documented exit code, never a traceback (docs/troubleshooting.md lists the messages).

invoke parses the command line, then runs the tasks; this module is around both.

- ``PipelineExecutor`` runs the tasks. ``invoke.yaml`` names it (``tasks.executor_class``,
  invoke's documented setting), so ``invoke``, ``inv`` and ``python -m invoke`` all use it.
  Around every task it
  - turns the repository's errors (``PipelineError``), an ``Exit`` without the prefix, a
    command that failed unchecked and any unexpected exception into one ``error:`` line on
    stderr with exit 2 (bad input) or 1 (failure); ``invoke --debug TASK`` shows the
    traceback of an unexpected one (a bug);
  - refuses a task whose required flag is missing, saying what the flag takes (exit 2);
  - with ``--json``, keeps stdout one JSON document: a task that fails before printing its
    own prints ``{"ok": false, "error": {"message": ..., "exit_code": ...}}`` instead;
  - ends quietly when its reader closes stdout (``invoke check | head -1``): exit 141, the
    status of any program stopped by SIGPIPE; an interrupt (Ctrl-C) not handled by the task
    ends with ``error: interrupted`` and exit 130.
- ``PipelineProgram`` explains what invoke's parser refuses: an unknown flag (with the flag
  meant: ``--environment`` is ``--env``), a flag without its value, a value that is not a
  number, a value given without its flag; exit 2. invoke has no setting for its parse errors,
  so ``tasks.py`` hands the running ``invoke`` command to it (``adopt_running_program``);
  another program loading ``tasks.py`` keeps invoke's own messages (exit 1).

Import-light (``invoke --list``): invoke and the standard library only.
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
import re
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from invoke import Collection, Executor, Exit, Program, Task
from invoke.exceptions import ParseError, ThreadException, UnexpectedExit
from invoke.parser import Argument, ParserContext

from shared.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USER_ERROR,
    PipelineError,
    error_message,
    json_error,
)

# Flags people reach for (from the Pulumi CLI, Terraform, other task runners), and this
# repository's name for the same thing.
FLAG_SYNONYMS: Mapping[str, str] = {
    "--environment": "--env",
    "--environments": "--env",
    "--envs": "--env",
    "--stack": "--env",
    "--stack-name": "--env",
    "--layers": "--layer",
    "--project": "--layer",
    "--projects": "--layer",
    "--auto-approve": "--yes",
    "--non-interactive": "--yes",
    "--force": "--yes",
    "--backend-url": "--backend",
    "--source": "--from",
    "--from-env": "--from",
    "--output-json": "--json",
    "--update": "--update-snapshots",
}
# Flags for something no task does as a flag, and what does it.
NOT_A_FLAG: Mapping[str, str] = dict.fromkeys(
    ("--dry-run", "--dryrun", "--plan", "--diff", "--preview", "--what-if"),
    "`invoke preview --env ENV` shows what a deploy would change, `invoke render` and "
    "`invoke check` the stacks offline; deploy and destroy without --yes show pulumi's plan "
    "and ask before changing anything",
)


# -- running the tasks ---------------------------------------------------------------------


class _WatchedStdout:
    """stdout, noting whether anything was written (a ``--json`` task's own document)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.written = False

    def write(self, text: str) -> int:
        if text:
            self.written = True
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _closed_pipe(error: BaseException) -> bool:
    """Whether ``error`` is stdout's reader going away, also when it reached invoke's
    output threads (a command's output copied to a closed stdout)."""
    if isinstance(error, BrokenPipeError):
        return True
    if isinstance(error, ThreadException):
        return any(_closed_pipe(wrapper.value) for wrapper in error.exceptions)
    return False


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush of what is still buffered
    does not fail again (Python's documented way to end on a closed pipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())  # type: ignore[union-attr]
    except (AttributeError, OSError, ValueError):  # no real stdout (a test's capture)
        pass


def _where(error: BaseException) -> str:
    """The innermost frame of ``error``'s traceback: ``file:line in function``."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "unknown place"
    frame = frames[-1]
    try:
        shown = os.path.relpath(frame.filename)
    except ValueError:
        shown = frame.filename
    return f"{shown}:{frame.lineno} in {frame.name}"


def _failed_command(error: UnexpectedExit) -> str:
    result = error.result
    message = f"`{result.command}` exited with {result.exited}"
    stderr_tail = (result.stderr or "").strip().splitlines()[-5:] if result.hide else []
    return message + "".join(f"\n  {line}" for line in stderr_tail)


def stop(message: str, code: int, *, as_json: bool = False, stdout_written: bool = False) -> Exit:
    """The ``Exit`` for ``message``: the error line goes to stderr (invoke prints it); with
    ``as_json`` and nothing printed yet, the JSON error object goes to stdout first."""
    if as_json and not stdout_written:
        try:
            print(json.dumps(json_error(message, code), indent=2, sort_keys=True), flush=True)
        except BrokenPipeError:  # nobody reads stdout any more; stderr still says it
            _discard_stdout()
    return Exit(error_message(message), code=code)


@contextmanager
def one_voice(*, as_json: bool = False, debug: bool = False) -> Iterator[None]:
    """Around a task: every way it can fail becomes ``Exit`` with the one prefix and the
    documented exit code (module docstring). ``debug`` lets unexpected exceptions through
    with their traceback."""
    watched = _WatchedStdout(sys.stdout) if as_json else None
    if watched is not None:
        sys.stdout = watched  # type: ignore[assignment]
    written = lambda: watched is not None and watched.written  # noqa: E731
    try:
        yield
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
    except Exit as error:
        if not error.code:
            raise
        message = error.message or f"exited with {error.code}"
        raise stop(message, error.code, as_json=as_json, stdout_written=written()) from None
    except PipelineError as error:
        raise stop(str(error), error.exit_code, as_json=as_json, stdout_written=written()) from None
    except UnexpectedExit as error:
        raise stop(
            _failed_command(error), EXIT_FAILURE, as_json=as_json, stdout_written=written()
        ) from None
    except KeyboardInterrupt:
        raise stop("interrupted", EXIT_INTERRUPTED) from None
    except Exception as error:
        if _closed_pipe(error):
            _discard_stdout()
            raise Exit(code=EXIT_BROKEN_PIPE) from None
        if debug:
            raise
        if isinstance(error, ThreadException) and error.exceptions:  # in invoke's I/O threads
            error = error.exceptions[0].value
        message = (
            f"unexpected {type(error).__name__}: {error} (at {_where(error)}); this is a bug "
            "in the tasks: run the same command with `invoke --debug` for the traceback"
        )
        raise stop(message, EXIT_FAILURE, as_json=as_json, stdout_written=written()) from None
    finally:
        if watched is not None and sys.stdout is watched:
            sys.stdout = watched._stream


def _flag_named(name: str) -> str:
    return f"--{name.replace('_', '-').rstrip('-')}"


def _flag(argument: Argument) -> str:
    return _flag_named(argument.name)


def missing_required(task: Task, context: ParserContext) -> str | None:
    """The message for a required flag (a parameter without default) not given, if any."""
    parameters = list(inspect.signature(task.body).parameters.values())[1:]  # after `c`
    for parameter in parameters:
        if parameter.default is not inspect.Parameter.empty:
            continue
        argument = next((arg for arg in context.args.values() if arg.name == parameter.name), None)
        if argument is not None and argument.value is None:
            what = f" ({argument.help})" if argument.help else ""
            return f"{context.name} needs {_flag(argument)} VALUE{what}"
    return None


def _wants_json(context: ParserContext) -> bool:
    argument = context.args.get("json")
    return bool(argument is not None and argument.value)


class PipelineExecutor(Executor):
    """invoke's executor, with every task it runs inside ``one_voice`` (module docstring)."""

    def execute(self, *tasks: Any) -> dict[Task, Any]:
        contexts = [each for each in tasks if isinstance(each, ParserContext)]
        as_json = any(_wants_json(context) for context in contexts)
        with one_voice(as_json=as_json, debug=self._debug()):
            for context in contexts:
                problem = missing_required(self.collection[context.name], context)
                if problem:
                    raise PipelineError(problem)
            return super().execute(*tasks)

    def _debug(self) -> bool:
        try:
            return bool(self.core and self.core[0].args.debug.value)
        except (AttributeError, KeyError, IndexError):
            return False


# -- parsing the command line --------------------------------------------------------------


def flags_only(collection: Collection) -> Collection:
    """Every task of ``collection`` (and its sub-collections) takes its arguments as flags
    only: invoke otherwise makes a required one positional too, so that a mistyped flag
    before it is taken for its value (``deploy --enviroment dev``: env="--enviroment").
    A missing required flag is then the executor's to refuse, saying what it takes."""
    for task in collection.tasks.values():
        task.positional = []
    for child in collection.collections.values():
        flags_only(child)
    return collection


def _task_flags(context: ParserContext) -> list[str]:
    return [_flag(argument) for argument in context.args.values()]


def _tasks_with_flag(flag: str, contexts: Sequence[ParserContext]) -> list[str]:
    return [context.name for context in contexts if flag in context.flags]


def explain_unknown_flag(
    flag: str, context: ParserContext, contexts: Sequence[ParserContext]
) -> str:
    """What to say about ``flag``, which ``context``'s task does not take."""
    task, own = context.name, _task_flags(context)
    listed = f"(flags of {task}: {', '.join(own) or 'none'}; `invoke --help {task}`)"
    if flag in NOT_A_FLAG:
        return f"{task} has no flag {flag}: {NOT_A_FLAG[flag]}"
    meant = FLAG_SYNONYMS.get(flag)
    if meant is None or meant not in own:
        close = difflib.get_close_matches(flag, own, n=1, cutoff=0.75)
        meant = close[0] if close else None
    if meant is not None:
        return f"{task} has no flag {flag}: did you mean {meant}? {listed}"
    elsewhere = _tasks_with_flag(FLAG_SYNONYMS.get(flag, flag), contexts)
    also = (
        f"; {FLAG_SYNONYMS.get(flag, flag)} is a flag of {', '.join(elsewhere)}"
        if elsewhere
        else ""
    )
    return f"{task} has no flag {flag} {listed}{also}"


def explain_argv(
    argv: Sequence[str], contexts: Sequence[ParserContext], core: ParserContext
) -> str | None:
    """Walk ``argv`` (what follows invoke's own flags) as invoke's parser does and say what is
    wrong with it, or ``None`` when the walk finds nothing (then invoke's message is used)."""
    by_name = {name: context for context in contexts for name in (context.name, *context.aliases)}
    context: ParserContext | None = None
    pending: tuple[Argument, str] | None = None  # a flag waiting for its value, as given
    given_values: dict[str, tuple[str, str]] = {}  # argument name -> (flag, value) this task

    def repeated(argument: Argument, flag: str, value: str) -> str | None:
        if context is None or argument.kind is list:  # an iterable flag collects repeats
            return None
        earlier = given_values.get(argument.name)
        if earlier is not None:
            return (
                f"{context.name}: {_flag(argument)} is given twice ({earlier[1]!r}, then "
                f"{value!r}); it takes one value: run the task once for each"
            )
        given_values[argument.name] = (flag, value)
        return None

    for token in argv:
        if token == "--":
            break
        if pending is not None:
            argument, given = pending
            pending = None
            if context is not None and (token in context.flags or token in context.inverse_flags):
                return _needs_value(argument, given, context)
            problem = _bad_value(argument, given, token, context) or repeated(
                argument, given, token
            )
            if problem:
                return problem
            continue
        if not token.startswith("-") or len(token) == 1:
            if token not in by_name:
                return _stray(token, context, contexts)
            context = by_name[token]
            given_values = {}
            continue
        flag, has_value, value = token.partition("=")
        if not token.startswith("--") and len(flag) > 2 and not has_value:
            first = _lookup(flag[:2], context, core)
            if first is not None and first.takes_value:  # -eVALUE
                flag, has_value, value = flag[:2], True, flag[2:]
            else:  # -yq: each a flag; the last may take the next token as its value
                for char in flag[1:]:
                    argument = _lookup(f"-{char}", context, core)
                    if argument is None:
                        return explain_unknown_flag(f"-{char}", context, contexts)
                if argument.takes_value:
                    pending = (argument, f"-{flag[-1]}")
                continue
        if context is not None and flag in context.inverse_flags:
            continue
        argument = _lookup(flag, context, core)
        if argument is None and context is None:
            return (
                f"invoke has no flag {flag} (its own flags: `invoke --help`; a task's flags "
                "follow the task's name: `invoke --help TASK`)"
            )
        if argument is None:
            return explain_unknown_flag(flag, context, contexts)
        if not argument.takes_value:
            if has_value:
                return f"{_owner(context)}{flag} takes no value (given {token!r})"
        elif has_value:
            problem = _bad_value(argument, flag, value, context) or repeated(argument, flag, value)
            if problem:
                return problem
        else:
            pending = (argument, flag)
    if pending is not None and not pending[0].optional:
        return _needs_value(*pending, context)
    return None


def _lookup(flag: str, context: ParserContext | None, core: ParserContext) -> Argument | None:
    """The task's flag (short names included), else invoke's own."""
    for each in (context, core):
        if each is not None and flag in each.flags:
            return each.flags[flag]
    return None


def _owner(context: ParserContext | None) -> str:
    return f"{context.name}: " if context is not None else ""


def _needs_value(argument: Argument, flag: str, context: ParserContext | None) -> str:
    what = f": {argument.help}" if argument.help else ""
    return f"{_owner(context)}{flag} needs a value{what}"


def _bad_value(
    argument: Argument, flag: str, value: str, context: ParserContext | None
) -> str | None:
    if argument.kind is int:
        try:
            int(value)
        except ValueError:
            return f"{_owner(context)}{flag} takes a whole number, got {value!r}"
    return None


def _stray(token: str, context: ParserContext | None, contexts: Sequence[ParserContext]) -> str:
    names = sorted(name for each in contexts for name in (each.name, *each.aliases))
    close = difflib.get_close_matches(token, names, n=1, cutoff=0.75)
    if context is None or close:
        meant = f"; did you mean {close[0]}?" if close else ""
        return f"no task named {token!r}{meant} (`invoke --list` shows every task)"
    valued = [_flag(arg) for arg in context.args.values() if arg.takes_value]
    example = f", e.g. {valued[0]} {token}" if valued else ""
    return (
        f"{context.name}: {token!r} is neither a flag nor a task: a value follows its "
        f"flag's name{example} (`invoke --help {context.name}`)"
    )


class PipelineProgram(Program):
    """invoke's program, with what its parser refuses explained (module docstring)."""

    def parse_tasks(self) -> None:
        try:
            super().parse_tasks()
        except (ParseError, ValueError) as error:
            argv = list(self.core.unparsed)
            # The parser's own contexts: a second to_contexts() would lack the help texts
            # (invoke's Task.get_arguments consumes them).
            contexts = list(self.parser.contexts.values())
            explained = explain_argv(argv, contexts, self.initial_context)
            name = getattr(getattr(error, "context", None), "name", None)
            # invoke's own words, its Argument reprs made flags again
            said = re.sub(r"<Argument: (\w+)[^>]*>", lambda m: _flag_named(m[1]), str(error))
            message = explained or (
                said + (f" (`invoke --help {name}`)" if name else " (`invoke --list`)")
            )
            as_json = any(token == "--json" or token.startswith("--json=") for token in argv)
            raise stop(message, EXIT_USER_ERROR, as_json=as_json) from None

    def parse_cleanup(self) -> None:
        """``--help TASK`` and ``--list`` print and stop here: an unknown name is bad input,
        and a reader closing stdout early (``invoke --list | head -1``) ends quietly."""
        try:
            super().parse_cleanup()
            sys.stdout.flush()
        except ParseError as error:  # --help with a name that is no task
            contexts = list(self.parser.contexts.values())
            name = str(self.args.help.value)
            message = _stray(name, None, contexts) if name else str(error)
            raise stop(message, EXIT_USER_ERROR) from None
        except Exit as error:
            if error.code and error.message:  # --list with a name that is no collection
                raise stop(f"{error.message} (`invoke --list`)", EXIT_USER_ERROR) from None
            raise
        except BrokenPipeError:
            _discard_stdout()
            raise Exit(code=EXIT_BROKEN_PIPE) from None


def adopt_running_program() -> None:
    """Have invoke's own command (``invoke``, ``inv``, ``python -m invoke``: the one
    ``invoke.main.program``) explain parse errors as ``PipelineProgram`` does. Called while
    that program loads ``tasks.py``, before it parses the task flags; it is a plain
    ``invoke.Program`` whose class gains only the ``parse_tasks`` above."""
    from invoke import main

    if type(main.program) is Program:
        main.program.__class__ = PipelineProgram
