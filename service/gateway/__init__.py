"""The upload gateway: the legacy upload API in front of a real registry, for minted tokens."""

from service.gateway.app import create_gateway
from service.gateway.policy import OpenPolicy, ProjectPolicy
from service.gateway.settings import GatewaySettings

__all__ = ["GatewaySettings", "OpenPolicy", "ProjectPolicy", "create_gateway"]
