"""The product report: one self-contained HTML page a product manager reads (``churnltv report``).

Sections, each an HTML ``<section>`` with a stable id (tests and links find them by it):

=====================  ==========================================================================================
``data-quality``       rows per table, absent optional tables, contract problems (the ``churnltv validate`` JSON)
``churn-model``        the churn champion's holdout metrics vs baselines (and the oracle when logged) with ROC,
                       lift, calibration and feature-importance plots (logged with its MLflow run)
``btyd``               BG/NBD predicted vs actual repeat purchases per frequency bucket (the LTV champion's
                       holdout) and the P(alive) heatmap by frequency and recency from its parameters
``ltv-distribution``   predicted LTV of the scored base with its intervals
``risk-tiers``         customers per risk tier, the action of each tier, which triggers fired
``health-retention``   the article's claim "health >= 85 renews at 92%" checked on this data at 30 and 90 days
                       (policy settings healthy_score, healthy_renewal_rate, retention_horizons_days)
``lifecycle``          stage funnels in both vocabularies (B2C growth view and B2B relationship view)
``nps``                NPS trend by month (overall and per segment), by segment and by acquisition channel
``acquisition``        CAC, mean predicted LTV and LTV/CAC per channel with the > 3 rule and the 60/30/10 split
``value-at-risk``      the top customers by P(churn) x predicted LTV: the CRM's retention list
``b2b-accounts``       users rolled up to their B2B account: tier counts, health distribution and the top accounts
                       by value at risk (models.account_rollup.account_policy on features rebuilt at the run's as_of)
``referral``           promoters with high predicted LTV to ask for referrals, and the referral events accepted or
                       rejected (duplicate IP/device, self-referral, already referred) when the data has them
``drift``              the latest ``churnltv monitor`` result: PSI per feature and of the score, BTYD check,
                       calibration vs the holdout ECE (the run's drift.json from MLflow, or ``--drift FILE``)
=====================  ==========================================================================================

A missing input (no transactions table, no NPS table, no score run, no registered model) never fails the report:
the section says what is missing and how to produce it. An unexpected error in one section is shown in that
section (class ``section-error``) and logged, so one broken input does not hide the other sections.

Layering: the report is in ``training`` (it reads the MLflow registry and runs), so it must not import
``service``. The scored frame, the score run record and every setting are passed in by the composition root
(``churnltv/report_command.py``), which reads them from the score store and the environment.

Modules: ``builder`` (``build_report``, ``write_report``, the page order ``SECTIONS``), ``section`` (what a
section is, and how to add one: one module in ``sections/`` plus one template in ``templates/sections/``),
``inputs`` (what sections read), ``page`` (the one HTML layer: Jinja2 templates with autoescape, shared by the
churn, LTV and drift pages too), ``plots`` (matplotlib figures as inline PNGs) and ``tracking_reads`` (read-only
MLflow access). This package imports nothing at import time beyond its docstring: import ``training.report.builder``.
"""
