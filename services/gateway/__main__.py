"""``python -m services.gateway``: the HTTP API on PIGGY_API_HOST:PIGGY_API_PORT."""
from services.gateway.app import create_app
from shared.service import serve, setup_logging
from shared.settings import ApiSettings, ServiceSettings

if __name__ == "__main__":
    service = ServiceSettings()
    api = ApiSettings()
    setup_logging(service.log_level)
    serve(create_app(), api.api_host, api.api_port, service.log_level,
          loop=service.event_loop)
