"""``labelrobust reproduce STUDY --scale ci|small|paper``: one study end to end, with its report.

    labelrobust reproduce softlabel --scale small --out runs/softlabel-small
    labelrobust reproduce clirat --scale paper --device cuda --data-root DATA
    labelrobust reproduce clirat --scale paper --dry-run      build every model and data pipeline, train nothing
    labelrobust list studies

Writes ``report.md``, a self-contained ``report.html`` and ``report.json`` into ``--out``
(default ``runs/reproduce/STUDY-SCALE``). Finished training runs are reused (cached by config
hash under ``OUT/runs``), an interrupted reproduction resumes where it stopped, and
``--force`` trains every run again.
"""

from __future__ import annotations

import argparse

from labelrobust.cli.output import emit, format_table
from labelrobust.reproduce.study import SCALES


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="reproduce a study end to end and write its report (labelrobust list studies)", description=__doc__.split("\n\n")[0])
    p.add_argument("study", metavar="STUDY", help="softlabel, task-aware, clirat, wpgd or multilabel (labelrobust list studies)")
    p.add_argument("--scale", choices=SCALES, default="ci", help="ci: minutes on 2 CPU cores; small: about an hour on a CPU; paper: the study's own setting, GPU (default: ci)")
    p.add_argument("--out", metavar="DIR", default=None, help="output folder (default: runs/reproduce/STUDY-SCALE); an earlier reproduction of the same study and scale there is reused")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps: where every run trains and is attacked (default: cpu)")
    p.add_argument("--data-root", metavar="DIR", default=None, help="data root (default: $LABELROBUST_DATA_ROOT, else ./data)")
    p.add_argument("--download", action="store_true", help="fetch public datasets the data root lacks (needs internet)")
    p.add_argument("--force", action="store_true", help="train every run again instead of reusing finished ones")
    p.add_argument("--dry-run", action="store_true", help="build every model and data pipeline and write the configs; train nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from labelrobust.reproduce.study import dry_run, reproduce

    device = args.device
    if args.dry_run:
        records = dry_run(args.study, args.scale, args.out, device=device, data_root=args.data_root, download=args.download)
        rows = [{"run": r["run"], "hash": r["hash"], "what": r["what"], "parameters": r["model_parameters"], "data": r["data"]} for r in records]
        emit(format_table(rows))
        return 0
    report, written = reproduce(args.study, args.scale, args.out, device=device, data_root=args.data_root,
                                download=args.download, force=args.force, quiet=args.quiet)
    emit(format_table([{"claim": c.claim, "verdict": c.verdict} for c in report.claims]))
    emit("written: " + ", ".join(str(p) for p in written))
    return 0
