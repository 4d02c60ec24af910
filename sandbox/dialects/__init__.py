"""One module per exchange wire format over the shared core.

``binance`` (binanceus and binance.com spot), ``kraken`` (spot REST ``/0/...``) and
``coinbase`` (Advanced Trade ``/api/v3/brokerage/...`` plus the ``/v2/...`` calls ccxt makes).
"""
