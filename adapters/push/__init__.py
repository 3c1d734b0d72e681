"""A device pushing its log's tail to the fleet endpoint (`walsync fleet serve`): no PostgreSQL here."""
