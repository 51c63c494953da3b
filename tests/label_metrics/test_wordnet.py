"""WordNet label metrics: the shipped matrices (always), and their regeneration and synset
review against WordNet 3.0 itself (where Debian's wordnet-base is installed)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrobust.errors import ConfigError
from labelrobust.label_metrics import synsets as tables
from labelrobust.label_metrics import wordnet
from labelrobust.label_metrics.build_wordnet import build, main, same_as_file
from labelrobust.label_metrics.io import read_metric
from labelrobust.label_metrics.metric import normalised_name
from labelrobust.label_metrics.wordnet import (
    SIMILARITIES,
    compute_wordnet_metric,
    shipped_metric,
    shipped_path,
    wordnet_metric,
)

# Written out here rather than taken from synsets.py, so a reordered table fails.
CIFAR10_NAMES = "airplane automobile bird cat deer dog frog horse ship truck".split()
CIFAR100_NAMES = """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy
bridge bus butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach
couch crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house
kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain
mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate
poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper
snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television
tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split()
TINY_WNIDS = """n01443537 n01629819 n01641577 n01644900 n01698640 n01742172 n01768244 n01770393
n01774384 n01774750 n01784675 n01855672 n01882714 n01910747 n01917289 n01944390 n01945685
n01950731 n01983481 n01984695 n02002724 n02056570 n02058221 n02074367 n02085620 n02094433
n02099601 n02099712 n02106662 n02113799 n02123045 n02123394 n02124075 n02125311 n02129165
n02132136 n02165456 n02190166 n02206856 n02226429 n02231487 n02233338 n02236044 n02268443
n02279972 n02281406 n02321529 n02364673 n02395406 n02403003 n02410509 n02415577 n02423022
n02437312 n02480495 n02481823 n02486410 n02504458 n02509815 n02666196 n02669723 n02699494
n02730930 n02769748 n02788148 n02791270 n02793495 n02795169 n02802426 n02808440 n02814533
n02814860 n02815834 n02823428 n02837789 n02841315 n02843684 n02883205 n02892201 n02906734
n02909870 n02917067 n02927161 n02948072 n02950826 n02963159 n02977058 n02988304 n02999410
n03014705 n03026506 n03042490 n03085013 n03089624 n03100240 n03126707 n03160309 n03179701
n03201208 n03250847 n03255030 n03355925 n03388043 n03393912 n03400231 n03404251 n03424325
n03444034 n03447447 n03544143 n03584254 n03599486 n03617480 n03637318 n03649909 n03662601
n03670208 n03706229 n03733131 n03763968 n03770439 n03796401 n03804744 n03814639 n03837869
n03838899 n03854065 n03891332 n03902125 n03930313 n03937543 n03970156 n03976657 n03977966
n03980874 n03983396 n03992509 n04008634 n04023962 n04067472 n04070727 n04074963 n04099969
n04118538 n04133789 n04146614 n04149813 n04179913 n04251144 n04254777 n04259630 n04265275
n04275548 n04285008 n04311004 n04328186 n04356056 n04366367 n04371430 n04376876 n04398044
n04399382 n04417672 n04456115 n04465501 n04486054 n04487081 n04501370 n04507155 n04532106
n04532670 n04540053 n04560804 n04562935 n04596742 n04597913 n06596364 n07579787 n07583066
n07614500 n07615774 n07695742 n07711569 n07715103 n07720875 n07734744 n07747607 n07749582
n07753592 n07768694 n07871810 n07873807 n07875152 n07920052 n09193705 n09246464 n09256479
n09332890 n09428293 n12267677""".split()
SIZES = {"cifar10": 10, "cifar100": 100, "tiny-imagenet": 200}
SHIPPED = list(itertools.product(tables.TABLES, SIMILARITIES))


def _have_wordnet() -> bool:
    try:
        wordnet.find_wordnet_dir()
    except ConfigError:
        return False
    return True


NEEDS_WORDNET = pytest.mark.skipif(
    not _have_wordnet(), reason="WordNet 3.0 is not installed (apt-get install wordnet-base, or ./dev test)"
)


@pytest.fixture(scope="module")
def reader():
    return wordnet.open_wordnet()


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# --- the shipped matrices (no WordNet needed) ------------------------------------------------


