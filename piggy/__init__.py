"""The operator CLI ``piggy``."""
