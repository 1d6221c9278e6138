# Firestore in native mode holds the chat: chat_sessions, chat_messages, chat_intents.

resource "google_firestore_database" "chat" {
  name        = "(default)"
  location_id = var.region
  type        = "FIRESTORE_NATIVE"

  # The database outlives a terraform destroy: chat history is user data.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.api]
}

# A session's messages in order: an equality filter plus an order on another field needs a
# composite index.
resource "google_firestore_index" "chat_messages_by_session" {
  database   = google_firestore_database.chat.name
  collection = "chat_messages"

  fields {
    field_path = "session_id"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }
}
