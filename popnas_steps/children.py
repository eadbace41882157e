"""A function run in a child process, so that a native crash (ONNX Runtime's or LiteRT's
C++ aborting or faulting) ends the child, which the caller records, instead of the job:
the exports of the final networks (popnas_steps.deploy) and the latency job
(popnas_steps.latency) both run their runtimes this way.
"""

from __future__ import annotations

import multiprocessing
import signal
import traceback
from collections.abc import Callable


class ChildError(RuntimeError):
    """An exception raised in a run_in_child process (the message is its traceback)."""


def run_in_child(target: Callable, *args) -> tuple[list, str | None]:
    """Call `target(send, *args)` in a fresh interpreter and return what it sent (each `send(x)`)
    and None, or, where the process died before `target` returned, what it sent until then and
    how it died ("signal 6 (SIGABRT)", "exit status 1").

    For the runtimes' C++ (ONNX Runtime, the LiteRT interpreter): a native abort or segfault
    there ends the child, which the caller records, instead of the job. A fresh interpreter
    (`spawn`, not `fork`): the child imports the runtime itself, and nothing of the parent's
    state (threads, a loaded library) is copied half-way. `target` and `args` are pickled: a
    function of a module, plain values. An exception `target` raises is raised here as
    ChildError, with the child's traceback.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child_main, args=(sender, target, args), daemon=True)
    child.start()
    sender.close()  # the child holds the only writing end: its death is the end of the pipe
    sent, finished, raised = [], False, None
    while True:
        try:
            kind, value = receiver.recv()
        except EOFError:
            break
        if kind == "sent":
            sent.append(value)
        elif kind == "finished":
            finished = True
        else:
            raised = value
    child.join()
    receiver.close()
    if raised is not None:
        raise ChildError(raised)
    return sent, None if finished else _death_text(child.exitcode)


def _child_main(sender, target: Callable, args: tuple) -> None:
    try:
        target(lambda value: sender.send(("sent", value)), *args)
        sender.send(("finished", None))
    except BaseException:
        sender.send(("raised", traceback.format_exc()))
        raise


def _death_text(exitcode: int | None) -> str:
    if exitcode is None or exitcode >= 0:
        return f"exit status {exitcode}"
    try:
        return f"signal {-exitcode} ({signal.Signals(-exitcode).name})"
    except ValueError:
        return f"signal {-exitcode}"
