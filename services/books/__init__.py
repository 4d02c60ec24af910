"""The books service: journals the trade lines into SQL (see docs/books.md)."""
