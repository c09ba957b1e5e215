"""service: the prediction API and the batch scoring of the whole base.

Depends on ``features`` and ``models``, never on ``training``. ``api/`` is the FastAPI application
(``api.app.create_app(settings)``; the lifespan loads the models, the data source and the score store;
``api/routes/`` holds one module per resource), ``live_features`` the point-in-time features of the customers a
request names, ``model_set`` the churn + LTV bundles a server or a batch run predicts with, ``prediction`` the one
assembly that turns features into everything the CRM acts on, ``batch_scoring`` (local processes) and
``spark_scoring`` (Spark) score the base into a ``score_store`` where readers only ever see complete runs.
Settings: ``CHURNLTV_`` (``settings``). The module map: docs/ARCHITECTURE.md.
"""
