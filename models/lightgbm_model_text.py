"""A checked parse of LightGBM's text model format, so a damaged ``model.txt`` is an error and never an abort.

LightGBM parses the trees of a text model inside OpenMP threads; a value it cannot parse there (one garbled
``leaf_value=`` line, a child index out of range, a wrong ``tree_sizes`` offset) calls ``std::terminate`` and
kills the whole process (exit 134): the API server on ``/admin/reload`` or at start, ``churnltv score`` at once.
``load_booster`` reads the file once, checks every part LightGBM reads (the header, each ``Tree=`` block: its keys,
array lengths, numbers, child indices and features, the ``tree_sizes`` byte offsets, the ``end of trees`` marker,
the parameters and the ``pandas_categorical`` line) and hands LightGBM exactly the text it checked, so a file
changed between the check and the load cannot slip through. A problem raises ``ModelTextError`` naming the file,
the tree and the key.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from features.errors import UserInputError

if TYPE_CHECKING:
    import lightgbm as lgb

_INT = re.compile(r"[+-]?\d+\Z")
_FLOAT = re.compile(r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|inf|nan)\Z", re.IGNORECASE)
_NUMBER = r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|inf)"
_FINITE = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_FINITE_LIST = re.compile(rf"{_FINITE}(?: {_FINITE})*\Z")
_INT_LIST = re.compile(r"[+-]?\d+(?: [+-]?\d+)*\Z")
# none, [min:max] of a numeric feature, or the categories a:b:c of a categorical one
_FEATURE_INFO = re.compile(rf"(?:none|\[{_NUMBER}:{_NUMBER}\]|-?\d+(?::-?\d+)*)\Z", re.IGNORECASE)
_OBJECTIVE = re.compile(r"[a-z_]+(?: [a-z_]+:\S+)*\Z")
_PARAMETER = re.compile(r"\[[A-Za-z0-9_]+: .*\]\Z|\[[A-Za-z0-9_]+: ?\]\Z")

_HEADER_KEYS = frozenset(
    {
        "version",
        "num_class",
        "num_tree_per_iteration",
        "label_index",
        "max_feature_idx",
        "objective",
        "average_output",
        "feature_names",
        "monotone_constraints",
        "feature_infos",
        "tree_sizes",
    }
)
# per tree: key -> (kind, length) with length "leaves" (num_leaves values) or "internal" (num_leaves - 1)
_TREE_ARRAYS: dict[str, tuple[str, str]] = {
    "split_feature": ("int", "internal"),
    "split_gain": ("float", "internal"),
    "threshold": ("float", "internal"),
    "decision_type": ("int", "internal"),
    "left_child": ("int", "internal"),
    "right_child": ("int", "internal"),
    "leaf_value": ("float", "leaves"),
    "leaf_weight": ("float", "leaves"),
    "leaf_count": ("int", "leaves"),
    "internal_value": ("float", "internal"),
    "internal_weight": ("float", "internal"),
    "internal_count": ("int", "internal"),
}
_REQUIRED_SPLITS = ("split_feature", "threshold", "left_child", "right_child")
_LINEAR_KEYS = ("leaf_const", "num_features", "leaf_features", "leaf_coeff")
_TREE_KEYS = frozenset({"num_leaves", "num_cat", "is_linear", "shrinkage", "cat_boundaries", "cat_threshold"})
_TREE_KEYS |= frozenset(_TREE_ARRAYS) | frozenset(_LINEAR_KEYS)
_MAX_TREE_LINES = 22  # LightGBM reads at most this many key lines per tree
_DECISION_TYPES = frozenset(range(12))  # bit 0 categorical, bit 1 default left, bits 2-3 missing type 0/1/2
_UINT32 = 2**32
_INT32 = 2**31


class ModelTextError(UserInputError):
    """A LightGBM text model LightGBM must not see: ``file``, ``tree`` (None: the header or the tail), ``key``."""

    def __init__(
        self, file: str, problem: str, *, tree: int | None = None, key: str | None = None, part: str = "header"
    ) -> None:
        self.file, self.tree, self.key, self.problem = file, tree, key, problem
        where = ", ".join(w for w in (part if tree is None else f"tree {tree}", key) if w)
        shown = f" ({where})" if where else ""
        super().__init__(f"{file} is damaged{shown}: {problem}; restore the bundle or train it again")


@dataclass(frozen=True)
class ModelTextSummary:
    """What the checked parse found: enough to compare with the booster LightGBM builds from the same text."""

    num_trees: int
    num_tree_per_iteration: int
    feature_names: tuple[str, ...]


def load_booster(path: Path, *, label: str | None = None) -> lgb.Booster:
    """The LightGBM booster of ``path`` after ``check_model_text``; ``label`` names the file in errors."""
    import lightgbm as lgb

    text = read_model_text(path, label=label)
    try:
        return lgb.Booster(model_str=text)
    except Exception as err:  # a checked file LightGBM still refuses (e.g. an unknown objective): a plain error
        raise ModelTextError(label or str(path), f"LightGBM cannot read it: {err}", part="") from None


def read_model_text(path: Path, *, label: str | None = None) -> str:
    """The text of ``path`` once it passed ``check_model_text`` (read once: what was checked is what is used)."""
    name = label or str(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ModelTextError(name, f"cannot be read: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ModelTextError(name, f"byte {err.start} is not UTF-8 text") from None
    check_model_text(text, name)
    return text


def check_model_text(text: str, file: str) -> ModelTextSummary:
    """Check a whole LightGBM text model; raises ``ModelTextError`` at the first problem LightGBM would trip on."""
    if not text.startswith("tree\n"):
        raise ModelTextError(file, "it is not a LightGBM text model (it does not start with 'tree')", part="")
    data = text.encode("utf-8")  # tree_sizes are byte counts
    lines = data.split(b"\n")
    first_tree = next((i for i, line in enumerate(lines) if line.startswith(b"Tree=")), None)
    if first_tree is None:
        raise ModelTextError(file, "it is truncated or not a model (no 'Tree=' block)", part="")
    header = _header(lines[1:first_tree], file)
    end_line = next((i for i in range(first_tree, len(lines)) if lines[i] == b"end of trees"), None)
    if end_line is None:
        raise ModelTextError(file, "it is truncated (no 'end of trees' marker)", part="")
    max_feature = _int(header, "max_feature_idx", file, minimum=0)
    names = header["feature_names"].split(" ") if "feature_names" in header else []
    _header_values(header, max_feature, names, file)
    per_iteration = _int(header, "num_tree_per_iteration", file, minimum=1) if "num_tree_per_iteration" in header else 1
    blocks = _tree_blocks(lines[first_tree:end_line], file)
    for index, block in enumerate(blocks):  # before the sizes: a bad value is named more precisely than its size
        _tree(block, index, max_feature, file)
    if "tree_sizes" in header:
        sizes = [_int_token(t, "tree_sizes", file, None) for t in _tokens(header["tree_sizes"], "tree_sizes", file)]
        if len(sizes) != len(blocks):
            raise ModelTextError(
                file, f"tree_sizes lists {len(sizes)} trees but {len(blocks)} are present", key="tree_sizes"
            )
        for index, (size, block) in enumerate(zip(sizes, blocks, strict=True)):
            actual = sum(len(line) + 1 for line in block)
            if size != actual:
                raise ModelTextError(
                    file, f"tree_sizes says {size} bytes, the block has {actual}", tree=index, key="tree_sizes"
                )
    if len(blocks) % per_iteration:
        raise ModelTextError(
            file, f"{len(blocks)} trees are not a whole number of iterations of {per_iteration} trees", key="Tree="
        )
    _tail(lines[end_line + 1 :], file)
    return ModelTextSummary(len(blocks), per_iteration, tuple(names))


def _header(lines: list[bytes], file: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in lines:
        line = _ascii(raw, file, None, "header line")
        if not line:
            continue
        key, sep, value = line.partition("=")
        if key not in _HEADER_KEYS or (not sep and key != "average_output"):
            raise ModelTextError(file, f"unknown line {line[:60]!r}")
        if key in values:
            raise ModelTextError(file, "appears twice", key=key)
        values[key] = value
    for key in ("num_class", "label_index", "max_feature_idx", "feature_names", "feature_infos"):
        if key not in values:
            raise ModelTextError(file, "missing", key=key)
    return values


def _header_values(header: dict[str, str], max_feature: int, names: list[str], file: str) -> None:
    _int(header, "num_class", file, minimum=1)
    _int(header, "label_index", file, minimum=0)
    if "version" in header and not re.fullmatch(r"v\d+", header["version"]):
        raise ModelTextError(file, f"{header['version'][:40]!r} is not a model version", key="version")
    if len(names) != max_feature + 1 or any(not n for n in names):
        raise ModelTextError(file, f"{len(names)} names for max_feature_idx={max_feature}", key="feature_names")
    infos = header["feature_infos"].split(" ")
    if len(infos) != max_feature + 1:
        raise ModelTextError(file, f"{len(infos)} entries for max_feature_idx={max_feature}", key="feature_infos")
    for position, info in enumerate(infos):
        if not _FEATURE_INFO.match(info):
            raise ModelTextError(file, f"entry {position} {info[:40]!r} is not a feature range", key="feature_infos")
    if "monotone_constraints" in header:
        constraints = _tokens(header["monotone_constraints"], "monotone_constraints", file)
        if len(constraints) != max_feature + 1 or any(c not in {"-1", "0", "1"} for c in constraints):
            raise ModelTextError(file, "not one of -1, 0, 1 per feature", key="monotone_constraints")
    if "objective" in header and not _OBJECTIVE.match(header["objective"]):
        raise ModelTextError(file, f"{header['objective'][:40]!r} is not an objective", key="objective")


def _tree_blocks(lines: list[bytes], file: str) -> list[list[bytes]]:
    """The lines of each ``Tree=`` block (its ``Tree=`` line to the next one), numbered 0, 1, ... in order."""
    blocks: list[list[bytes]] = []
    for line in lines:
        if line.startswith(b"Tree="):
            number = line[5:].decode("ascii", errors="replace")
            if number != str(len(blocks)):
                raise ModelTextError(file, f"'Tree={number[:20]}' where Tree={len(blocks)} was due", tree=len(blocks))
            blocks.append([])
        blocks[-1].append(line)
    return blocks


def _tree(block: list[bytes], index: int, max_feature: int, file: str) -> None:  # noqa: PLR0912
    values: dict[str, str] = {}
    body = block[1:]
    end = next((i for i, line in enumerate(body) if not line), len(body))
    if end == len(body):
        raise ModelTextError(file, "no blank line ends the tree", tree=index)
    if any(body[end:]):
        raise ModelTextError(file, "a line after the blank line that ends the tree", tree=index)
    if end > _MAX_TREE_LINES:
        raise ModelTextError(file, f"{end} key lines, LightGBM reads at most {_MAX_TREE_LINES}", tree=index)
    for raw in body[:end]:
        line = _ascii(raw, file, index, "line")
        key, sep, value = line.partition("=")
        if not sep or key not in _TREE_KEYS:
            raise ModelTextError(file, f"unknown line {line[:60]!r}", tree=index)
        if key in values:
            raise ModelTextError(file, "appears twice", tree=index, key=key)
        values[key] = value
    for key in ("num_leaves", "num_cat", "leaf_value"):
        if key not in values:
            raise ModelTextError(file, "missing", tree=index, key=key)
    leaves = _int_token(values["num_leaves"], "num_leaves", file, index, minimum=1)
    num_cat = _int_token(values["num_cat"], "num_cat", file, index, minimum=0)
    linear = values.get("is_linear", "0")
    if linear not in {"0", "1"}:
        raise ModelTextError(file, f"{linear[:20]!r} is not 0 or 1", tree=index, key="is_linear")
    if "shrinkage" in values:
        _float_token(values["shrinkage"], "shrinkage", file, index, finite=True)
    lengths = {"leaves": leaves, "internal": leaves - 1}
    arrays: dict[str, list[float] | list[int]] = {}
    split = leaves > 1 or linear == "1"  # LightGBM reads only leaf_value of a one-leaf tree
    for key, (kind, length) in _TREE_ARRAYS.items():
        if key not in values:
            if split and key in _REQUIRED_SPLITS:
                raise ModelTextError(file, "missing", tree=index, key=key)
            continue
        if not split and key != "leaf_value":
            continue
        tokens = _tokens(values[key], key, file, index)
        if len(tokens) != lengths[length]:
            raise ModelTextError(
                file, f"{len(tokens)} values, num_leaves={leaves} needs {lengths[length]}", tree=index, key=key
            )
        arrays[key] = _numbers(values[key], tokens, kind, key, file, index)
    if split:
        _structure(arrays, leaves, num_cat, max_feature, file, index)
    if num_cat > 0 and split:
        _categories(values, num_cat, file, index)
    if linear == "1":
        _linear(values, leaves, max_feature, file, index)


def _structure(  # noqa: PLR0917
    arrays: dict[str, list[float] | list[int]], leaves: int, num_cat: int, max_feature: int, file: str, index: int
) -> None:
    """Children form one binary tree over the nodes; features, decision types and counts are in range."""
    for key in ("split_feature",):
        for value in arrays[key]:
            if not 0 <= value <= max_feature:
                raise ModelTextError(file, f"feature {value} outside 0..{max_feature}", tree=index, key=key)
    for value in arrays.get("decision_type", []):
        if value not in _DECISION_TYPES:
            raise ModelTextError(file, f"{value} is not a decision type", tree=index, key="decision_type")
    for key in ("leaf_count", "internal_count"):
        if any(value < 0 for value in arrays.get(key, [])):
            raise ModelTextError(file, "a negative count", tree=index, key=key)
    _children(arrays, leaves, file, index)
    for node, decision in enumerate(arrays.get("decision_type", [])):
        if int(decision) & 1:
            category = arrays["threshold"][node]
            if category != int(category) or not 0 <= category < num_cat:
                raise ModelTextError(
                    file, f"node {node} is categorical but {category} is not a category index below num_cat={num_cat}",
                    tree=index, key="threshold",
                )  # fmt: skip


def _children(arrays: dict[str, list[float] | list[int]], leaves: int, file: str, index: int) -> None:
    """Each node but the root is the child of exactly one node, and the walk from the root reaches them all."""
    seen: set[int] = set()
    for key in ("left_child", "right_child"):
        for value in arrays[key]:
            node = int(value)
            if not (-leaves <= node <= -1 or 1 <= node <= leaves - 2):
                raise ModelTextError(
                    file, f"child {node} outside the tree (internal 1..{leaves - 2}, leaves -1..-{leaves})",
                    tree=index, key=key,
                )  # fmt: skip
            if node in seen:
                raise ModelTextError(file, f"node {node} has two parents", tree=index, key=key)
            seen.add(node)
    reached, todo = 0, [0]
    while todo:  # every child is used once, so the walk from the root ends; it must reach every node
        node = todo.pop()
        reached += 1
        for key in ("left_child", "right_child"):
            child = int(arrays[key][node])
            if child > 0:
                todo.append(child)
            else:
                reached += 1
        if reached > 2 * leaves:
            break
    if reached != 2 * leaves - 1:
        raise ModelTextError(file, "the children do not form one tree from the root", tree=index, key="left_child")


def _categories(values: dict[str, str], num_cat: int, file: str, index: int) -> None:
    for key in ("cat_boundaries", "cat_threshold"):
        if key not in values:
            raise ModelTextError(file, f"missing with num_cat={num_cat}", tree=index, key=key)
    bounds = [
        _int_token(t, "cat_boundaries", file, index)
        for t in _tokens(values["cat_boundaries"], "cat_boundaries", file, index)
    ]
    if len(bounds) != num_cat + 1 or bounds[0] != 0 or any(b > a for b, a in itertools.pairwise(bounds)):
        raise ModelTextError(
            file, f"not {num_cat + 1} increasing offsets from 0", tree=index, key="cat_boundaries"
        )  # fmt: skip
    words = _tokens(values["cat_threshold"], "cat_threshold", file, index)
    if len(words) != bounds[-1]:
        raise ModelTextError(
            file, f"{len(words)} values, cat_boundaries ends at {bounds[-1]}", tree=index, key="cat_threshold"
        )
    for word in words:
        if _int_token(word, "cat_threshold", file, index, limit=_UINT32) < 0:
            raise ModelTextError(file, f"{word} is not a 32-bit bitmap", tree=index, key="cat_threshold")


def _linear(values: dict[str, str], leaves: int, max_feature: int, file: str, index: int) -> None:
    if "leaf_const" in values:
        consts = values["leaf_const"].split()
        if len(consts) != leaves:
            raise ModelTextError(file, f"{len(consts)} values for {leaves} leaves", tree=index, key="leaf_const")
        for token in consts:
            _float_token(token, "leaf_const", file, index, finite=True)
    if "num_features" not in values:
        return
    counts = [_int_token(t, "num_features", file, index, minimum=0) for t in values["num_features"].split()]
    if len(counts) != leaves:
        raise ModelTextError(file, f"{len(counts)} values for {leaves} leaves", tree=index, key="num_features")
    for key in ("leaf_features", "leaf_coeff"):
        tokens = values.get(key, "").split()
        if key in values and len(tokens) != sum(counts):
            raise ModelTextError(file, f"{len(tokens)} values, num_features sum to {sum(counts)}", tree=index, key=key)
        for token in tokens:
            if key == "leaf_features":
                if not 0 <= _int_token(token, key, file, index) <= max_feature:
                    raise ModelTextError(file, f"feature {token} outside 0..{max_feature}", tree=index, key=key)
            else:
                _float_token(token, key, file, index, finite=True)


def _tail(lines: list[bytes], file: str) -> None:
    """After ``end of trees``: feature importances, the parameters block and the ``pandas_categorical`` line."""
    in_parameters = False
    for raw in lines:
        line = _ascii(raw, file, None, "line after 'end of trees'", allow_unicode=True)
        if line == "parameters:":
            in_parameters = True
        elif line == "end of parameters":
            in_parameters = False
        elif in_parameters:
            if line and not _PARAMETER.match(line):
                raise ModelTextError(
                    file,
                    f"parameter line {line[:60]!r} is not '[name: value]'",
                    key="parameters",
                    part="after the trees",
                )
        elif line.startswith("pandas_categorical:"):
            try:
                json.loads(line.removeprefix("pandas_categorical:"))
            except json.JSONDecodeError:
                raise ModelTextError(file, "not JSON", key="pandas_categorical", part="after the trees") from None
        elif line and line != "feature_importances:":
            _name, sep, count = line.rpartition("=")
            if not sep or not _INT.match(count):
                raise ModelTextError(
                    file,
                    f"line {line[:60]!r} is not 'feature=count'",
                    key="feature_importances",
                    part="after the trees",
                )
    if in_parameters:
        raise ModelTextError(
            file, "it is truncated (no 'end of parameters' marker)", key="parameters", part="after the trees"
        )


def _ascii(raw: bytes, file: str, tree: int | None, what: str, *, allow_unicode: bool = False) -> str:
    line = raw.decode("utf-8")  # the whole text decoded before the split
    if "\r" in line or (not allow_unicode and tree is not None and not line.isascii()):
        raise ModelTextError(file, f"{what} {line[:60]!r} has a carriage return or non-ASCII bytes", tree=tree)
    return line


def _tokens(value: str, key: str, file: str, tree: int | None = None) -> list[str]:
    if not value:
        return []
    tokens = value.split(" ")
    if "  " in value or value[0] == " " or value[-1] == " ":
        raise ModelTextError(file, "an empty value (two spaces in a row or a space at an end)", tree=tree, key=key)
    return tokens


def _numbers(  # noqa: PLR0917
    value: str, tokens: list[str], kind: str, key: str, file: str, tree: int
) -> list[int] | list[float]:
    """The numbers of one array line: one regex over the whole line (a 300-tree model is checked in tens of ms),
    token by token only when it fails or holds inf/nan, to name the bad value."""
    if not tokens:
        return []
    if kind == "int" and _INT_LIST.match(value):
        ints = list(map(int, tokens))
        if min(ints) >= -_INT32 and max(ints) < _INT32:
            return ints
    elif kind == "float" and _FINITE_LIST.match(value):
        return list(map(float, tokens))
    if kind == "int":
        return [_int_token(t, key, file, tree) for t in tokens]
    return [_float_token(t, key, file, tree, finite=key == "leaf_value") for t in tokens]


def _int(header: dict[str, str], key: str, file: str, *, minimum: int) -> int:
    return _int_token(header[key], key, file, None, minimum=minimum)


def _int_token(
    token: str, key: str, file: str, tree: int | None, *, minimum: int | None = None, limit: int = _INT32
) -> int:
    if not _INT.match(token):
        raise ModelTextError(file, f"{token[:40]!r} is not an integer", tree=tree, key=key)
    value = int(token)
    if not -limit <= value < limit:
        raise ModelTextError(file, f"{token[:40]} does not fit in 32 bits", tree=tree, key=key)
    if minimum is not None and value < minimum:
        raise ModelTextError(file, f"{value} is below {minimum}", tree=tree, key=key)
    return value


def _float_token(token: str, key: str, file: str, tree: int | None, *, finite: bool = False) -> float:
    if not _FLOAT.match(token):
        raise ModelTextError(file, f"{token[:40]!r} is not a number", tree=tree, key=key)
    value = float(token)
    if finite and not math.isfinite(value):
        raise ModelTextError(file, f"{token} is not a finite number", tree=tree, key=key)
    if math.isnan(value) and key == "threshold":
        raise ModelTextError(file, "NaN is not a threshold", tree=tree, key=key)
    return value