@pytest.mark.parametrize("table, similarity", SHIPPED)
def test_shipped_matrix_is_a_valid_metric(table, similarity):
    shipped = read_metric(shipped_path(table, similarity))
    names, c = shipped.class_names, shipped.matrix
    k = SIZES[table]
    assert c.shape == (k, k) and len(names) == k
    assert np.isfinite(c).all() and (c >= 0).all()
    assert np.array_equal(c, c.T)
    assert (np.diagonal(c) == 0).all()
    # every class has its own synset, so distinct classes are never at distance 0
    assert (c[~np.eye(k, dtype=bool)] > 0).all()
    if similarity == "hops":
        assert np.array_equal(c, np.round(c))
    else:
        assert c.max() < 1


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_shipped_class_names_are_the_datasets(similarity):
    assert list(read_metric(shipped_path("cifar10", similarity)).class_names) == CIFAR10_NAMES
    assert list(read_metric(shipped_path("cifar100", similarity)).class_names) == CIFAR100_NAMES
    assert list(read_metric(shipped_path("tiny-imagenet", similarity)).class_names) == list(tables.TINY_IMAGENET)


def test_tables_are_in_label_order():
    assert list(tables.CIFAR10) == CIFAR10_NAMES
    assert list(tables.CIFAR100) == CIFAR100_NAMES
    assert list(tables.TINY_IMAGENET.values()) == TINY_WNIDS == sorted(TINY_WNIDS)


@pytest.mark.parametrize("table", tables.TABLES)
def test_table_names_and_synsets_are_distinct(table):
    entries = tables.TABLES[table]
    assert len({normalised_name(n) for n in entries}) == len(entries)
    assert len(set(entries.values())) == len(entries)
    assert set(tables.REASONS[table]) <= set(entries)


def test_cifar10_names_match_the_real_meta_file(data_root):
    from labelrobust.data.cifar import CIFAR10, read_cifar_names

    meta = data_root / CIFAR10.folder / CIFAR10.meta_file
    assert list(read_cifar_names(meta, CIFAR10.names_key, CIFAR10.num_classes)) == CIFAR10_NAMES


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_known_orderings(similarity):
    c10 = wordnet_metric(CIFAR10_NAMES, similarity)
    c100 = wordnet_metric(CIFAR100_NAMES, similarity)

    def d(metric, a, b):
        i, j = metric.class_names.index(a), metric.class_names.index(b)
        return metric.matrix[i, j]

    assert d(c10, "cat", "dog") < d(c10, "cat", "truck")
    assert d(c10, "automobile", "truck") < d(c10, "automobile", "frog")
    for fish in ("shark", "flatfish", "trout"):
        assert d(c100, "ray", fish) < d(c100, "ray", "road")
    for mammal in ("otter", "whale"):
        for building in ("house", "skyscraper", "castle"):
            assert d(c100, "seal", mammal) < d(c100, "seal", building)
    assert d(c100, "oak_tree", "maple_tree") < d(c100, "oak_tree", "bus")
    assert d(c100, "mouse", "hamster") < d(c100, "mouse", "keyboard")
    assert d(c100, "tank", "tractor") < d(c100, "tank", "bowl")


def test_a_reordered_subset_is_the_sub_matrix():
    names = ["truck", "cat", "airplane", "dog"]
    metric = wordnet_metric(names, "wup")
    full = shipped_metric("cifar10", "wup")
    idx = [CIFAR10_NAMES.index(n) for n in names]
    assert metric.class_names == tuple(names)
    assert np.array_equal(metric.matrix, full.matrix[np.ix_(idx, idx)])
    assert metric.source == "wordnet:wup"
    assert metric.details["table"] == "cifar10"
    assert metric.details["synsets"] == ["truck.n.01", "cat.n.01", "airplane.n.01", "dog.n.01"]


def test_names_match_ignoring_case_space_and_underscores():
    metric = wordnet_metric(["Maple Tree", "oak-tree", "RAY"], "path")
    assert metric.class_names == ("Maple Tree", "oak-tree", "RAY")
    assert metric.details["synsets"] == ["maple.n.02", "oak.n.02", "ray.n.07"]
    tiny = wordnet_metric(["egyptian cat", "Golden_Retriever", "go kart"], "hops")
    assert tiny.details["table"] == "tiny-imagenet"
    assert tiny.details["synsets"] == ["n02124075", "n02099601", "n03444034"]


def test_cifar100_comes_before_tiny_imagenet():
    # lion, bee, orange and mushroom are classes of both
    assert wordnet_metric(["lion", "bee", "orange", "mushroom"]).details["table"] == "cifar100"
    assert wordnet_metric(["lion", "goldfish"]).details["table"] == "tiny-imagenet"


@settings(max_examples=40, deadline=None)
@given(st.permutations(CIFAR100_NAMES).flatmap(lambda p: st.integers(1, 100).map(lambda k: p[:k])),
       st.sampled_from(list(SIMILARITIES)))
