"""``onair``: OnAir for app backends. Mint tokens, drive calls and
livestreams over the REST API, verify webhooks. Standard library only."""

from .api import OnAirApi
from .call import Call
from .client import OnAir
from .errors import OnAirError
from .routes import ROUTES, Route
from .webhook import verify_webhook_signature

__version__ = "0.1.0"

__all__ = ["OnAir", "OnAirApi", "Call", "OnAirError", "ROUTES", "Route", "verify_webhook_signature", "__version__"]
