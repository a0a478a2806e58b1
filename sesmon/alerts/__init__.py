"""Alert delivery: payload renderers (pure), HTTP sinks, the persistent outbox and its dispatcher."""