def test_any_subset_of_cifar100_gives_its_sub_matrix(names, similarity):
    metric = wordnet_metric(names, similarity)
    full = shipped_metric("cifar100", similarity)
    idx = [CIFAR100_NAMES.index(n) for n in names]
    assert metric.class_names == tuple(names)
    assert np.array_equal(metric.matrix, full.matrix[np.ix_(idx, idx)])
    assert metric.details["synsets"] == [tables.CIFAR100[n] for n in names]


def test_unknown_class_names_are_a_one_line_error():
    with pytest.raises(ConfigError) as err:
        wordnet_metric(["cat", "zebra", "unicorn"])
    message = one_line(err)
    assert "'zebra'" in message and "'unicorn'" in message and "'cat'" not in message
    assert "CIFAR-10" in message and "Tiny-ImageNet" in message and "CSV" in message


def test_classes_of_two_tables_are_a_one_line_error():
    with pytest.raises(ConfigError) as err:
        wordnet_metric(["cat", "ray"])
    assert "not all in one WordNet table" in one_line(err)


def test_a_duplicate_class_is_a_one_line_error():
    with pytest.raises(ConfigError) as err:
        wordnet_metric(["cat", "Cat"])
    one_line(err)


def test_unknown_similarity_is_a_one_line_error():
    with pytest.raises(ConfigError) as err:
        wordnet_metric(["cat", "dog"], "resnik")
    message = one_line(err)
    assert "'resnik'" in message and all(name in message for name in SIMILARITIES)


def test_unknown_table_is_a_one_line_error():
    with pytest.raises(ConfigError) as err:
        compute_wordnet_metric("imagenet", reader=object())
    assert "cifar100" in one_line(err)


def test_similarities_are_documented():
    for name, (function, doc) in SIMILARITIES.items():
        assert callable(function) and doc and function.__doc__, name


def test_missing_wordnet_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv(wordnet.WORDNET_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError) as err:
        wordnet.open_wordnet()
    message = one_line(err)
    assert "apt-get install wordnet-base" in message and "nowhere" in message
    (tmp_path / "data.noun").write_text("")
    with pytest.raises(ConfigError) as err:
        wordnet.open_wordnet(tmp_path)
    assert "lacks" in one_line(err)


def test_lexnames_are_the_45_lexicographer_files():
    lines = wordnet.lexnames_text().splitlines()
    assert len(lines) == 45
    assert [line.split("\t")[0] for line in lines] == [f"{i:02d}" for i in range(45)]
    assert lines[3] == "03\tnoun.Tops\t1" and lines[5] == "05\tnoun.animal\t1" and lines[44] == "44\tadj.ppl\t3"


