"""``POST /v1/clv/contractual``: the source articles' contractual CLV formulas as a calculator."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException

from service.api.deps import Authorized
from service.api.invalid_fields import InvalidFields
from service.api.openapi_errors import error_responses
from service.schemas import ContractualClvRequest, ContractualClvResponse


def contractual(body: ContractualClvRequest, _: Authorized) -> dict[str, Any]:
    """The source articles' contractual CLV formulas (docs/DOMAIN.md section 6) as a calculator."""
    # an overflow is answered as a 422 (``finite``), so numpy need not warn about it in the log too
    with np.errstate(over="ignore"):
        return evaluate(body)


def evaluate(body: ContractualClvRequest) -> dict[str, Any]:
    """The chosen formula's value and expression; 422 naming the missing or out-of-range inputs."""
    from models import contractual_clv as f

    def need(*names: str) -> list[float]:
        absent = [n for n in names if getattr(body, n) is None]
        if absent:
            raise InvalidFields(
                f"formula {body.formula!r} needs: {', '.join(absent)}",
                [{"field": n, "message": f"Field required by formula {body.formula!r}"} for n in absent],
            )
        return [float(getattr(body, n)) for n in names]

    if body.formula == "simple":
        m, c, life = need("monthly_margin", "monthly_cost", "expected_lifetime_months")
        return {
            "formula": "simple",
            "clv": finite(body.formula, f.simple_clv(m, c, life)),
            "expression": "(margin - cost) x lifetime",
        }
    if body.formula == "saas":
        mrr, life, cost = need("mrr", "expected_lifetime_months", "cost_to_serve")
        return {
            "formula": "saas",
            "clv": finite(body.formula, f.saas_clv(mrr, life, cost)),
            "expression": "MRR x lifetime - cost",
        }
    revenue, cost, r, d = need("revenue", "cost", "retention", "discount")
    after = body.formula == "pay_after_service"
    if 1 + d - r <= 0:
        why = "1 + discount - retention must be > 0"
        raise InvalidFields(
            f"retention/discount: {why}",
            [{"field": "retention", "message": why}, {"field": "discount", "message": why}],
        )
    value = finite(body.formula, f.retention_clv(revenue, cost, r, d, pay_after_service=after))
    expr = "(M - R) r / (1 + d - r)" if after else "(M - R)(1 + d) / (1 + d - r)"
    return {"formula": body.formula, "clv": value, "expression": expr}


def finite(formula: str, result: object) -> float:
    """The formula's value; one too large for a float64 is a 422 (the response promises a number, never null)."""
    value = float(np.ravel(np.asarray(result))[0])
    if not math.isfinite(value):
        raise HTTPException(
            422,
            detail=f"clv: formula {formula!r} gives a value too large to represent with these inputs (overflow); "
            "check their units",
        )
    return value


def register(app: FastAPI) -> None:
    """Add this module's routes to ``app``."""
    app.post(
        "/v1/clv/contractual",
        tags=["calculators"],
        response_model=ContractualClvResponse,
        responses=error_responses(401, 403, 413, 415, 422),
    )(contractual)
