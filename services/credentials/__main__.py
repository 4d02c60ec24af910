"""``python -m services.credentials``: the consumer, the re-validation loop, /healthz."""
from services.credentials.app import create_app
from shared.service import serve, setup_logging
from shared.settings import ServiceSettings

if __name__ == "__main__":
    service = ServiceSettings()
    setup_logging(service.log_level)
    serve(create_app(), service.health_host, service.health_port, service.log_level,
          loop=service.event_loop)
