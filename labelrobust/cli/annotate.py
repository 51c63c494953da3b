"""``labelrobust annotate``: collect human soft labels in a local web app (docs/annotate.md).

    labelrobust annotate serve --db labels.sqlite --dataset cifar10 --split train --indices 0:10000
    labelrobust annotate serve --db labels.sqlite --folder photos/ --classes cat,dog,fox
    labelrobust annotate export --db labels.sqlite --out softlabels.npz
    labelrobust annotate import --db labels.sqlite --data-root ../shared/datasets
    labelrobust annotate stats --db labels.sqlite [--out DIR]
    labelrobust annotate list --db labels.sqlite

``--db`` is an SQLite file (created on first use) or a postgresql:// URL.
"""

from __future__ import annotations

import argparse
import socket

from labelrobust.cli.output import emit, format_table
from labelrobust.cli.robust_output import NonNegativeFloat, NonNegativeInt, PositiveInt
from labelrobust.errors import ConfigError, OutputError


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="collect human soft labels in a local web app: serve, export, import, stats, list", description=__doc__.split("\n\n")[0])
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION", help="serve, export, import, stats or list")
    for action, (adder, _) in ACTIONS.items():
        q = adder(actions, action)
        q.add_argument("--db", required=True, help="the store: an SQLite file (created on first use) or postgresql://USER@HOST/DB")
        q.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="also log debugging details to stderr")


def run(args: argparse.Namespace) -> int:
    return ACTIONS[args.action][1](args)


# -- serve ---------------------------------------------------------------------------------


def _add_serve(actions, name):
    q = actions.add_parser(name, help="serve the annotation page (creates the campaign on first use)")
    q.add_argument("--campaign", help="campaign name (default: DATASET-SPLIT or the folder's name; with no source flags, the store's only campaign)")
    q.add_argument("--dataset", help="a registered dataset whose images to show (labelrobust list datasets)")
    q.add_argument("--split", help="for --dataset: train (default), val or test")
    q.add_argument("--indices", help="for --dataset: positions in the split, e.g. 0:10000 or 0:100,500 (default: all)")
    q.add_argument("--folder", help="a folder of your own images (class subfolders, or flat with --classes)")
    q.add_argument("--classes", help="for --folder: class names, comma-separated, or a text file with one per line")
    q.add_argument("--data-root", help="data root of --dataset (default: $LABELROBUST_DATA_ROOT, else ./data)")
    q.add_argument("--repeats", action=PositiveInt, help="participants who rate each image (default: 1)")
    q.add_argument("--min-nonzero", action=NonNegativeInt, help="warn below this many non-zero classes (default: 3, as the study asked)")
    q.add_argument("--max-rating", action=PositiveInt, help="the scale is 0..MAX (default: 4)")
    q.add_argument("--blur", action=NonNegativeFloat, help="Gaussian blur radius in display pixels (default: 0)")
    q.add_argument("--display-size", action=PositiveInt, help="the image's longest side on the page, pixels (default: 256)")
    q.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    q.add_argument("--port", action=NonNegativeInt, default=8000, help="port (default: 8000; 0 picks a free one)")
    return q


SOURCE_FLAGS = ("dataset", "split", "indices", "folder", "classes", "repeats", "min_nonzero", "max_rating", "blur", "display_size")


def _serve(args) -> int:
    import uvicorn

    from labelrobust.annotate import create_campaign, find_campaign, image_keys, open_store
    from labelrobust.annotate.app import create_app
    from labelrobust.annotate.campaigns import prepare_campaign
    from labelrobust.annotate.sources import CampaignImages
    from labelrobust.data import load_dataset

    sock = _listen(args.host, args.port)  # before any work: a port in use fails at once
    engine = open_store(args.db)
    loaded = None  # the dataset, read once for the campaign's images and for showing them
    if any(getattr(args, f) is not None for f in SOURCE_FLAGS):
        if args.dataset is not None and args.folder is None:
            loaded = load_dataset(args.dataset, root=args.data_root)
        spec, images = prepare_campaign(
            args.campaign, dataset=args.dataset, split=args.split or "train", indices=args.indices, folder=args.folder,
            classes=args.classes, data_root=args.data_root, loaded=loaded, repeats=args.repeats, min_nonzero=args.min_nonzero,
            max_rating=args.max_rating, blur=args.blur, display_size=args.display_size,
        )
        campaign = create_campaign(engine, spec, images)
    else:
        campaign = find_campaign(engine, args.campaign)
    images = CampaignImages.open(campaign, args.data_root, image_keys(engine, campaign), loaded=loaded)
    app = create_app(engine, campaign, images)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    emit(f"campaign {campaign.name}: {campaign.n_images} images × {campaign.repeats} participant(s), classes {', '.join(campaign.class_names)}")
    if host not in ("127.0.0.1", "::1", "localhost"):
        emit(f"warning: listening on {host}: anyone who can reach this machine can open the page (plain HTTP, no TLS)")
    emit(f"annotation page: http://{shown}:{port}/   (stats: http://{shown}:{port}/stats; Ctrl-C stops)")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])
    return 0


