"""training: the jobs that fit, evaluate, log, register and promote the models, and the HTML reports.

Depends on ``features`` and ``models``; ``service`` never imports it. The churn job (``churn_job``) composes
``churn_split`` (training frame, leakage-checked time split), ``churn_selection`` (LightGBM and logistic
candidates scored by rolling origin, under ``churn_tuning``'s budget), ``churn_leakage`` (the alarm when a label
is nearly known at the cutoff), ``churn_holdout`` (model vs baselines and, on generated data, the injected
oracle), ``churn_report`` and ``churn_promotion``; the LTV job (``ltv_job``) fits BG/NBD + Gamma-Gamma with
``ltv_evaluation`` and ``ltv_promotion``. ``tracking`` and ``registry`` are the MLflow side (aliases
``challenger``/``champion``), ``drift_monitor`` compares today's base with the training snapshot, and ``report/``
is the product report (one module per section, one HTML layer shared by every page). The module map:
docs/ARCHITECTURE.md.
"""
