"""What every CryptoPiggy service imports: events, streams, settings, bus, vault, exchange client."""
