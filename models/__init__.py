"""models: the churn classifier, the BTYD lifetime-value models and the business rules, as plain-artifact bundles.

Depends only on ``features``. The churn side: ``churn_classifier`` (LightGBM), ``probability_calibration``,
``reason_codes`` and ``churn_bundle`` (the text model, JSON params and feature spec a server loads). The value side:
``bgnbd`` and ``gamma_gamma`` (one model per module, with the papers' equations), ``customer_value`` (discounted LTV
and its interval), ``contractual_clv`` and ``subscription_value``, in ``ltv_bundle``. The rules of
docs/DOMAIN.md: ``risk_tiers``, ``health_score``, ``lifecycle_stage``, ``nps``, ``value_at_risk``,
``acquisition_economics``, ``referral_screening`` and ``account_rollup``, every threshold a setting of
``policy_settings`` (``CHURNLTV_POLICY_``); ``customer_policy`` applies them all to one frame. Bundles hold no
pickles. The module map: docs/ARCHITECTURE.md.
"""
