"""The API's routes, one module per resource: plain, named route functions and a ``register(app)`` adding them."""
