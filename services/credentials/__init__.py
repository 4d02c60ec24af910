"""The credentials service: the encrypted vault, key validation with the exchange, re-validation."""