def test_reader_folder_is_built_once_with_copies(tmp_path, monkeypatch):
    source = tmp_path / "dict"
    source.mkdir()
    for name in wordnet.WORDNET_FILES:
        (source / name).write_text(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = wordnet._reader_folder(source)
    assert folder.parent == tmp_path / "cache" / "labelrobust" / "wordnet"
    # nltk refuses symlinks out of its root and files with several hard links
    for name in wordnet.WORDNET_FILES:
        path = folder / name
        assert not path.is_symlink() and path.stat().st_nlink == 1 and path.read_text() == name
    assert (folder / "lexnames").read_text() == wordnet.lexnames_text()
    assert wordnet._reader_folder(source) == folder
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no staging folder left
    (source / "data.noun").write_text("an upgraded wordnet-base")
    upgraded = wordnet._reader_folder(source)
    assert upgraded != folder and (upgraded / "data.noun").read_text() == "an upgraded wordnet-base"


# --- against WordNet 3.0 itself --------------------------------------------------------------


@NEEDS_WORDNET
@pytest.mark.parametrize("table", ["cifar10", "cifar100"])
def test_regeneration_reproduces_the_shipped_files(table, reader):
    for similarity in SIMILARITIES:
        assert same_as_file(build(table, similarity, reader), shipped_path(table, similarity)) == ""


@NEEDS_WORDNET
@pytest.mark.slow
def test_regeneration_reproduces_tiny_imagenet(reader):
    for similarity in SIMILARITIES:
        assert same_as_file(build("tiny-imagenet", similarity, reader), shipped_path("tiny-imagenet", similarity)) == ""


@NEEDS_WORDNET
def test_build_writes_the_shipped_bytes_and_check_finds_a_difference(tmp_path, capsys, reader):
    assert main(["--out", str(tmp_path), "--tables", "cifar10", "--check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(SIMILARITIES) and all(line.startswith("DIFFERS") and "missing" in line for line in lines)
    assert main(["--out", str(tmp_path), "--tables", "cifar10"]) == 0
    assert all(line.startswith("wrote") for line in capsys.readouterr().out.splitlines())
    for similarity in SIMILARITIES:
        assert (tmp_path / f"wordnet-cifar10-{similarity}.csv").read_bytes() == shipped_path("cifar10", similarity).read_bytes()
    assert main(["--out", str(tmp_path), "--tables", "cifar10", "--check"]) == 0
    (tmp_path / "wordnet-cifar10-hops.csv").write_text((tmp_path / "wordnet-cifar10-hops.csv").read_text().replace(",8,", ",9,", 1))
    assert main(["--out", str(tmp_path), "--tables", "cifar10", "--check"]) == 1
    assert "DIFFERS" in capsys.readouterr().out


@NEEDS_WORDNET
@pytest.mark.parametrize("table", ["cifar10", "cifar100"])
def test_every_reviewed_synset_exists_and_is_explained(table, reader):
    for name, spec in tables.TABLES[table].items():
        synset = reader.synset(spec)
        assert synset.pos() == "n"
        senses = reader.synsets(name, "n")
        if not senses or senses[0] != synset:
            assert name in tables.REASONS[table], f"{name} → {spec} is not the first sense; give a reason"
        else:
            assert name not in tables.REASONS[table], f"{name} → {spec} is the first sense"


@NEEDS_WORDNET
@pytest.mark.parametrize(
    "name, words",
    [
        ("ray", "cartilaginous fishes"),
        ("seal", "marine mammals"),
        ("mouse", "rodents"),
        ("keyboard", "keys"),
        ("tank", "armored military vehicle"),
        ("plain", "level open land"),
        ("train", "railway cars"),
        ("bear", "carnivorous or omnivorous mammals"),
        ("table", "furniture"),
        ("spider", "arachnid"),
        ("plate", "dish"),
        ("cloud", "water or ice particles"),
        ("turtle", "reptiles"),
        ("whale", "cetacean"),
        ("lamp", "furniture"),
        ("palm_tree", "Palmae"),
        ("maple_tree", "genus Acer"),
        ("aquarium_fish", "aquarium"),
        ("television", "displays them on a screen"),
    ],
)
def test_reviewed_synsets_mean_what_the_review_says(name, words, reader):
    assert words in reader.synset(tables.CIFAR100[name]).definition()


@NEEDS_WORDNET
def test_every_tiny_imagenet_wnid_resolves_to_its_class_name(reader):
    for name, wnid in tables.TINY_IMAGENET.items():
        synset = reader.synset_from_pos_and_offset("n", int(wnid[1:]))
        assert synset.lemma_names()[0].replace("_", " ") == name
        assert f"n{synset.offset():08d}" == wnid


@NEEDS_WORDNET
def test_path_distance_is_one_minus_nltk_path_similarity(reader):
    synsets = [reader.synset(s) for s in tables.CIFAR10.values()]
    for a, b in itertools.combinations(synsets, 2):
        assert SIMILARITIES["path"][0](a, b) == 1 - a.path_similarity(b)


@NEEDS_WORDNET
@pytest.mark.slow  # nltk walks every noun synset once to find the taxonomy depth
def test_lch_distance_is_nltk_lch_over_its_maximum(reader):
    synsets = [reader.synset(s) for s in tables.CIFAR10.values()]
    for a, b in itertools.combinations(synsets, 2):
        expected = 1 - a.lch_similarity(b) / a.lch_similarity(a)
        assert math.isclose(SIMILARITIES["lch"][0](a, b), expected, rel_tol=1e-12)


@NEEDS_WORDNET
def test_computed_metric_takes_synset_lists_and_wnids(reader):
    metric = compute_wordnet_metric(["ray.n.07", "n01443537", "shark.n.01"], ["ray", "goldfish", "shark"], "hops", reader)
    assert metric.class_names == ("ray", "goldfish", "shark")
    assert metric.details["synsets"] == ["ray.n.07", "goldfish.n.01", "shark.n.01"]
    assert metric.matrix[0, 2] < metric.matrix[0, 1]
    with pytest.raises(ConfigError) as err:
        compute_wordnet_metric(["ray.n.99"], reader=reader)
    assert "ray.n.99" in one_line(err)
    for bad in ("nonsense", "n99999999"):
        with pytest.raises(ConfigError) as err:
            compute_wordnet_metric([bad], reader=reader)
        assert bad in one_line(err)
    with pytest.raises(ConfigError) as err:
        compute_wordnet_metric(["run.v.01"], reader=reader)
    assert "noun" in one_line(err)


@NEEDS_WORDNET
def test_wordnet_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(wordnet.WORDNET_DIR_ENV, str(wordnet.DEFAULT_WORDNET_DIR))
    assert wordnet.open_wordnet().get_version() == "3.0"
