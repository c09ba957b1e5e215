"""``POST /v1/clv/contractual``: the source articles' contractual CLV formulas as a calculator."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException

from service.api.deps import Authorized
from service.api.openapi_errors import error_responses
from service.schemas import ContractualClvRequest, ContractualClvResponse


def contractual(body: ContractualClvRequest, _: Authorized) -> dict[str, Any]:
    """The source articles' contractual CLV formulas (docs/DOMAIN.md section 6) as a calculator."""
    from models import contractual_clv as f

    def need(*names: str) -> list[float]:
        absent = [n for n in names if getattr(body, n) is None]
        if absent:
            raise HTTPException(422, detail=f"formula {body.formula!r} needs: {', '.join(absent)}")
        return [float(getattr(body, n)) for n in names]

    if body.formula == "simple":
        m, c, life = need("monthly_margin", "monthly_cost", "expected_lifetime_months")
        return {
            "formula": "simple",
            "clv": float(np.ravel(f.simple_clv(m, c, life))[0]),
            "expression": "(margin - cost) x lifetime",
        }
    if body.formula == "saas":
        mrr, life, cost = need("mrr", "expected_lifetime_months", "cost_to_serve")
        return {
            "formula": "saas",
            "clv": float(np.ravel(f.saas_clv(mrr, life, cost))[0]),
            "expression": "MRR x lifetime - cost",
        }
    revenue, cost, r, d = need("revenue", "cost", "retention", "discount")
    after = body.formula == "pay_after_service"
    if 1 + d - r <= 0:
        raise HTTPException(422, detail="retention/discount: 1 + discount - retention must be > 0")
    value = float(np.ravel(f.retention_clv(revenue, cost, r, d, pay_after_service=after))[0])
    expr = "(M - R) r / (1 + d - r)" if after else "(M - R)(1 + d) / (1 + d - r)"
    return {"formula": body.formula, "clv": value, "expression": expr}


def register(app: FastAPI) -> None:
    """Add this module's routes to ``app``."""
    app.post(
        "/v1/clv/contractual",
        tags=["calculators"],
        response_model=ContractualClvResponse,
        responses=error_responses(401, 403, 413, 422),
    )(contractual)
