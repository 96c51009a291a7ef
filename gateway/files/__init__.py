"""``/v1/files``: uploads and the batch lane's outputs, per customer, kept in the database."""
