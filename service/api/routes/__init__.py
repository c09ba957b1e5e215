"""The API's routes, one module per resource, each an ``APIRouter`` of plain, named route functions."""
