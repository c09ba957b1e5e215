"""service: the prediction API and the batch scoring of the whole base.

Depends on ``features`` and ``models``, never on ``training``. ``app`` builds the FastAPI application
(``create_app(settings)``; the lifespan loads the models, the data source and the score store), ``model_set`` the
churn + LTV bundles a server or a batch run predicts with, ``prediction`` turns features into everything the CRM
acts on, ``batch_scoring`` (local processes) and ``spark_scoring`` (Spark) score the base into a ``score_store``
where readers only ever see complete runs. Settings: ``CHURNLTV_`` (``settings``). The module map:
docs/ARCHITECTURE.md.
"""
