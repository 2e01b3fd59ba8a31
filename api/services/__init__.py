"""Business logic: each route calls exactly one function here."""
