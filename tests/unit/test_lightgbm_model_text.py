"""The checked parse of LightGBM text models: every garbled line is a ModelTextError, never a LightGBM abort.

A garbled ``leaf_value=`` line (and most other tree lines) makes LightGBM call ``std::terminate`` while it parses
trees in OpenMP threads; ``test_lightgbm_aborts_on_the_garbled_file`` shows that in a subprocess, so the rest of
the file proves the check catches what would otherwise kill the server.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from features.errors import UserInputError
from models.lightgbm_model_text import ModelTextError, check_model_text, load_booster, read_model_text

lgb = pytest.importorskip("lightgbm")


def _fit(seed: int, rounds: int, leaves: int, categorical: bool) -> str:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, 3))
    x[:, 2] = rng.integers(0, 12, 300)
    y = ((x[:, 2] % 3 == 0) | (x[:, 0] > rng.normal())).astype(int)
    data = lgb.Dataset(
        x, y, feature_name=["recency", "frequency", "plan"], categorical_feature=[2] if categorical else []
    )
    params = {"objective": "binary", "num_leaves": leaves, "verbose": -1, "num_threads": 1, "seed": seed}
    params |= {"min_data_in_leaf": 5, "min_data_per_group": 5, "cat_smooth": 1}
    return str(lgb.train(params, data, num_boost_round=rounds).model_to_string())


@pytest.fixture(scope="module")
def model_text() -> str:
    text = _fit(0, 4, 6, categorical=True)
    assert "cat_threshold=" in text  # the categorical lines are covered too
    return text


def _garbled(line: str) -> str:
    """The line with its value (or its key, for a bare line) damaged the way a bad copy or disk would."""
    if line.startswith("["):
        return "[#" + line[2:]  # a parameter's value is free text to the parse; its name is not
    if line.startswith("feature_names="):
        return line.rsplit(" ", 1)[0]  # one name lost
    for separator in ("=", ": ", ":"):
        key, sep, value = line.partition(separator)
        if sep and value:
            return f"{key}{sep}#{value[1:]}"
    return line[:-1] + "#"  # "end of trees", "parameters:", "feature_importances:"


def _kinds(text: str) -> dict[str, int]:
    """One line number per kind of line: header key, tree key, Tree=, markers, parameters, importances."""
    kinds: dict[str, int] = {}
    part = "header"
    for number, line in enumerate(text.split("\n")):
        if line.startswith("Tree="):
            part = "tree"
            kind = "Tree="
        elif line in {"end of trees", "parameters:"}:
            part = "tail"
            kind = line
        elif line.startswith("["):
            kind = "parameter"
        else:
            kind = f"{part} {line.split('=')[0].split(':')[0]}"
        if line and line != "tree":
            kinds.setdefault(kind, number)
    return kinds


def test_a_valid_model_passes_and_loads(model_text: str, tmp_path: Path) -> None:
    path = tmp_path / "model.txt"
    path.write_text(model_text)
    summary = check_model_text(model_text, str(path))
    booster = load_booster(path)
    assert summary.num_trees == booster.num_trees() == 4
    assert list(summary.feature_names) == booster.feature_name()


def test_every_kind_of_line_is_checked(model_text: str) -> None:
    lines = model_text.split("\n")
    kinds = _kinds(model_text)
    assert {"tree leaf_value", "tree left_child", "header tree_sizes", "Tree=", "end of trees"} <= set(kinds)
    assert len(kinds) >= 30, sorted(kinds)
    missed = []
    for kind, number in kinds.items():
        damaged = lines.copy()
        damaged[number] = _garbled(lines[number])
        try:
            check_model_text("\n".join(damaged), "bundle/model.txt")
        except ModelTextError as err:
            if not str(err).startswith("bundle/model.txt is damaged"):
                missed.append(f"{kind}: {err}")
        else:
            missed.append(f"{kind}: {damaged[number]!r} passed")
    assert not missed


def test_a_garbled_leaf_value_names_the_file_the_tree_and_the_key(model_text: str) -> None:
    damaged = model_text.replace("\nleaf_value=", "\nleaf_value=x", 1)
    with pytest.raises(ModelTextError) as caught:
        check_model_text(damaged, "models:/churnltv-churn/3/model.txt")
    err = caught.value
    assert isinstance(err, UserInputError)
    assert (err.file, err.tree, err.key) == ("models:/churnltv-churn/3/model.txt", 0, "leaf_value")
    assert str(err).startswith("models:/churnltv-churn/3/model.txt is damaged (tree 0, leaf_value): 'x")


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("\nleft_child=", "\nleft_child=-99 ", "left_child"),  # one value too many
        ("\nnum_leaves=6", "\nnum_leaves=7", "split_feature"),  # the arrays no longer fit num_leaves
        ("\nsplit_feature=", "\nsplit_feature=9", "split_feature"),  # a feature that does not exist
        ("\nleaf_value=", "\nleaf_value=inf", "leaf_value"),  # not a finite leaf
    ],
)
def test_wrong_lengths_and_ranges_are_caught(model_text: str, old: str, new: str, key: str) -> None:
    with pytest.raises(ModelTextError) as caught:
        check_model_text(model_text.replace(old, new, 1), "m.txt")
    assert caught.value.key == key


def test_a_child_index_out_of_range_is_caught_although_lightgbm_loads_it(model_text: str) -> None:
    line = next(li for li in model_text.split("\n") if li.startswith("left_child="))
    values = line.removeprefix("left_child=").split(" ")
    values[-1] = "-60"  # same length, so tree_sizes no longer matches: change both as a careless edit would
    damaged = model_text.replace(line, "left_child=" + " ".join(values), 1)
    with pytest.raises(ModelTextError) as caught:
        check_model_text(damaged, "m.txt")
    assert caught.value.tree == 0


def test_truncation_and_a_wrong_tree_count_are_caught(model_text: str) -> None:
    with pytest.raises(ModelTextError, match=r"is damaged: it is truncated \(no .end of trees. marker\)"):
        check_model_text(model_text[: len(model_text) // 2], "m.txt")
    with pytest.raises(ModelTextError, match="tree_sizes lists 5 trees but 4"):
        check_model_text(model_text.replace("tree_sizes=", "tree_sizes=500 ", 1), "m.txt")
    with pytest.raises(ModelTextError, match="not a LightGBM text model"):
        check_model_text("{}", "m.txt")


def test_a_parameter_lightgbm_cannot_read_is_an_error_not_an_abort(model_text: str, tmp_path: Path) -> None:
    path = tmp_path / "model.txt"
    path.write_text(model_text.replace("[learning_rate: 0.1]", "[learning_rate: x]", 1))
    with pytest.raises(ModelTextError, match=r"model.txt is damaged: LightGBM cannot read it: Unknown token x"):
        load_booster(path)


def test_read_model_text_names_the_label_and_refuses_non_utf8(tmp_path: Path, model_text: str) -> None:
    path = tmp_path / "model.txt"
    path.write_bytes(model_text.encode().replace(b"leaf_value=", b"leaf_value=\xff", 1))
    with pytest.raises(ModelTextError, match=r"^models:/m/1/model.txt is damaged \(header\): byte \d+ is not UTF-8"):
        read_model_text(path, label="models:/m/1/model.txt")


@pytest.mark.parametrize("seed", range(6))
def test_the_parse_agrees_with_lightgbm_on_many_models(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rounds, leaves = int(rng.integers(1, 12)), int(rng.integers(2, 16))
    text = _fit(seed, rounds, leaves, categorical=bool(seed % 2))
    summary = check_model_text(text, "m.txt")
    booster = lgb.Booster(model_str=text)
    assert summary.num_trees == booster.num_trees()
    assert summary.num_tree_per_iteration * booster.current_iteration() == booster.num_trees()
    assert list(summary.feature_names) == booster.feature_name()


def test_lightgbm_aborts_on_the_garbled_file(model_text: str, tmp_path: Path) -> None:
    """The failure the check exists for: LightGBM kills the process instead of raising."""
    path = tmp_path / "model.txt"
    path.write_text(model_text.replace("\nleaf_value=", "\nleaf_value=xyz ", 1))
    code = f"import lightgbm; lightgbm.Booster(model_file={str(path)!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, check=False)
    assert done.returncode < 0 or done.returncode == 134, done.stderr[-300:]
    with pytest.raises(ModelTextError):
        load_booster(path)