def _listen(host: str, port: int) -> socket.socket:
    if port > 65535:
        raise ConfigError(f"--port must be in 0..65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise ConfigError(f"--host {host!r} is not an address of this machine ({err.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {err.strerror}; choose another --port (0 picks a free one)") from None
    sock.listen(128)
    return sock


# -- export / import / list ----------------------------------------------------------------


def _add_export(actions, name):
    q = actions.add_parser(name, help="write the answers as a soft-label file (.npz) that labelrobust train reads")
    q.add_argument("--campaign", help="which campaign (default: the store's only one)")
    q.add_argument("--out", required=True, metavar="FILE.npz", help="the file to write")
    q.add_argument("--anonymise", action="store_true", help="write participants as P1, P2, ... instead of their names")
    q.add_argument("--force", action="store_true", help="replace an existing --out file")
    return q


def _export(args) -> int:
    from labelrobust.annotate import find_campaign, open_store
    from labelrobust.annotate.export import export_soft_labels

    engine = open_store(args.db)
    campaign = find_campaign(engine, args.campaign)
    summary = export_soft_labels(engine, campaign, args.out, anonymise=args.anonymise, force=args.force)
    emit(f"{summary.path}: {summary.answers} answers ({summary.all_zero_answers} all zero) of {summary.annotators} participant(s); "
         f"{summary.images} images with a soft label")
    if campaign.kind == "dataset":
        emit(f"train on it: labelrobust train --dataset {campaign.dataset} --data-option soft_labels={summary.path} --label-space soft ...")
    else:
        emit(f"train on it: labelrobust train --dataset image-folder --data-option path={campaign.folder} --data-option soft_labels={summary.path} --label-space soft ...")
    return 0


def _add_import(actions, name):
    q = actions.add_parser(name, help="load the published soft CIFAR-10 survey into the store")
    q.add_argument("--data-root", help="folder holding softcifar10/survey_answers and cifar-10-batches-py/ (default: $LABELROBUST_DATA_ROOT, else ./data)")
    q.add_argument("--on-mismatch", default="drop-span", choices=("drop-span", "drop", "refuse"), help="rows whose label differs from CIFAR-10's (default: drop-span, as the softcifar10 dataset)")
    q.add_argument("--campaign", default="softcifar10-survey", help="campaign name (default: softcifar10-survey)")
    return q


def _import(args) -> int:
    from labelrobust.annotate import open_store
    from labelrobust.annotate.survey_import import import_survey

    engine = open_store(args.db)
    s = import_survey(engine, args.data_root, on_mismatch=args.on_mismatch, campaign_name=args.campaign)
    emit(f"campaign {s.campaign.name}: imported {s.imported} of {s.rows} survey rows ({s.all_zero} all zero); "
         f"{s.not_aligned} rows not aligned with their image were left out (--on-mismatch {args.on_mismatch})")
    return 0


def _add_list(actions, name):
    return actions.add_parser(name, help="the campaigns of a store and their progress")


def _list(args) -> int:
    from labelrobust.annotate import list_campaigns, open_store
    from labelrobust.annotate.store import answer_table

    engine = open_store(args.db)
    rows = []
    for c in list_campaigns(engine):
        table = answer_table(engine, c)
        source = f"{c.dataset}:{c.split}" if c.kind == "dataset" else c.folder
        rows.append({"campaign": c.name, "source": source, "images": c.n_images, "repeats": c.repeats,
                     "answers": len(table), "participants": len(set(table.annotator.tolist()))})
    emit(format_table(rows))
    return 0


# -- stats ---------------------------------------------------------------------------------


def _add_stats(actions, name):
    q = actions.add_parser(name, help="the rating matrix per true class, answers per participant and per hour, agreement")
    q.add_argument("--campaign", help="which campaign (default: the store's only one)")
    q.add_argument("--out", metavar="DIR", help="also write rating-matrix.csv/.png and stats.md into DIR (one that holds files needs --force)")
    q.add_argument("--force", action="store_true", help="write into an --out folder that already holds files")
    return q


def _stats(args) -> int:
    from labelrobust.annotate import find_campaign, open_store
    from labelrobust.annotate.stats import campaign_stats_of
    from labelrobust.annotate.stats_report import stats_markdown, write_stats_report

    if args.force and args.out is None:
        raise OutputError("--force is for --out DIR")
    engine = open_store(args.db)
    campaign = find_campaign(engine, args.campaign)
    stats = campaign_stats_of(engine, campaign)
    emit(stats_markdown(stats))
    if args.out is not None:
        for path in write_stats_report(stats, args.out, force=args.force):
            emit(f"written: {path}")
    return 0


ACTIONS = {
    "serve": (_add_serve, _serve),
    "export": (_add_export, _export),
    "import": (_add_import, _import),
    "stats": (_add_stats, _stats),
    "list": (_add_list, _list),
}
