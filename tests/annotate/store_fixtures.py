"""Small real campaigns for the annotation tests: CIFAR-10 train images from the shared data."""

from __future__ import annotations

from pathlib import Path

from labelrobust.annotate import create_campaign, open_store
from labelrobust.annotate.campaigns import prepare_campaign


def cifar_campaign(db: Path, data_root: Path, *, indices: str = "0:12", name: str | None = None, **settings):
    """(engine, campaign) of CIFAR-10 train images ``indices`` in a new SQLite store ``db``."""
    engine = open_store(db)
    spec, images = prepare_campaign(name, dataset="cifar10", split="train", indices=indices, data_root=data_root, **settings)
    return engine, create_campaign(engine, spec, images)


def table_counts(engine) -> dict[str, int]:
    """Rows per table: a refused request must leave every count as it was."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in names}


def answer_all_concurrently(engine, campaign, names, num_classes: int = 10) -> dict[str, list[int]]:
    """Participants ``names`` answer every image they are given, each in its own thread, at once;
    returns the image ids each one answered."""
    import threading

    from labelrobust.annotate import join, next_task, submit

    got: dict[str, list[int]] = {name: [] for name in names}

    def work(name: str) -> None:
        p = join(engine, campaign, name)
        while (t := next_task(engine, p)) is not None:
            submit(engine, p, t.image_id, [1] * num_classes, f"{name}-sub-{t.image_id:05d}")
            got[name].append(t.image_id)

    threads = [threading.Thread(target=work, args=(name,)) for name in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got
