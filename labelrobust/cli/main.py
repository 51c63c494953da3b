"""``labelrobust``: train, evaluate and compare label spaces from the command line.

    labelrobust compare                       the Quick start: two label spaces, one table
    labelrobust train [CONFIG.yaml] [--flags] train one run (``--resume`` continues it)
    labelrobust evaluate RUN_DIR              clean test metrics of a run
    labelrobust evaluate RUN_DIR --suite quick --eps 0.1,0.2   attacks + gradient-masking checks
    labelrobust attack RUN_DIR --attack pgd --eps 8/255 --steps 20
    labelrobust list {datasets,models,label-spaces,methods,attacks,objectives,suites}
    labelrobust verify RUN_DIR --eps 0.02     complete verification (robust / not robust / unknown)
    labelrobust neighbourhood RUN_DIR ...     maximal robust layered neighbourhoods and their heat maps
    labelrobust metric RUN_DIR --kind boundary   a label metric (CSV with class names)
    labelrobust analyze gap RUN_A RUN_B --metric wordnet   cost-sensitive analyses (tables + PNG)
    labelrobust annotate serve --db labels.sqlite --dataset cifar10   collect human soft labels (web page)
    labelrobust reproduce clirat --scale small   one study end to end: runs, attacks, report with claims

Every error is one line on stderr (``labelrobust: error: ...``, exit code 2); a training run
stopped by SIGTERM or Ctrl-C exits with 143 or 130 after checkpointing.
"""

from __future__ import annotations

import argparse
import logging
import sys

from labelrobust.cli import analyze, annotate, attack, compare, evaluate, listing, metric, neighbourhood, reproduce, train, transfer, verify
from labelrobust.cli.console import configure_console
from labelrobust.cli.output import emit_error
from labelrobust.cli.parser import LabelRobustParser
from labelrobust.errors import LabelRobustError
from labelrobust.training.stopping import TrainingStopped
from labelrobust.training.distributed import exit_process, launched_by_torchrun, leave

COMMANDS = {
    "train": train, "evaluate": evaluate, "attack": attack, "compare": compare, "transfer": transfer, "list": listing,
    "verify": verify,
    "neighbourhood": neighbourhood,
    "metric": metric,
    "analyze": analyze,
    "annotate": annotate,
    "reproduce": reproduce,
}


def build_parser() -> argparse.ArgumentParser:
    parser = LabelRobustParser(prog="labelrobust", description="The label side of adversarial robustness.")
    parser.add_argument("-v", "--verbose", action="store_true", help="also log debugging details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.add_parser(sub, name)
        # -v works after the command too; SUPPRESS keeps a -v given before it
        sub.choices[name].add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="also log debugging details to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    code = _run_command(argv)
    if launched_by_torchrun():  # every rank ends here once its command is done
        leave()
        exit_process(code)
    return code


def _run_command(argv: list[str] | None) -> int:
    try:
        # Flags are parsed into config overrides while argparse runs, so bad values raise here.
        args = build_parser().parse_args(argv)
        configure_console(args.verbose)
        return COMMANDS[args.command].run(args) or 0
    except TrainingStopped as stop:  # not an error: the run checkpointed and says how to continue
        logging.getLogger("labelrobust").warning(str(stop))
        return stop.exit_code
    except LabelRobustError as err:
        emit_error(str(err))
        return 2
    except OSError as err:  # a file we could not read or write: say which, not where in our code
        where = f" {err.filename}" if err.filename else ""
        emit_error(f"cannot access{where}: {err.strerror or err}")
        return 2
    except KeyboardInterrupt:
        emit_error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
