"""tendr: desired state for managed-service providers' client machines."""

__version__ = "0.1.0"
