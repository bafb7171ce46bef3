"""Signed webhooks: events written to the webhook outbox inside the change's own transaction
(`events.emit`), and the background sender that delivers them (`sender.WebhookSender`) with
Standard Webhooks signatures (`signing`) to receivers the target rules accept (`targets`)."""
