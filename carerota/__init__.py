"""The ``carerota`` console command, above both the engine and the service."""
