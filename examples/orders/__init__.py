"""The orders example: a production-grade Bastion service in three small files."""
